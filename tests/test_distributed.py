"""Data-parallel training: a real 2-worker msrun job on a tiny corpus (ranks stay in step and end
with the same weights), equal step counts per shard, the preprocessing handshake, the launch
scripts, and the ModelArts hooks."""
import os
import re
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import ROOT, make_corpus, make_glove
from src import config as config_module, dataset, distributed, errors, modelarts

# Its module-scoped fixtures are shared by its tests: one pytest-xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("msrun")

TINY = ["--embed_size=8", "--num_hiddens=8", "--max_len=40", "--batch_size=8", "--bucket_width=0",
        "--optimizer=adam", "--learning_rate=0.02", "--pooling=max_mean", "--patience=0", "--pseudo_label_ratio=0"]

# Rank 1 writes no files by design, so each worker dumps its final parameters from a hook that
# Python runs at start-up (sitecustomize on PYTHONPATH): only then can ranks be compared.
DUMP_HOOK = """
import os
if os.getenv("MS_ROLE") == "MS_WORKER":
    import mindspore as ms
    from mindspore.train import Model
    _train = Model.train
    def train(self, *args, **kwargs):
        _train(self, *args, **kwargs)
        path = os.path.join(os.environ["DUMP_DIR"], "rank_" + os.environ["RANK_ID"] + ".ckpt")
        ms.save_checkpoint(self.train_network, path)
    Model.train = train
"""


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def script(name):
    return os.path.join(ROOT, "scripts", name)


EPOCHS = 4


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    """One msrun job of two workers with the default's stages: a teacher, the labelling on rank 0,
    the final model and its whole-review epoch on both ranks."""
    work = tmp_path_factory.mktemp("msrun")
    corpus = make_corpus(str(work), per_class=(48, 8), unsup=40)
    os.makedirs(work / "glove")
    make_glove(str(work / "glove" / "glove.6B.8d.txt"))
    (work / "hook").mkdir()
    (work / "hook" / "sitecustomize.py").write_text(DUMP_HOOK)
    env = dict(os.environ, MASTER_PORT=str(free_port()), DUMP_DIR=str(work),
               PYTHONPATH=os.pathsep.join([str(work / "hook"), os.environ.get("PYTHONPATH", "")]))
    started = time.time()
    result = subprocess.run(["bash", script("run_distribute_train_cpu.sh"), "2", corpus,
                             str(work / "glove"), f"--num_epochs={EPOCHS}", *TINY, "--pseudo_label_ratio=0.5"],
                            cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    logs = [(work / "train_parallel" / "log" / f"worker_{rank}.log").read_text() for rank in (0, 1)]
    return work, logs, time.time() - started


def epoch_losses(log):
    return [float(loss) for loss in re.findall(r"^epoch: \d+ step: \d+, loss is ([\d.]+)", log, re.M)]


def steps_per_epoch(log):
    return [int(n) for n in re.findall(r"Starting Training \((\d+) steps per epoch\)", log)]


def test_both_ranks_finish_the_same_steps_on_different_data(two_workers):
    _, logs, seconds = two_workers
    # teacher, final model, whole-review epoch
    assert all(log.count("Training Success") == 3 for log in logs)
    assert steps_per_epoch(logs[0]) == steps_per_epoch(logs[1])
    rank0, rank1 = epoch_losses(logs[0]), epoch_losses(logs[1])
    assert len(rank0) == len(rank1) == 2 * EPOCHS + 1
    assert rank0[0] != rank1[0]  # each rank trains on its own shard
    teacher = rank0[:EPOCHS]
    assert np.mean(teacher[-2:]) < teacher[0] - 0.05, teacher
    print(f"2-worker msrun job: {seconds:.0f} s")


def test_ranks_end_with_identical_parameters(two_workers):
    import mindspore as ms

    work, _, _ = two_workers
    rank0, rank1 = (ms.load_checkpoint(str(work / f"rank_{rank}.ckpt")) for rank in (0, 1))
    assert rank0.keys() == rank1.keys() and any("forward_layers" in name for name in rank0)
    for name in rank0:
        assert np.array_equal(rank0[name].asnumpy(), rank1[name].asnumpy()), name


def test_only_rank_0_preprocesses_labels_and_writes(two_workers):
    work, logs, _ = two_workers
    assert "Starting Data Pre-processing" in logs[0]
    assert "Starting Data Pre-processing" not in logs[1]
    assert "of 40 unlabelled reviews labelled" in logs[0] and "unlabelled reviews labelled" not in logs[1]
    teacher_steps, final_steps, _ = steps_per_epoch(logs[0])
    assert final_steps > teacher_steps  # both ranks train on the labels: 48*2 + 20 reviews
    folder = work / "train_parallel" / "ckpt_lstm"
    names = {name for name in os.listdir(folder) if not name.startswith(".")}
    assert {"history.json", "history.csv", "history.png", "lstm_best.ckpt", f"lstm-{EPOCHS}_{final_steps}.ckpt",
            "teacher", "whole_reviews"} <= names
    assert "after the whole reviews" in logs[0] and "after the whole reviews" not in logs[1]
    assert sorted(name for name in os.listdir(work) if name.startswith("preprocess")) == ["preprocess"]


# ---- equal step counts


@pytest.fixture(scope="module")
def preprocessed(tmp_path_factory):
    work = tmp_path_factory.mktemp("shards")
    os.makedirs(work / "glove")
    make_glove(str(work / "glove" / "glove.6B.8d.txt"))
    config = config_module.load_config([
        f"--aclimdb_path={make_corpus(str(work), per_class=(51, 5))}", f"--glove_path={work / 'glove'}",
        "--embed_size=8", "--max_len=40", f"--preprocess_path={work / 'pre'}", "--pseudo_label_ratio=0"])
    return config, dataset.prepare(config)


@pytest.mark.parametrize("group_size", [2, 3, 5])
@pytest.mark.parametrize("bucket_width", [0, 20])
def test_every_shard_runs_the_same_number_of_steps(preprocessed, group_size, bucket_width):
    config, meta = preprocessed
    counts = set()
    for rank in range(group_size):
        data = dataset.create_dataset(config.preprocess_path, "train", 4, training=True, max_len=40,
                                      bucket_width=bucket_width, num_shards=group_size, shard_id=rank)
        data = distributed.equal_steps(data, meta["counts"]["train"], 4, group_size,
                                       dataset.training_buckets(40, bucket_width))
        batches = data.create_tuple_iterator(num_epochs=3, output_numpy=True)
        counts |= {sum(1 for _ in batches) for _ in range(3)} | {data.get_dataset_size()}
    assert len(counts) == 1 and counts != {0}


def test_too_few_reviews_per_rank_for_full_batches_is_one_line(preprocessed):
    config, meta = preprocessed
    data = dataset.create_dataset(config.preprocess_path, "train", 8, training=True, max_len=40,
                                  bucket_width=8, num_shards=5, shard_id=0)
    with pytest.raises(errors.UserError, match="batch_size"):
        distributed.equal_steps(data, meta["counts"]["train"], 8, 5, dataset.training_buckets(40, 8))


# ---- the preprocessing handshake (the collective is replaced by a list of answers)


def handshake(monkeypatch, rank, states, prepare):
    reported = []

    def sum_over_ranks(value):
        reported.append(value)
        return states.pop(0) if rank else value

    monkeypatch.setattr(distributed, "_sum_over_ranks", sum_over_ranks)
    monkeypatch.setattr(dataset, "prepare", prepare)
    monkeypatch.setattr(dataset, "settings_of", lambda config: {"same": True})
    return reported


def test_other_ranks_read_nothing_before_rank_0_is_done(monkeypatch, tmp_path):
    states = [distributed._RUNNING, distributed._RUNNING, distributed._DONE]

    def load_meta(path):
        assert not states, "read while rank 0 was still preprocessing"
        return {"settings": {"same": True}}

    monkeypatch.setattr(dataset, "load_meta", load_meta)
    reported = handshake(monkeypatch, 1, states, prepare=None)
    config = type("Config", (), {"preprocess_path": str(tmp_path), "preprocess": True})
    assert distributed.prepare_once(config, rank=1, group_size=2) == {"settings": {"same": True}}
    assert reported == [0, 0, 0]  # other ranks only listen


def test_a_rank_0_failure_stops_every_rank(monkeypatch, tmp_path):
    def failing_prepare(config, force):
        time.sleep(0.05)
        raise errors.UserError("glove file missing")

    config = type("Config", (), {"preprocess_path": str(tmp_path), "preprocess": False})
    reported = handshake(monkeypatch, 0, [], failing_prepare)
    with pytest.raises(errors.UserError, match="glove file missing"):
        distributed.prepare_once(config, rank=0, group_size=2, poll_seconds=0.01)
    assert reported[-1] == distributed._FAILED
    handshake(monkeypatch, 1, [distributed._RUNNING, distributed._FAILED], None)
    with pytest.raises(errors.UserError, match="rank 1: preprocessing failed on rank 0"):
        distributed.prepare_once(config, rank=1, group_size=2)


def test_distribute_without_a_launcher_is_one_line(monkeypatch):
    for name in ("MS_ROLE", "RANK_TABLE_FILE", "OMPI_COMM_WORLD_RANK"):
        monkeypatch.delenv(name, raising=False)
    config = config_module.load_config(["--distribute=True"])
    with pytest.raises(errors.UserError, match="needs a launcher"):
        distributed.setup_distributed(config)


# ---- scripts


@pytest.mark.parametrize("name, count", [("run_distribute_train_cpu.sh", 3),
                                         ("run_distribute_train_gpu.sh", 3),
                                         ("run_distribute_train_ascend.sh", 4)])
def test_distribute_scripts_print_usage_and_check_the_worker_count(tmp_path, name, count):
    result = subprocess.run(["bash", script(name)], cwd=tmp_path, capture_output=True, text=True)
    assert result.returncode == 2 and result.stderr.startswith("Usage: bash " + name)
    result = subprocess.run(["bash", script(name), *(["two"] * count)], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 2 and "must be a positive integer, got 'two'" in result.stderr


def test_ascend_script_stops_all_ranks_when_one_fails(tmp_path):
    # A stand-in for python: rank 1 fails at once, the others would run for a minute.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "python").write_text(
        '#!/usr/bin/env bash\necho "$$" > "rank_$RANK_ID.pid"\n'
        '[ "$RANK_ID" = 1 ] && { sleep 1; echo "error: device busy" >&2; exit 3; }\nexec sleep 60\n')
    (bin_dir / "python").chmod(0o755)
    (tmp_path / "hccl.json").write_text("{}")
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    started = time.time()
    result = subprocess.run(["bash", script("run_distribute_train_ascend.sh"), "hccl.json", "3",
                             "aclImdb", "glove"], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 3 and time.time() - started < 30
    assert "stopping the others" in result.stderr
    assert "error: device busy" in (tmp_path / "train_parallel" / "log" / "rank_1.log").read_text()
    for rank in (0, 2):
        pid = int((tmp_path / f"rank_{rank}.pid").read_text())
        assert not running(pid), f"rank {rank} still runs"


def running(pid):
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().split(")")[-1].split()[0] != "Z"  # a zombie has stopped
    except FileNotFoundError:
        return False


# ---- ModelArts


def test_modelarts_without_moxing_fails_in_one_line(tmp_path):
    result = subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), "--enable_modelarts=True"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --enable_modelarts=True needs the moxing package, which ModelArts images provide; "
        "run without it elsewhere"]


class FakeMoxing:
    """moxing.file.copy_parallel over the local file system."""

    def __init__(self):
        import shutil

        self.copies = []
        copy = lambda source, destination: (self.copies.append((source, destination)),
                                            shutil.copytree(source, destination, dirs_exist_ok=True))
        self.file = type("File", (), {"copy_parallel": staticmethod(copy)})


def test_modelarts_syncs_inputs_and_outputs(monkeypatch, tmp_path):
    moxing = FakeMoxing()
    monkeypatch.setitem(sys.modules, "moxing", moxing)
    monkeypatch.setenv("JOB_ID", f"test-{os.getpid()}-{time.time_ns()}")
    monkeypatch.setenv("DEVICE_ID", "0")
    monkeypatch.setenv("RANK_SIZE", "1")
    (tmp_path / "obs_data" / "aclImdb").mkdir(parents=True)
    config = config_module.load_config([
        "--enable_modelarts=True", f"--data_url={tmp_path / 'obs_data'}",
        f"--train_url={tmp_path / 'obs_out'}", f"--data_path={tmp_path / 'cache_data'}", f"--output_path={tmp_path / 'cache_out'}",
        "--ckpt_path=ckpt_lstm"])
    (tmp_path / "obs_out").mkdir()
    modelarts.sync_inputs(config)
    assert (tmp_path / "cache_data" / "aclImdb").is_dir()
    assert config.ckpt_path == str(tmp_path / "cache_out" / "ckpt_lstm")
    os.makedirs(config.ckpt_path)
    (tmp_path / "cache_out" / "ckpt_lstm" / "lstm-1_1.ckpt").write_text("x")
    modelarts.sync_outputs(config)
    assert (tmp_path / "obs_out" / "ckpt_lstm" / "lstm-1_1.ckpt").is_file()
    assert len(moxing.copies) == 3  # data, the (empty) train_url workspace, outputs


def test_modelarts_waiting_ranks_see_a_failed_copy(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "moxing", FakeMoxing())
    monkeypatch.setenv("JOB_ID", f"test-{os.getpid()}-{time.time_ns()}")
    monkeypatch.setenv("RANK_SIZE", "2")
    monkeypatch.setenv("DEVICE_ID", "0")
    with pytest.raises(errors.UserError, match="copying .*missing.* failed"):
        modelarts.sync(str(tmp_path / "missing"), str(tmp_path / "out"))  # the copying rank
    monkeypatch.setattr(modelarts, "_copies", modelarts._copies - 1)
    monkeypatch.setenv("DEVICE_ID", "1")
    with pytest.raises(errors.UserError, match="copying .*missing.* failed"):
        modelarts.sync(str(tmp_path / "missing"), str(tmp_path / "out"))  # a waiting rank
