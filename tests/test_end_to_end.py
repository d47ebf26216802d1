"""The README's main job on a tiny corpus: run_train_cpu.sh -> run_eval_cpu.sh -> metrics JSON,
run from a directory other than the project, as a user would."""
import json
import os
import re
import subprocess

import pytest

from conftest import ROOT, TINY_TRAINING, make_workspace

TINY = TINY_TRAINING


def steps_per_epoch(output):
    return int(re.search(r"Starting Training \((\d+) steps per epoch\)", output).group(1))


def run(script, *arguments, cwd):
    return subprocess.run(["bash", os.path.join(ROOT, "scripts", script), *arguments], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    work = tmp_path_factory.mktemp("run")
    corpus, _ = make_workspace(work)
    result = run("run_train_cpu.sh", corpus, str(work / "glove"), "--num_epochs=2", *TINY, cwd=work)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work, corpus, result.stdout


def test_training_writes_checkpoints_history_and_log(trained):
    work, _, output = trained
    checkpoints = work / "train" / "ckpt_lstm"
    names = sorted(os.listdir(checkpoints))
    assert names[:3] == ["history.csv", "history.json", "history.png"] and names[-1] == "lstm_best.ckpt"
    assert [name for name in names if name.startswith("lstm-")] == [f"lstm-2_{steps_per_epoch(output)}.ckpt"]
    history = json.loads((checkpoints / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2]
    assert all({"loss", "valid_acc", "lr", "seconds", "samples_per_second"} <= set(row) for row in history)
    assert "epoch: 1 step: " in output and "samples/s" in output
    assert (work / "train" / "log.txt").read_text().count("Training Success") == 1
    assert (work / "preprocess" / "vocab.txt").is_file()


def test_eval_scores_every_test_review_and_writes_json(trained):
    work, corpus, _ = trained
    checkpoint = work / "train" / "ckpt_lstm" / "lstm_best.ckpt"
    result = run("run_eval_cpu.sh", corpus, str(work / "glove"), str(checkpoint), *TINY, cwd=work)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "============== {'acc': " in result.stdout
    metrics = json.loads((work / "eval" / "eval_metrics.json").read_text())
    assert metrics["reviews"] == 24 and 0.0 <= metrics["acc"] <= 1.0
    assert len(metrics["recall"]) == 2 and len(metrics["f1"]) == 2


def test_resume_continues_from_the_last_checkpoint(trained):
    work, corpus, _ = trained
    result = run("run_train_cpu.sh", corpus, str(work / "glove"), "--num_epochs=3", "--resume=True",
                 *TINY, cwd=work)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "Resuming from" in result.stdout and "epoch: 3 step: " in result.stdout
    assert "epoch: 1 step" not in result.stdout
    history = json.loads((work / "train" / "ckpt_lstm" / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]


def test_scripts_print_usage_on_wrong_arguments(tmp_path):
    for script in ("run_train_cpu.sh", "run_eval_cpu.sh", "run_train_gpu.sh", "run_eval_ascend.sh"):
        result = run(script, cwd=tmp_path)
        assert result.returncode == 2 and result.stderr.startswith("Usage: bash " + script)


def test_a_new_run_refuses_a_folder_with_an_earlier_runs_checkpoints(trained):
    work, corpus, _ = trained
    result = run("run_train_cpu.sh", corpus, str(work / "glove"), "--num_epochs=1", *TINY, cwd=work)
    assert result.returncode == 2
    assert "holds checkpoints of an earlier run; pass --resume=True" in result.stdout
