"""Self-training's second teacher: logistic regression on TF-IDF weighted unigrams, bigrams and
trigrams.

It reads the same token ids as the LSTM (the preprocessed training reviews) and makes its
mistakes on other reviews, so the mean of the two models' probabilities labels the unlabelled
reviews better than either (docs/results.md).

The n-grams are counted here with numpy, as integer codes of the token ids: scikit-learn's
TfidfVectorizer gives the same vocabulary and features (tests/test_ngram.py) but builds every
n-gram as a Python string: it took about 2x as long to fit and 4x as long to score (docs/results.md,
session 25).
scikit-learn does the weighting and the fitting.
"""
import numpy as np

from src import errors

# N-gram orders and inverse regularisation strength, chosen by the accuracy of the labellers' mean
# (the LSTM teacher's probabilities and this model's) on six seeds' validation splits: trigrams
# with C=16 beat bigrams with C=4 on each (+0.15 to +0.75 point); Naive Bayes weighting, C=64
# and paragraph vectors did not (docs/results.md, sessions 8 and 23).
MAX_N = 3
C = 16.0
MIN_DF = 2  # an n-gram of a single training review says nothing about the others
# An n-gram's code is its token ids + 1 as the digits of a number in this base: codes of different
# n-grams differ, and those of different orders too (no digit is 0); a trigram's stays below 2**60.
_BASE = 1 << 20


def _codes(ids):
    """int64 codes of every unigram, bigram and trigram occurring in one token id array."""
    digits = np.asarray(ids, np.int64) + 1
    if digits.size and digits.max() >= _BASE:
        raise errors.UserError(f"the n-gram labeller reads vocabularies of up to {_BASE - 1} words, not "
                               f"{digits.max()}: set max_vocab, or pseudo_label_ngram False")
    grams = [digits]
    while len(grams) < MAX_N:
        grams.append(grams[-1][:-1] * _BASE + digits[len(grams):])
    return np.concatenate(grams)


def _review_counts(features):
    """(the distinct n-gram codes of each review, sorted, review after review; how often each
    occurs in its review; how many distinct n-grams each review has)."""
    pairs = [np.unique(_codes(ids), return_counts=True) for ids in features]
    lengths = np.array([len(codes) for codes, _ in pairs], np.int64)
    if not pairs:
        return np.zeros(0, np.int64), np.zeros(0, np.float32), lengths
    return (np.concatenate([codes for codes, _ in pairs]),
            np.concatenate([counts for _, counts in pairs]).astype(np.float32), lengths)


def _count_matrix(review_counts, vocabulary):
    """CSR float32 [reviews, len(vocabulary)]: how often each n-gram of the sorted `vocabulary`
    occurs in each review; n-grams outside it are left out."""
    from scipy import sparse

    codes, counts, lengths = review_counts
    columns = np.searchsorted(vocabulary, codes)
    known = columns < len(vocabulary)
    known[known] = vocabulary[columns[known]] == codes[known]
    rows = np.repeat(np.arange(len(lengths)), lengths)[known]
    row_starts = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=len(lengths)))])
    # Each review's codes are sorted, so are its columns: the matrix is in canonical CSR form.
    return sparse.csr_matrix((counts[known], columns[known], row_starts),
                             shape=(len(lengths), len(vocabulary)))


def featurizer(features):
    """(A function from token id arrays to their TF-IDF features, CSR float32 [reviews, n-grams];
    those features of `features` themselves). The n-grams are those of at least MIN_DF of the
    reviews `features`, weighted by their inverse document frequency there. The model's features
    are those of the labelled training reviews for every review it reads, so that its refits on
    more reviews (src/self_training.py) reuse the matrices."""
    from sklearn.feature_extraction.text import TfidfTransformer

    review_counts = _review_counts(features)
    seen, reviews_with = np.unique(review_counts[0], return_counts=True)
    vocabulary = seen[reviews_with >= MIN_DF]
    counts = _count_matrix(review_counts, vocabulary)
    tfidf = TfidfTransformer(sublinear_tf=True).fit(counts)
    featurize = lambda id_arrays: tfidf.transform(_count_matrix(_review_counts(id_arrays), vocabulary))
    return featurize, tfidf.transform(counts)


def fit(matrix, labels):
    """The logistic regression trained on the rows of a featurizer's `matrix` and their 0/1 `labels`."""
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=C, max_iter=1000).fit(matrix, np.asarray(labels))


def positive_probability(model, matrix):
    """Probability of the positive class for each row of a featurizer's `matrix`."""
    return model.predict_proba(matrix)[:, 1]
