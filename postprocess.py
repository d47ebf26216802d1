"""Accuracy of the inference app's logits (step 4 of run_infer_310.sh).

    python postprocess.py --result_dir=./result_Files --label_dir=./preprocess_Result/label_ids.npy

Reads result_dir/LSTM_data_bs<B>_<i>_0.bin (float32 [B, num_classes]) for every batch that
preprocess.py wrote (counts.json beside label_ids.npy gives B and the real reviews per batch),
skips the padding rows that fill up the one batch that is not full, prints `result of Accuracy is:  <value>` as the
reference did and writes that line to acc.log beside result_dir.
"""
import json
import os

import numpy as np

from src import config as config_module, errors

# Mirrors preprocess.py without importing it (that would pull in MindSpore's dataset module).
COUNTS_FILE = "counts.json"
ACCURACY_LOG = "acc.log"


def read_logits(path, batch_size, num_classes):
    if not os.path.isfile(path):
        raise errors.UserError(f"{path} not found: did inference finish on every batch?")
    logits = np.fromfile(path, np.float32)
    if logits.size != batch_size * num_classes:
        raise errors.UserError(f"{path} holds {logits.size} floats, expected {batch_size} x {num_classes} "
                               "(batch_size x num_classes)")
    return logits.reshape(batch_size, num_classes)


def main():
    config = config_module.load_config()
    if not config.label_dir:
        raise errors.UserError("pass --label_dir=<result_path>/label_ids.npy (written by preprocess.py)")
    counts_path = os.path.join(os.path.dirname(config.label_dir), COUNTS_FILE)
    for path in (config.label_dir, counts_path):
        if not os.path.isfile(path):
            raise errors.UserError(f"{path} not found: run preprocess.py first")
    labels = np.load(config.label_dir, allow_pickle=False)
    with open(counts_path, encoding="utf-8") as file:
        counts = json.load(file)
    batch_size, per_batch = counts["batch_size"], counts["reviews_per_batch"]
    if labels.shape != (len(per_batch), batch_size):
        raise errors.UserError(f"{config.label_dir} has shape {labels.shape}, {counts_path} describes "
                               f"{len(per_batch)} batches of {batch_size}; rerun preprocess.py")

    correct = 0
    for index, reviews in enumerate(per_batch):
        path = os.path.join(config.result_dir, f"LSTM_data_bs{batch_size}_{index}_0.bin")
        logits = read_logits(path, batch_size, config.num_classes)[:reviews]
        correct += int((logits.argmax(axis=1) == labels[index, :reviews]).sum())
    accuracy = correct / counts["reviews"]
    line = f"result of Accuracy is:  {accuracy}"
    print(f"{correct} of {counts['reviews']} reviews correct ({len(per_batch)} batches of {batch_size})")
    print(line)
    log_path = os.path.join(os.path.dirname(os.path.abspath(config.result_dir)), ACCURACY_LOG)
    with open(log_path, "w", encoding="utf-8") as file:
        file.write(line + "\n")


if __name__ == "__main__":
    errors.run_main(main)
