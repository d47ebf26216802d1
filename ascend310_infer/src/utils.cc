#include "inc/utils.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
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
