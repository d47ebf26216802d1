"""Tiny synthetic aclImdb corpora and GloVe files, made at test time (no real data in tests)."""
import gzip
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from types import SimpleNamespace

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
TINY_TRAINING = ["--embed_size=8", "--num_hiddens=8", "--max_len=40", "--batch_size=8", "--bucket_width=0",
                 "--optimizer=adam", "--learning_rate=0.01", "--pooling=max_mean", "--pseudo_label_ratio=0",
                 "--whole_review_epochs=0"]


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


# ---- Runs shared by the whole session

def shared_folder(tmp_path_factory, name, build):
    """A folder that `build(folder)` fills once per test session, also when pytest-xdist runs the
    tests in several worker processes (they wait on a lock while the first one builds it)."""
    import fcntl

    run_id = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    base = tmp_path_factory.getbasetemp()
    root = base.parent / f"shared-{run_id}" if run_id else base / "shared"
    root.mkdir(parents=True, exist_ok=True)
    folder = root / name
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (folder / ".complete").exists():
            shutil.rmtree(folder, ignore_errors=True)  # a build that failed in another worker
            folder.mkdir()
            build(folder)
            (folder / ".complete").write_text("")
    return folder


def run_script(script, *arguments, cwd, env=None):
    """bash scripts/<script> ... from `cwd`, as a user runs it."""
    return subprocess.run(["bash", os.path.join(ROOT, "scripts", script), *arguments], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def run_python(script, *arguments, cwd=None, stdin=None):
    """python <project script> ... (outside the checkout by default)."""
    return subprocess.run([sys.executable, os.path.join(ROOT, script), *arguments], cwd=cwd or tempfile.gettempdir(),
                          input=stdin, capture_output=True, text=True, timeout=600)


def ok(result):
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


UNLABELLED = 40  # unlabelled reviews of the shared run's corpus
SELF_TRAINING = ["--num_epochs=2", *TINY_TRAINING, "--pseudo_label_ratio=0.5", "--whole_review_epochs=1"]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The README's main job on a tiny corpus, once for the whole session: run_train_cpu.sh with
    the default recipe (a teacher, the labelling of the unlabelled reviews, the final model) from
    a folder outside the project. Tests that would change it work on a copy (copy_run)."""
    def build(folder):
        data = folder / "data"
        corpus = make_corpus(str(data), unsup=UNLABELLED)
        os.makedirs(data / "glove")
        make_glove(str(data / "glove" / "glove.6B.8d.txt"))
        (folder / "work").mkdir()
        result = ok(run_script("run_train_cpu.sh", corpus, str(data / "glove"), *SELF_TRAINING, cwd=folder / "work"))
        (folder / "train_output.txt").write_text(result.stdout)

    folder = shared_folder(tmp_path_factory, "tiny_run", build)
    return run_in(folder / "work", folder)


def run_in(work, folder):
    return SimpleNamespace(work=work, corpus=str(folder / "data" / "aclImdb"), glove=str(folder / "data" / "glove"),
                           preprocess=work / "preprocess", ckpt=work / "train" / "ckpt_lstm",
                           best=work / "train" / "ckpt_lstm" / "lstm_best.ckpt",
                           output=(folder / "train_output.txt").read_text())


def copy_run(run, destination):
    """A copy of the shared run's outputs (preprocessed folder, checkpoints) to change freely;
    the corpus and vectors stay where they are, so the preprocessed folder still matches them."""
    shutil.copytree(run.work, destination / "work", symlinks=True)
    copied = SimpleNamespace(**vars(run))
    copied.work, copied.preprocess = destination / "work", destination / "work" / "preprocess"
    copied.ckpt = destination / "work" / "train" / "ckpt_lstm"
    copied.best = copied.ckpt / "lstm_best.ckpt"
    return copied


def train_in_process(preprocess_path, ckpt_path, *options, resume=False):
    """train.train_model on an existing preprocessed folder, in this process: no process start and
    no MindSpore import per run. Returns the history rows."""
    import mindspore as ms
    import mindspore.dataset as ds
    import train
    from src import config as config_module, dataset, device

    config = config_module.load_config([f"--preprocess_path={preprocess_path}", f"--ckpt_path={ckpt_path}",
                                        *TINY_TRAINING, *options])
    device.setup(config)
    ms.set_seed(config.seed)
    ds.config.set_seed(config.seed)
    train.train_model(config, dataset.load_meta(preprocess_path), 0, 1, resume=resume)
    with open(os.path.join(ckpt_path, "history.json"), encoding="utf-8") as file:
        return json.load(file)


@pytest.fixture(scope="session")
def tiny_preprocessed(tmp_path_factory):
    """A preprocessed tiny corpus (no unlabelled reviews) for in-process training runs."""
    def build(folder):
        from src import config as config_module, dataset

        corpus, glove = make_workspace(folder)
        for name, valid_ratio in (("preprocess", 0.1), ("preprocess_no_valid", 0.0)):
            dataset.prepare(config_module.load_config([
                f"--aclimdb_path={corpus}", f"--glove_path={glove}", f"--preprocess_path={folder / name}",
                f"--valid_ratio={valid_ratio}", *TINY_TRAINING]))

    return shared_folder(tmp_path_factory, "tiny_preprocessed", build)
