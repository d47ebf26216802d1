"""Scoring a whole split with a SentimentNet: eval.py's test set, the validation after each training
epoch and self-training's labelling of the unlabelled reviews.

All run the network as the ONNX graph export.py writes (built in memory from the network's
current weights, run by onnxruntime) over batches sorted by length, each padded only to its
longest review, and get the logits back in the order the reviews were given. MindSpore's
dynamic-shape graph on the same length-sorted batches was measured too (bench/bench_inference.py)
and stays several times slower; the logits agree within export.py's parity tolerance.
"""
import numpy as np

from src import inference, length_batching


def network_logits(network, pooling, id_arrays, batch_size):
    """float32 [len(id_arrays), classes]: `network`'s logits for each array of token ids, in order."""
    run_batch = inference.network_onnx_runner(network, pooling, threads=1)
    return length_batching.score_by_length(run_batch, id_arrays, batch_size, inference.PARALLEL_BATCHES)


def classification_metrics(logits, labels):
    """{"acc", "recall" per class, "f1" per class}, from MindSpore's metrics."""
    from mindspore.train.metrics import F1, Accuracy, Recall

    metrics = {"acc": Accuracy(), "recall": Recall(), "f1": F1()}
    labels = np.asarray(labels, np.int32)
    for metric in metrics.values():
        metric.clear()
        metric.update(logits, labels)
    results = {name: metric.eval() for name, metric in metrics.items()}
    return {"acc": float(results["acc"]), "recall": [float(v) for v in results["recall"]],
            "f1": [float(v) for v in results["f1"]]}
