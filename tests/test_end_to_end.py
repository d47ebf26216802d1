"""The README's main job on a tiny corpus: run_train_cpu.sh (the shared session run, tiny_run) ->
run_eval_cpu.sh -> metrics JSON, run from a folder other than the project, as a user would."""
import json
import os
import re
import shutil

from conftest import SELF_TRAINING, TINY_TRAINING, copy_run, ok, run_script


def steps_per_epoch(output):
    """Steps per epoch of each model the run trained (teacher first)."""
    return [int(n) for n in re.findall(r"Starting Training \((\d+) steps per epoch\)", output)]


def test_training_writes_checkpoints_history_and_log(tiny_run):
    names = sorted(os.listdir(tiny_run.ckpt))
    teacher_steps, final_steps, whole_review_steps = steps_per_epoch(tiny_run.output)
    assert {"history.csv", "history.json", "history.png", "lstm_best.ckpt", "teacher", "whole_reviews"} <= set(names)
    assert [name for name in names if name.startswith("lstm-")] == [f"lstm-2_{final_steps}.ckpt"]
    assert teacher_steps == whole_review_steps  # both train on the labelled reviews alone
    for folder, epochs in ((tiny_run.ckpt, [1, 2]), (tiny_run.ckpt / "teacher", [1, 2]),
                           (tiny_run.ckpt / "whole_reviews", [1])):
        history = json.loads((folder / "history.json").read_text())
        assert [row["epoch"] for row in history] == epochs
        assert all({"loss", "valid_acc", "lr", "seconds", "samples_per_second"} <= set(row) for row in history)
    assert "epoch: 1 step: " in tiny_run.output and "samples/s" in tiny_run.output
    # lstm_best.ckpt is the model after the whole reviews; the one before them stays as start.ckpt.
    start, after = tiny_run.ckpt / "whole_reviews" / "start.ckpt", tiny_run.ckpt / "whole_reviews" / "lstm_best.ckpt"
    assert tiny_run.best.read_bytes() == after.read_bytes() != start.read_bytes()
    # teacher, final model, the whole-review epoch
    assert (tiny_run.work / "train" / "log.txt").read_text().count("Training Success") == 3
    assert (tiny_run.preprocess / "vocab.txt").is_file()


def test_eval_scores_every_test_review_and_writes_json(tiny_run):
    result = ok(run_script("run_eval_cpu.sh", tiny_run.corpus, tiny_run.glove, str(tiny_run.best), *TINY_TRAINING,
                           cwd=tiny_run.work))
    assert "============== {'acc': " in result.stdout
    metrics = json.loads((tiny_run.work / "eval" / "eval_metrics.json").read_text())
    assert metrics["reviews"] == 24 and 0.0 <= metrics["acc"] <= 1.0
    assert len(metrics["recall"]) == 2 and len(metrics["f1"]) == 2


def test_resume_continues_the_final_model_from_its_last_checkpoint(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    teacher_best, labels = run.ckpt / "teacher" / "lstm_best.ckpt", run.ckpt / "pseudo_labels.json"
    before = (teacher_best.stat().st_mtime_ns, labels.stat().st_mtime_ns)
    result = ok(run_script("run_train_cpu.sh", run.corpus, run.glove, *TINY_TRAINING, "--pseudo_label_ratio=0.5",
                           "--num_epochs=3", "--resume=True", cwd=run.work))
    assert "Resuming from" in result.stdout and "epoch: 3 step: " in result.stdout
    assert "epoch: 1 step" not in result.stdout and "the first model (teacher)" not in result.stdout
    assert (teacher_best.stat().st_mtime_ns, labels.stat().st_mtime_ns) == before  # finished stages stay
    history = json.loads((run.ckpt / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]


def test_resume_goes_on_to_the_whole_reviews_and_then_has_nothing_left(tiny_run, tmp_path):
    run = copy_run(tiny_run, tmp_path)
    shutil.rmtree(run.ckpt / "whole_reviews")  # as if stopped after the final model
    final_checkpoint = run.ckpt / f"lstm-2_{steps_per_epoch(tiny_run.output)[1]}.ckpt"
    before, best_before = final_checkpoint.stat().st_mtime_ns, run.best.read_bytes()
    result = ok(run_script("run_train_cpu.sh", run.corpus, run.glove, *SELF_TRAINING, "--resume=True", cwd=run.work))
    assert "finished training; going on to the whole reviews" in result.stdout
    assert len(steps_per_epoch(result.stdout)) == 1 and "the final model" not in result.stdout
    assert final_checkpoint.stat().st_mtime_ns == before
    assert len(json.loads((run.ckpt / "whole_reviews" / "history.json").read_text())) == 1
    assert (run.ckpt / "whole_reviews" / "start.ckpt").read_bytes() == best_before
    assert "after the whole reviews" in result.stdout
    # Everything is done: a second --resume trains nothing and leaves lstm_best.ckpt as it is.
    best = run.best.read_bytes()
    result = ok(run_script("run_train_cpu.sh", run.corpus, run.glove, *SELF_TRAINING, "--resume=True", cwd=run.work))
    assert steps_per_epoch(result.stdout) == [] and run.best.read_bytes() == best


def test_scripts_print_usage_on_wrong_arguments(tmp_path):
    for script in ("run_train_cpu.sh", "run_eval_cpu.sh", "run_train_gpu.sh", "run_eval_ascend.sh"):
        result = run_script(script, cwd=tmp_path)
        assert result.returncode == 2 and result.stderr.startswith("Usage: bash " + script), script


def test_a_new_run_refuses_a_folder_with_an_earlier_runs_checkpoints(tiny_run):
    result = run_script("run_train_cpu.sh", tiny_run.corpus, tiny_run.glove, *TINY_TRAINING, "--num_epochs=1",
                        cwd=tiny_run.work)
    assert result.returncode == 2
    assert "holds checkpoints of an earlier run; pass --resume=True" in result.stdout
