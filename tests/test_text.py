import pytest

from src import text


@pytest.mark.parametrize("raw, expected", [
    ("Great movie!<br /><br />Don't miss it.",
     ["great", "movie", "!", "do", "n't", "miss", "it", "."]),
    ("It's 10/10", ["it", "'s", "10", "/", "10"]),
    ("We'll see...", ["we", "'ll", "see", ".", ".", "."]),
    ("CAFÉ<br>noir", ["café", "noir"]),
    ("", []),
])
def test_tokenize(raw, expected):
    assert text.tokenize(raw) == expected


def test_vocabulary_ids_are_by_frequency_then_alphabetical():
    vocabulary = text.Vocabulary.build([["b", "a", "c", "a"], ["c", "d"]])
    assert vocabulary.words == ["<pad>", "<unk>", "a", "c", "b", "d"]


def test_vocabulary_is_deterministic_regardless_of_input_order():
    documents = [["x", "y", "z"], ["y", "z"], ["z", "w"]]
    assert text.Vocabulary.build(documents).words == text.Vocabulary.build(documents[::-1]).words


def test_min_freq_and_max_vocab():
    documents = [["a", "a", "a", "b", "b", "c"]]
    assert text.Vocabulary.build(documents, min_freq=2).words == ["<pad>", "<unk>", "a", "b"]
    assert text.Vocabulary.build(documents, max_vocab=3).words == ["<pad>", "<unk>", "a"]


def test_encode_pads_nothing_truncates_and_maps_unknown():
    vocabulary = text.Vocabulary.build([["good", "bad"]])
    assert vocabulary.encode(["good", "zzz", "bad"], max_len=2) == [vocabulary.ids["good"], text.UNK_ID]
    assert text.PAD_ID == 0 and text.UNK_ID == 1
    assert vocabulary.encode([], max_len=5) == [text.UNK_ID]  # an empty review still has one step


def test_save_and_load_round_trip(tmp_path):
    vocabulary = text.Vocabulary.build([["ça", "va", "!"]])
    vocabulary.save(str(tmp_path / "vocab.txt"))
    assert text.Vocabulary.load(str(tmp_path / "vocab.txt")).words == vocabulary.words
