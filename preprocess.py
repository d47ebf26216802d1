"""Test reviews -> fixed-shape int32 batches for the inference app (step 1 of run_infer_310.sh).

    python preprocess.py --preprocess_path=./preprocess --result_path=./preprocess_Result/ \
        --batch_size=64 --max_len=1000     # the input shape the model was exported with

Writes into result_path:
    00_data/LSTM_data_bs<B>_<i>.bin  int32 [B, max_len] token ids padded with 0 (raw, C order);
                                     the last batch is filled up with padding rows, so every
                                     review is scored (the reference dropped the remainder)
    label_ids.npy                    int32 [batches, B]; PADDING_LABEL marks the padding rows
    counts.json                      batch size, max_len and the real review count per batch
Reviews keep the MindRecord's order (no shuffling), so runs are reproducible.
"""
import glob
import json
import os

import numpy as np

from src import config as config_module, dataset, errors, inference

DATA_FOLDER = "00_data"
LABELS_FILE, COUNTS_FILE = "label_ids.npy", "counts.json"
PADDING_LABEL = -1


def batch_file_name(batch_size, index):
    return f"LSTM_data_bs{batch_size}_{index}.bin"


def read_test_reviews(preprocess_path):
    """[(token ids, label)] of the test split, in file order."""
    features, labels = dataset.read_reviews(preprocess_path, "test")
    return [(feature.tolist(), int(label)) for feature, label in zip(features, labels)]


def main():
    config = config_module.load_config()
    reviews = read_test_reviews(config.preprocess_path)
    if not reviews:
        raise errors.UserError(f"the test split in {config.preprocess_path} is empty")
    batch_size, max_len = config.batch_size, config.max_len
    data_folder = os.path.join(config.result_path, DATA_FOLDER)
    try:
        os.makedirs(data_folder, exist_ok=True)
    except OSError as error:
        raise errors.UserError(f"cannot create {data_folder}: {error.strerror}") from None
    # The app runs every .bin in the folder: batches of an earlier run would be scored again.
    for stale in glob.glob(os.path.join(data_folder, "LSTM_data_bs*_*.bin")):
        os.remove(stale)

    labels, counts = [], []
    for index, start in enumerate(range(0, len(reviews), batch_size)):
        chunk = reviews[start:start + batch_size]
        token_ids = inference.pad_batch([ids for ids, _ in chunk], batch_size, max_len)
        token_ids.tofile(os.path.join(data_folder, batch_file_name(batch_size, index)))
        labels.append([label for _, label in chunk] + [PADDING_LABEL] * (batch_size - len(chunk)))
        counts.append(len(chunk))
    np.save(os.path.join(config.result_path, LABELS_FILE), np.asarray(labels, np.int32), allow_pickle=False)
    with open(os.path.join(config.result_path, COUNTS_FILE), "w", encoding="utf-8") as file:
        json.dump({"batch_size": batch_size, "max_len": max_len, "reviews": len(reviews),
                   "reviews_per_batch": counts}, file, indent=1)

    truncated = sum(len(ids) > max_len for ids, _ in reviews)
    if truncated:
        print(f"note: {truncated} reviews are longer than max_len={max_len} and were truncated")
    print(f"Wrote {len(counts)} batches of int32 [{batch_size}, {max_len}] ({len(reviews)} reviews, "
          f"last batch {counts[-1]}) to {data_folder}")
    print("==================== export bin files finished ====================")


if __name__ == "__main__":
    errors.run_main(main)
