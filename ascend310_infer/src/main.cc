// Batch inference over preprocessed IMDB reviews, replacing the reference Ascend 310 app.
//
//   out/main --mindir_path=lstm.onnx --input0_path=preprocess_Result/00_data --output_path=.
//
// Reads every <name>.bin (raw int32 token ids, one (batch, seq_len) batch each) in --input0_path
// in lexicographic order. A model with a fixed input takes batches of exactly that shape; for a
// free batch or length the file gives it: the batch size from "bs<N>" in the name
// (LSTM_data_bs64_3.bin, as preprocess.py writes them) and the length from the file's size, so
// batches of short reviews run short. It writes <output_path>/result_Files/<name>_0.bin (raw float32
// logits, (batch, num_classes)) for postprocess.py, and the average latency to
// <output_path>/time_Result/test_perform_static.txt. Errors: one line on stderr, exit code 1.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "inc/backend.h"
#include "inc/utils.h"

namespace fs = std::filesystem;

namespace {

constexpr const char kUsage[] =
    "Usage: main --mindir_path=MODEL [--input0_path=DIR] [--output_path=DIR]\n"
    "            [--device_target=CPU|Ascend] [--device_id=N] [--num_threads=N] [--batches_in_flight=N]\n"
    "  --mindir_path    model file: .mindir (MindSpore Lite backend) or .onnx (OpenVINO backend, CPU)\n"
    "  --input0_path    folder of <name>.bin raw int32 token-id batches (default .)\n"
    "  --output_path    writes result_Files/<name>_0.bin and time_Result/ here (default .)\n"
    "  --device_target  CPU or Ascend (default CPU; Ascend needs MindSpore Lite)\n"
    "  --device_id      Ascend device id (default 0)\n"
    "  --num_threads    CPU threads, 0 = backend default (default 0)\n"
    "  --batches_in_flight  batches run at once (OpenVINO), 0 = one per core (default 0);\n"
    "                   1 = one batch at a time on all threads (lowest latency per batch)\n";

struct Flags {
  std::string mindir_path;
  std::string input0_path = ".";
  std::string output_path = ".";
  std::string device_target = "CPU";
  uint32_t device_id = 0;
  int num_threads = 0;
  int batches_in_flight = 0;
};

int ParseNonNegative(const std::string &name, const std::string &value) {
  size_t used = 0;
  int number = -1;
  try {
    number = std::stoi(value, &used);
  } catch (const std::exception &) {
    used = 0;
  }
  if (used != value.size() || number < 0) {
    throw std::runtime_error("--" + name + " needs a non-negative integer, got '" + value + "'");
  }
  return number;
}

// Accepts --name=value and --name value (the gflags forms the reference scripts use).
// Returns false when --help was given.
bool ParseFlags(int argc, char **argv, Flags *flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      return false;
    }
    if (arg.rfind("--", 0) != 0) {
      throw std::runtime_error("unexpected argument '" + arg + "' (see --help)");
    }
    const size_t equals = arg.find('=');
    const std::string name = arg.substr(2, equals == std::string::npos ? std::string::npos : equals - 2);
    std::string value;
    if (equals != std::string::npos) {
      value = arg.substr(equals + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      throw std::runtime_error("--" + name + " needs a value");
    }
    if (name == "mindir_path") {
      flags->mindir_path = value;
    } else if (name == "input0_path") {
      flags->input0_path = value;
    } else if (name == "output_path") {
      flags->output_path = value;
    } else if (name == "device_target") {
      flags->device_target = value;
    } else if (name == "device_id") {
      flags->device_id = static_cast<uint32_t>(ParseNonNegative(name, value));
    } else if (name == "num_threads") {
      flags->num_threads = ParseNonNegative(name, value);
    } else if (name == "batches_in_flight") {
      flags->batches_in_flight = ParseNonNegative(name, value);
    } else {
      throw std::runtime_error("unknown flag --" + name + " (see --help)");
    }
  }
  if (flags->device_target != "CPU" && flags->device_target != "Ascend") {
    throw std::runtime_error("--device_target must be CPU or Ascend, got '" + flags->device_target + "'");
  }
  return true;
}

std::unique_ptr<Backend> CreateBackend(const BackendOptions &options) {
  const std::string extension = fs::path(options.model_path).extension().string();
  if (extension == ".mindir") {
#ifdef HAVE_MSLITE
    return CreateMsLiteBackend(options);
#else
    throw std::runtime_error(".mindir models need the MindSpore Lite backend, which this build lacks "
                             "(set MSLITE_HOME and rerun build.sh)");
#endif
  }
  if (extension == ".onnx") {
#ifdef HAVE_OPENVINO
    return CreateOpenVinoBackend(options);
#else
    throw std::runtime_error(".onnx models need the OpenVINO backend, which this build lacks");
#endif
  }
  throw std::runtime_error("unsupported model file " + options.model_path +
                           ": expected .mindir (MindSpore Lite) or .onnx (OpenVINO)");
}

void Run(const Flags &flags) {
  if (!fs::is_regular_file(flags.mindir_path)) {
    throw std::runtime_error("model file not found: '" + flags.mindir_path + "' (--mindir_path)");
  }
  if (!fs::is_directory(flags.input0_path)) {
    throw std::runtime_error("input folder not found: '" + flags.input0_path + "' (--input0_path)");
  }
  const std::vector<std::string> input_files = ListBinFiles(flags.input0_path);
  if (input_files.empty()) {
    throw std::runtime_error("no .bin files in " + flags.input0_path);
  }

  const std::unique_ptr<Backend> backend =
      CreateBackend({flags.mindir_path, flags.device_target, flags.device_id, flags.num_threads,
                     flags.batches_in_flight});
  const std::vector<int64_t> input_shape = backend->InputShape();
  if (input_shape.size() != 2) {
    throw std::runtime_error("expected a (batch, seq_len) model input, got " + ShapeToString(input_shape));
  }
  // Fail before the first Predict rather than after writing half of the results.
  std::vector<std::vector<int64_t>> batch_shapes;
  for (const std::string &file : input_files) {
    batch_shapes.push_back(BatchShape(file, input_shape));
  }
  std::cout << backend->Name() << ", input int32 " << ShapeToString(input_shape) << " (-1: free), "
            << input_files.size() << " batches from " << flags.input0_path << std::endl;

  // All batches are read first: the timed part is inference alone, as in the reference app.
  std::vector<Batch> batches;
  int64_t rows = 0;
  for (size_t i = 0; i < input_files.size(); ++i) {
    batches.push_back({ReadInt32File(input_files[i], batch_shapes[i]), batch_shapes[i]});
    rows += batch_shapes[i][0];
  }

  std::vector<float> logits;
  // Untimed warm-up: the first call includes one-off allocations and kernel selection.
  const int64_t first_rows = batches.front().shape[0];
  backend->Predict(batches.front().token_ids, batches.front().shape, &logits);
  if (logits.empty() || logits.size() % static_cast<size_t>(first_rows) != 0) {
    // Seen with OpenVINO on MindSpore ONNX exports that index the time axis with an integer (out[:, -1]).
    throw std::runtime_error("model returned " + std::to_string(logits.size()) + " logits for a batch of " +
                             std::to_string(first_rows) + "; check the exported output shape");
  }
  const fs::path result_dir = fs::path(flags.output_path) / "result_Files";
  const fs::path time_dir = fs::path(flags.output_path) / "time_Result";
  fs::create_directories(result_dir);
  fs::create_directories(time_dir);

  std::vector<std::vector<float>> all_logits;
  const auto start = std::chrono::steady_clock::now();
  backend->PredictAll(batches, &all_logits);
  const auto end = std::chrono::steady_clock::now();
  for (size_t i = 0; i < input_files.size(); ++i) {
    WriteFloat32File((result_dir / ResultFileName(input_files[i])).string(), all_logits[i]);
  }

  const double total_ms = std::chrono::duration<double, std::milli>(end - start).count();
  // With several batches in flight this is the time per batch at that throughput, not one
  // batch's latency alone.
  const double average_ms = total_ms / static_cast<double>(batches.size());
  // Rows include the padding rows that fill up a partial batch.
  const double reviews_per_second = static_cast<double>(rows) * 1000.0 / total_ms;
  std::cout << "average latency " << average_ms << " ms per batch of " << first_rows << ", "
            << reviews_per_second << " reviews/s over " << batches.size() << " batches (" << rows
            << " rows, " << total_ms << " ms in total)" << std::endl;
  const fs::path time_file = time_dir / "test_perform_static.txt";
  std::ofstream time_out(time_file, std::ios::trunc);
  time_out << "NN inference cost average time: " << average_ms << " ms of infer_count " << batches.size()
           << std::endl;
  if (!time_out) {
    throw std::runtime_error("cannot write " + time_file.string());
  }
}

}  // namespace

int main(int argc, char **argv) {
  try {
    Flags flags;
    if (!ParseFlags(argc, argv, &flags)) {
      std::cout << kUsage;
      return 0;
    }
    Run(flags);
  } catch (const std::exception &error) {
    std::cerr << "ERROR: " << OneLine(error.what()) << std::endl;
    return 1;
  }
  return 0;
}
