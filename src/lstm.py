"""SentimentNet: word vectors -> stacked (bidirectional) LSTM -> pooling over valid steps -> Dense.

Input is one int32 tensor of token ids [batch, length], padded with id 0 at the end; the true
lengths are derived from it, so exported models need nothing else.

Padding is never read. The forward direction runs over the padded batch as is: its outputs at
valid steps do not depend on the padding after them. The backward direction runs over each review
reversed within its own length (ReverseSequence), so it starts at the review's last real token,
not at a pad. This gives the same result as packed sequences, for any amount of padding, in
one fused LSTM call per direction (nn.LSTM's own seq_length path unrolls in Python and fails on
long reviews in GRAPH_MODE).
"""
import mindspore as ms
from mindspore import nn, ops

from src import text

POOLINGS = ("first_last", "max", "mean", "max_mean")


class Dropout(nn.Cell):
    """Inverted dropout with one mask per review and feature, shared by all time steps ("locked"
    or variational dropout, Gal & Ghahramani 2016: the usual choice between recurrent layers).
    Drawing [batch, 1, features] instead of [batch, length, features] random numbers made a
    training step about 1.4x faster here. The masks come from a seeded UniformReal: nn.Dropout's
    CPU kernel gave different masks for the same seed from one process to the next."""

    def __init__(self, p, site):
        super().__init__()
        self.keep = 1.0 - p
        # Seeded from the global seed (ms.set_seed) and the call site, so each site differs.
        self.uniform = ops.UniformReal(seed=ms.get_seed() or 0, seed2=site + 1)

    def construct(self, x):
        if not self.training:
            return x
        shape = ops.shape(x)  # [batch, length, features] or [batch, features]
        mask_shape = (shape[0], 1, shape[-1]) if len(shape) == 3 else shape
        mask = (self.uniform(mask_shape) < self.keep).astype(x.dtype)
        return x * mask / self.keep


class SentimentNet(nn.Cell):
    def __init__(self, vocab_size, embed_size, num_hiddens, num_layers, bidirectional, num_classes,
                 weight=None, pooling="max_mean", dropout=0.0, trainable_embedding=False):
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
        table = "normal" if weight is None else ms.Tensor(weight, ms.float32)
        self.embedding = nn.Embedding(vocab_size, embed_size, embedding_table=table,
                                      padding_idx=None)
        self.embedding.embedding_table.requires_grad = trainable_embedding
        self.bidirectional = bidirectional
        self.pooling = pooling
        directions = 2 if bidirectional else 1
        sizes = [embed_size] + [directions * num_hiddens] * (num_layers - 1)
        self.forward_layers = nn.CellList(
            [nn.LSTM(size, num_hiddens, 1, batch_first=True) for size in sizes])
        self.backward_layers = nn.CellList(
            [nn.LSTM(size, num_hiddens, 1, batch_first=True) for size in sizes] if bidirectional else [])
        self.reverse = ops.ReverseSequence(seq_dim=1, batch_dim=0)
        # Dropout on the word vectors, between LSTM layers and on the pooled features. One cell
        # per call site: sites sharing a cell share its random state, and the masks then depend
        # on the order the graph happens to run them in.
        self.dropouts = nn.CellList([Dropout(dropout, site) if dropout > 0 else nn.Identity()
                                     for site in range(num_layers + 1)])
        features = directions * num_hiddens * (1 if pooling in ("max", "mean") else 2)
        self.decoder = nn.Dense(features, num_classes)

    def construct(self, token_ids):
        batch, length = token_ids.shape
        positions = ops.arange(length).reshape(1, -1)
        # Position 0 always counts, so an all-padding row still has one step to pool over.
        valid = ops.logical_or(token_ids != text.PAD_ID, positions == 0)  # [batch, length]
        # int64: ONNX's ReverseSequence only takes int64 lengths.
        lengths = valid.astype(ms.int64).sum(1)
        x = self.dropouts[0](self.embedding(token_ids))  # [batch, length, embed]
        for layer in range(len(self.forward_layers)):
            forward, _ = self.forward_layers[layer](x)
            if self.bidirectional:
                backward, _ = self.backward_layers[layer](self.reverse(x, lengths))
                x = ops.cat((forward, self.reverse(backward, lengths)), 2)
            else:
                x = forward
            if layer + 1 < len(self.forward_layers):
                x = self.dropouts[layer + 1](x)  # [batch, length, directions * hidden]
        return self.decoder(self.dropouts[-1](self._pool(x, valid, lengths)))

    def _pool(self, outputs, valid, lengths):
        mask = valid.reshape(valid.shape[0], valid.shape[1], 1)
        if self.pooling == "first_last":
            # The reference's concat(output[0], output[499]) made length-aware: step 0 holds the
            # backward direction's final state, the last real step the forward one's.
            last = (lengths - 1).reshape(-1, 1, 1)
            index = ops.broadcast_to(last, (outputs.shape[0], 1, outputs.shape[2]))
            last_step = ops.squeeze(ops.gather_elements(outputs, 1, index), 1)
            return ops.cat((ops.squeeze(outputs[:, 0:1], 1), last_step), 1)
        pooled = []
        if self.pooling in ("max", "max_mean"):
            pooled.append(ops.where(mask, outputs, ops.full_like(outputs, -1e9)).max(1))
        if self.pooling in ("mean", "max_mean"):
            total = (outputs * mask.astype(outputs.dtype)).sum(1)
            pooled.append(total / lengths.reshape(-1, 1).astype(outputs.dtype))
        return pooled[0] if len(pooled) == 1 else ops.cat(pooled, 1)


def build_model(config, vocab_size, embed_dim, weight=None):
    """The one place the network is built from a config (train, eval, export, predict)."""
    return SentimentNet(vocab_size=vocab_size, embed_size=embed_dim,
                        num_hiddens=config.num_hiddens, num_layers=config.num_layers,
                        bidirectional=config.bidirectional, num_classes=config.num_classes,
                        weight=weight, pooling=config.pooling, dropout=config.dropout,
                        trainable_embedding=config.trainable_embedding)
