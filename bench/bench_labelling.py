"""Self-training's labels measured on validation, without and with the n-gram model's refit, and
the time of each step of the labelling, from the teachers of finished runs.

    python bench/bench_labelling.py RUN_DIR [RUN_DIR ...] [--key=value ...]

A RUN_DIR is a folder where scripts/run_train_cpu.sh ran (bench_seeds.py's seed_<n>/): it holds
preprocess/ and train/ckpt_lstm/teacher/lstm_best.ckpt. --key=value arguments are config keys (e.g.
--embed_size=50, as the run had). For each run it prints the validation accuracy of the teacher,
of the n-gram model and of their mean (the labels), without and with the refit
(src/self_training.py), and the seconds of the teacher's scoring of the unlabelled reviews, of
the n-gram labeller without and with the refit, and of scikit-learn's TfidfVectorizer over the
same reviews (what src/ngram.py's counting replaced).
"""
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from src import checkpoint, config as config_module, dataset, inference, scoring, self_training  # noqa: E402


def accuracy(probabilities, labels):
    return 100 * float(np.mean((np.asarray(probabilities) > 0.5) == np.asarray(labels)))


def vectorizer_seconds(train_features, unlabelled_features):
    """scikit-learn's TfidfVectorizer with src/ngram.py's settings, fitted on the labelled reviews
    and applied to the unlabelled ones."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    from src import ngram
    as_text = lambda arrays: [" ".join(map(str, ids)) for ids in arrays]
    started = time.time()
    vectorizer = TfidfVectorizer(ngram_range=(1, ngram.MAX_N), token_pattern=r"\S+", min_df=ngram.MIN_DF,
                                 sublinear_tf=True, dtype=np.float32)
    vectorizer.fit_transform(as_text(train_features))
    vectorizer.transform(as_text(unlabelled_features))
    return time.time() - started


def bench(run_dir, overrides):
    preprocess_path = os.path.join(run_dir, "preprocess")
    config = config_module.load_config([f"--preprocess_path={preprocess_path}", *overrides])
    with open(os.path.join(preprocess_path, "meta.json"), encoding="utf-8") as file:
        meta = json.load(file)
    teacher_file = os.path.join(run_dir, "train", "ckpt_lstm", self_training.TEACHER_FOLDER, "lstm_best.ckpt")
    config, network = checkpoint.load_network(config, teacher_file, meta["vocab_size"], meta["embed_dim"])
    train, valid = dataset.read_split(preprocess_path, "train"), dataset.read_split(preprocess_path, "valid")
    unlabelled = dataset.read_split(preprocess_path, "unsup", columns=("feature",))["feature"]
    teacher = lambda arrays: inference.softmax(
        scoring.network_logits(network, config.pooling, arrays, config.batch_size))[:, 1]
    started = time.time()
    teacher_unlabelled = teacher(unlabelled)
    figures = {"run": run_dir, "teacher scoring s": time.time() - started}
    teacher_valid = teacher(valid["feature"])
    figures["teacher valid %"] = accuracy(teacher_valid, valid["label"])
    for refit in (False, True):
        started = time.time()
        _, ngram_model = self_training.with_ngram_labeller(teacher_unlabelled, train["feature"], train["label"],
                                                           unlabelled, refit=refit)
        name = "refit" if refit else "no refit"
        figures[f"n-gram labeller s, {name}"] = time.time() - started
        ngram_valid = ngram_model(valid["feature"])
        figures[f"n-gram valid %, {name}"] = accuracy(ngram_valid, valid["label"])
        figures[f"labels valid %, {name}"] = accuracy((teacher_valid + ngram_valid) / 2, valid["label"])
    figures["TfidfVectorizer s"] = vectorizer_seconds(train["feature"], unlabelled)
    return figures


def main():
    runs = [arg for arg in sys.argv[1:] if not arg.startswith("--")]
    overrides = [arg for arg in sys.argv[1:] if arg.startswith("--")]
    if not runs:
        raise SystemExit(__doc__)
    print(f"{len(os.sched_getaffinity(0))} CPUs; {len(runs)} runs; settings: {overrides or 'default'}")
    results = []
    for run_dir in runs:
        figures = bench(run_dir, overrides)
        results.append(figures)
        print(" | ".join(f"{key} {value:.2f}" if isinstance(value, float) else str(value)
                         for key, value in figures.items()), flush=True)
    gains = [r["labels valid %, refit"] - r["labels valid %, no refit"] for r in results]
    print(f"labels valid, refit minus no refit: mean {np.mean(gains):+.2f} point "
          f"({', '.join(f'{gain:+.2f}' for gain in gains)})")


if __name__ == "__main__":
    main()
