"""Training samples/s and evaluation reviews/s on real data, for two recipes side by side.

    python bench/bench_train.py --aclimdb_path=DATA/aclImdb --glove_path=DATA/glove --embed_size=50 \\
        --preprocess_path=/tmp/pre [--steps=60] [--recipes=reference,default]

For each recipe (a config file: `reference` = config_reference.yaml, `default` =
default_config.yaml) it times `steps` training steps (the first step of each batch shape, which
compiles a graph, is timed apart), then
one pass of evaluation over the test split, and prints the settings and figures. Other
--key=value arguments are applied to every recipe. Prints peak RSS of the process at the end.
The recipes differ in min_freq (vocabulary), so one preprocess_path is rebuilt (about 30 s) when
the bench moves to the other recipe; run them one at a time with their own folders to avoid it.
"""
import os
import resource
import sys
import time

import mindspore as ms

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import train  # noqa: E402  (the project root is put on the path first)
from src import config as config_module, dataset, lstm, training  # noqa: E402

RECIPES = {"reference": "config_reference.yaml", "default": "default_config.yaml"}


def bench(config, steps):
    meta = dataset.prepare(config)
    weight = dataset.load_weight(config.preprocess_path)
    data = train.build_train_data(config, meta)
    network = lstm.build_model(config, meta["vocab_size"], meta["embed_dim"], weight)
    train_step, _ = train.build_train_step(config, network, data.get_dataset_size())
    train_step.set_train()
    batches = data.create_tuple_iterator(num_epochs=1)
    # The first step of each batch shape compiles a graph (~3 s); those are timed apart.
    shapes, compile_seconds = set(), 0.0
    samples, tokens, train_seconds = 0, 0, 0.0
    for _, (features, labels) in zip(range(steps), batches):
        started = time.time()
        train_step(features, labels).asnumpy()
        if features.shape in shapes:
            train_seconds += time.time() - started
            samples += features.shape[0]
            tokens += int((features.asnumpy() != 0).sum())
        else:
            shapes.add(features.shape)
            compile_seconds += time.time() - started
    test = dataset.read_split(config.preprocess_path, "test")
    started = time.time()
    training.accuracy_on(test, config.pooling, config.batch_size)(network)  # as validation scores
    eval_seconds = time.time() - started
    train_reviews = meta["counts"]["train"] + meta["counts"].get("valid", 0)
    return {"train samples/s": samples / train_seconds, "batch shapes": len(shapes),
            "first steps of the shapes s": compile_seconds, "real tokens/sample": tokens / samples,
            "projected epoch s (19,762 reviews)": train_reviews / (samples / train_seconds),
            "eval reviews/s": meta["counts"]["test"] / eval_seconds}


def main():
    argv = sys.argv[1:]
    steps = int(next((a.split("=", 1)[1] for a in argv if a.startswith("--steps=")), 60))
    names = next((a.split("=", 1)[1] for a in argv if a.startswith("--recipes=")), "reference,default")
    argv = [a for a in argv if not a.startswith(("--steps=", "--recipes="))]
    ms.set_device("CPU")
    ms.set_context(mode=ms.GRAPH_MODE)
    root = config_module.PROJECT_ROOT
    for name in names.split(","):
        config = config_module.load_config(argv + [f"--config_path={os.path.join(root, RECIPES[name])}"])
        ms.set_seed(config.seed)
        settings = {key: config[key] for key in ("max_len", "bucket_width", "batch_size", "num_hiddens",
                                                 "num_layers", "bidirectional", "pooling",
                                                 "crop_len", "trainable_embedding", "optimizer")}
        figures = bench(config, steps)
        print(f"{name}: {settings}")
        print("  " + ", ".join(f"{key} {value:.1f}" for key, value in figures.items()), flush=True)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak_mb:.0f} MB, {os.cpu_count()} CPUs, MindSpore {ms.__version__}")


if __name__ == "__main__":
    main()
