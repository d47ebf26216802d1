// Inference backend interface: one model with ONE int32 input (batch, seq_len) -> float32 logits.
// The input's batch and seq_len may be fixed by the model or free (-1), in which case each call
// gives its own shape.
// Each backend lives in its own source file and is compiled only when its SDK was found by CMake
// (HAVE_OPENVINO / HAVE_MSLITE); main.cc picks one from the model file's extension.
#ifndef LSTM_INFER_BACKEND_H_
#define LSTM_INFER_BACKEND_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

// One input batch: token ids, row-major, of `shape` (batch, seq_len).
struct Batch {
  std::vector<int32_t> token_ids;
  std::vector<int64_t> shape;
};

struct BackendOptions {
  std::string model_path;
  std::string device_target;  // "CPU" or "Ascend"
  uint32_t device_id = 0;
  int num_threads = 0;  // 0: the backend's default (all physical cores)
  int batches_in_flight = 0;  // 0: the backend's optimum (one per core); 1: one batch on all threads
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string Name() const = 0;
  // Shape of the model's only input, e.g. {64, 1000}; -1 marks a free dimension.
  virtual std::vector<int64_t> InputShape() const = 0;
  // token_ids holds product(shape) values of a shape InputShape() accepts; logits receives the
  // first output, row-major. Throws std::runtime_error on failure.
  virtual void Predict(const std::vector<int32_t> &token_ids, const std::vector<int64_t> &shape,
                       std::vector<float> *logits) = 0;
  // Runs every batch; (*logits)[i] receives batch i's logits. Backends that can keep several
  // batches in flight (one per CPU core: an LSTM's small per-step products scale poorly over
  // threads within one batch) override it; by default the batches run one after the other.
  virtual void PredictAll(const std::vector<Batch> &batches, std::vector<std::vector<float>> *logits) {
    logits->resize(batches.size());
    for (size_t i = 0; i < batches.size(); ++i) {
      Predict(batches[i].token_ids, batches[i].shape, &(*logits)[i]);
    }
  }
};

// Both factories throw std::runtime_error when the model cannot be loaded or has the wrong signature.
#ifdef HAVE_OPENVINO
std::unique_ptr<Backend> CreateOpenVinoBackend(const BackendOptions &options);
#endif
#ifdef HAVE_MSLITE
std::unique_ptr<Backend> CreateMsLiteBackend(const BackendOptions &options);
#endif

#endif  // LSTM_INFER_BACKEND_H_
