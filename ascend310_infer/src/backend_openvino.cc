// OpenVINO backend (CPU): reads the ONNX file written by export.py directly. Its free batch and
// length dimensions stay free: OpenVINO runs each batch at its own shape (the LSTM nodes become
// its fused LSTMSequence kernel).
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <numeric>
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
    // here, while f32 matches MindSpore to 1e-7 or better. By default THROUGHPUT: one stream per
    // core, each running whole batches on its own, and PredictAll keeps one batch in flight per
    // stream (LATENCY splits each LSTM step's small products over the cores, which scales poorly).
    // Streams are not pinned to cores: on a machine shared with other work a pinned stream waits
    // for its busy core.
    const bool one_at_a_time = options.batches_in_flight == 1;
    ov::AnyMap config{ov::hint::inference_precision(ov::element::f32),
                      ov::hint::performance_mode(one_at_a_time ? ov::hint::PerformanceMode::LATENCY
                                                               : ov::hint::PerformanceMode::THROUGHPUT),
                      ov::hint::enable_cpu_pinning(false)};
    if (options.batches_in_flight > 1) {
      config.insert(ov::num_streams(options.batches_in_flight));
    }
    if (options.num_threads > 0) {
      config.insert(ov::inference_num_threads(options.num_threads));
    }
    ov::CompiledModel compiled = core.compile_model(model, "CPU", config);
    const uint32_t requests = std::max(1u, compiled.get_property(ov::optimal_number_of_infer_requests));
    for (uint32_t i = 0; i < requests; ++i) {
      requests_.push_back(compiled.create_infer_request());
    }
  }

  std::string Name() const override {
    const std::string build = ov::get_openvino_version().buildNumber;  // "2026.4.1-22982-<hash>-releases/..."
    return "OpenVINO " + build.substr(0, build.find('-')) + " (CPU, " + std::to_string(requests_.size()) +
           " batches in flight)";
  }

  std::vector<int64_t> InputShape() const override { return input_shape_; }

  void Predict(const std::vector<int32_t> &token_ids, const std::vector<int64_t> &shape,
               std::vector<float> *logits) override {
    SetInput(requests_[0], token_ids, shape);
    requests_[0].infer();
    CopyOutput(requests_[0], logits);
  }

  void PredictAll(const std::vector<Batch> &batches, std::vector<std::vector<float>> *logits) override {
    logits->assign(batches.size(), {});
    // Largest batches first: the last ones to finish are then the smallest, so no stream runs the
    // largest batch (the slowest by far) alone at the end.
    std::vector<size_t> order(batches.size());
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&batches](size_t a, size_t b) {
      return batches[a].token_ids.size() > batches[b].token_ids.size();
    });
    // Each finished request gets the next batch, whichever finishes first (waiting for the
    // requests in turn left a stream idle while its neighbour ran a longer batch: 4% here).
    std::mutex mutex;
    std::condition_variable finished;
    std::deque<size_t> idle;
    std::exception_ptr failure;
    const size_t none = batches.size();
    std::vector<size_t> running(requests_.size(), none);
    for (size_t r = 0; r < requests_.size(); ++r) {
      idle.push_back(r);
      requests_[r].set_callback([&, r](std::exception_ptr error) {
        std::lock_guard<std::mutex> lock(mutex);
        if (error && !failure) {
          failure = error;
        }
        idle.push_back(r);
        finished.notify_one();
      });
    }
    auto next_idle = [&]() {
      std::unique_lock<std::mutex> lock(mutex);
      finished.wait(lock, [&] { return !idle.empty(); });
      const size_t r = idle.front();
      idle.pop_front();
      return r;
    };
    auto collect = [&](size_t r) {
      if (running[r] != none) {
        CopyOutput(requests_[r], &(*logits)[running[r]]);
        running[r] = none;
      }
    };
    auto failed = [&]() {
      std::lock_guard<std::mutex> lock(mutex);
      return failure != nullptr;
    };
    auto give_back = [&](size_t r) {  // a request not running: the wait for every request counts it
      std::lock_guard<std::mutex> lock(mutex);
      idle.push_back(r);
    };
    for (size_t next = 0; next < batches.size(); ++next) {
      const size_t r = next_idle();
      if (failed()) {  // no more batches, and no output read from a failed request
        give_back(r);
        break;
      }
      collect(r);
      try {
        Start(r, batches[order[next]], order[next], &running);
      } catch (...) {
        {
          std::lock_guard<std::mutex> lock(mutex);
          failure = std::current_exception();
        }
        give_back(r);
        break;
      }
    }
    // Every request back before the callbacks (which refer to this frame) are cleared.
    for (size_t returned = 0; returned < requests_.size(); ++returned) {
      const size_t r = next_idle();
      if (!failed()) {
        collect(r);
      }
    }
    for (ov::InferRequest &request : requests_) {
      request.set_callback([](std::exception_ptr) {});
    }
    if (failure) {
      std::rethrow_exception(failure);
    }
  }

 private:
  void Start(size_t request, const Batch &batch, size_t index, std::vector<size_t> *running) {
    SetInput(requests_[request], batch.token_ids, batch.shape);
    requests_[request].start_async();
    (*running)[request] = index;
  }

  static void SetInput(ov::InferRequest &request, const std::vector<int32_t> &token_ids,
                       const std::vector<int64_t> &shape) {
    const ov::Shape batch_shape(shape.begin(), shape.end());
    if (token_ids.size() != ov::shape_size(batch_shape)) {
      throw std::runtime_error("Predict got " + std::to_string(token_ids.size()) + " token ids, expected " +
                               std::to_string(ov::shape_size(batch_shape)));
    }
    // Wraps the caller's buffer without a copy; OpenVINO only reads it.
    request.set_input_tensor(ov::Tensor(ov::element::i32, batch_shape, const_cast<int32_t *>(token_ids.data())));
  }

  static void CopyOutput(ov::InferRequest &request, std::vector<float> *logits) {
    ov::Tensor output = request.get_output_tensor(0);
    const float *values = output.data<float>();
    logits->assign(values, values + output.get_size());
  }

  std::vector<int64_t> input_shape_;
  std::vector<ov::InferRequest> requests_;
};

}  // namespace

std::unique_ptr<Backend> CreateOpenVinoBackend(const BackendOptions &options) {
  return std::make_unique<OpenVinoBackend>(options);
}
