"""Test reviews -> int32 batches for the inference app (step 1 of run_infer_310.sh).

    python preprocess.py --preprocess_path=./preprocess --result_path=./preprocess_Result/ \
        --batch_size=64 [--static_shape=True --max_len=1000]   # as the model was exported

Writes into result_path:
    00_data/LSTM_data_bs<B>_<i>.bin  int32 [B, length] token ids padded with 0 (raw, C order). For
                                     an export with free batch and length (the default) the
                                     reviews are sorted by length and each batch is padded only
                                     to its longest review: the app reads the length from the
                                     file's size and B from its name. With --static_shape=True,
                                     reviews keep the MindRecord's order and every batch is
                                     [B, max_len]. The batch that is not full (the shortest
                                     reviews, or the last ones) is filled up with padding rows,
                                     so every review is scored (the reference dropped the
                                     remainder).
    label_ids.npy                    int32 [batches, B]; PADDING_LABEL marks the padding rows
    counts.json                      batch size, each batch's length, the real review count per
                                     batch and which test reviews (file order) each batch holds
Runs are reproducible: the order only depends on the MindRecord's order and the lengths.
"""
import glob
import json
import os

import numpy as np

from src import config as config_module, dataset, errors, inference, length_batching

DATA_FOLDER = "00_data"
LABELS_FILE, COUNTS_FILE = "label_ids.npy", "counts.json"
PADDING_LABEL = -1


def batch_file_name(batch_size, index):
    return f"LSTM_data_bs{batch_size}_{index}.bin"


def read_test_reviews(preprocess_path):
    """[(token ids, label)] of the test split, in file order."""
    test = dataset.read_split(preprocess_path, "test")
    return [(feature.tolist(), int(label)) for feature, label in zip(test["feature"], test["label"])]


def batch_members(lengths, batch_size, static_shape):
    """Test review indices of each batch. Free shapes: sorted by length, with the one batch that
    is not full holding the shortest reviews, so its padding rows cost next to nothing."""
    if static_shape:
        return [list(range(start, min(start + batch_size, len(lengths))))
                for start in range(0, len(lengths), batch_size)]
    order = [int(i) for i in np.argsort(np.asarray(lengths), kind="stable")]
    first = len(order) % batch_size or batch_size
    return [order[:first]] + [order[start:start + batch_size] for start in range(first, len(order), batch_size)]


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

    static_shape = bool(config.static_shape)
    members = batch_members([min(len(ids), max_len) for ids, _ in reviews], batch_size, static_shape)
    labels, counts, lengths = [], [], []
    for index, chunk_indices in enumerate(members):
        chunk = [reviews[i] for i in chunk_indices]
        id_lists = [ids[:max_len] for ids, _ in chunk] + [[]] * (batch_size - len(chunk))
        token_ids = (inference.pad_batch(id_lists, batch_size, max_len) if static_shape
                     else length_batching.pad_rows(id_lists))
        token_ids.tofile(os.path.join(data_folder, batch_file_name(batch_size, index)))
        labels.append([label for _, label in chunk] + [PADDING_LABEL] * (batch_size - len(chunk)))
        counts.append(len(chunk))
        lengths.append(token_ids.shape[1])
    np.save(os.path.join(config.result_path, LABELS_FILE), np.asarray(labels, np.int32), allow_pickle=False)
    with open(os.path.join(config.result_path, COUNTS_FILE), "w", encoding="utf-8") as file:
        json.dump({"batch_size": batch_size, "max_len": max_len, "static_shape": static_shape,
                   "reviews": len(reviews), "reviews_per_batch": counts, "batch_lengths": lengths,
                   "review_indices": members}, file, indent=1)

    truncated = sum(len(ids) > max_len for ids, _ in reviews)
    if truncated:
        print(f"note: {truncated} reviews are longer than max_len={max_len} and were truncated")
    if static_shape:
        shape = f"int32 [{batch_size}, {max_len}]"
    else:
        shape = (f"int32 [{batch_size}, length] sorted by length (lengths {min(lengths)}..{max(lengths)}, "
                 f"{sum(lengths) / len(lengths):.0f} on average)")
    partial = min(counts)
    print(f"Wrote {len(counts)} batches of {shape} ({len(reviews)} reviews, "
          f"{'one batch of ' + str(partial) if partial < batch_size else 'all full'}) to {data_folder}")
    print("==================== export bin files finished ====================")


if __name__ == "__main__":
    errors.run_main(main)
