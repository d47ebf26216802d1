"""Training options of the recipe on a tiny corpus: reproducibility across processes, early
stopping, optimizers, training without validation, the weight average. Trained in this process
(train_in_process) on a shared preprocessed folder, except the reproducibility check."""
import json
import os

import numpy as np
import pytest

from conftest import TINY_TRAINING, ok, run_python, train_in_process


def test_same_seed_same_vocabulary_and_first_epoch_loss_in_another_process(tiny_run, tmp_path):
    """The shared run's teacher, repeated alone in a new process from a new preprocessed folder:
    the unlabelled reviews change neither the vocabulary nor the teacher's first epoch."""
    ok(run_python("train.py", f"--aclimdb_path={tiny_run.corpus}", f"--glove_path={tiny_run.glove}",
                  f"--preprocess_path={tmp_path / 'preprocess'}", f"--ckpt_path={tmp_path / 'ckpt'}",
                  *TINY_TRAINING, "--num_epochs=1"))
    first = json.loads((tiny_run.ckpt / "teacher" / "history.json").read_text())
    second = json.loads((tmp_path / "ckpt" / "history.json").read_text())
    assert first[0]["loss"] == second[0]["loss"]
    assert (tiny_run.preprocess / "vocab.txt").read_text() == (tmp_path / "preprocess" / "vocab.txt").read_text()


def test_early_stopping_stops_after_patience_epochs(tiny_preprocessed, tmp_path, capsys):
    # learning_rate 0: validation accuracy never improves after the first epoch.
    history = train_in_process(tiny_preprocessed / "preprocess", tmp_path, "--num_epochs=6", "--patience=2",
                               "--optimizer=momentum", "--learning_rate=0.0")
    assert "Early stopping" in capsys.readouterr().out and len(history) == 3
    # The stopping epoch still leaves a checkpoint to resume or inspect.
    assert any(name.startswith("lstm-3_") for name in os.listdir(tmp_path))


@pytest.mark.parametrize("optimizer", ["adamw", "momentum"])
def test_optimizers_with_clipping_decay_and_dynamic_lr(tiny_preprocessed, tmp_path, optimizer):
    history = train_in_process(tiny_preprocessed / "preprocess", tmp_path, "--num_epochs=2",
                               f"--optimizer={optimizer}", "--grad_clip=1.0", "--weight_decay=1e-4",
                               "--dropout=0.2", "--dynamic_lr=True", "--lr_init=0.01", "--lr_max=0.05",
                               "--lr_end=0.001", "--warmup_epochs=1", "--lr_adjust_epoch=2")
    assert len(history) == 2 and all(np.isfinite(row["loss"]) for row in history)
    assert history[1]["lr"] < 0.05


def test_without_validation_the_last_epoch_is_the_one_to_use(tiny_preprocessed, tmp_path):
    import mindspore as ms

    history = train_in_process(tiny_preprocessed / "preprocess_no_valid", tmp_path, "--num_epochs=2",
                               "--valid_ratio=0")
    assert len(history) == 2 and "valid_acc" not in history[-1]
    assert int(ms.load_checkpoint(str(tmp_path / "lstm_best.ckpt"))["epoch_num"].asnumpy()) == 2


def test_weight_average_is_validated_each_epoch_and_continues_after_resume(tiny_preprocessed, tmp_path, capsys):
    import mindspore as ms

    options = ("--optimizer=adam", "--average_from_epoch=1", "--save_checkpoint_steps=1")
    history = train_in_process(tiny_preprocessed / "preprocess", tmp_path, *options, "--num_epochs=2")
    out = capsys.readouterr().out
    # the average of epoch 1 alone is epoch 1's weights: recorded, not validated twice
    assert "weight average of epochs 1-1" not in out and "valid acc of the weight average of epochs 1-2" in out
    assert history[0]["valid_acc_average"] == history[0]["valid_acc"] and "valid_acc_average" in history[1]
    assert (tmp_path / "history.png").is_file()
    history = train_in_process(tiny_preprocessed / "preprocess", tmp_path, *options, "--num_epochs=3", resume=True)
    assert [row["epoch"] for row in history] == [1, 2, 3] and all("valid_acc_average" in row for row in history)
    last = ms.load_checkpoint(str(tmp_path / sorted(name for name in os.listdir(tmp_path)
                                                    if name.startswith("lstm-3_"))[0]))
    assert int(last["average_count"].asnumpy()) == 3  # epochs 1 and 2 from the checkpoint, then 3
    best = ms.load_checkpoint(str(tmp_path / "lstm_best.ckpt"))
    assert float(best["valid_acc"].asnumpy()) == pytest.approx(
        max(row[key] for row in history for key in ("valid_acc", "valid_acc_average")))


@pytest.mark.parametrize("average_only", [True, False])
def test_with_average_only_only_averages_become_lstm_best_once_started(tmp_path, average_only):
    """Validation accuracies scripted so that single epochs read higher than the averages: with
    average_only (self-training's final model) the averages still become lstm_best.ckpt, and the
    last one holds the mean of its epochs' weights; without it the best epoch does."""
    import mindspore as ms
    from mindspore import nn
    from types import SimpleNamespace
    from src import history as history_module, training

    class Net(nn.Cell):
        def __init__(self):
            super().__init__()
            self.decoder = nn.Dense(3, 2)

    network = Net()
    # epoch 1; epoch 2 (= the average of epoch 2 alone); epoch 3, then the average of epochs 2-3
    scripted = iter([0.90, 0.80, 0.95, 0.85])
    run_history = history_module.History(str(tmp_path))
    callback = training.CheckpointAndValidate(
        network, network, str(tmp_path), lambda _: next(scripted), run_history, save_steps=1000, keep_max=10,
        patience=0, average=training.WeightAverage(network, first_epoch=2), average_only=average_only)
    best = []
    for epoch, value in enumerate([1.0, 2.0, 4.0], start=1):
        network.decoder.weight.set_data(ms.Tensor(np.full((2, 3), value, np.float32)))
        run_history.add({"epoch": epoch, "loss": 0.5})
        arguments = SimpleNamespace(cur_epoch_num=epoch, batch_num=10, epoch_num=3)
        callback.on_train_epoch_end(SimpleNamespace(original_args=lambda: arguments))
        saved = ms.load_checkpoint(str(tmp_path / "lstm_best.ckpt"))
        best.append((float(saved["valid_acc"].asnumpy()), int(saved["epoch_num"].asnumpy())))
    if not average_only:
        assert best == [(pytest.approx(0.90), 1)] * 2 + [(pytest.approx(0.95), 3)]
        np.testing.assert_allclose(saved["decoder.weight"].asnumpy(), np.full((2, 3), 4.0))  # epoch 3's own
        assert run_history.best_valid() == pytest.approx(0.95)
        return
    assert best == [(pytest.approx(0.90), 1), (pytest.approx(0.80), 2), (pytest.approx(0.85), 3)]
    np.testing.assert_allclose(saved["decoder.weight"].asnumpy(), np.full((2, 3), 3.0))  # mean of epochs 2-3
    assert int(saved["averaged_from_epoch"].asnumpy()) == 2
    assert run_history.best_valid(average_only=True) == pytest.approx(0.85)


def test_a_resumed_run_does_not_replay_the_first_epochs_batches(tiny_preprocessed, tmp_path, monkeypatch):
    import train

    first_batches = []

    def recording(*args, **kwargs):
        data = build(*args, **kwargs)
        # A pipeline's batches depend only on its seeds: a fresh iterator shows its first epoch.
        features, _ = next(data.create_tuple_iterator(num_epochs=1, output_numpy=True))
        first_batches.append(features)
        return data

    build = train.build_train_data
    monkeypatch.setattr(train, "build_train_data", recording)
    options = ("--save_checkpoint_steps=1",)
    train_in_process(tiny_preprocessed / "preprocess", tmp_path / "a", *options, "--num_epochs=1")
    train_in_process(tiny_preprocessed / "preprocess", tmp_path / "b", *options, "--num_epochs=1")
    train_in_process(tiny_preprocessed / "preprocess", tmp_path / "a", *options, "--num_epochs=2", resume=True)
    uninterrupted, again, resumed = first_batches
    assert np.array_equal(uninterrupted, again)  # the same seed, the same epoch 1
    assert not np.array_equal(uninterrupted, resumed)  # epoch 2 is not epoch 1 again


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


def test_many_length_buckets_train_one_dynamic_shape_graph(tiny_preprocessed, tmp_path):
    """A static graph per bucket shape is kept in memory; whole reviews in buckets (31 shapes at
    the default max_len) filled 24 GB, so past MAX_STATIC_SHAPES one dynamic-shape graph trains."""
    import train
    from src import config as config_module, lstm

    def train_step_inputs(*options):
        config = config_module.load_config([*TINY_TRAINING, *options])
        network = lstm.build_model(config, vocab_size=50, embed_dim=8)
        return train.build_train_step(config, network, steps_per_epoch=4)[0].get_inputs()

    assert train_step_inputs("--bucket_width=16", "--crop_len=32") is None  # 2 shapes: static graphs
    many = ("--bucket_width=4", "--crop_len=0")  # max_len 40: 10 shapes
    assert [list(tensor.shape) for tensor in train_step_inputs(*many)] == [[-1, -1], [-1]]
    history = train_in_process(tiny_preprocessed / "preprocess", tmp_path, "--num_epochs=1", *many)
    assert len(history) == 1 and np.isfinite(history[0]["loss"])


def test_the_whole_review_stage_trains_static_graphs_of_its_windows():
    """Static graphs train 1.9x faster than the dynamic-shape one: the stage reads reviews in
    windows of whole_review_len tokens at most, padded to at most WHOLE_REVIEW_SHAPES lengths."""
    import train
    from src import config as config_module, dataset, lstm

    def stage_of(*options):
        return train.whole_review_stage(config_module.load_config(["--embed_size=8", "--num_hiddens=8", *options]))

    def padded_lengths(stage):
        longest = dataset.longest_training_length(stage.max_len, stage.crop_len)
        if stage.bucket_width == 0:
            return [longest]
        return [limit - 1 for limit in dataset.bucket_boundaries(longest, stage.bucket_width)]

    assert padded_lengths(stage_of()) == [127, 255, 383, 512]
    assert padded_lengths(stage_of("--whole_review_len=0")) == [249, 499, 749, 1000]  # max_len 1000
    assert padded_lengths(stage_of("--bucket_width=0")) == [512]
    network = lstm.build_model(stage_of(), vocab_size=50, embed_dim=8)
    assert train.build_train_step(stage_of(), network, steps_per_epoch=4)[0].get_inputs() is None


@pytest.mark.parametrize("before, after", [(0.8, 0.9), (0.9, 0.8), (None, None)])
def test_the_whole_review_model_becomes_lstm_best_whatever_it_validates(tmp_path, capsys, before, after):
    import mindspore as ms
    import train
    from src import checkpoint

    def write(path, weight, valid_acc):
        network = ms.nn.Dense(2, 1, weight_init=weight)
        checkpoint.save(network, str(path), {} if valid_acc is None else {"valid_acc": valid_acc})

    best, start, candidate = tmp_path / "lstm_best.ckpt", tmp_path / "start.ckpt", tmp_path / "whole_reviews.ckpt"
    write(start, "zeros", before)
    write(candidate, "ones", after)
    best.write_bytes(start.read_bytes())
    train.adopt_the_stage(str(best), str(start), str(candidate))
    assert best.read_bytes() == candidate.read_bytes() != start.read_bytes()
    printed = capsys.readouterr().out
    assert ("after the whole reviews" in printed) == (before is not None)  # both figures, when there are
    written = best.stat().st_mtime_ns
    train.adopt_the_stage(str(best), str(start), str(candidate))  # a finished run's --resume
    assert best.stat().st_mtime_ns == written
    assert sorted(os.listdir(tmp_path)) == ["lstm_best.ckpt", "start.ckpt", "whole_reviews.ckpt"]  # no temporary file left
