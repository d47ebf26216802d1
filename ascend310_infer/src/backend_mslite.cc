// MindSpore Lite backend (cloud-side inference C++ API): runs a .mindir on Ascend (Atlas 200/300/500,
// the Ascend 310 path of the original app) or CPU. Compiled only when CMake finds MindSpore Lite.
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "inc/backend.h"
#include "include/api/context.h"
#include "include/api/model.h"
#include "include/api/status.h"
#include "include/api/types.h"

namespace {

class MsLiteBackend : public Backend {
 public:
  explicit MsLiteBackend(const BackendOptions &options) : device_target_(options.device_target) {
    auto context = std::make_shared<mindspore::Context>();
    if (options.num_threads > 0) {
      context->SetThreadNum(options.num_threads);
    }
    if (options.device_target == "Ascend") {
      auto ascend = std::make_shared<mindspore::AscendDeviceInfo>();
      ascend->SetDeviceID(options.device_id);
      // The default, "enforce_fp16", runs the LSTM in fp16; keep fp32 wherever an operator supports it.
      ascend->SetPrecisionMode("preferred_fp32");
      context->MutableDeviceInfo().push_back(ascend);
    } else {
      context->MutableDeviceInfo().push_back(std::make_shared<mindspore::CPUDeviceInfo>());
    }
    const mindspore::Status status = model_.Build(options.model_path, mindspore::ModelType::kMindIR, context);
    if (status != mindspore::kSuccess) {
      throw std::runtime_error("MindSpore Lite Build failed: " + status.ToString());
    }
    inputs_ = model_.GetInputs();
    if (inputs_.size() != 1) {
      throw std::runtime_error("expected a model with one input, got " + std::to_string(inputs_.size()));
    }
    if (inputs_[0].DataType() != mindspore::DataType::kNumberTypeInt32) {
      throw std::runtime_error("model input must be int32 token ids");
    }
    if (inputs_[0].Shape().size() != 2) {
      throw std::runtime_error("model input must be (batch, seq_len)");
    }
    model_shape_ = inputs_[0].Shape();  // -1 marks a free dimension of a dynamic-shape MINDIR
  }

  std::string Name() const override { return "MindSpore Lite (" + device_target_ + ")"; }

  std::vector<int64_t> InputShape() const override { return model_shape_; }

  void Predict(const std::vector<int32_t> &token_ids, const std::vector<int64_t> &shape,
               std::vector<float> *logits) override {
    if (inputs_[0].Shape() != shape) {
      // A dynamic-shape model is resized to each batch's shape (a no-op for a fixed one).
      const mindspore::Status resized = model_.Resize(inputs_, {shape});
      if (resized != mindspore::kSuccess) {
        throw std::runtime_error("MindSpore Lite Resize failed: " + resized.ToString());
      }
      inputs_ = model_.GetInputs();
    }
    mindspore::MSTensor &input = inputs_[0];
    if (token_ids.size() * sizeof(int32_t) != input.DataSize()) {
      throw std::runtime_error("Predict got " + std::to_string(token_ids.size()) + " token ids, expected " +
                               std::to_string(input.ElementNum()));
    }
    std::memcpy(input.MutableData(), token_ids.data(), input.DataSize());
    std::vector<mindspore::MSTensor> outputs;
    const mindspore::Status status = model_.Predict(inputs_, &outputs);
    if (status != mindspore::kSuccess) {
      throw std::runtime_error("MindSpore Lite Predict failed: " + status.ToString());
    }
    if (outputs.empty() || outputs[0].DataType() != mindspore::DataType::kNumberTypeFloat32) {
      throw std::runtime_error("model output 0 must be float32 logits");
    }
    const auto data = outputs[0].Data();  // host copy for device tensors
    const auto *values = static_cast<const float *>(data.get());
    logits->assign(values, values + outputs[0].ElementNum());
  }

 private:
  std::string device_target_;
  mindspore::Model model_;
  std::vector<mindspore::MSTensor> inputs_;
  std::vector<int64_t> model_shape_;
};

}  // namespace

std::unique_ptr<Backend> CreateMsLiteBackend(const BackendOptions &options) {
  return std::make_unique<MsLiteBackend>(options);
}
