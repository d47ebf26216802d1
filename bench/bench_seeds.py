"""The default recipe with several seeds: each run's test accuracy, their mean and spread, and the
wall time of each stage, as a user runs it (run_train_cpu.sh, then run_eval_cpu.sh).

    python bench/bench_seeds.py --aclimdb_path=DATA/aclImdb --glove_path=DATA/glove \\
        [--seeds=1,2,3] [--work_dir=./bench_seeds] [--key=value ...]

Each seed runs in <work_dir>/seed_<n>/ from an empty folder (preprocessing included). Other
--key=value arguments go to both scripts (e.g. --embed_size=50). A seed folder that already holds
eval/eval_metrics.json is reported, not run again. Stage times come from the training log: the
preprocessing line, each model's history.json, and the rest of the run's wall time (the labelling
of the unlabelled reviews, graph compiles, loading).
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import time

PROJECT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(script, arguments, cwd):
    started = time.time()
    result = subprocess.run(["bash", os.path.join(PROJECT, "scripts", script), *arguments], cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise SystemExit(f"error: {script} failed (exit {result.returncode}); see {cwd}/*/log.txt")
    return time.time() - started


def epoch_seconds(folder):
    path = os.path.join(folder, "history.json")
    if not os.path.isfile(path):
        return 0.0
    with open(path, encoding="utf-8") as file:
        return sum(row["seconds"] for row in json.load(file))


def one_seed(seed, options, work):
    os.makedirs(work, exist_ok=True)
    metrics_path = os.path.join(work, "eval", "eval_metrics.json")
    total = None
    if not os.path.isfile(metrics_path):
        total = run("run_train_cpu.sh", [options.aclimdb_path, options.glove_path, f"--seed={seed}",
                                         *options.extra], work)
        run("run_eval_cpu.sh", [options.aclimdb_path, options.glove_path,
                                os.path.join(work, "train", "ckpt_lstm", "lstm_best.ckpt"), *options.extra], work)
    with open(metrics_path, encoding="utf-8") as file:
        accuracy = json.load(file)["acc"]
    with open(os.path.join(work, "train", "log.txt"), encoding="utf-8", errors="replace") as file:
        log = file.read()
    found = re.search(r"Preprocessed .* in ([\d.]+) s", log)
    ckpt = os.path.join(work, "train", "ckpt_lstm")
    stages = {"preprocess s": float(found.group(1)) if found else 0.0,
              "teacher epochs s": epoch_seconds(os.path.join(ckpt, "teacher")),
              "final model epochs s": epoch_seconds(ckpt),
              "whole-review epochs s": epoch_seconds(os.path.join(ckpt, "whole_reviews"))}
    if total is not None:
        stages["rest s"] = total - sum(stages.values())
        stages["run s"] = total
    return accuracy, stages


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], allow_abbrev=False)
    parser.add_argument("--aclimdb_path", required=True)
    parser.add_argument("--glove_path", required=True)
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--work_dir", default="./bench_seeds")
    options, options.extra = parser.parse_known_args()
    options.aclimdb_path, options.glove_path = map(os.path.abspath, (options.aclimdb_path, options.glove_path))
    accuracies = []
    for seed in [int(seed) for seed in options.seeds.split(",")]:
        accuracy, stages = one_seed(seed, options, os.path.abspath(os.path.join(options.work_dir, f"seed_{seed}")))
        accuracies.append(accuracy)
        print(f"seed {seed}: test accuracy {accuracy:.4f}; " + ", ".join(f"{k} {v:.0f}" for k, v in stages.items()),
              flush=True)
    spread = statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
    print(f"mean {statistics.mean(accuracies):.4f}, standard deviation {spread:.4f}, lowest {min(accuracies):.4f} "
          f"over {len(accuracies)} seeds; settings: default_config.yaml {' '.join(options.extra)}")


if __name__ == "__main__":
    main()
