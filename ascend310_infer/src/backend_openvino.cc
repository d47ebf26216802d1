// OpenVINO backend (CPU): reads the ONNX file written by export.py directly. Its free batch and
// length dimensions stay free: OpenVINO runs each batch at its own shape (the LSTM nodes become
// its fused LSTMSequence kernel).
#include <stdexcept>
#include <string>
#include <vector>

#include "inc/backend.h"
#include "openvino/openvino.hpp"

namespace {

class OpenVinoBackend : public Backend {
 public:
  explicit OpenVinoBackend(const BackendOptions &options) {
    if (options.device_target != "CPU") {
      throw std::runtime_error("the OpenVINO backend runs on CPU only; --device_target=" +
                               options.device_target + " needs a .mindir model and the MindSpore Lite backend");
    }
    ov::Core core;
    const std::shared_ptr<ov::Model> model = core.read_model(options.model_path);
    if (model->inputs().size() != 1 || model->outputs().empty()) {
      throw std::runtime_error("expected a model with one input and at least one output, got " +
                               std::to_string(model->inputs().size()) + " inputs");
    }
    const ov::Output<const ov::Node> input = model->input();
    if (input.get_element_type() != ov::element::i32 || input.get_partial_shape().rank().is_dynamic() ||
        input.get_partial_shape().rank().get_length() != 2) {
      throw std::runtime_error("model input must be int32 (batch, seq_len), got " +
                               input.get_element_type().get_type_name() + " " +
                               input.get_partial_shape().to_string());
    }
    if (model->output(0).get_element_type() != ov::element::f32) {
      throw std::runtime_error("model output 0 must be float32, got " +
                               model->output(0).get_element_type().get_type_name());
    }
    for (const ov::Dimension &dim : input.get_partial_shape()) {
      input_shape_.push_back(dim.is_static() ? dim.get_length() : -1);
    }

    // The CPU plugin defaults to bf16 where the CPU has it: 6e-4 to 6e-3 logit error on small BiLSTMs
    // here, while f32 matches MindSpore to 1e-7 or better.
    ov::AnyMap config{ov::hint::inference_precision(ov::element::f32),
                      ov::hint::performance_mode(ov::hint::PerformanceMode::LATENCY)};
    if (options.num_threads > 0) {
      config.insert(ov::inference_num_threads(options.num_threads));
    }
    request_ = core.compile_model(model, "CPU", config).create_infer_request();
  }

  std::string Name() const override {
    const std::string build = ov::get_openvino_version().buildNumber;  // "2026.4.1-22982-<hash>-releases/..."
    return "OpenVINO " + build.substr(0, build.find('-')) + " (CPU)";
  }

  std::vector<int64_t> InputShape() const override { return input_shape_; }

  void Predict(const std::vector<int32_t> &token_ids, const std::vector<int64_t> &shape,
               std::vector<float> *logits) override {
    const ov::Shape batch_shape(shape.begin(), shape.end());
    if (token_ids.size() != ov::shape_size(batch_shape)) {
      throw std::runtime_error("Predict got " + std::to_string(token_ids.size()) + " token ids, expected " +
                               std::to_string(ov::shape_size(batch_shape)));
    }
    // Wraps the caller's buffer without a copy; OpenVINO only reads it.
    ov::Tensor input(ov::element::i32, batch_shape, const_cast<int32_t *>(token_ids.data()));
    request_.set_input_tensor(input);
    request_.infer();
    ov::Tensor output = request_.get_output_tensor(0);
    const float *values = output.data<float>();
    logits->assign(values, values + output.get_size());
  }

 private:
  std::vector<int64_t> input_shape_;
  ov::InferRequest request_;
};

}  // namespace

std::unique_ptr<Backend> CreateOpenVinoBackend(const BackendOptions &options) {
  return std::make_unique<OpenVinoBackend>(options);
}
