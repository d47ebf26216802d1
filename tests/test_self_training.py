"""Self-training (src/self_training.py): teacher -> pseudo-labels -> final model, on the shared
tiny run (tiny_run: a corpus with unlabelled reviews)."""
import json
import os
import re
import shutil

import numpy as np
import pytest

from conftest import SELF_TRAINING, UNLABELLED, copy_run, ok, run_script
from src import config as config_module, dataset, errors, self_training


def read_rows(files):
    from mindspore.mindrecord import FileReader
    rows = []
    for name in files[:1]:  # one shard file opens the whole set
        reader = FileReader(name)
        rows.extend(reader.get_next())
        reader.close()
    return rows


def test_the_teacher_labels_the_most_confident_half_and_the_final_model_trains_on_them(tiny_run):
    teacher = tiny_run.ckpt / self_training.TEACHER_FOLDER
    assert (teacher / "lstm_best.ckpt").is_file() and (teacher / "history.json").is_file()
    files, count = self_training.pseudo_labels(str(tiny_run.ckpt))
    rows = read_rows(files)
    assert len(rows) == count and {row["label"] for row in rows} <= {0, 1}
    per_class = [sum(row["label"] == label for row in rows) for label in (0, 1)]
    assert max(per_class) == UNLABELLED // 4 >= min(per_class)  # half the reviews, at most half per class
    assert len({row["id"] for row in rows}) == count  # each unlabelled review at most once
    assert all(len(row["feature"]) == row["length"] > 0 for row in rows)  # no padding stored
    # The final model saw the pseudo-labelled reviews: more steps per epoch than the teacher.
    steps = [int(n) for n in re.findall(r"Starting Training \((\d+) steps", tiny_run.output)]
    assert len(steps) == 3 and steps[1] > steps[0], steps  # teacher, final model, whole reviews
    summary = json.loads((tiny_run.ckpt / self_training.SUMMARY_FILE).read_text())
    assert summary["unlabelled"] == UNLABELLED and summary["count"] == count
    assert summary["ngram"] is True and "n-gram logistic regression trained on" in tiny_run.output


def undecided_logits(network, pooling, id_arrays, batch_size):
    """Stands in for the teacher LSTM's scoring: probability 1/2 for every review."""
    return np.zeros((len(id_arrays), 2), np.float32)


def test_the_ngram_model_and_the_teacher_label_together(tiny_run, tmp_path, monkeypatch):
    from src import ngram, scoring
    config = config_module.load_config([f"--preprocess_path={tiny_run.preprocess}", *SELF_TRAINING])
    # With an undecided teacher, the mean of the two probabilities sides with the n-gram model.
    monkeypatch.setattr(scoring, "network_logits", undecided_logits)
    self_training.write_pseudo_labels(None, config, str(tmp_path))
    rows = read_rows(self_training.pseudo_labels(str(tmp_path))[0])
    train = dataset.read_split(config.preprocess_path, "train")
    chosen = [row["feature"] for row in rows]
    expected = self_training.with_ngram_labeller(np.full(len(chosen), 0.5), train["feature"], train["label"],
                                                 chosen)[0] > 0.5
    assert len(rows) > 0
    np.testing.assert_array_equal([row["label"] for row in rows], expected.astype(int))


def test_the_ngram_refit_learns_from_the_unlabelled_reviews_what_the_teacher_knows():
    # Token 7 is as often in positive as in negative labelled reviews, so the n-gram model fitted on
    # them alone cannot read it; in the unlabelled reviews it comes with the positive token 5, which
    # labels them. The refit on those labels must learn token 7, and the reviews that hold it
    # without token 5 (from `seven_alone` on) turn positive; token 8 likewise turns negative.
    rng = np.random.default_rng(0)
    filler = lambda: list(rng.integers(10, 60, size=6))
    train = [np.array(filler() + [5 if index % 2 else 6] + filler()) for index in range(400)]
    train += [np.array(filler() + [word]) for word in (7, 7, 8, 8)]
    labels = [index % 2 for index in range(400)] + [1, 0, 1, 0]
    unlabelled = [np.array(filler() + [5, 7] + filler()) for _ in range(200)]
    unlabelled += [np.array(filler() + [6, 8] + filler()) for _ in range(200)]
    seven_alone = len(unlabelled)
    unlabelled += [np.array(filler() + [7] + filler()) for _ in range(10)]
    eight_alone = len(unlabelled)
    unlabelled += [np.array(filler() + [8] + filler()) for _ in range(10)]
    undecided_teacher = np.full(len(unlabelled), 0.5)
    before, _ = self_training.with_ngram_labeller(undecided_teacher, train, labels, unlabelled, refit=False)
    after, ngram_model = self_training.with_ngram_labeller(undecided_teacher, train, labels, unlabelled)
    np.testing.assert_allclose(ngram_model(unlabelled), 2 * after - undecided_teacher, atol=1e-6)
    # On the mean: a review refitted on with a wrong label can keep it (its own rare n-grams).
    assert after[seven_alone:eight_alone].mean() > 0.6 > before[seven_alone:eight_alone].mean()
    assert after[eight_alone:].mean() < 0.4 < before[eight_alone:].mean()


def test_a_run_stopped_while_labelling_resumes_with_the_labelling(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    for name in os.listdir(run.ckpt):  # as if stopped after the teacher, before the labels were complete
        if name.startswith(("pseudo_labels", "lstm", "history", "finished")):
            os.remove(run.ckpt / name)
    shutil.rmtree(run.ckpt / "whole_reviews")
    teacher_alone = "--pseudo_label_ngram=False"
    result = ok(run_script("run_train_cpu.sh", run.corpus, run.glove, *SELF_TRAINING, "--resume=True",
                           teacher_alone, cwd=run.work))
    assert "the first model (teacher)" not in result.stdout
    assert f"of {UNLABELLED} unlabelled reviews labelled" in result.stdout
    assert (run.ckpt / "lstm_best.ckpt").is_file()
    assert "n-gram" not in result.stdout
    assert json.loads((run.ckpt / self_training.SUMMARY_FILE).read_text())["ngram"] is False


def test_self_training_without_unlabelled_reviews_is_one_line(tmp_path):
    from conftest import make_workspace
    corpus, glove = make_workspace(tmp_path)
    config = config_module.load_config([f"--aclimdb_path={corpus}", f"--glove_path={glove}",
                                        f"--preprocess_path={tmp_path / 'pre'}", *SELF_TRAINING])
    with pytest.raises(errors.UserError, match=r"train/unsup.*--pseudo_label_ratio=0"):
        dataset.prepare(config)


def test_most_confident_keeps_as_many_of_each_class_farthest_from_one_half():
    probabilities = np.array([0.5, 0.99, 0.4, 0.02, 0.7, 0.95, 0.9])
    chosen, labels = self_training.most_confident(probabilities, 0.6)  # 4 of 7: 2 per class
    np.testing.assert_array_equal(chosen, [1, 2, 3, 5])  # not 6: a third positive
    np.testing.assert_array_equal(labels, [1, 0, 0, 1])
    # a class with fewer predictions gives what it has
    chosen, labels = self_training.most_confident(np.array([0.1, 0.9, 0.8, 0.7]), 1.0)
    np.testing.assert_array_equal(chosen, [0, 1, 2])
    assert len(self_training.most_confident(np.array([0.1, 0.9]), 0.0)[0]) == 0
