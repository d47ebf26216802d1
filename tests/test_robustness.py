"""Bad input and interrupted runs (issue 6): every case ends in one `error: ...` line that names the
file or key and what to do (exit code 2, no traceback), or is repaired and counted; a killed run
leaves nothing that looks complete. docs/robustness.md maps each case to its test, here or in
the other test files.

    pytest tests/test_robustness.py    # ~1.5 min on 2 cores; the disk tests need root (mount)
"""
import functools
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
import time

import numpy as np
import pytest
from easydict import EasyDict

from conftest import ROOT, TINY_TRAINING, make_corpus, make_glove, make_workspace, ok, run_python
from src import checkpoint, config as config_module, dataset, errors, history, imdb, lock, word_vectors

# Its module-scoped fixtures are shared by its tests: one pytest-xdist worker runs them all.
pytestmark = pytest.mark.xdist_group("robustness")

TINY = TINY_TRAINING
MODEL = ["--embed_size=8", "--num_hiddens=8", "--max_len=40", "--pooling=max_mean"]

# Runs train.py (through runpy) after arranging for it to SIGKILL itself at a chosen point, so the
# kill lands mid-write every time (a timer would race with the 2 shared cores).
KILL_AT = """
import os, runpy, signal, sys
sys.path.insert(0, {root!r})
from src import dataset
import mindspore as ms

stage = sys.argv.pop(1)
if stage == "preprocessing":
    write = dataset.write_mindrecord
    def write_then_die(path, rows, count, description):
        write(path, rows, count, description)  # the train split is on disk, meta.json is not yet
        os.kill(os.getpid(), signal.SIGKILL)
    dataset.write_mindrecord = write_then_die
else:  # "checkpoint 2": half of the epoch-2 checkpoint is on disk
    save = ms.save_checkpoint
    def save_half_then_die(network, path, **kwargs):
        save(network, path, **kwargs)
        if os.path.basename(path).startswith("lstm-2_"):
            os.truncate(path, os.path.getsize(path) // 2)
            os.kill(os.getpid(), signal.SIGKILL)
    ms.save_checkpoint = save_half_then_die
sys.argv[0] = {train!r}
runpy.run_path(sys.argv[0], run_name="__main__")
""".format(root=ROOT, train=os.path.join(ROOT, "train.py"))


# Entry points run outside the checkout, so default outputs (eval_metrics.json, ./ckpt_lstm) never
# land in it.
RUN_DIRECTORY = tempfile.mkdtemp(prefix="robustness-cwd-")
python = functools.partial(run_python, cwd=RUN_DIRECTORY)



def one_line_error(result, *expected):
    """The run's single `error:` line (last on stderr; MindSpore's own log lines and progress bars
    may come before it), after checking exit code 2 and that no traceback was printed."""
    output = result.stdout[-2000:] + result.stderr[-3000:]
    assert result.returncode == 2, output
    assert "Traceback" not in result.stderr, output
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1 and result.stderr.rstrip().endswith(lines[0]), output
    for part in expected:
        assert part in lines[0], lines[0]
    return lines[0]


def user_error(function, *args):
    """The message of the UserError that function(*args) raises; it must fit on one line."""
    with pytest.raises(errors.UserError) as caught:
        function(*args)
    message = str(caught.value)
    assert "\n" not in message
    return message



def checkpoint_names(folder):
    return sorted(name for name in os.listdir(folder) if name.endswith(".ckpt"))


def preprocess_config(data, corpus, preprocess_path):
    return EasyDict(aclimdb_path=corpus, glove_path=str(data[0] / "glove"), embed_size=8,
                    preprocess_path=str(preprocess_path), max_len=12, min_freq=1, max_vocab=0,
                    valid_ratio=0.0, seed=1, pseudo_label_ratio=0.0)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    work = tmp_path_factory.mktemp("robust")
    corpus, _ = make_workspace(work)
    return work, corpus, [f"--aclimdb_path={corpus}", f"--glove_path={work / 'glove'}"]


# ---- Interruptions: SIGKILL in preprocessing and in a checkpoint write, then --resume


@pytest.fixture(scope="module")
def killed(data):
    """Run 1 is killed while preprocessing; run 2 rebuilds, trains and is killed while writing the
    epoch-2 checkpoint (save_checkpoint_steps=1: one checkpoint per epoch)."""
    work, _, inputs = data
    paths = [f"--preprocess_path={work / 'preprocess'}", f"--ckpt_path={work / 'ckpt'}"]
    arguments = [*inputs, *paths, *TINY, "--num_epochs=3", "--save_checkpoint_steps=1"]
    first = subprocess.run([sys.executable, "-c", KILL_AT, "preprocessing", *arguments],
                           capture_output=True, text=True, timeout=300)
    after_first = sorted(os.listdir(work))
    second = subprocess.run([sys.executable, "-c", KILL_AT, "checkpoint 2", *arguments],
                            capture_output=True, text=True, timeout=300)
    return {"work": work, "arguments": arguments, "first": first, "after_first": after_first,
            "second": second}


def test_killed_preprocessing_leaves_no_finished_folder_and_is_rebuilt(killed):
    assert killed["first"].returncode == -signal.SIGKILL
    leftovers = [name for name in killed["after_first"] if name.startswith("preprocess")]
    assert len(leftovers) == 1 and ".tmp-" in leftovers[0]  # no preprocess/ that looks finished
    output = killed["second"].stdout
    assert f"Removing {killed['work'] / leftovers[0]}, left by an interrupted preprocessing run" in output
    assert "Starting Data Pre-processing" in output
    assert (killed["work"] / "preprocess" / dataset.META_FILE).is_file()
    assert [name for name in os.listdir(killed["work"]) if name.startswith("preprocess")] == ["preprocess"]


def test_killed_checkpoint_write_leaves_only_complete_checkpoints(killed):
    assert killed["second"].returncode == -signal.SIGKILL
    folder = killed["work"] / "ckpt"
    epoch_checkpoints = [os.path.basename(path) for path in checkpoint.epoch_checkpoints(str(folder))]
    assert len(epoch_checkpoints) == 1 and epoch_checkpoints[0].startswith("lstm-1_")
    assert any(name.startswith("lstm-2_") and ".tmp." in name for name in os.listdir(folder))
    for name in checkpoint_names(folder):
        if ".tmp." not in name:
            checkpoint.read(str(folder / name))  # complete and CRC-checked


def test_resume_after_sigkill_continues_from_the_last_complete_checkpoint(killed):
    folder = killed["work"] / "ckpt"
    last = checkpoint.epoch_checkpoints(str(folder))[-1]
    result = ok(subprocess.run([sys.executable, os.path.join(ROOT, "train.py"), *killed["arguments"],
                                "--resume=True"], capture_output=True, text=True, timeout=300))
    assert f"Resuming from {last} (epoch 1)" in result.stdout  # the killed run's .lock did not block
    assert "epoch: 2 step: " in result.stdout and "epoch: 3 step: " in result.stdout
    assert "epoch: 1 step: " not in result.stdout
    assert not [name for name in os.listdir(folder) if ".tmp" in name or name == lock.LOCK_FILE]
    rows = json.loads((folder / history.FILE).read_text())
    assert [row["epoch"] for row in rows] == [1, 2, 3]


# ---- Interruptions: a second run on the same output folder; SIGKILL at an arbitrary moment


def test_second_run_on_the_same_folder_is_refused_and_a_killed_run_leaves_complete_files(data):
    work, _, inputs = data
    folder = work / "locked"
    arguments = [*inputs, f"--preprocess_path={work / 'preprocess_locked'}", f"--ckpt_path={folder}", *TINY,
                 "--save_checkpoint_steps=1", "--patience=0"]  # the first run must outlive the second
    first = subprocess.Popen([sys.executable, os.path.join(ROOT, "train.py"), *arguments, "--num_epochs=100"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while not checkpoint.epoch_checkpoints(str(folder)):
            assert first.poll() is None and time.time() < deadline, "the first run ended or stalled"
            time.sleep(0.2)
        files_before = sorted(os.listdir(folder))
        second = python("train.py", *arguments, "--num_epochs=1")
        one_line_error(second, f"{folder} is in use by another training run (PID {first.pid})", "--ckpt_path")
        # The second run wrote nothing: new files are the first run's checkpoints and history.
        assert not [name for name in os.listdir(folder) if name not in files_before
                    and not name.startswith(("lstm", "history"))]
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    for name in checkpoint_names(folder):
        if ".tmp." not in name:
            checkpoint.read(str(folder / name))


def test_lock_is_released_when_its_holder_dies(tmp_path):
    hold = ("import sys, time; sys.path.insert(0, sys.argv[1]); from src import lock; "
            "lock.acquire(sys.argv[2]); print('locked', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", hold, ROOT, str(tmp_path)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        message = user_error(lock.acquire, str(tmp_path))
        assert f"{tmp_path} is in use by another training run (PID {holder.pid})" in message
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    lock.acquire(str(tmp_path))  # the stale .lock file of the killed holder does not block
    assert (tmp_path / lock.LOCK_FILE).read_text().strip() == str(os.getpid())
    lock.release(str(tmp_path))
    assert not (tmp_path / lock.LOCK_FILE).exists()


# ---- Data


@pytest.mark.parametrize("layout, expected", [
    ("missing", "does not exist"),
    ("empty_string", "aclImdb path '' does not exist"),
    ("empty", "is not an aclImdb folder: expected train/pos"),
    ("no_pos", "is missing the folder train/pos"),
    ("html_as_tar", "not a .tar or .tar.gz archive); download it again"),
    ("truncated_tar", "is truncated or not a valid tar archive"),
])
def test_bad_aclimdb_inputs_name_the_path(data, tmp_path, layout, expected):
    _, corpus, _ = data
    path = tmp_path / ("aclImdb_v1.tar.gz" if "tar" in layout else "aclImdb")
    if layout in ("empty", "no_pos"):
        path.mkdir()
    if layout == "no_pos":
        (path / "train" / "neg").mkdir(parents=True)
    if layout == "html_as_tar":
        path.write_text("<html><body>502 Bad Gateway</body></html>\n")
    if layout == "truncated_tar":
        with tarfile.open(path, "w:gz") as archive:
            archive.add(corpus, arcname="aclImdb")
        os.truncate(path, path.stat().st_size * 2 // 3)
    path = "" if layout == "empty_string" else str(path)
    message = user_error(imdb.read_reviews, path)
    assert path in message and expected in message


def test_bad_aclimdb_path_through_train_py(data, tmp_path):
    _, _, inputs = data
    archive = tmp_path / "aclImdb_v1.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00" + bytes(100))  # a gzip header, then nothing usable
    result = python("train.py", f"--aclimdb_path={archive}", inputs[1], f"--preprocess_path={tmp_path / 'p'}",
                    f"--ckpt_path={tmp_path / 'c'}", *TINY)
    one_line_error(result, str(archive), "download it again")
    assert not (tmp_path / "p").exists() and not [p for p in os.listdir(tmp_path) if ".tmp-" in p]


def test_odd_reviews_are_kept_repaired_and_counted(data, tmp_path):
    """Invalid UTF-8 is replaced and counted, empty reviews become one <unk>, a 100,000-word review
    is cut to max_len (tokens are ids in a list, no [reviews, longest] matrix is ever built)."""
    corpus = make_corpus(str(tmp_path), per_class=(6, 2))
    folder = os.path.join(corpus, "train", "pos")
    with open(os.path.join(folder, "90_10.txt"), "wb") as file:
        file.write(b"great \xff\xfe film, \xc3 loved it")
    open(os.path.join(folder, "91_10.txt"), "wb").close()
    with open(os.path.join(folder, "92_10.txt"), "w", encoding="utf-8") as file:
        file.write("  \n\t ")
    with open(os.path.join(folder, "93_10.txt"), "w", encoding="utf-8") as file:
        file.write("great " * 100_000)
    meta = dataset.prepare(preprocess_config(data, corpus, tmp_path / "pre"))
    assert meta["undecodable_files"] == 1 and meta["empty_reviews"] == 2
    assert meta["counts"]["train"] == 16

    from mindspore.mindrecord import FileReader
    reader = FileReader(dataset.mindrecord_path(str(tmp_path / "pre"), "train") + "0")
    lengths = {int(row["id"]): int(row["length"]) for row in reader.get_next()}
    reader.close()
    names = [review.name for review in imdb.read_reviews(corpus, ("train",))["train"]]
    assert lengths[names.index("train/pos/93_10.txt")] == 12  # cut to max_len
    assert lengths[names.index("train/pos/91_10.txt")] == lengths[names.index("train/pos/92_10.txt")] == 1


# ---- Word vectors


@pytest.mark.parametrize("case, content, expected", [
    ("zip", None, "is a zip archive; unpack it"),
    ("truncated_gz", None, "the file ends early"),
    ("empty", b"", "is empty"),
    ("not_utf8_line", b"good 0.1 0.2\ncaf\xe9 0.3 0.4\n", "line 2: is not valid UTF-8"),
    ("header_too_few", b"1 2\ngood 0.1 0.2\nbad 0.3 0.4\n",
     "line 1: the header announces 1 vectors but the file has 2"),
    ("header_dimension", b"2 3\ngood 0.1 0.2\nbad 0.3 0.4\n", "line 2: has 2 values where 3 are expected"),
])
def test_wrong_or_damaged_vector_files(tmp_path, case, content, expected):
    path = tmp_path / {"zip": "glove.6B.zip", "truncated_gz": "vectors.txt.gz"}.get(case, "v.txt")
    if case == "zip":
        import zipfile
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("glove.6B.50d.txt", "good 0.1 0.2\n")
    elif case == "truncated_gz":
        make_glove(str(path), dim=50, words=[f"w{i}" for i in range(2000)])
        os.truncate(path, path.stat().st_size // 2)
    else:
        path.write_bytes(content)
    message = user_error(word_vectors.load_vectors, str(path))
    assert str(path) in message and expected in message


def test_vector_problems_through_train_py(data, tmp_path):
    _, _, inputs = data
    folder = tmp_path / "glove"
    folder.mkdir()
    make_glove(str(folder / "glove.6B.50d.txt"), dim=50)
    run = [inputs[0], f"--preprocess_path={tmp_path / 'p'}", f"--ckpt_path={tmp_path / 'c'}",
           "--num_epochs=1"]
    one_line_error(python("train.py", *run, f"--glove_path={tmp_path / 'nowhere'}"),
                   f"GloVe path '{tmp_path / 'nowhere'}' does not exist")
    # The wrong GloVe file: only 50-dimensional vectors where embed_size asks for 300.
    one_line_error(python("train.py", *run, f"--glove_path={folder}", "--embed_size=300"),
                   f"{folder} has no glove.6B.300d.txt; found glove.6B.50d.txt: "
                   "pass --embed_size=<its dimension>")
    malformed = tmp_path / "vectors.txt"
    malformed.write_text("good 0.1 0.2\nbad 0.3 0.4\nfilm 0.5\n")
    one_line_error(python("train.py", *run, f"--glove_path={malformed}"),
                   f"word vector file {malformed} line 3: has 1 values where 2 are expected")
    assert not (tmp_path / "p").exists() and not [p for p in os.listdir(tmp_path) if ".tmp-" in p]


def test_vectors_of_another_dimension_given_as_a_file_are_used_with_a_note(data, tmp_path, capsys):
    config = preprocess_config(data, data[1], tmp_path / "pre")
    config.glove_path, config.embed_size = str(data[0] / "glove" / "glove.6B.8d.txt"), 300
    assert dataset.prepare(config)["embed_dim"] == 8
    assert "holds 8-dimensional vectors, not embed_size=300; the model uses 8" in capsys.readouterr().out


# ---- Config (hand-edited files; command-line cases are in test_config.py)


def test_value_outside_its_choices_in_a_config_file(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(f"base_config: {ROOT}/default_config.yaml\noptimizer: sgd\n")
    assert "--optimizer='sgd' is not allowed; choose one of" in user_error(
        config_module.load_config, [f"--config_path={path}"])


@pytest.mark.parametrize("line, expected", [("num_epoch: 5", "num_epoch"), ("num_epochs: ten", "num_epochs")])
def test_unknown_key_or_wrong_type_in_a_config_file(tmp_path, line, expected):
    path = tmp_path / "mine.yaml"
    path.write_text(f"base_config: {ROOT}/default_config.yaml\n{line}\n")
    assert expected in user_error(config_module.load_config, [f"--config_path={path}"])


def test_missing_config_file_through_train_py(tmp_path):
    one_line_error(python("train.py", f"--config_path={tmp_path / 'nope.yaml'}"),
                   f"config file {tmp_path / 'nope.yaml'} not found")


# ---- Checkpoints


def build_network(vocab_size=30, embed_size=8, **settings):
    from src import lstm

    config = config_module.load_config(["--num_hiddens=8", "--pooling=max_mean",
                                        *[f"--{key}={value}" for key, value in settings.items()]])
    return lstm.build_model(config, vocab_size, embed_size)


def save_model(path, **settings):
    """A SentimentNet checkpoint of the given shape, written as train.py writes them."""
    checkpoint.save(build_network(**settings), str(path))


@pytest.mark.parametrize("trained_with, loaded_with, expected", [
    ({"vocab_size": 40}, {}, "vocabulary size 40 in the checkpoint, 30 here (--preprocess_path)"),
    ({"embed_size": 50}, {}, "embedding size 50 in the checkpoint, 8 here (--glove_path, --embed_size)"),
    ({"num_hiddens": 16}, {}, "num_hiddens 16 in the checkpoint, 8 here (--num_hiddens)"),
    ({"num_layers": 3}, {}, "num_layers 3 in the checkpoint, 2 here (--num_layers)"),
    ({}, {"num_layers": 1}, "num_layers 2 in the checkpoint, 1 here (--num_layers)"),
    ({"bidirectional": False}, {}, "bidirectional False in the checkpoint, True here (--bidirectional)"),
    ({"pooling": "max"}, {}, "decoder inputs 16 in the checkpoint, 32 here (--pooling)"),
])
def test_checkpoint_of_another_model_names_the_mismatch(tmp_path, trained_with, loaded_with, expected):
    path = tmp_path / "other.ckpt"
    save_model(path, **trained_with)
    network = build_network(**loaded_with)
    message = user_error(checkpoint.load_into, network, checkpoint.read(str(path)), str(path))
    assert message.startswith(f"checkpoint {path} was trained with another model: ") and expected in message


@pytest.mark.parametrize("case, expected", [
    ("missing", "not found"),
    ("empty", "is truncated, damaged or not a MindSpore checkpoint"),
    ("truncated", "is truncated, damaged or not a MindSpore checkpoint"),
    ("one_byte_changed", "is truncated, damaged or not a MindSpore checkpoint; pass a .ckpt"),  # CRC
    ("mindir_extension", "is an exported model, not a checkpoint (.ckpt)"),
    ("onnx_renamed_to_ckpt", "(it holds no parameters)"),
])
def test_missing_or_damaged_checkpoints(tmp_path, case, expected):
    good = tmp_path / "good.ckpt"
    save_model(good)
    content = good.read_bytes()
    path = tmp_path / ("lstm.mindir" if case == "mindir_extension" else "bad.ckpt")
    if case == "truncated":
        path.write_bytes(content[: len(content) // 2])
    elif case == "one_byte_changed":
        middle = len(content) // 2
        path.write_bytes(content[:middle] + bytes([content[middle] ^ 0x01]) + content[middle + 1:])
    elif case == "onnx_renamed_to_ckpt":
        path.write_bytes(b"\x08\x07\x12\x09MindSpore\x1a\x062.10.0")  # how an ONNX ModelProto starts
    elif case != "missing":
        path.write_bytes(b"" if case == "empty" else content)
    message = user_error(checkpoint.read, str(path))
    assert str(path) in message and expected in message


@pytest.fixture(scope="module")
def trained(killed):
    """The preprocessed folder and checkpoints of the killed-and-resumed run."""
    work = killed["work"]
    return {"preprocess": work / "preprocess", "checkpoint": work / "ckpt" / checkpoint.BEST}


def test_checkpoint_problems_through_eval_and_predict(trained, tmp_path):
    preprocess = f"--preprocess_path={trained['preprocess']}"
    truncated = tmp_path / "lstm-3_7.ckpt"
    truncated.write_bytes(trained["checkpoint"].read_bytes()[:1000])
    one_line_error(python("eval.py", preprocess, *MODEL, f"--ckpt_file={truncated}"),
                   f"checkpoint {truncated} is truncated")
    # Settings that differ from the checkpoint's own are replaced by them, with a note.
    other_settings = python("eval.py", preprocess, *MODEL, "--num_hiddens=16", "--pooling=mean",
                            f"--ckpt_file={trained['checkpoint']}", f"--metrics_file={tmp_path / 'm.json'}")
    assert other_settings.returncode == 0, other_settings.stderr[-2000:]
    assert "was trained with num_hiddens=8; using it instead of 16" in other_settings.stdout
    assert "was trained with pooling='max_mean'; using it instead of 'mean'" in other_settings.stdout
    # The reverse: a checkpoint where an export is expected.
    as_export = tmp_path / "lstm.mindir"
    as_export.write_bytes(trained["checkpoint"].read_bytes())
    one_line_error(python("predict.py", f"--model={as_export}", "Great film"),
                   f"{as_export} has no sidecar", "export with export.py")


# ---- Output: read-only folder, full disk


def mount(*arguments):
    if os.geteuid() != 0 or subprocess.run(["mount", *arguments], capture_output=True).returncode != 0:
        pytest.skip("needs root and mount (tmpfs, bind) to build a read-only folder or a full disk")


@pytest.fixture
def read_only(tmp_path):
    folder = tmp_path / "read_only"
    folder.mkdir()
    mount("--bind", str(folder), str(folder))
    subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True)
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.fixture
def full_disk(tmp_path):
    """A 12 KB tmpfs: room for a few small files, not for a checkpoint."""
    folder = tmp_path / "full"
    folder.mkdir()
    mount("-t", "tmpfs", "-o", "size=12k", "tmpfs", str(folder))
    yield folder
    subprocess.run(["umount", "-l", str(folder)], check=True)


def test_read_only_output_folders(data, trained, read_only):
    _, _, inputs = data
    one_line_error(python("train.py", *inputs, f"--preprocess_path={trained['preprocess']}",
                          f"--ckpt_path={read_only / 'ckpt'}", *TINY),
                   f"cannot write to the output folder {read_only / 'ckpt'}: Read-only file system")
    config = preprocess_config(data, data[1], read_only / "pre")
    assert "Read-only file system; pass a --preprocess_path" in user_error(dataset.prepare, config)
    assert os.listdir(read_only) == []


def test_full_disk_while_writing_checkpoints_and_history(tmp_path, full_disk):
    message = user_error(lambda: save_model(full_disk / "lstm_best.ckpt", vocab_size=2000))
    assert f"cannot write checkpoint {full_disk / 'lstm_best.ckpt'}: No space left on device" in message
    assert os.listdir(full_disk) == []  # neither the checkpoint nor MindSpore's temporary files
    (full_disk / "filler").write_bytes(bytes(12 * 1024 - 1))
    rows = history.History(str(full_disk))
    rows.add({"epoch": 1, "loss": 0.5})
    assert "history.json: No space left on device" in user_error(rows.save)
    assert os.listdir(full_disk) == ["filler"]


def test_full_disk_while_preprocessing_and_exporting(data, trained, full_disk):
    _, _, inputs = data
    one_line_error(python("train.py", *inputs, f"--preprocess_path={full_disk / 'pre'}",
                          f"--ckpt_path={full_disk.parent / 'ckpt_full'}", *TINY),
                   f"writing preprocessed data to {full_disk / 'pre'} failed")
    assert os.listdir(full_disk) == []
    (full_disk / "filler").write_bytes(bytes(8 * 1024))
    one_line_error(python("export.py", f"--preprocess_path={trained['preprocess']}", *MODEL,
                          f"--ckpt_file={trained['checkpoint']}", f"--file_name={full_disk / 'lstm'}"),
                   f"cannot write {full_disk / 'lstm.mindir'}: No space left on device")
    assert os.listdir(full_disk) == ["filler"]  # no half-written lstm.mindir, no sidecar


# ---- Safety: nothing a user hands in is unpickled or run as code


def test_no_pickle_eval_or_unsafe_yaml_in_the_code():
    unsafe = re.compile(r"\bimport (c?pickle|marshal|shelve|dill)\b|(?<![.\w])(eval|exec)\(|allow_pickle=True"
                        r"|yaml\.(load|unsafe_load|full_load)\(|torch\.load\(")
    found = []
    for folder, _, names in os.walk(ROOT):
        if "/." in folder or folder.startswith(os.path.join(ROOT, "tests")):
            continue
        for name in names:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as file:
                    found += [f"{name}:{number}" for number, line in enumerate(file, 1)
                              if unsafe.search(line)]
    assert found == []


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # unpickling would create the marker file


def test_pickled_files_in_the_preprocessed_folder_are_not_unpickled(data, trained, tmp_path):
    import pickle
    import shutil

    folder = tmp_path / "preprocess"
    shutil.copytree(trained["preprocess"], folder)
    marker = tmp_path / "unpickled"
    for name in (dataset.META_FILE, dataset.VOCAB_FILE):
        original = (folder / name).read_bytes()
        (folder / name).write_bytes(pickle.dumps(_Payload(str(marker))))
        one_line_error(python("export.py", f"--preprocess_path={folder}", *MODEL,
                              f"--ckpt_file={trained['checkpoint']}", f"--file_name={tmp_path / 'lstm'}"),
                       str(folder / name))
        (folder / name).write_bytes(original)
    np.save(folder / dataset.WEIGHT_FILE, np.array([_Payload(str(marker))], dtype=object), allow_pickle=True)
    result = python("train.py", *data[2], f"--preprocess_path={folder}", f"--ckpt_path={tmp_path / 'c'}",
                    *TINY)
    # A traceback, not one line (train.py's np.load: docs/robustness.md, "Broken"), but no payload ran.
    assert result.returncode != 0 and "Object arrays cannot be loaded" in result.stderr
    assert not marker.exists()


def test_pickled_weight_file_is_refused_in_one_line(tmp_path):
    from src import dataset as dataset_module

    # An object array can only be stored as a pickle inside the .npy: it must not be loaded.
    np.save(tmp_path / "weight.npy", np.array([{"not": "an array"}], dtype=object), allow_pickle=True)
    with pytest.raises(errors.UserError, match="not a plain numpy array"):
        dataset_module.load_weight(str(tmp_path))


def test_checkpoint_carries_its_model_settings(tmp_path):
    from src import lstm

    config = config_module.load_config(["--num_hiddens=8", "--pooling=mean", "--num_layers=1"])
    network = lstm.build_model(config, 30, 8)
    checkpoint.save(network, str(tmp_path / "m.ckpt"), checkpoint.architecture_entry(config))
    parameters = checkpoint.read(str(tmp_path / "m.ckpt"))
    rebuilt = checkpoint.apply_architecture(config_module.load_config([]), parameters, "m.ckpt")
    assert (rebuilt.num_hiddens, rebuilt.pooling, rebuilt.num_layers) == (8, "mean", 1)
    checkpoint.load_into(lstm.build_model(rebuilt, 30, 8), parameters, "m.ckpt")


def test_too_few_reviews_for_one_full_batch_is_one_line(data, tmp_path):
    _, _, inputs = data
    result = python("train.py", *inputs, f"--preprocess_path={tmp_path / 'p'}",
                    f"--ckpt_path={tmp_path / 'c'}", *TINY, "--bucket_width=8", "--batch_size=1000")
    one_line_error(result, "no full batch of 1000", "lower batch_size")
