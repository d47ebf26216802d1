#include "inc/utils.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

std::vector<std::string> ListBinFiles(const std::string &dir) {
  std::vector<std::string> files;
  for (const auto &entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".bin") {
      files.push_back(entry.path().string());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

void CheckInt32FileSize(const std::string &path, const std::vector<int64_t> &shape) {
  const auto expected_bytes = static_cast<std::uintmax_t>(ElementCount(shape)) * sizeof(int32_t);
  const auto actual_bytes = fs::file_size(path);
  if (actual_bytes != expected_bytes) {
    throw std::runtime_error(path + " has " + std::to_string(actual_bytes) + " bytes, expected " +
                             std::to_string(expected_bytes) + " = int32 " + ShapeToString(shape) +
                             ", the model input shape");
  }
}

namespace {

// N of "..._bs<N>_..." in the file's name, or -1.
int64_t BatchSizeFromName(const std::string &path) {
  static const std::regex kBatchSize("(^|_)bs([0-9]+)(_|$)");
  std::smatch match;
  const std::string stem = fs::path(path).stem().string();
  return std::regex_search(stem, match, kBatchSize) ? std::stoll(match[2].str()) : -1;
}

}  // namespace

std::vector<int64_t> BatchShape(const std::string &path, const std::vector<int64_t> &model_shape) {
  if (model_shape[0] > 0 && model_shape[1] > 0) {
    CheckInt32FileSize(path, model_shape);
    return model_shape;
  }
  const int64_t rows = model_shape[0] > 0 ? model_shape[0] : BatchSizeFromName(path);
  if (rows <= 0) {
    throw std::runtime_error(path + ": the model's batch size is free and the file name carries none "
                             "(name input files LSTM_data_bs<N>_<i>.bin, as preprocess.py does)");
  }
  const auto bytes = static_cast<int64_t>(fs::file_size(path));
  const int64_t row_bytes = rows * static_cast<int64_t>(sizeof(int32_t));
  if (model_shape[1] > 0) {
    CheckInt32FileSize(path, {rows, model_shape[1]});
    return {rows, model_shape[1]};
  }
  if (bytes == 0 || bytes % row_bytes != 0) {
    throw std::runtime_error(path + " has " + std::to_string(bytes) + " bytes, not a whole number of int32 " +
                             "rows for a batch of " + std::to_string(rows));
  }
  return {rows, bytes / row_bytes};
}

std::vector<int32_t> ReadInt32File(const std::string &path, const std::vector<int64_t> &shape) {
  CheckInt32FileSize(path, shape);
  std::vector<int32_t> values(static_cast<size_t>(ElementCount(shape)));
  const auto expected_bytes = static_cast<std::streamsize>(values.size() * sizeof(int32_t));
  std::ifstream in(path, std::ios::binary);
  if (!in.read(reinterpret_cast<char *>(values.data()), expected_bytes)) {
    throw std::runtime_error("cannot read " + path);
  }
  return values;
}

void WriteFloat32File(const std::string &path, const std::vector<float> &values) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char *>(values.data()),
            static_cast<std::streamsize>(values.size() * sizeof(float)));
  if (!out) {
    throw std::runtime_error("cannot write " + path);
  }
}

std::string ResultFileName(const std::string &input_path) {
  return fs::path(input_path).stem().string() + "_0.bin";
}

std::string ShapeToString(const std::vector<int64_t> &shape) {
  std::ostringstream text;
  text << "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    text << (i ? ", " : "") << shape[i];
  }
  text << ")";
  return text.str();
}

int64_t ElementCount(const std::vector<int64_t> &shape) {
  int64_t count = 1;
  for (const int64_t dim : shape) {
    count *= dim;
  }
  return count;
}

std::string OneLine(const std::string &message) {
  std::string line;
  std::istringstream lines(message);
  for (std::string part; std::getline(lines, part);) {
    const auto begin = part.find_first_not_of(" \t\r");
    if (begin == std::string::npos) {
      continue;
    }
    line += (line.empty() ? "" : " | ") + part.substr(begin);
  }
  return line;
}
