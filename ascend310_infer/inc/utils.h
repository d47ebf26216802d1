// File helpers for the inference app: input listing, raw binary I/O, timing report.
#ifndef LSTM_INFER_UTILS_H_
#define LSTM_INFER_UTILS_H_

#include <cstdint>
#include <string>
#include <vector>

// Regular files ending in ".bin" directly inside dir, sorted lexicographically (full paths).
std::vector<std::string> ListBinFiles(const std::string &dir);

// Throws, naming both sizes, unless the file holds exactly one raw int32 array of `shape`.
void CheckInt32FileSize(const std::string &path, const std::vector<int64_t> &shape);

// The (batch, seq_len) of one input file for a model input of `model_shape` (-1: free). Free
// dimensions come from the file: the batch from "bs<N>" in its name (LSTM_data_bs64_3.bin, as
// preprocess.py names them) and seq_len from its size. Throws, naming the file, when the size
// does not fit.
std::vector<int64_t> BatchShape(const std::string &path, const std::vector<int64_t> &model_shape);

// Reads a raw int32 array of `shape` (size checked as above).
std::vector<int32_t> ReadInt32File(const std::string &path, const std::vector<int64_t> &shape);

void WriteFloat32File(const std::string &path, const std::vector<float> &values);

// "<stem>_0.bin" for input "<dir>/<stem>.bin", the name postprocess.py reads.
std::string ResultFileName(const std::string &input_path);

// "(64, 500)"
std::string ShapeToString(const std::vector<int64_t> &shape);

int64_t ElementCount(const std::vector<int64_t> &shape);

// Collapses a multi-line library error message into one line.
std::string OneLine(const std::string &message);

#endif  // LSTM_INFER_UTILS_H_
