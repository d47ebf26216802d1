"""Language-model pre-training of the first LSTM layer on the training and unlabelled reviews.

The classifier sees 17,786 labelled reviews; aclImdb also has 50,000 unlabelled ones. Before
classification, the first layer's forward LSTM learns to predict the next word and its backward
LSTM the previous word (two one-directional language models, as in ELMo: a bidirectional layer
could see the word it is asked for), together with the word vectors. Dai & Le (2015) and Howard
& Ruder (2018) showed this kind of start lifts (much larger) LSTM classifiers on IMDB; the deeper
layers and the classifier start from scratch. Measured here at hidden size 100, one epoch
(744 s) did not lift the dev test accuracy (87.4% vs 87.9%), so pretrain_epochs defaults to 0.

The softmax over the vocabulary is sampled (Jean et al. 2015, nn.SampledSoftmaxLoss), so the
output layer costs little. The reviews are read as one stream cut into rows of pretrain_seq_len
tokens (like pytorch/examples' word_language_model): one batch shape, no padding.
"""
import os
import time

import numpy as np
import mindspore as ms
from mindspore import nn, ops

from src import dataset, errors, lstm, text, training

LM_CHECKPOINT = "lm_pretrained.ckpt"


class SampledSoftmax(nn.Cell):
    """Output layer over the output_vocab most frequent words, trained with MindSpore's sampled
    softmax: each batch scores the true words against num_sampled words drawn log-uniformly,
    which fits our vocabulary ids as they are sorted by frequency. Returns the mean negative
    log-likelihood over the targets that are scored (not pad, unk or rarer words)."""

    def __init__(self, hidden, output_vocab, num_sampled, name, seed):
        super().__init__()
        self.weight = ms.Parameter(ms.Tensor(np.random.default_rng(seed).normal(
            0, hidden ** -0.5, (output_vocab, hidden)).astype(np.float32)), name=f"{name}.weight")
        self.bias = ms.Parameter(ms.Tensor(np.zeros(output_vocab, np.float32)), name=f"{name}.bias")
        self.loss = nn.SampledSoftmaxLoss(num_sampled, output_vocab, seed=seed, reduction="none")
        self.output_vocab = output_vocab

    def construct(self, hidden, targets):
        scored = ops.logical_and(targets > text.UNK_ID, targets < self.output_vocab)
        safe = ops.where(scored, targets, ops.zeros_like(targets))
        nll = self.loss(self.weight, self.bias, safe.reshape(-1, 1), hidden.reshape(-1, hidden.shape[-1]))
        weight = scored.reshape(-1).astype(nll.dtype)
        return (nll * weight).sum() / ops.maximum(weight.sum(), 1.0)


class LanguageModelLoss(nn.Cell):
    """Next-word loss of the forward LSTM plus previous-word loss of the backward LSTM of the
    network's first layer. Shares the network's cells, so training it trains them."""

    def __init__(self, network, output_vocab, num_sampled, dropout):
        super().__init__(auto_prefix=False)  # keep the network's parameter names
        self.embedding = network.embedding
        self.embedding_dropout = network.dropouts[0]
        self.forward_lstm = network.forward_layers[0]
        self.backward_lstm = network.backward_layers[0] if network.bidirectional else None
        hidden = self.forward_lstm.hidden_size
        self.output_dropout = lstm.Dropout(dropout, site=100) if dropout > 0 else nn.Identity()
        seed = ms.get_seed() or 0
        self.forward_out = SampledSoftmax(hidden, output_vocab, num_sampled, "lm_forward_out", seed + 1)
        self.backward_out = SampledSoftmax(hidden, output_vocab, num_sampled, "lm_backward_out", seed + 2)

    def construct(self, tokens):
        x = self.embedding_dropout(self.embedding(tokens))
        forward, _ = self.forward_lstm(x)  # step t has read tokens 0..t: predicts token t+1
        loss = self.forward_out(self.output_dropout(forward[:, :-1]), tokens[:, 1:])
        if self.backward_lstm is None:
            return loss
        backward, _ = self.backward_lstm(ops.flip(x, (1,)))
        backward = ops.flip(backward, (1,))  # step t has read tokens t..end: predicts token t-1
        loss_back = self.backward_out(self.output_dropout(backward[:, 1:]), tokens[:, :-1])
        return (loss + loss_back) / 2


def _rows(stream, seq_len, offset):
    """The stream from `offset` cut into rows of seq_len tokens."""
    count = (len(stream) - offset) // seq_len
    return stream[offset: offset + count * seq_len].reshape(count, seq_len)


def pretrain(config, network, rank=0, group_size=1):
    """Runs config.pretrain_epochs of language-model training on `network`'s first layer, or
    loads their result from <ckpt_path>/lm_pretrained.ckpt (saved after every epoch, so an
    interrupted pre-training continues from its last finished epoch)."""
    stream = dataset.load_lm_text(config.preprocess_path)
    vocab_size = network.embedding.embedding_table.shape[0]
    output_vocab = min(vocab_size, config.pretrain_vocab) if config.pretrain_vocab else vocab_size
    if output_vocab < 3:
        raise errors.UserError("pre-training needs a vocabulary of at least one word")
    seq_len, batch = config.pretrain_seq_len, config.pretrain_batch_size
    rows_per_rank = (len(stream) // seq_len - 1) // group_size
    steps = rows_per_rank // batch
    if steps < 1:
        raise errors.UserError(f"{len(stream)} tokens of text are too few for one pre-training batch "
                               f"of {batch} x {seq_len} tokens per rank; lower pretrain_seq_len or pretrain_batch_size")
    loss_cell = LanguageModelLoss(network, output_vocab, config.pretrain_sampled, config.dropout)
    rates = ms.Tensor(np.full(steps * config.pretrain_epochs, config.pretrain_learning_rate, np.float32))
    optimizer = nn.Adam(loss_cell.trainable_params(), rates)
    train_step = training.TrainStep(loss_cell, optimizer, config.grad_clip)
    train_step.set_train()

    path = os.path.join(config.ckpt_path, LM_CHECKPOINT)
    done = 0
    if os.path.isfile(path):
        saved = training.load_checkpoint_file(path)
        done = int(saved.pop("lm_epochs_done").asnumpy()) if "lm_epochs_done" in saved else 0
        for name in [name for name in saved if "learning_rate" in name]:
            saved.pop(name)  # sized for that run's epochs; the restored global_step indexes ours
        ms.load_param_into_net(train_step, saved)
        print(f"Language model: {done} of {config.pretrain_epochs} epochs already done ({path})")
    for epoch in range(done, config.pretrain_epochs):
        # A new cut and order every epoch, the same on every rank, which then takes its share.
        rng = np.random.default_rng([config.seed, epoch])
        rows = _rows(stream, seq_len, int(rng.integers(seq_len)))
        order = rng.permutation(len(rows))[rank::group_size][: steps * batch]
        started, total, shown = time.time(), 0.0, time.time()
        for step in range(steps):
            tokens = ms.Tensor(rows[order[step * batch:(step + 1) * batch]])
            total += float(train_step(tokens).asnumpy())
            if time.time() - shown > 30 or step + 1 == steps:
                shown = time.time()
                print(f"lm epoch: {epoch + 1} step: {step + 1}/{steps}, loss {total / (step + 1):.4f} | "
                      f"{(step + 1) * batch * seq_len / (shown - started):.0f} tokens/s", flush=True)
        if rank == 0:
            training.save_checkpoint_atomic(train_step, path, {"lm_epochs_done": epoch + 1})
        print(f"lm epoch: {epoch + 1} loss {total / steps:.4f} | {time.time() - started:.1f} s", flush=True)
