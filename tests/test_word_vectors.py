import numpy as np
import pytest

from conftest import make_glove
from src import errors, text, word_vectors


@pytest.mark.parametrize("name, header", [
    ("glove.6B.8d.txt", False), ("glove.6B.8d.txt", True),
    ("glove.6B.8d.txt.gz", False), ("glove.6B.8d.txt.gz", True)])
def test_loads_with_or_without_header_plain_or_gz(tmp_path, name, header):
    path = make_glove(str(tmp_path / name), dim=8, header=header, words=["a", "b", "c"])
    vectors = word_vectors.load_vectors(path)
    assert vectors.vector_size == 8 and list(vectors.key_to_index) == ["a", "b", "c"]


def test_file_found_by_embed_size_in_folder(tmp_path):
    make_glove(str(tmp_path / "glove.6B.8d.txt.gz"), dim=8)
    assert word_vectors.find_vectors_file(str(tmp_path), 8).endswith("glove.6B.8d.txt.gz")
    with pytest.raises(errors.UserError, match="--embed_size=<its dimension>"):
        word_vectors.find_vectors_file(str(tmp_path), 300)


def test_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(errors.UserError, match="does not exist"):
        word_vectors.find_vectors_file(str(tmp_path / "nope"), 50)


def test_malformed_line_names_its_line_number(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("a 0.1 0.2 0.3\nb 0.1 0.2\nc 0.1 0.2 0.3\n")
    with pytest.raises(errors.UserError, match="line 2: has 2 values where 3 are expected"):
        word_vectors.load_vectors(str(path))
    path.write_text("a 0.1 0.2 0.3\nb 0.1 x 0.3\n")
    with pytest.raises(errors.UserError, match="line 2: a value is not a number"):
        word_vectors.load_vectors(str(path))


def test_header_that_disagrees_with_the_file(tmp_path):
    path = tmp_path / "v.txt"
    path.write_text("5 3\na 0.1 0.2 0.3\nb 0.1 0.2 0.4\n")
    with pytest.raises(errors.UserError, match="header announces 5 vectors but the file has 2"):
        word_vectors.load_vectors(str(path))


def test_duplicated_words_keep_the_first_vector(tmp_path, capsys):
    path = tmp_path / "v.txt"
    path.write_text("a 1 1\nb 2 2\na 3 3\n")
    vectors = word_vectors.load_vectors(str(path))
    assert vectors["a"].tolist() == [1, 1]
    assert "1 words more than once" in capsys.readouterr().out


def test_embedding_matrix_rows_follow_vocabulary(tmp_path):
    path = make_glove(str(tmp_path / "v.txt"), dim=4, words=["good", "bad"])
    vectors = word_vectors.load_vectors(path)
    vocabulary = text.Vocabulary.build([["good", "bad", "bad", "oov"]])
    matrix, found = word_vectors.embedding_matrix(vocabulary, vectors, seed=1)
    assert matrix.shape == (5, 4) and matrix.dtype == np.float32 and found == 2
    assert not matrix[text.PAD_ID].any()
    assert np.array_equal(matrix[vocabulary.ids["good"]], vectors["good"])
    assert np.array_equal(matrix, word_vectors.embedding_matrix(vocabulary, vectors, seed=1)[0])
