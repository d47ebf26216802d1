"""Never lose or mistrust a user's data (issue 13): the suite replaces only what it made, reuses a
preprocessed folder only for unchanged inputs, stops on non-finite values, reads files as users
have them, and ends interrupted runs cleanly. docs/robustness.md maps each case to its test.

    pytest tests/test_data_safety.py    # ~30 s on 2 cores: three train.py runs, the rest in-process
"""
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading

import pytest

from conftest import ROOT, TINY_TRAINING, make_corpus, make_glove, make_workspace
from src import checkpoint, config as config_module, dataset, errors, fingerprint, history, imdb, inference
from src import lock, word_vectors

RUN_DIRECTORY = tempfile.mkdtemp(prefix="data-safety-cwd-")  # default outputs never land in the checkout


def user_error(function, *args, **kwargs):
    """The one-line message of the UserError that function(*args) raises."""
    with pytest.raises(errors.UserError) as caught:
        function(*args, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    return message


def make_config(corpus, glove, preprocess_path, *options):
    return config_module.load_config([f"--aclimdb_path={corpus}", f"--glove_path={glove}",
                                      f"--preprocess_path={preprocess_path}", *TINY_TRAINING, *options])


def snapshot(folder):
    """{relative path: bytes} of every file under folder."""
    found = {}
    for directory, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as file:
                found[os.path.relpath(path, folder)] = file.read()
    return found


@pytest.fixture
def workspace(tmp_path):
    corpus, glove = make_workspace(tmp_path)
    return tmp_path, corpus, glove


def run_python(code, *arguments, timeout=240):
    return subprocess.run([sys.executable, "-c", code, *arguments], capture_output=True, text=True,
                          timeout=timeout, cwd=RUN_DIRECTORY)


# ---- 1. The suite deletes or replaces only what it created


def test_a_folder_that_is_not_a_preprocessed_one_is_never_replaced(workspace):
    root, corpus, glove = workspace
    before = snapshot(root)
    config = make_config(corpus, glove, root)  # the folder holding aclImdb/ and glove/
    message = user_error(dataset.prepare, config, force=True)
    assert message == (f"--preprocess_path {os.path.realpath(root)} is not a preprocessed folder (aclImdb, "
                       "glove); nothing was changed: pass the path of a new or empty folder")
    assert snapshot(root) == before
    assert [name for name in os.listdir(root.parent) if root.name in name] == [root.name]  # nothing beside


def test_a_file_at_preprocess_path_is_never_moved(workspace):
    root, corpus, glove = workspace
    notes = root / "notes.txt"
    notes.write_text("mine")
    message = user_error(dataset.prepare, make_config(corpus, glove, notes))
    assert message.startswith(f"--preprocess_path {notes} is a file, not a preprocessed folder; nothing was changed")
    assert notes.read_text() == "mine" and not list(root.glob("notes.txt.*"))


def test_a_preprocessed_folder_holding_other_files_is_not_replaced(workspace):
    root, corpus, glove = workspace
    dataset.prepare(make_config(corpus, glove, root / "pre"))
    (root / "pre" / "my_notes.md").write_text("keep me")
    message = user_error(dataset.prepare, make_config(corpus, glove, root / "pre"), force=True)
    assert "is not a preprocessed folder (my_notes.md); nothing was changed" in message
    assert (root / "pre" / "my_notes.md").read_text() == "keep me"


def test_an_empty_folder_or_our_own_folder_is_replaced(workspace):
    root, corpus, glove = workspace
    (root / "pre").mkdir()
    dataset.prepare(make_config(corpus, glove, root / "pre"))
    dataset.prepare(make_config(corpus, glove, root / "pre"), force=True)
    assert (root / "pre" / dataset.META_FILE).is_file()
    assert not [name for name in os.listdir(root) if ".tmp-" in name or ".old-" in name or name.endswith(".lock")]


def test_a_ckpt_path_inside_preprocess_path_is_refused(workspace):
    import train

    root, corpus, glove = workspace
    config = make_config(corpus, glove, root / "pre", f"--ckpt_path={root / 'pre' / 'ckpt'}")
    message = user_error(train.check_ckpt_path_outside_preprocess_path, config)
    assert message == (f"--ckpt_path {root / 'pre' / 'ckpt'} is inside --preprocess_path {root / 'pre'}, which "
                       "preprocessing replaces; pass a ckpt_path outside it")
    config = make_config(corpus, glove, root / "pre", f"--ckpt_path={root / 'pre-ckpt'}")
    train.check_ckpt_path_outside_preprocess_path(config)  # a name that only starts the same is fine


def test_two_runs_cannot_preprocess_into_one_folder(workspace):
    root, corpus, glove = workspace
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]); from src import lock; "
         "lock.acquire_preprocessing(sys.argv[2]); print('locked', flush=True); time.sleep(60)",
         ROOT, str(root / "pre")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        message = user_error(dataset.prepare, make_config(corpus, glove, root / "pre"))
        assert message == (f"{root / 'pre'} is being preprocessed by another run (PID {holder.pid}); wait for "
                           "it to finish, stop it, or pass another --preprocess_path")
        assert not (root / "pre").exists()
    finally:
        holder.kill()
        holder.wait()
    dataset.prepare(make_config(corpus, glove, root / "pre"))  # the dead holder's lock file does not block
    assert not (root / ".pre.lock").exists()


def test_export_never_overwrites_a_file_it_did_not_write(tmp_path):
    import export

    model = tmp_path / "lstm.mindir"
    model.write_bytes(b"someone else's model")
    message = user_error(export.check_overwritable, str(model))
    assert message == (f"{model} exists and was not written by export.py (or was changed since); nothing was "
                       "changed: pass another --file_name or move that file")
    (tmp_path / "lstm.json").write_text('{"my": "settings"}')
    message = user_error(export.check_overwritable, str(model))
    assert message.startswith(f"{tmp_path / 'lstm.json'} exists and was not written by export.py; nothing")
    inference.write_sidecar(str(model), {"sidecar_version": inference.SIDECAR_VERSION})  # as export.py does
    export.check_overwritable(str(model))  # its own export: replaced
    model.write_bytes(b"edited since")
    assert "was changed since" in user_error(export.check_overwritable, str(model))
    assert model.read_bytes() == b"edited since"


# ---- 2. Reuse only what is provably the same


def test_changed_inputs_are_rebuilt_with_a_note_naming_them(workspace, capsys):
    root, corpus, glove = workspace
    config = make_config(corpus, glove, root / "pre")
    dataset.prepare(config)
    dataset.prepare(config)
    assert "Reusing preprocessed data" in capsys.readouterr().out

    review = os.path.join(corpus, "test", "neg", os.listdir(os.path.join(corpus, "test", "neg"))[0])
    with open(review, "a", encoding="utf-8") as file:
        file.write(" awful")  # same name, new content
    dataset.prepare(config)
    assert (f"Preprocessed data in {root / 'pre'} was built with other inputs: rebuilding (the reviews in "
            "test/neg changed)") in capsys.readouterr().out

    vectors = os.path.join(glove, "glove.6B.8d.txt")
    make_glove(vectors, seed=1)  # same size, other values
    dataset.prepare(config)
    assert "rebuilding (the word vectors file changed)" in capsys.readouterr().out
    dataset.prepare(config)
    assert "Reusing preprocessed data" in capsys.readouterr().out


def test_the_fingerprint_of_a_review_folder_sees_a_changed_time(tmp_path):
    """Speed is measured by bench/bench_preprocess.py (reuse of a matching folder), not here."""
    folder = tmp_path / "pos"
    folder.mkdir()
    for index in range(5000):
        (folder / f"{index}_9.txt").write_bytes(b"")
    first = fingerprint.folder_fingerprint(str(folder))
    assert first["files"] == 5000
    os.utime(folder / "17_9.txt", ns=(0, 0))
    assert fingerprint.folder_fingerprint(str(folder)) != first


def test_an_archive_is_fingerprinted_by_size_time_and_hash(tmp_path):
    archive = tmp_path / "aclImdb_v1.tar.gz"
    archive.write_bytes(b"x" * 3_000_000)
    first = fingerprint.corpus_fingerprint(str(archive), None, [])
    os.utime(archive, ns=(0, 0))
    second = fingerprint.corpus_fingerprint(str(archive), None, [])
    assert first != second and set(second["archive"]) == {"size", "mtime_ns", "edges_sha256"}


def test_eval_and_export_check_the_folder_against_the_given_inputs(workspace):
    root, corpus, glove = workspace
    config = make_config(corpus, glove, root / "pre")
    meta = dataset.prepare(config)
    dataset.check_matches(config, meta)
    other_corpus = make_corpus(str(root / "other"), seed=3)
    other = make_config(other_corpus, glove, root / "pre")
    message = user_error(dataset.check_matches, other, meta)
    assert message.startswith(f"{root / 'pre'} was not built from the given inputs and settings (aclimdb_path ")
    assert message.endswith("; pass the --preprocess_path built from them, or --preprocess=True to rebuild it "
                            "(and retrain: the vocabulary may change)")
    assert "min_freq" in user_error(dataset.check_matches, make_config(corpus, glove, root / "pre", "--min_freq=9"),
                                    meta)
    dataset.check_matches(make_config(corpus, glove, root / "pre", "--seed=2", "--valid_ratio=0.2"), meta)
    # export: only the inputs; a deployment's max_len is not the folder's
    dataset.check_matches(make_config(corpus, glove, root / "pre", "--max_len=99"), meta,
                          keys=("aclimdb_path", "vectors_file"))
    os.remove(os.path.join(corpus, "train", "pos", sorted(os.listdir(os.path.join(corpus, "train", "pos")))[0]))
    assert "(the reviews in train/pos changed)" in user_error(dataset.check_matches, config, meta)
    # without the inputs (only --preprocess_path given) there is nothing to compare with
    dataset.check_matches(make_config(root / "missing", glove, root / "pre"), meta)


@pytest.mark.parametrize("entry_point", ["eval", "export"])
def test_eval_and_export_refuse_a_folder_of_another_corpus_before_loading_anything(workspace, monkeypatch,
                                                                                 entry_point):
    root, corpus, glove = workspace
    dataset.prepare(make_config(corpus, glove, root / "pre"))
    other_corpus = make_corpus(str(root / "other"), seed=3)
    module = __import__(entry_point)
    monkeypatch.setattr(sys, "argv", [f"{entry_point}.py", f"--aclimdb_path={other_corpus}", f"--glove_path={glove}",
                                      f"--preprocess_path={root / 'pre'}", f"--ckpt_file={root / 'none.ckpt'}",
                                      f"--file_name={root / 'lstm'}", *TINY_TRAINING])
    assert "was not built from the given inputs and settings (aclimdb_path" in user_error(module.main)


# ---- 3. Non-finite values stop the run


@pytest.mark.parametrize("content, line, problem", [
    ("a 1 nan 2\nb 1 2 3\n", 1, "a value is nan or inf"),
    ("a 1 2 3\nb 1 -inf 3\n", 2, "a value is nan or inf"),
    ("0 3\n", 1, "a header line and no vectors"),
], ids=["nan", "inf", "header_only"])
def test_vectors_with_non_finite_values_or_none_are_refused(tmp_path, content, line, problem):
    path = tmp_path / "glove.6B.3d.txt"
    path.write_text(content)
    assert user_error(word_vectors.load_vectors, str(path)).startswith(
        f"word vector file {path} line {line}: {problem}")


NAN_WEIGHTS = """
import runpy, sys
import numpy as np
sys.path.insert(0, {root!r})
from src import dataset
load_weight = dataset.load_weight
dataset.load_weight = lambda path: np.full_like(load_weight(path), np.nan)  # NaN from the first step
sys.argv[0] = {train!r}
runpy.run_path(sys.argv[0], run_name="__main__")
""".format(root=ROOT, train=os.path.join(ROOT, "train.py"))


def test_a_non_finite_training_loss_stops_before_any_checkpoint(workspace):
    root, corpus, glove = workspace
    result = run_python(NAN_WEIGHTS, f"--aclimdb_path={corpus}", f"--glove_path={glove}",
                        f"--preprocess_path={root / 'pre'}", f"--ckpt_path={root / 'ckpt'}", *TINY_TRAINING)
    assert result.returncode == 2, result.stderr
    errors_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors_lines == ["error: the training loss became nan at epoch 1 step 1; lower --learning_rate or "
                            "set --grad_clip"]
    assert "Training Success" not in result.stdout
    assert not [name for name in os.listdir(root / "ckpt") if name.endswith(".ckpt")]


# ---- 5. Paths and files as users have them


def test_glob_characters_in_paths_work_for_resume_pruning_and_the_earlier_run_guard(tmp_path):
    folder = tmp_path / "run[1]*?"
    folder.mkdir()
    for name in ("lstm-1_5.ckpt", "lstm-2_10.ckpt", "lstm-3_15.tmp.ckpt"):
        (folder / name).write_bytes(b"")
    assert [os.path.basename(path) for path in checkpoint.epoch_checkpoints(str(folder))] == \
        ["lstm-1_5.ckpt", "lstm-2_10.ckpt"]
    checkpoint.remove_temporary_files(str(folder))
    assert sorted(os.listdir(folder)) == ["lstm-1_5.ckpt", "lstm-2_10.ckpt"]
    lock.acquire(str(folder))
    lock.release(str(folder))


def test_odd_entries_named_txt_are_skipped_and_counted(tmp_path):
    corpus = make_corpus(str(tmp_path))
    pos = os.path.join(corpus, "train", "pos")
    os.mkdir(os.path.join(pos, "folder.txt"))
    os.symlink(os.path.join(pos, "gone"), os.path.join(pos, "dangling.txt"))
    os.mkfifo(os.path.join(pos, "pipe.txt"))  # opening it would wait forever for a writer
    os.symlink("/dev/null", os.path.join(pos, "device.txt"))
    stats, outcome = imdb.ReadStats(), {}
    reader = threading.Thread(target=lambda: outcome.update(imdb.read_reviews(corpus, ("train",), stats)),
                              daemon=True)
    reader.start()
    reader.join(timeout=20)
    assert not reader.is_alive(), "reading the reviews hung"
    assert stats.skipped_entries == 4 and len(outcome["train"]) == 48


def test_text_as_editors_on_other_systems_write_it_is_read_as_such():
    expected = "Great film.\nReally!"
    for raw in (b"Great film.\r\nReally!", b"Great film.\rReally!", b"\xef\xbb\xbfGreat film.\nReally!",
                "Great film.\r\nReally!".encode("utf-16")):
        assert imdb.decode_text(raw) == expected


def test_review_files_with_bom_crlf_or_utf16_are_read_by_predict(tmp_path):
    for name, raw in (("crlf.txt", b"good\r\nbad\r\n"), ("cr.txt", b"good\rbad\r"),
                      ("bom.txt", b"\xef\xbb\xbfgood\nbad\n"), ("utf16.txt", "good\r\nbad\r\n".encode("utf-16"))):
        (tmp_path / name).write_bytes(raw)
        assert inference.read_review_lines(str(tmp_path / name)) == ["good", "bad"], name


# ---- 6. Degenerate data


def test_a_split_missing_a_class_stops_before_training(tmp_path):
    corpus = make_corpus(str(tmp_path))
    for name in os.listdir(os.path.join(corpus, "test", "neg")):
        os.remove(os.path.join(corpus, "test", "neg", name))
    assert user_error(imdb.read_reviews, corpus) == (
        f"{corpus} has no reviews in test/neg: test needs reviews of both classes; add <id>_<rating>.txt "
        "files there")


def test_validation_that_would_take_a_whole_class_stops_before_training(workspace):
    root, corpus, glove = workspace
    pos = os.path.join(corpus, "train", "pos")
    for index, name in enumerate(sorted(os.listdir(pos))):  # numbered 0..n as small custom corpora are
        os.rename(os.path.join(pos, name), os.path.join(pos, f"{index}_9.txt"))
    message = user_error(dataset.prepare, make_config(corpus, glove, root / "pre"))
    assert message == ("validation would take all 24 reviews of train/pos (held out in blocks of 50 "
                       "consecutive ids; small corpora numbered 0..n are one block): lower --valid_ratio "
                       "(0: no validation), add reviews, or number them further apart")
    dataset.prepare(make_config(corpus, glove, root / "pre", "--valid_ratio=0"))


# ---- 7. Interrupts


INTERRUPT_PREPROCESSING = """
import os, signal, sys, time
sys.path.insert(0, {root!r})
sys.argv[0] = {train!r}
from src import errors, imdb
import train
def interrupted(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(10)
imdb.read_reviews = interrupted
errors.run_main(train.main)
""".format(root=ROOT, train=os.path.join(ROOT, "train.py"))


def test_ctrl_c_while_preprocessing_says_nothing_was_kept_and_releases_the_locks(workspace):
    root, corpus, glove = workspace
    result = run_python(INTERRUPT_PREPROCESSING, f"--aclimdb_path={corpus}", f"--glove_path={glove}",
                        f"--preprocess_path={root / 'pre'}", f"--ckpt_path={root / 'ckpt'}", *TINY_TRAINING)
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "error: interrupted by Ctrl-C (SIGINT); no epoch was finished and nothing was kept; run the same "
        "command again to start over")
    assert sorted(os.listdir(root)) == ["aclImdb", "ckpt", "glove"]  # no lock, no temporary folder
    assert os.listdir(root / "ckpt") == []


def test_sigterm_while_training_says_what_was_kept_and_releases_the_lock(workspace):
    root, corpus, glove = workspace
    process = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "train.py"), f"--aclimdb_path={corpus}", f"--glove_path={glove}",
         f"--preprocess_path={root / 'pre'}", f"--ckpt_path={root / 'ckpt'}", *TINY_TRAINING,
         "--num_epochs=100", "--save_checkpoint_steps=1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=RUN_DIRECTORY)
    timer = threading.Timer(240, process.kill)  # a bound on the wait below
    timer.start()
    try:
        for line in process.stdout:
            if line.startswith("epoch: 2 "):
                break
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        timer.cancel()
        process.kill()
    assert process.returncode == 143, stderr
    assert stderr.strip().splitlines()[-1] == (
        f"error: interrupted by SIGTERM; the checkpoints of the finished epochs are kept in {root / 'ckpt'}; "
        "continue with --resume=True and the same options")
    assert not (root / "ckpt" / lock.LOCK_FILE).exists()
    assert checkpoint.epoch_checkpoints(str(root / "ckpt"))


def test_a_kill_between_the_history_and_the_checkpoint_leaves_no_missing_epoch(tmp_path):
    rows = [{"epoch": epoch, "loss": 1.0 / epoch} for epoch in (1, 2, 3)]
    (tmp_path / history.FILE).write_text(json.dumps(rows))  # epoch 3's history row is written ...
    for epoch in (1, 2):  # ... and the process killed before its checkpoint
        (tmp_path / f"lstm-{epoch}_5.ckpt").write_bytes(b"")
    resumed = history.History(str(tmp_path), epochs_done=len(checkpoint.epoch_checkpoints(str(tmp_path))))
    assert [row["epoch"] for row in resumed.rows] == [1, 2]
    resumed.add({"epoch": 3, "loss": 0.1})
    assert [row["epoch"] for row in resumed.rows] == [1, 2, 3]


def test_sigterm_and_ctrl_c_unwind_so_the_lock_is_released(tmp_path):
    code = ("import os, signal, sys; sys.path.insert(0, sys.argv[1]); from src import errors, lock\n"
            "def main():\n    lock.acquire(sys.argv[2]); os.kill(os.getpid(), getattr(signal, sys.argv[3]))\n"
            "errors.run_main(main)")
    for name, code_expected in (("SIGTERM", 143), ("SIGINT", 130)):
        result = run_python(code, ROOT, str(tmp_path), name, timeout=60)
        assert result.returncode == code_expected
        assert result.stderr.startswith("error: interrupted by ") and result.stderr.count("\n") == 1
        assert not (tmp_path / lock.LOCK_FILE).exists()


def test_a_signal_landing_in_a_destructor_still_ends_the_run():
    # Python ignores an exception raised in __del__ or a weakref callback; a SIGTERM or Ctrl-C that
    # lands there must still stop the run (it went on training once).
    code = ("import os, signal, sys, time; sys.path.insert(0, sys.argv[1]); from src import errors\n"
            "class Dies:\n    def __del__(self):\n"
            "        os.kill(os.getpid(), getattr(signal, sys.argv[2]))\n        time.sleep(0.2)\n"
            "def main():\n    Dies()\n    time.sleep(5)\n    print('still running')\n"
            "errors.run_main(main)")
    for name, code_expected in (("SIGTERM", 143), ("SIGINT", 130)):
        result = run_python(code, ROOT, name, timeout=60)
        assert result.returncode == code_expected, result.stderr
        assert "still running" not in result.stdout
        # One line, as for any interruption: no "Exception ignored in ..." report before it.
        assert result.stderr.startswith("error: interrupted by ") and result.stderr.count("\n") == 1


# ---- 8. predict.py: one answer per input line, printing never fails


def test_every_input_line_is_one_review_whatever_it_holds():
    separators = "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
    lines = [f"good{character}bad" for character in separators] + ["crlf line\r", "   ", "last"]
    reviews = inference.split_review_lines("\n".join(lines))
    assert reviews == [line for line in lines[:-3]] + ["crlf line", "last"]  # the blank line is skipped


def test_printing_a_review_never_fails(monkeypatch):
    import predict

    output = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stdout", output)
    predict.print_safely()
    print("caf\u00e9 \udcff \U0001f600")
    output.flush()
    assert output.buffer.getvalue() == b"caf\\xe9 \\udcff \\U0001f600\n"
