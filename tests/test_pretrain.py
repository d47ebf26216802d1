"""Language-model pre-training (src/pretrain.py) on a tiny corpus with unlabelled reviews."""
import os
import re
import shutil
import subprocess
import sys

import mindspore as ms
import numpy as np
import pytest

from conftest import ROOT, TINY_TRAINING, make_corpus, make_glove
from src import dataset, pretrain

ms.set_context(mode=ms.GRAPH_MODE)

LM = ["--pretrain_seq_len=10", "--pretrain_batch_size=8", "--pretrain_sampled=8"]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    work = tmp_path_factory.mktemp("lm")
    corpus = make_corpus(str(work), unsup=40)
    os.makedirs(work / "glove")
    make_glove(str(work / "glove" / "glove.6B.8d.txt"))
    return work, corpus


def train(work, corpus, name, *options):
    run = work / name
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "train.py"), f"--aclimdb_path={corpus}",
         f"--glove_path={work / 'glove'}", f"--preprocess_path={work / 'preprocess'}",
         f"--ckpt_path={run}", *TINY_TRAINING, *LM, *options],
        capture_output=True, text=True, timeout=300)


def lm_epoch_losses(output):
    return [float(loss) for loss in re.findall(r"^lm epoch: \d+ loss ([\d.]+)", output, re.M)]


def test_pretraining_learns_and_the_classifier_starts_from_it(workspace):
    work, corpus = workspace
    # learning_rate 0: the classifier epoch leaves the weights as pre-training left them.
    result = train(work, corpus, "lm", "--pretrain_epochs=4", "--pretrain_learning_rate=0.05",
                   "--num_epochs=1", "--learning_rate=0.0")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    losses = lm_epoch_losses(result.stdout)
    assert len(losses) == 4 and losses[-1] < losses[0] - 0.1, losses
    pretrained = ms.load_checkpoint(str(work / "lm" / pretrain.LM_CHECKPOINT))
    classifier = ms.load_checkpoint(str(work / "lm" / "lstm_best.ckpt"))
    first_layer = [name for name in pretrained if name.startswith(("embedding.", "forward_layers.0.",
                                                                    "backward_layers.0."))]
    assert len(first_layer) >= 5  # the word vectors and both directions' weights
    for name in first_layer:
        np.testing.assert_array_equal(pretrained[name].asnumpy(), classifier[name].asnumpy())
    assert not any(name.startswith("forward_layers.1.") for name in pretrained)  # layer 2 starts fresh


def test_the_stream_holds_the_training_and_unlabelled_reviews(workspace):
    work, _ = workspace
    meta = dataset.load_meta(str(work / "preprocess"))
    stream = dataset.load_lm_text(str(work / "preprocess"))
    assert len(stream) == meta["lm_tokens"] > 0 and stream.dtype == np.int32
    assert stream.min() >= 1 and stream.max() < meta["vocab_size"]  # no padding in the stream
    # More than the 43 training reviews' worth of words: the 40 unlabelled ones are in it.
    assert len(stream) > 1.5 * meta["counts"]["train"] * meta["mean_train_length"]


def test_an_interrupted_pretraining_continues_with_resume(workspace):
    work, corpus = workspace
    first = train(work, corpus, "first", "--pretrain_epochs=1", "--num_epochs=1")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    # The run stopped after its first language-model epoch: only that checkpoint is there.
    os.makedirs(work / "stopped")
    shutil.copy(work / "first" / pretrain.LM_CHECKPOINT, work / "stopped")
    again = train(work, corpus, "stopped", "--pretrain_epochs=2", "--num_epochs=1")
    assert again.returncode != 0 and "earlier run" in again.stderr.strip().splitlines()[-1]
    resumed = train(work, corpus, "stopped", "--pretrain_epochs=2", "--num_epochs=1", "--resume=True")
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "1 of 2 epochs already done" in resumed.stdout
    assert len(lm_epoch_losses(resumed.stdout)) == 1  # only the second epoch ran


def test_pretraining_without_unlabelled_reviews_is_one_line(tmp_path):
    corpus = make_corpus(str(tmp_path))  # no train/unsup
    os.makedirs(tmp_path / "glove")
    make_glove(str(tmp_path / "glove" / "glove.6B.8d.txt"))
    result = train(tmp_path, corpus, "run", "--pretrain_epochs=1")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert "train/unsup" in lines[-1] and "Traceback" not in result.stderr


def test_pad_unk_and_rare_targets_are_not_scored():
    softmax = pretrain.SampledSoftmax(hidden=4, output_vocab=10, num_sampled=3, name="out", seed=1)
    hidden = ms.Tensor(np.random.default_rng(0).normal(size=(2, 3, 4)).astype(np.float32))
    unscored = ms.Tensor(np.array([[0, 1, 10], [12, 0, 1]], np.int32))  # pad, unk, >= output_vocab
    assert float(softmax(hidden, unscored).asnumpy()) == 0.0
    scored = ms.Tensor(np.array([[2, 5, 9], [3, 4, 8]], np.int32))
    assert float(softmax(hidden, scored).asnumpy()) > 0.0
