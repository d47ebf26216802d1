"""src/onnx_export.py and src/length_batching.py against SentimentNet itself, on random weights:
every pooling, one and two layers, uni- and bidirectional, batches of many sizes and lengths, in
onnxruntime and OpenVINO; and MINDIR's dynamic-shape export of a unidirectional model.

    pytest tests/test_onnx_export.py    # ~1 min on 2 cores
"""
import importlib.util

import numpy as np
import pytest

import mindspore as ms

from src import errors, inference, length_batching, lstm, onnx_export

VOCAB_SIZE, EMBED_SIZE, HIDDEN_SIZE, NUM_CLASSES = 40, 6, 5, 2
PARITY_TOLERANCE = 1e-4
SHAPES = ((1, 1), (1, 6), (3, 7), (6, 30), (2, 64))


def random_network(bidirectional, num_layers, pooling, seed=0):
    rng = np.random.default_rng(seed)
    ms.set_context(mode=ms.GRAPH_MODE)
    network = lstm.SentimentNet(VOCAB_SIZE, EMBED_SIZE, HIDDEN_SIZE, num_layers, bidirectional, NUM_CLASSES,
                                pooling=pooling)
    for parameter in network.get_parameters():
        parameter.set_data(ms.Tensor(rng.uniform(-0.5, 0.5, parameter.shape).astype(np.float32)))
    network.set_train(False)
    network.set_inputs(ms.Tensor(shape=[None, None], dtype=ms.int32))
    return network


def random_batches(seed=0):
    """Rows of random lengths padded at the end; one all-padding row (position 0 still counts)."""
    rng = np.random.default_rng(seed)
    batches = []
    for rows, length in SHAPES:
        token_ids = np.zeros((rows, length), np.int32)
        for row, n in enumerate(rng.integers(1, length + 1, size=rows)):
            token_ids[row, :n] = rng.integers(1, VOCAB_SIZE, size=n)
        batches.append(token_ids)
    batches[-1][0] = 0
    return batches


def parameters_of(network):
    return {parameter.name: parameter.asnumpy() for parameter in network.get_parameters()}


@pytest.mark.parametrize("bidirectional", [True, False])
@pytest.mark.parametrize("num_layers", [1, 2])
@pytest.mark.parametrize("pooling", lstm.POOLINGS)
def test_onnx_graph_reproduces_sentimentnet(tmp_path, bidirectional, num_layers, pooling):
    network = random_network(bidirectional, num_layers, pooling)
    graph = onnx_export.build_sentiment_graph(parameters_of(network), pooling)
    runtimes = {"onnxruntime": inference.onnxruntime_session(graph.SerializeToString())}
    if importlib.util.find_spec("openvino"):
        import openvino

        path = tmp_path / "model.onnx"
        onnx_export.save(graph, str(path))
        core = openvino.Core()
        runtimes["openvino"] = core.compile_model(core.read_model(str(path)), "CPU",
                                                  {"INFERENCE_PRECISION_HINT": "f32"})
    for token_ids in random_batches():
        expected = network(ms.Tensor(token_ids)).asnumpy()
        for name, runtime in runtimes.items():
            logits = (runtime.run(None, {"token_ids": token_ids})[0] if name == "onnxruntime"
                      else runtime(token_ids)[0])
            assert np.abs(logits - expected).max() < PARITY_TOLERANCE, (name, token_ids.shape)


def test_graph_has_free_batch_and_length_and_no_shape_sized_constant():
    network = random_network(True, 2, "max_mean")
    parameters = parameters_of(network)
    graph = onnx_export.build_sentiment_graph(parameters, "max_mean")
    dims = graph.graph.input[0].type.tensor_type.shape.dim
    assert [dim.dim_param for dim in dims] == ["batch", "length"]
    constant_values = sum(int(np.prod(tensor.dims)) for tensor in graph.graph.initializer)
    weight_values = sum(value.size for value in parameters.values())
    assert constant_values <= weight_values + 100  # weights plus a few scalars and axes


def test_unknown_pooling_is_refused_in_one_line():
    network = random_network(True, 1, "max")
    with pytest.raises(errors.UserError, match="pooling 'attention' has no ONNX graph"):
        onnx_export.build_sentiment_graph(parameters_of(network), "attention")


def test_mindir_dynamic_shape_export_of_a_unidirectional_model(tmp_path):
    from mindspore import nn

    network = random_network(False, 2, "max_mean")
    ms.export(network, ms.Tensor(shape=[None, None], dtype=ms.int32), file_name=str(tmp_path / "uni"),
              file_format="MINDIR")
    graph = nn.GraphCell(ms.load(str(tmp_path / "uni.mindir")))
    for token_ids in random_batches(seed=2):
        difference = np.abs(graph(ms.Tensor(token_ids)).asnumpy() - network(ms.Tensor(token_ids)).asnumpy()).max()
        assert difference < PARITY_TOLERANCE, token_ids.shape


def test_score_by_length_returns_results_in_the_given_order():
    rng = np.random.default_rng(0)
    id_arrays = [rng.integers(1, 9, size=n) for n in rng.integers(0, 20, size=23)]
    calls = []

    def run_batch(batch):
        calls.append(batch.shape)
        # One "logit" per row: its real length, and its first id (identifies the row).
        return np.stack([(batch != 0).sum(1), batch[:, 0]], axis=1)

    logits = length_batching.score_by_length(run_batch, id_arrays, batch_size=5)
    assert logits[:, 0].tolist() == [len(ids) for ids in id_arrays]
    assert logits[:, 1].tolist() == [ids[0] if len(ids) else 0 for ids in id_arrays]
    # Sorted by length: each batch is padded to no more than the next lengths in order.
    assert [rows for rows, _ in calls] == [5, 5, 5, 5, 3]
    assert [length for _, length in calls] == sorted(length for _, length in calls)
    assert calls[-1][1] == max(len(ids) for ids in id_arrays)


def test_score_by_length_with_parallel_batches_gives_the_same_results_in_order():
    rng = np.random.default_rng(1)
    id_arrays = [rng.integers(1, 9, size=n) for n in rng.integers(0, 40, size=57)]

    def run_batch(batch):
        return np.stack([(batch != 0).sum(1), batch[:, 0]], axis=1)

    one = length_batching.score_by_length(run_batch, id_arrays, batch_size=4)
    parallel = length_batching.score_by_length(run_batch, id_arrays, batch_size=4, workers=2)
    np.testing.assert_array_equal(parallel, one)
    assert parallel[:, 0].tolist() == [len(ids) for ids in id_arrays]
