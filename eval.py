"""Evaluate a SentimentNet checkpoint on the aclImdb test split.

    python eval.py --preprocess_path=./preprocess --ckpt_file=./ckpt_lstm/lstm_best.ckpt

Scores every test review (no remainder dropped) in batches sorted by length (src/scoring.py),
prints accuracy, per-class recall and F1 in the reference's format and writes them to
metrics_file (JSON).
"""
import json
import os

from src import checkpoint, config as config_module, dataset, device, errors, scoring


def main():
    config = config_module.load_config()
    print(f"Config {config.config_path}:\n{config_module.describe(config)}", flush=True)
    device.setup(config)

    # The checkpoint's embedding rows follow the vocabulary of the preprocessed folder; ids are
    # deterministic, so a rebuilt folder from the same data and settings matches as well.
    meta_file = os.path.join(config.preprocess_path, dataset.META_FILE)
    if config.preprocess or not os.path.isfile(meta_file):
        meta = dataset.prepare(config, force=config.preprocess)
    else:
        meta = dataset.load_meta(config.preprocess_path)
    if meta["settings"]["max_len"] != config.max_len:
        raise errors.UserError(
            f"{config.preprocess_path} was preprocessed with max_len={meta['settings']['max_len']}, "
            f"the config says {config.max_len}: pass --max_len={meta['settings']['max_len']} "
            "or --preprocess=True")
    # Scoring a folder built from another corpus, other vectors or other settings than the ones
    # given would report a number about other data.
    dataset.check_matches(config, meta)
    config, network = checkpoint.load_network(config, config.ckpt_file, meta["vocab_size"], meta["embed_dim"])
    test = dataset.read_split(config.preprocess_path, "test")
    logits = scoring.network_logits(network, config.pooling, test["feature"], config.batch_size)
    metrics = scoring.classification_metrics(logits, test["label"])
    metrics.update(reviews=meta["counts"]["test"], checkpoint=os.path.abspath(config.ckpt_file))
    print("============== {} ==============".format(
        {key: metrics[key] for key in ("acc", "recall", "f1")}), flush=True)
    try:
        with open(config.metrics_file, "w", encoding="utf-8") as file:
            json.dump(metrics, file, indent=2)
    except OSError as error:
        raise errors.UserError(f"cannot write {config.metrics_file}: {error.strerror}") from None
    print(f"Metrics written to {os.path.abspath(config.metrics_file)}")


if __name__ == "__main__":
    errors.run_main(main)
