"""Self-training on the unlabelled reviews (aclImdb train/unsup).

train.py first trains a model on the labelled reviews (the teacher, in <ckpt_path>/teacher/). Its
best checkpoint labels every unlabelled review, together with a bag-of-n-grams model trained on
the same labelled reviews (src/ngram.py; pseudo_label_ngram) and then on the unlabelled ones as
well (with_ngram_labeller), by the mean of their probabilities;
the pseudo_label_ratio most confidently classified join the labelled reviews, and the final model
(the student) is trained on both from a fresh start, with the same recipe and the same
validation split (labelled reviews only). The teachers' mistakes are mostly among the reviews
they are unsure of, which are left out; taking as many of each class keeps a teacher's lean to
one class out of the labels. What it bought is in docs/results.md.
"""
import json
import os
import time

import numpy as np

from src import dataset, errors, inference, ngram, scoring

TEACHER_FOLDER = "teacher"
PSEUDO_FILE = "pseudo_labels.mindrecord"
SUMMARY_FILE = "pseudo_labels.json"  # written last: the pseudo-labels are complete


def pseudo_labels(ckpt_path):
    """(MindRecord shard files, number of reviews) of finished pseudo-labels, or None."""
    summary = os.path.join(ckpt_path, SUMMARY_FILE)
    if not os.path.isfile(summary):
        return None
    with open(summary, encoding="utf-8") as file:
        count = json.load(file)["count"]
    return dataset.shard_files(os.path.join(ckpt_path, PSEUDO_FILE)), count


def most_confident(probabilities, ratio):
    """Indices of round(ratio * n) reviews, half of them predicted positive and half negative,
    each half the reviews whose positive-class probability is farthest from 0.5 (fewer where a
    class has fewer predictions), and their labels (1 where that probability is above 0.5)."""
    probabilities = np.asarray(probabilities, np.float64)
    per_class = int(round(ratio * len(probabilities))) // 2
    positive = np.flatnonzero(probabilities > 0.5)
    negative = np.flatnonzero(probabilities <= 0.5)
    chosen = np.concatenate([positive[np.argsort(-probabilities[positive], kind="stable")[:per_class]],
                             negative[np.argsort(probabilities[negative], kind="stable")[:per_class]]])
    chosen = np.sort(chosen)
    return chosen, (probabilities[chosen] > 0.5).astype(np.int32)


def with_ngram_labeller(teacher_probabilities, train_features, train_labels, unlabelled_features,
                        refit=True):
    """The unlabelled reviews' positive-class probabilities: the mean of the teacher's and those of
    an n-gram model (src/ngram.py) trained on the labelled reviews, then (`refit`) trained again
    on the labelled plus the unlabelled reviews as that mean labels them (most_confident, ratio 1);
    and that n-gram model, as a function from token id arrays to its probabilities.
    The refit teaches the n-gram model what the teacher knows of n-grams too rare in the labelled
    reviews to read; it raised the labels' accuracy on validation by 0.3 point on the mean of six
    seeds, for about 5 s (docs/results.md, session 25)."""
    from scipy import sparse

    featurize, train_matrix = ngram.featurizer(train_features)
    unlabelled_matrix = featurize(unlabelled_features)
    model = ngram.fit(train_matrix, train_labels)
    probabilities = (teacher_probabilities + ngram.positive_probability(model, unlabelled_matrix)) / 2
    if refit:
        chosen, labels = most_confident(probabilities, 1.0)
        model = ngram.fit(sparse.vstack([train_matrix, unlabelled_matrix[chosen]]),
                          np.concatenate([np.asarray(train_labels), labels]))
        probabilities = (teacher_probabilities + ngram.positive_probability(model, unlabelled_matrix)) / 2
    return probabilities, lambda id_arrays: ngram.positive_probability(model, featurize(id_arrays))


def write_pseudo_labels(network, config, ckpt_path):
    """Labels the unlabelled reviews with `network` and writes the chosen ones (with their token
    ids as preprocessed) to <ckpt_path>/pseudo_labels.mindrecord*, then pseudo_labels.json."""
    unlabelled = dataset.read_split(config.preprocess_path, "unsup", columns=("feature", "id"))
    features, ids = unlabelled["feature"], np.asarray(unlabelled["id"], np.int64)
    if not features:
        raise errors.UserError(f"{config.preprocess_path} holds no unlabelled reviews to self-train on")
    started = time.time()
    # Batches sorted by length, results in file order (src/scoring.py).
    logits = scoring.network_logits(network, config.pooling, features, config.batch_size)
    probabilities = inference.softmax(logits)[:, 1]
    print(f"Self-training: {len(features)} unlabelled reviews scored in {time.time() - started:.0f} s",
          flush=True)
    if config.pseudo_label_ngram:
        started = time.time()
        train = dataset.read_split(config.preprocess_path, "train")
        probabilities, _ = with_ngram_labeller(probabilities, train["feature"], train["label"], features)
        print(f"Self-training: n-gram logistic regression trained on {len(train['feature'])} reviews, "
              f"again with the unlabelled ones, and averaged in ({time.time() - started:.0f} s)", flush=True)
    chosen, labels = most_confident(probabilities, config.pseudo_label_ratio)
    rows = ({"id": int(ids[i]), "label": int(label), "feature": np.asarray(features[i], np.int32)}
            for i, label in zip(chosen, labels))
    dataset.write_mindrecord(os.path.join(ckpt_path, PSEUDO_FILE), rows, len(chosen), "pseudo-labels")
    summary = {"count": len(chosen), "unlabelled": len(features), "positive": float(labels.mean()),
               "ratio": config.pseudo_label_ratio, "ngram": bool(config.pseudo_label_ngram)}
    with open(os.path.join(ckpt_path, SUMMARY_FILE), "w", encoding="utf-8") as file:
        json.dump(summary, file, indent=2)
    print(f"Self-training: {len(chosen)} of {len(features)} unlabelled reviews labelled "
          f"({summary['positive']:.1%} positive) for the final model", flush=True)
