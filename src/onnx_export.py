"""SentimentNet (src/lstm.py) as an ONNX graph built directly from its weights.

Embedding Gather -> per layer and direction one ONNX LSTM node (per-review `sequence_lens`) ->
masked pooling -> Gemm. Batch and length are symbolic dimensions and nothing in the graph is
sized by an example input, so the file holds little more than the weights, any review length
runs without padding to max_len, and every ONNX runtime (onnxruntime, OpenVINO's fused
LSTMSequence kernel) runs it. MindSpore's own ONNX export fixes the graph to the example's shape and
bakes in a constant of the padded output shape (the max pooling's fill).

The graph computes what SentimentNet.construct computes in inference mode:
- lengths are derived inside the graph as SentimentNet does: the non-padding steps, where
  position 0 always counts;
- the backward direction runs over each review reversed within its own length (a forward LSTM
  over the reversed input), as in SentimentNet;
- the layers' outputs are [forward, backward] concatenated, as SentimentNet concatenates them.

This module imports only numpy and onnx: predict.py builds a checkpoint's graph with it and
deployments read the file without MindSpore.
"""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from src import errors, text

OPSET = 17
INPUT_NAME, OUTPUT_NAME = "token_ids", "logits"  # as src/inference.py names them
POOLINGS = ("first_last", "max", "mean", "max_mean")
MAX_FILL = -1e9  # SentimentNet's fill of padded steps before the max over time (a scalar here)

# MindSpore's nn.LSTM stacks its gate blocks as (input, forget, cell, output) along the first
# axis of weight_ih/weight_hh/bias_* (its Ascend kernel splits them in this order); ONNX's LSTM
# expects (input, output, forget, cell).
_MINDSPORE_TO_ONNX_GATES = (0, 3, 1, 2)


def _onnx_gate_order(array):
    blocks = np.split(np.asarray(array, np.float32), 4, axis=0)
    return np.concatenate([blocks[i] for i in _MINDSPORE_TO_ONNX_GATES], axis=0)


def layer_count(parameters):
    return len({name.split(".")[1] for name in parameters if name.startswith("forward_layers.")})


def is_bidirectional(parameters):
    return any(name.startswith("backward_layers.") for name in parameters)


def _lstm_weights(parameters, layer, bidirectional):
    """ONNX LSTM inputs W [D, 4H, in], R [D, 4H, H], B [D, 8H] of one layer."""
    directions = ["forward_layers"] + (["backward_layers"] if bidirectional else [])
    w, r, b = [], [], []
    for direction in directions:
        prefix = f"{direction}.{layer}."
        w.append(_onnx_gate_order(parameters[prefix + "weight_ih_l0"]))
        r.append(_onnx_gate_order(parameters[prefix + "weight_hh_l0"]))
        gates = r[-1].shape[0]
        bias_ih = parameters.get(prefix + "bias_ih_l0", np.zeros(gates, np.float32))
        bias_hh = parameters.get(prefix + "bias_hh_l0", np.zeros(gates, np.float32))
        b.append(np.concatenate([_onnx_gate_order(bias_ih), _onnx_gate_order(bias_hh)]))
    return np.stack(w), np.stack(r), np.stack(b)


class _GraphBuilder:
    """Collects nodes and initializers; each helper returns the name of its output."""

    def __init__(self):
        self.nodes, self.initializers, self._count = [], {}, 0

    def constant(self, name, value):
        """An initializer by name; a name asked for again is the same constant."""
        value = np.asarray(value)
        if name in self.initializers:
            assert np.array_equal(numpy_helper.to_array(self.initializers[name]), value), name
        else:
            self.initializers[name] = numpy_helper.from_array(value, name)
        return name

    def node(self, op_type, inputs, name=None, outputs=1, **attributes):
        self._count += 1
        names = [name or f"{op_type.lower()}_{self._count}"] if outputs == 1 else \
            [f"{op_type.lower()}_{self._count}_{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, inputs, names, **attributes))
        return names[0] if outputs == 1 else names


def _forward_lstm(g, name, x, w, r, b, lengths, hidden):
    """One direction of one layer: [B, L, in] -> [B, L, H].

    ONNX's LSTM is time-major ([L, B, ...]; layout 1 is not implemented by onnxruntime), while
    OpenVINO's LSTMSequence is batch-major and its ONNX reader wraps each LSTM node in transposes
    to and from time-major. The graph is batch-major and wraps each LSTM node in the inverse
    transposes, which OpenVINO cancels against its own: the test folder through OpenVINO ran at
    936 reviews/s instead of 883; onnxruntime runs these transposes, 872 instead of 928-957
    (docs/deployment.md, session 11)."""
    time_major = g.node("Transpose", [x], perm=[1, 0, 2])
    y = g.node("LSTM", [time_major, g.constant(name + "_W", w[None]), g.constant(name + "_R", r[None]),
                        g.constant(name + "_B", b[None]), lengths], hidden_size=hidden, direction="forward")
    return g.node("Transpose", [g.node("Squeeze", [y, "axis_1"])], perm=[1, 0, 2])  # Y is [L, directions, B, H]


def build_sentiment_graph(parameters, pooling):
    """onnx.ModelProto of SentimentNet in inference mode. `parameters`: {checkpoint name: numpy
    array} of the model (embedding.*, forward_layers.*, backward_layers.*, decoder.*)."""
    if pooling not in POOLINGS:
        raise errors.UserError(f"pooling {pooling!r} has no ONNX graph; expected one of {POOLINGS}")
    missing = [name for name in ("embedding.embedding_table", "decoder.weight", "forward_layers.0.weight_ih_l0")
               if name not in parameters]
    if missing:
        raise errors.UserError(f"the checkpoint has no {missing[0]}: not a SentimentNet checkpoint")
    bidirectional = is_bidirectional(parameters)
    hidden = int(np.shape(parameters["forward_layers.0.weight_hh_l0"])[1])
    directions = 2 if bidirectional else 1
    features = directions * hidden
    g = _GraphBuilder()

    ids = INPUT_NAME  # [B, L]
    axis_0, axis_1 = g.constant("axis_0", np.array([0], np.int64)), g.constant("axis_1", np.array([1], np.int64))
    zero, one = g.constant("zero_i64", np.int64(0)), g.constant("one_i64", np.int64(1))
    not_pad = g.node("Not", [g.node("Equal", [ids, g.constant("pad_id", np.int32(text.PAD_ID))])])
    batch_dim = g.node("Gather", [g.node("Shape", [ids]), zero], axis=0)
    length_dim = g.node("Gather", [g.node("Shape", [ids]), one], axis=0)
    positions = g.node("Range", [zero, length_dim, one])  # [L]
    first = g.node("Unsqueeze", [g.node("Equal", [positions, zero]), axis_0])  # [1, L]
    # Position 0 always counts, so an all-padding row still has one step to pool over.
    valid = g.node("Or", [not_pad, first])  # [B, L]
    lengths = g.node("ReduceSum", [g.node("Cast", [valid], to=TensorProto.INT32), axis_1], keepdims=0)  # [B] int32

    embedding = g.constant("embedding", np.asarray(parameters["embedding.embedding_table"], np.float32))
    x = g.node("Gather", [embedding, ids], axis=0)  # [B, L, E]
    if bidirectional:
        # Not ONNX's bidirectional LSTM: OpenVINO (2026.4) runs its reverse direction from the
        # end of the padded batch instead of each review's last real step. The backward
        # direction is a forward LSTM over each review reversed within its length, as in
        # SentimentNet. Each layer's input is kept in both orders, so what is reversed is the
        # token ids (not their vectors) and one direction's output per layer boundary: 2-3%
        # faster in onnxruntime than reversing whole layer inputs and outputs (docs/deployment.md).
        #
        # A reversal is a Gather of [B * L] rows by one index computed once, not ONNX's
        # ReverseSequence: OpenVINO runs ReverseSequence with a reference kernel that took 14% of
        # a batch on its own, the Gather about 3% (onnxruntime: the same either way).
        step = g.node("Unsqueeze", [positions, axis_0])  # [1, L]
        length = g.node("Unsqueeze", [g.node("Cast", [lengths], to=TensorProto.INT64), axis_1])  # [B, 1]
        # Step t of a review of length n reads step n - 1 - t; padding steps stay where they are.
        source_step = g.node("Where", [g.node("Less", [step, length]),
                                       g.node("Sub", [g.node("Sub", [length, one]), step]), step])
        review = g.node("Unsqueeze", [g.node("Range", [zero, batch_dim, one]), axis_1])  # [B, 1]
        source_row = g.node("Add", [g.node("Mul", [review, length_dim]), source_step])  # [B, L] into [B * L]

        def reverse(sequence, width=None):
            shape = g.constant("flat_shape", np.array([-1], np.int64)) if width is None else \
                g.constant(f"rows_shape_{width}", np.array([-1, width], np.int64))
            rows = g.node("Reshape", [sequence, shape])
            return g.node("Gather", [rows, source_row], axis=0)

        x_reversed = g.node("Gather", [embedding, reverse(ids)], axis=0)
    for layer in range(layer_count(parameters)):
        w, r, b = _lstm_weights(parameters, layer, bidirectional)
        forward = _forward_lstm(g, f"lstm{layer}_forward", x, w[0], r[0], b[0], lengths, hidden)
        if not bidirectional:
            x = forward
            continue
        backward = _forward_lstm(g, f"lstm{layer}_backward", x_reversed, w[1], r[1], b[1], lengths, hidden)
        # [B, L, 2H]: forward then backward features, as SentimentNet concatenates them, in time
        # order and in reversed order. Steps past a review's length hold whatever the runtime
        # left there; they are never read.
        last = layer == layer_count(parameters) - 1
        if last and pooling != "first_last":
            # Max and mean over the real steps do not depend on their order, and a review's real
            # steps are the first `length` in either order: pool the backward output as it is.
            x = g.node("Concat", [forward, backward], axis=2)
        else:
            x = g.node("Concat", [forward, reverse(backward, hidden)], axis=2)
            if not last:
                x_reversed = g.node("Concat", [reverse(forward, hidden), backward], axis=2)

    pooled = _pool(g, x, valid, lengths, pooling, features)
    g.node("Gemm", [pooled, g.constant("decoder_weight", np.asarray(parameters["decoder.weight"], np.float32)),
                    g.constant("decoder_bias", np.asarray(parameters["decoder.bias"], np.float32))],
           name=OUTPUT_NAME, transB=1)

    num_classes = int(np.shape(parameters["decoder.weight"])[0])
    graph = helper.make_graph(
        g.nodes, "SentimentNet",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.INT32, ["batch", "length"])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", num_classes])],
        list(g.initializers.values()))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="lstm-sentiment export.py")
    model.ir_version = 8  # readable by onnxruntime and OpenVINO releases of recent years
    onnx.checker.check_model(model)
    return model


def _pool(g, x, valid, lengths, pooling, features):
    """[B, L, F] outputs -> [B, F'] pooled over the real steps, as SentimentNet._pool."""
    if pooling == "first_last":
        # Step 0 holds the backward direction's final state, the last real step the forward one's.
        first = g.node("Gather", [x, "zero_i64"], axis=1)  # [B, F]
        last = g.node("Sub", [g.node("Cast", [lengths], to=TensorProto.INT64), "one_i64"])
        index = g.node("Expand", [g.node("Reshape", [last, g.constant("shape_b11", np.array([-1, 1, 1], np.int64))]),
                                  g.constant("shape_11f", np.array([1, 1, features], np.int64))])  # [B, 1, F]
        last_step = g.node("Squeeze", [g.node("GatherElements", [x, index], axis=1), "axis_1"])
        return g.node("Concat", [first, last_step], axis=1)
    mask = g.node("Unsqueeze", [valid, g.constant("axis_2", np.array([2], np.int64))])  # [B, L, 1]
    pooled = []
    if pooling in ("max", "max_mean"):
        filled = g.node("Where", [mask, x, g.constant("max_fill", np.float32(MAX_FILL))])
        pooled.append(g.node("ReduceMax", [filled], axes=[1], keepdims=0))
    if pooling in ("mean", "max_mean"):
        masked = g.node("Mul", [x, g.node("Cast", [mask], to=TensorProto.FLOAT)])
        total = g.node("ReduceSum", [masked, "axis_1"], keepdims=0)  # [B, F]
        count = g.node("Unsqueeze", [g.node("Cast", [lengths], to=TensorProto.FLOAT), "axis_1"])  # [B, 1]
        pooled.append(g.node("Div", [total, count]))
    return pooled[0] if len(pooled) == 1 else g.node("Concat", pooled, axis=1)


def save(model, path):
    onnx.save_model(model, path)
