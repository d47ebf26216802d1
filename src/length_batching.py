"""Scoring many reviews in batches of similar length, with results in the given order.

SentimentNet never reads padding, but it still computes on it: a batch costs its longest review
times its size. Sorting the reviews by length before batching pads each batch only up to the
next review lengths, so the work done is close to the sum of the real lengths. eval.py,
self-training's labelling and predict.py all go through score_by_length.

Only numpy here: predict.py uses it without MindSpore.
"""
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


def score_by_length(run_batch, id_arrays, batch_size):
    """run_batch(int32 [rows, length]) -> float [rows, classes] applied to every array of token ids
    in batches sorted by length; returns float32 [len(id_arrays), classes] in the given order."""
    lengths = [len(ids) for ids in id_arrays]
    results = None
    for indices in length_sorted_batches(lengths, batch_size):
        logits = np.asarray(run_batch(pad_rows([id_arrays[i] for i in indices])), np.float32)
        if results is None:
            results = np.empty((len(id_arrays), logits.shape[1]), np.float32)
        results[indices] = logits
    return results if results is not None else np.empty((0, 0), np.float32)
