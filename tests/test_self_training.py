"""Self-training (src/self_training.py): teacher -> pseudo-labels -> final model, on a tiny corpus
with unlabelled reviews."""
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, TINY_TRAINING, make_corpus, make_glove
from src import self_training

UNLABELLED = 60


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    work = tmp_path_factory.mktemp("self_training")
    corpus = make_corpus(str(work), unsup=UNLABELLED)
    os.makedirs(work / "glove")
    make_glove(str(work / "glove" / "glove.6B.8d.txt"))
    return work, corpus


def train(work, corpus, name, *options):
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "train.py"), f"--aclimdb_path={corpus}",
         f"--glove_path={work / 'glove'}", f"--preprocess_path={work / 'preprocess'}",
         f"--ckpt_path={work / name}", *TINY_TRAINING, "--pseudo_label_ratio=0.5", "--num_epochs=2",
         *options],
        capture_output=True, text=True, timeout=300)


def read_rows(files):
    from mindspore.mindrecord import FileReader
    rows = []
    for name in files[:1]:  # one shard file opens the whole set
        reader = FileReader(name)
        rows.extend(reader.get_next())
        reader.close()
    return rows


def test_the_teacher_labels_the_most_confident_half_and_the_final_model_trains_on_them(workspace):
    work, corpus = workspace
    result = train(work, corpus, "run")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    teacher = work / "run" / self_training.TEACHER_FOLDER
    assert (teacher / "lstm_best.ckpt").is_file() and (teacher / "history.json").is_file()
    assert (work / "run" / "lstm_best.ckpt").is_file() and (work / "run" / "history.json").is_file()
    files, count = self_training.pseudo_labels(str(work / "run"))
    rows = read_rows(files)
    assert len(rows) == count and {row["label"] for row in rows} <= {0, 1}
    per_class = [sum(row["label"] == label for row in rows) for label in (0, 1)]
    assert max(per_class) == UNLABELLED // 4 >= min(per_class)  # half the reviews, at most half per class
    assert len({row["id"] for row in rows}) == count  # each unlabelled review at most once
    assert all(len(row["feature"]) == row["length"] > 0 for row in rows)  # no padding stored
    # The final model saw the pseudo-labelled reviews: more steps per epoch than the teacher.
    steps = [int(n) for n in re.findall(r"Starting Training \((\d+) steps", result.stdout)]
    assert len(steps) == 2 and steps[1] > steps[0], steps
    summary = json.loads((work / "run" / self_training.SUMMARY_FILE).read_text())
    assert summary["unlabelled"] == UNLABELLED and summary["count"] == count
    assert summary["ngram"] is True and "n-gram logistic regression trained on" in result.stdout


def undecided_logits(network, pooling, id_arrays, batch_size):
    """Stands in for the teacher LSTM's scoring: probability 1/2 for every review."""
    return np.zeros((len(id_arrays), 2), np.float32)


def test_the_ngram_model_and_the_teacher_label_together(workspace, tmp_path, monkeypatch):
    from easydict import EasyDict
    from src import dataset, ngram, scoring
    work, corpus = workspace
    config = EasyDict(aclimdb_path=corpus, glove_path=str(work / "glove"), embed_size=8,
                      preprocess_path=str(tmp_path / "preprocess"), max_len=40, min_freq=1, max_vocab=0,
                      valid_ratio=0.1, seed=1, pretrain_epochs=0, pseudo_label_ratio=1.0,
                      pseudo_label_ngram=True, batch_size=8, bucket_width=8, pooling="max_mean")
    dataset.prepare(config)
    # With an undecided teacher, the mean of the two probabilities sides with the n-gram model.
    monkeypatch.setattr(scoring, "network_logits", undecided_logits)
    self_training.write_pseudo_labels(None, config, str(tmp_path))
    rows = read_rows(self_training.pseudo_labels(str(tmp_path))[0])
    model = ngram.fit(*dataset.read_reviews(config.preprocess_path, "train"))
    expected = ngram.positive_probability(model, [row["feature"] for row in rows]) > 0.5
    assert len(rows) > 0
    np.testing.assert_array_equal([row["label"] for row in rows], expected.astype(int))


def test_resume_after_the_teacher_continues_the_final_model_only(workspace):
    work, corpus = workspace
    assert train(work, corpus, "resumed").returncode == 0
    teacher_best = work / "resumed" / self_training.TEACHER_FOLDER / "lstm_best.ckpt"
    labels = work / "resumed" / self_training.SUMMARY_FILE
    before = (teacher_best.stat().st_mtime_ns, labels.stat().st_mtime_ns)
    result = train(work, corpus, "resumed", "--resume=True", "--num_epochs=3")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "the first model (teacher)" not in result.stdout
    assert (teacher_best.stat().st_mtime_ns, labels.stat().st_mtime_ns) == before
    history = json.loads((work / "resumed" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]


def test_a_run_stopped_while_labelling_resumes_with_the_labelling(workspace):
    work, corpus = workspace
    teacher_alone = "--pseudo_label_ngram=False"
    assert train(work, corpus, "labelling", teacher_alone).returncode == 0
    run = work / "labelling"
    for name in os.listdir(run):  # as if stopped after the teacher, before the labels were complete
        if name.startswith("pseudo_labels") or name.startswith("lstm") or name.startswith("history"):
            os.remove(run / name)
    result = train(work, corpus, "labelling", "--resume=True", teacher_alone)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "the first model (teacher)" not in result.stdout and "of 60 unlabelled reviews labelled" in result.stdout
    assert (run / "lstm_best.ckpt").is_file()
    assert "n-gram" not in result.stdout
    assert json.loads((run / self_training.SUMMARY_FILE).read_text())["ngram"] is False


def test_self_training_without_unlabelled_reviews_is_one_line(tmp_path):
    corpus = make_corpus(str(tmp_path))
    os.makedirs(tmp_path / "glove")
    make_glove(str(tmp_path / "glove" / "glove.6B.8d.txt"))
    result = train(tmp_path, corpus, "run")
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "train/unsup" in result.stderr and "--pseudo_label_ratio=0" in result.stderr


def test_most_confident_keeps_as_many_of_each_class_farthest_from_one_half():
    probabilities = np.array([0.5, 0.99, 0.4, 0.02, 0.7, 0.95, 0.9])
    chosen, labels = self_training.most_confident(probabilities, 0.6)  # 4 of 7: 2 per class
    np.testing.assert_array_equal(chosen, [1, 2, 3, 5])  # not 6: a third positive
    np.testing.assert_array_equal(labels, [1, 0, 0, 1])
    # a class with fewer predictions gives what it has
    chosen, labels = self_training.most_confident(np.array([0.1, 0.9, 0.8, 0.7]), 1.0)
    np.testing.assert_array_equal(chosen, [0, 1, 2])
    assert len(self_training.most_confident(np.array([0.1, 0.9]), 0.0)[0]) == 0
