"""Scoring many reviews in batches of similar length, with results in the given order.

SentimentNet never reads padding, but it still computes on it: a batch costs its longest review
times its size. Sorting the reviews by length before batching pads each batch only up to the
next review lengths, so the work done is close to the sum of the real lengths. eval.py,
self-training's labelling and predict.py all go through score_by_length.

Only numpy here: predict.py uses it without MindSpore.
"""
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from src import text


def length_sorted_batches(lengths, batch_size):
    """Index arrays of at most batch_size reviews each, covering all reviews in order of
    length (stable, so equal lengths keep their order)."""
    order = np.argsort(np.asarray(lengths), kind="stable")
    return [order[start:start + batch_size] for start in range(0, len(order), batch_size)]


def pad_rows(id_arrays, length=None):
    """int32 [len(id_arrays), length] padded with <pad> at the end; length defaults to the
    longest array (at least 1: an empty review is one padding step, which SentimentNet reads
    as its position 0)."""
    length = length or max(1, max((len(ids) for ids in id_arrays), default=1))
    batch = np.full((len(id_arrays), length), text.PAD_ID, np.int32)
    for row, ids in enumerate(id_arrays):
        ids = ids[:length]
        batch[row, :len(ids)] = ids
    return batch


def score_by_length(run_batch, id_arrays, batch_size, workers=1, length_multiple=1):
    """run_batch(int32 [rows, length]) -> float [rows, classes] applied to every array of token ids
    in batches sorted by length; returns float32 [len(id_arrays), classes] in the given order.
    workers > 1: that many batches run at once (run_batch must be thread-safe and release the GIL,
    as onnxruntime's session.run does). length_multiple > 1 rounds each batch's length up to a
    multiple of it, for runtimes that compile once per input shape."""
    batches = length_sorted_batches([len(ids) for ids in id_arrays], batch_size)
    if not batches:
        return np.empty((0, 0), np.float32)

    def run(indices):
        rows = [id_arrays[i] for i in indices]
        length = max(1, max(len(ids) for ids in rows))
        length = -(-length // length_multiple) * length_multiple
        return np.asarray(run_batch(pad_rows(rows, length)), np.float32)

    if workers > 1 and len(batches) > 1:
        # Longest batches first: the workers then finish together, instead of one running the
        # longest batch (the slowest by far) alone at the end.
        batches.sort(key=lambda indices: -len(indices) * max(len(id_arrays[i]) for i in indices))
        with ThreadPoolExecutor(workers) as pool:
            outputs = list(pool.map(run, batches))
    else:
        outputs = [run(indices) for indices in batches]
    results = np.empty((len(id_arrays), outputs[0].shape[1]), np.float32)
    for indices, logits in zip(batches, outputs):
        results[indices] = logits
    return results
