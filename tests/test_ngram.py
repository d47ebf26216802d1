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
    featurize, train_matrix = ngram.featurizer(features[:160])
    model = ngram.fit(train_matrix, labels[:160])
    probabilities = ngram.positive_probability(model, featurize(features[160:]))
    assert ((probabilities > 0.5) == np.array(labels[160:])).all()


def test_unseen_token_ids_get_a_probability_without_error():
    train = [np.array([2, 3, 4]), np.array([2, 3, 4]), np.array([7, 8, 9]), np.array([7, 8, 9])]
    featurize, train_matrix = ngram.featurizer(train)
    model = ngram.fit(train_matrix, [1, 1, 0, 0])
    probabilities = ngram.positive_probability(
        model, featurize([np.array([2, 3]), np.array([100, 101]), np.array([], np.int32)]))
    assert probabilities[0] > 0.5 and np.all((probabilities >= 0) & (probabilities <= 1))


def test_the_features_are_those_of_scikit_learns_vectorizer():
    # The n-grams are counted with numpy for speed; scikit-learn's TfidfVectorizer over the ids as
    # words is the definition they must match: the same vocabulary (n-grams in 2+ reviews), the
    # same TF-IDF values, and unseen n-grams left out.
    from sklearn.feature_extraction.text import TfidfVectorizer

    rng = np.random.default_rng(1)
    train = [rng.integers(0, 12, size=rng.integers(0, 30)) for _ in range(60)]
    other = [rng.integers(0, 15, size=rng.integers(0, 30)) for _ in range(20)]
    featurize, train_matrix = ngram.featurizer(train)
    vectorizer = TfidfVectorizer(ngram_range=(1, ngram.MAX_N), token_pattern=r"\S+", min_df=ngram.MIN_DF,
                                 sublinear_tf=True)
    text = lambda arrays: [" ".join(map(str, ids)) for ids in arrays]
    expected = vectorizer.fit(text(train))
    # Our columns are the n-grams in the order of their codes (token ids + 1 as digits).
    code = lambda gram: sum((int(token) + 1) * ngram._BASE ** power
                            for power, token in enumerate(reversed(gram.split())))
    order = sorted(expected.vocabulary_.values(), key=lambda column: code(expected.get_feature_names_out()[column]))
    np.testing.assert_array_equal(train_matrix.toarray(), featurize(train).toarray())
    for reviews in (train, other):
        ours = featurize(reviews).toarray()
        assert ours.shape == (len(reviews), len(expected.vocabulary_))
        np.testing.assert_allclose(ours, expected.transform(text(reviews)).toarray()[:, order], atol=1e-6)
