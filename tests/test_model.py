import numpy as np
import pytest
import mindspore as ms
from easydict import EasyDict

from src import lstm

ms.set_context(mode=ms.GRAPH_MODE)


def small_config(**overrides):
    values = dict(num_hiddens=4, num_layers=2, bidirectional=True, num_classes=2,
                  pooling="max_mean", dropout=0.0, trainable_embedding=False)
    values.update(overrides)
    return EasyDict(values)


@pytest.mark.parametrize("pooling", lstm.POOLINGS)
@pytest.mark.parametrize("bidirectional", [True, False])
def test_logits_do_not_depend_on_padding(pooling, bidirectional):
    """The same reviews padded to 7 or to 15 steps give the same logits: no padding is read."""
    ms.set_seed(0)
    network = lstm.build_model(small_config(pooling=pooling, bidirectional=bidirectional), 30, 8)
    network.set_inputs(ms.Tensor(shape=[None, None], dtype=ms.int32))
    ids = np.zeros((3, 7), np.int32)
    ids[0, :7] = np.arange(1, 8)
    ids[1, :3] = [5, 6, 7]
    ids[2, :1] = [9]
    short = network(ms.Tensor(ids)).asnumpy()
    long = network(ms.Tensor(np.pad(ids, ((0, 0), (0, 8))))).asnumpy()
    assert short.shape == (3, 2)
    np.testing.assert_allclose(short, long, atol=1e-6)


def test_backward_direction_reads_each_review_from_its_last_token():
    """A review alone and the same review in a batch with a longer one give the same logits."""
    ms.set_seed(0)
    network = lstm.build_model(small_config(pooling="first_last"), 30, 8)
    network.set_inputs(ms.Tensor(shape=[None, None], dtype=ms.int32))
    alone = network(ms.Tensor(np.array([[3, 4, 5]], np.int32))).asnumpy()
    batched = network(ms.Tensor(np.array([[3, 4, 5, 0, 0], [1, 2, 3, 4, 5]], np.int32))).asnumpy()
    np.testing.assert_allclose(alone[0], batched[0], atol=1e-6)


def test_frozen_embedding_is_not_trainable_but_can_be():
    weight = np.random.default_rng(0).normal(size=(30, 8)).astype(np.float32)
    frozen = lstm.build_model(small_config(), 30, 8, weight)
    assert not any("embedding" in p.name for p in frozen.trainable_params())
    np.testing.assert_array_equal(frozen.embedding.embedding_table.asnumpy(), weight)
    trainable = lstm.build_model(small_config(trainable_embedding=True), 30, 8, weight)
    assert any("embedding" in p.name for p in trainable.trainable_params())


def test_parameter_count_matches_reference_shapes():
    """2-layer BiLSTM, E=300, H=100, first_last pooling: 563,200 LSTM + 802 Dense parameters
    (the reference's GPU nn.LSTM count)."""
    network = lstm.build_model(small_config(num_hiddens=100, pooling="first_last"), 10, 300)
    count = sum(int(np.prod(p.shape)) for p in network.trainable_params())
    assert count == 563_200 + 802
