"""The n-gram teacher of self-training (src/ngram.py)."""
import numpy as np

from src import ngram


def test_the_ngram_model_reads_word_order_through_bigrams():
    # Both classes use the same words as often; only their order (a bigram) tells them apart,
    # as "not good" and "good, not bad" do.
    rng = np.random.default_rng(0)
    features, labels = [], []
    for index in range(200):
        label = index % 2
        filler = list(rng.integers(10, 60, size=8))
        pair = [5, 6] if label else [6, 5]
        features.append(np.array(filler[:4] + pair + filler[4:], np.int32))
        labels.append(label)
    model = ngram.fit(features[:160], labels[:160])
    probabilities = ngram.positive_probability(model, features[160:])
    assert ((probabilities > 0.5) == np.array(labels[160:])).all()


def test_unseen_token_ids_get_a_probability_without_error():
    model = ngram.fit([np.array([2, 3, 4]), np.array([2, 3, 4]), np.array([7, 8, 9]), np.array([7, 8, 9])],
                      [1, 1, 0, 0])
    probabilities = ngram.positive_probability(model, [np.array([2, 3]), np.array([100, 101]), np.array([], np.int32)])
    assert probabilities[0] > 0.5 and np.all((probabilities >= 0) & (probabilities <= 1))
