"""Tiny synthetic aclImdb corpora and GloVe files, made at test time (no real data in tests)."""
import gzip
import os
import random
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

# Importing mindspore rewrites os.environ (LD_LIBRARY_PATH to its CPU plugin folder, protobuf's
# implementation), and the train.py processes that tests start would inherit that and compute
# differently from a user's shell (first-epoch losses then differ between identical runs).
# Import it once here and give the environment back, so subprocesses see what a user's would.
_USER_ENVIRONMENT = dict(os.environ)
import mindspore  # noqa: E402,F401
os.environ.clear()
os.environ.update(_USER_ENVIRONMENT)

from src.dataset import MOVIE_BLOCK  # noqa: E402

POSITIVE = ["great", "wonderful", "superb", "loved", "brilliant", "moving"]
NEGATIVE = ["awful", "boring", "terrible", "hated", "dull", "waste"]
NEUTRAL = ["the", "movie", "film", "plot", "actor", "was", "and", "a", "it", "scene", "story"]


def review_text(rng, label):
    """A review whose sentiment words give its label away, so a model can learn in one epoch."""
    cue = POSITIVE if label == 1 else NEGATIVE
    words = [rng.choice(NEUTRAL if rng.random() < 0.6 else cue) for _ in range(rng.randint(5, 30))]
    return " ".join(words).capitalize() + ".<br /><br />" + rng.choice(["Really!", "Don't go.", "OK"])


def make_corpus(root, per_class=(24, 12), seed=0, unsup=0):
    """aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt under root, and `unsup` unlabelled
    reviews in aclImdb/train/unsup/<id>_0.txt; returns the aclImdb path."""
    rng = random.Random(seed)
    base = os.path.join(root, "aclImdb")
    if unsup:
        os.makedirs(os.path.join(base, "train", "unsup"), exist_ok=True)
    for index in range(unsup):
        with open(os.path.join(base, "train", "unsup", f"{index}_0.txt"), "w", encoding="utf-8") as file:
            file.write(review_text(rng, rng.randint(0, 1)))
    for split, count in zip(("train", "test"), per_class):
        for folder, label in (("pos", 1), ("neg", 0)):
            directory = os.path.join(base, split, folder)
            os.makedirs(directory, exist_ok=True)
            for index in range(count):
                rating = rng.randint(7, 10) if label else rng.randint(1, 4)
                # Ids MOVIE_BLOCK apart: every review is its own movie, so the validation split
                # (held out by blocks of consecutive ids) is as fine-grained as on real data.
                name = f"{index * MOVIE_BLOCK}_{rating}.txt"
                with open(os.path.join(directory, name), "w", encoding="utf-8") as file:
                    file.write(review_text(rng, label))
    return base


def make_glove(path, dim=8, header=False, words=None, seed=0):
    """A GloVe-format text file (optionally gzipped, optionally with a word2vec header)."""
    words = words or POSITIVE + NEGATIVE + NEUTRAL + [".", "!", "do", "n't", "go", "really"]
    rng = np.random.default_rng(seed)
    lines = [w + " " + " ".join(f"{v:.5f}" for v in rng.normal(size=dim)) for w in words]
    if header:
        lines.insert(0, f"{len(words)} {dim}")
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as file:
        file.write("\n".join(lines) + "\n")
    return path


# Options for a model that trains in seconds on the tiny corpus (later --key=value ones override).
TINY_TRAINING = ["--embed_size=8", "--num_hiddens=8", "--max_len=40", "--batch_size=8", "--bucket_width=8",
                 "--optimizer=adam", "--learning_rate=0.01", "--pooling=max_mean", "--pseudo_label_ratio=0"]


def make_workspace(root):
    """A tiny corpus and a GloVe folder holding glove.6B.8d.txt under root: (corpus, glove_dir)."""
    corpus = make_corpus(str(root))
    glove_dir = os.path.join(str(root), "glove")
    os.makedirs(glove_dir)
    make_glove(os.path.join(glove_dir, "glove.6B.8d.txt"))
    return corpus, glove_dir


@pytest.fixture
def corpus(tmp_path):
    return make_corpus(str(tmp_path))


@pytest.fixture
def glove_dir(tmp_path):
    directory = tmp_path / "glove"
    directory.mkdir()
    make_glove(str(directory / "glove.6B.8d.txt"))
    return str(directory)
