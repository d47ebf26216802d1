"""Training options of the recipe on a tiny corpus: reproducibility, early stopping, optimizers,
freezing the embedding for the first epochs."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, TINY_TRAINING, make_workspace

TINY = TINY_TRAINING  # each test picks its optimizer


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    work = tmp_path_factory.mktemp("data")
    corpus, _ = make_workspace(work)
    return work, corpus


def train(work, corpus, name, *options):
    run = work / name
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "train.py"), f"--aclimdb_path={corpus}",
         f"--glove_path={work / 'glove'}", f"--preprocess_path={run / 'preprocess'}",
         f"--ckpt_path={run / 'ckpt'}", *TINY, *options],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with open(run / "ckpt" / "history.json") as file:
        return result.stdout, json.load(file)


def test_same_seed_same_vocabulary_and_first_epoch_loss(data):
    work, corpus = data
    _, first = train(work, corpus, "a", "--num_epochs=1", "--optimizer=adam", "--seed=7")
    _, second = train(work, corpus, "b", "--num_epochs=1", "--optimizer=adam", "--seed=7")
    assert first[0]["loss"] == second[0]["loss"]
    assert (work / "a" / "preprocess" / "vocab.txt").read_text() == \
           (work / "b" / "preprocess" / "vocab.txt").read_text()


def test_early_stopping_stops_after_patience_epochs(data):
    work, corpus = data
    # learning_rate 0: validation accuracy never improves after the first epoch.
    output, history = train(work, corpus, "stop", "--num_epochs=6", "--patience=2",
                            "--optimizer=momentum", "--learning_rate=0.0")
    assert "Early stopping" in output and len(history) == 3
    # The stopping epoch still leaves a checkpoint to resume or inspect.
    assert any(name.startswith("lstm-3_") for name in os.listdir(work / "stop" / "ckpt"))


@pytest.mark.parametrize("optimizer", ["adamw", "momentum"])
def test_optimizers_with_clipping_decay_and_dynamic_lr(data, optimizer):
    work, corpus = data
    _, history = train(work, corpus, optimizer, "--num_epochs=2", f"--optimizer={optimizer}",
                       "--grad_clip=1.0", "--weight_decay=1e-4", "--dropout=0.2", "--dynamic_lr=True",
                       "--lr_init=0.01", "--lr_max=0.05", "--lr_end=0.001", "--warmup_epochs=1",
                       "--lr_adjust_epoch=2")
    assert len(history) == 2 and all(np.isfinite(row["loss"]) for row in history)
    assert history[1]["lr"] < 0.05


def test_without_validation_the_last_epoch_is_the_one_to_use(data):
    work, corpus = data
    output, history = train(work, corpus, "novalid", "--num_epochs=2", "--optimizer=adam", "--valid_ratio=0")
    assert "valid acc" not in output and [row["epoch"] for row in history] == [1, 2]
    assert (work / "novalid" / "ckpt" / "lstm_best.ckpt").is_file()


def test_weight_average_is_validated_each_epoch_and_continues_after_resume(data):
    import mindspore as ms

    work, corpus = data
    options = ("--num_epochs=2", "--optimizer=adam", "--average_from_epoch=1", "--save_checkpoint_steps=1")
    output, history = train(work, corpus, "average", *options)
    assert "valid acc of the weight average of epochs 1-2" in output
    # the average of epoch 1 alone is epoch 1's weights: not validated twice
    assert "valid_acc_average" not in history[0] and "valid_acc_average" in history[1]
    assert (work / "average" / "ckpt" / "history.png").is_file()
    output, history = train(work, corpus, "average", *options[1:], "--num_epochs=3", "--resume=True")
    assert [row["epoch"] for row in history] == [1, 2, 3] and all("valid_acc_average" in row for row in history[1:])
    last = ms.load_checkpoint(str(work / "average" / "ckpt" / sorted(
        name for name in os.listdir(work / "average" / "ckpt") if name.startswith("lstm-3_"))[0]))
    assert int(last["average_count"].asnumpy()) == 3  # epochs 1 and 2 from the checkpoint, then 3
    best = ms.load_checkpoint(str(work / "average" / "ckpt" / "lstm_best.ckpt"))
    assert float(best["valid_acc"].asnumpy()) == pytest.approx(
        max(row[key] for row in history for key in ("valid_acc", "valid_acc_average") if key in row))


def test_weight_average_is_the_running_mean_and_swaps_back():
    import mindspore as ms
    from mindspore import nn
    from src import training

    class Net(nn.Cell):
        def __init__(self):
            super().__init__()
            self.decoder = nn.Dense(3, 2)

    network = Net()
    weight = network.decoder.weight
    average = training.WeightAverage(network, first_epoch=2)
    for epoch, value in enumerate([5.0, 1.0, 2.0, 6.0], start=1):
        weight.set_data(ms.Tensor(np.full((2, 3), value, np.float32)))
        assert average.update(epoch) == (epoch >= 2)
    with average.swapped_in():
        np.testing.assert_allclose(weight.asnumpy(), np.full((2, 3), 3.0))  # mean of epochs 2-4
    np.testing.assert_array_equal(weight.asnumpy(), np.full((2, 3), 6.0))
    # saved with a checkpoint and read back, the mean goes on from where it was
    state = {name: ms.Parameter(value) if isinstance(value, ms.Tensor) else value
             for name, value in average.state().items()}
    restored = training.WeightAverage(network, 2, state)
    assert restored.count == 3
    restored.update(5)  # weights still 6.0
    with restored.swapped_in():
        np.testing.assert_allclose(weight.asnumpy(), np.full((2, 3), 3.75))
