"""GloVe word vectors -> the embedding matrix of a vocabulary.

GloVe ships text files without the word2vec "<count> <dim>" header line; the reference asked users
to add one by hand. Here the header is detected, so both forms load, plain or gzipped, of any
dimension; gensim does the parsing.
"""
import gzip
import os
import zipfile

import numpy as np
from gensim.models import KeyedVectors

from src import errors


def find_vectors_file(glove_path, embed_size):
    """A file path is used as is; in a folder we look for glove.6B.<embed_size>d.txt(.gz)."""
    if os.path.isfile(glove_path):
        return glove_path
    if not os.path.isdir(glove_path):
        raise errors.UserError(f"GloVe path {glove_path!r} does not exist (give GLOVE_DIR or the .txt file)")
    expected = f"glove.6B.{embed_size}d.txt"
    for name in (expected, expected + ".gz"):
        if os.path.isfile(os.path.join(glove_path, name)):
            return os.path.join(glove_path, name)
    others = sorted(name for name in os.listdir(glove_path) if name.endswith((".txt", ".txt.gz")))
    hint = (f"; found {', '.join(others)}: pass --embed_size=<its dimension> or "
            f"--glove_path=<that file>") if others else ""
    raise errors.UserError(f"{glove_path} has no {expected}{hint}")


def _open_binary(path):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def _first_line(path):
    """The first line, or a UserError when the file is not (gzipped) UTF-8 text."""
    if zipfile.is_zipfile(path):
        raise errors.UserError(f"word vector file {path} is a zip archive; unpack it (unzip glove.6B.zip) "
                               "and pass the folder or one of its .txt files")
    try:
        with _open_binary(path) as file:
            line = file.readline().decode("utf-8")
    except (UnicodeDecodeError, EOFError, OSError):
        raise errors.UserError(f"word vector file {path} is not a text (or .txt.gz) file of word vectors; "
                               "pass a GloVe .txt file") from None
    if not line.strip():
        raise errors.UserError(f"word vector file {path} is empty or starts with a blank line")
    return line


def _has_header(path):
    fields = _first_line(path).split()
    return len(fields) == 2 and all(field.isdigit() for field in fields)


def _lines(path):
    """(line number, text) of every line; the text is None where the line is not UTF-8."""
    with _open_binary(path) as file:
        for number, raw in enumerate(file, start=1):
            try:
                yield number, raw.decode("utf-8")
            except UnicodeDecodeError:
                yield number, None


def _first_bad_line(path, has_header):
    """Only on the error path: finds the line that made gensim fail, for the message."""
    dimension, number = None, 0
    try:
        for number, line in _lines(path):
            if line is None:
                return number, "is not valid UTF-8"
            fields = line.rstrip("\n").split(" ")
            if number == 1 and has_header:
                count, dimension = int(fields[0]), int(fields[1])
                continue
            try:
                values = [float(value) for value in fields[1:]]
            except ValueError:
                return number, f"a value is not a number: {line[:60].strip()!r}"
            if dimension is None:
                dimension = len(values)
            elif len(values) != dimension:
                return number, f"has {len(values)} values where {dimension} are expected"
    except (EOFError, OSError):
        return number + 1, "the file ends early (an interrupted download?)"
    if has_header and number - 1 != count:
        return 1, f"the header announces {count} vectors but the file has {number - 1}"
    return None, "could not be parsed"


def _shape_problem(path, has_header, dimension):
    """(line, problem) for what gensim lets through: a line with one value (numpy broadcasts it
    over the whole vector) and, after a header, lines beyond the count it announces (ignored).
    A pass over the bytes: far cheaper than the parsing gensim has just done."""
    with _open_binary(path) as file:
        announced = int(file.readline().split()[0]) if has_header else None
        if not has_header:
            file.seek(0)
        found = 0
        for number, line in enumerate(file, start=2 if has_header else 1):
            line = line.rstrip()
            if not line:
                continue
            found += 1
            if line.count(b" ") != dimension:
                return number, f"has {line.count(b' ')} values where {dimension} are expected"
    if has_header and announced != found:
        return 1, f"the header announces {announced} vectors but the file has {found}; fix or delete it"
    return None, None


def _first_non_finite_line(path, has_header):
    """Only on the error path: the number of the first line holding nan or inf."""
    for number, line in _lines(path):
        if line is None or (number == 1 and has_header):
            continue
        try:
            if not np.isfinite([float(value) for value in line.split()[1:]]).all():
                return number
        except ValueError:
            continue
    return "?"


def load_vectors(path):
    """Reads a GloVe or word2vec text file (.txt or .txt.gz) into gensim KeyedVectors."""
    has_header = _has_header(path)
    try:
        vectors = KeyedVectors.load_word2vec_format(path, binary=False, no_header=not has_header)
    except (ValueError, EOFError, UnicodeDecodeError, OSError) as error:
        line, problem = _first_bad_line(path, has_header)
        where = f" line {line}" if line else ""
        detail = errors.first_line(error)
        raise errors.UserError(f"word vector file {path}{where}: {problem} ({detail})") from None
    line, problem = _shape_problem(path, has_header, vectors.vector_size)
    if problem:
        raise errors.UserError(f"word vector file {path} line {line}: {problem}")
    if len(vectors.vectors) == 0:
        raise errors.UserError(f"word vector file {path} line 1: a header line and no vectors; pass a "
                               "GloVe .txt file")
    if not np.isfinite(vectors.vectors).all():
        # nan/inf rows would make the embedding and then the training loss NaN.
        raise errors.UserError(f"word vector file {path} line {_first_non_finite_line(path, has_header)}: "
                               "a value is nan or inf; fix or remove that line, or download the file again")
    duplicates = vectors.vectors.shape[0] - len(vectors.key_to_index)
    if duplicates:
        print(f"note: {path} lists {duplicates} words more than once; their first vector is used")
    return vectors


def embedding_matrix(vocabulary, vectors, seed):
    """Rows follow the vocabulary ids. Padding is a zero row; words without a GloVe vector
    (and <unk>) get small random vectors so they stay distinguishable when frozen.

    Returns (matrix float32 [len(vocabulary), dim], number of words found in the vectors)."""
    dimension = vectors.vector_size
    scale = float(np.std(vectors.vectors[: min(len(vectors.vectors), 50000)]))
    rng = np.random.default_rng(seed)
    matrix = rng.normal(0.0, scale, size=(len(vocabulary), dimension)).astype(np.float32)
    matrix[0] = 0.0
    found = 0
    for index, word in enumerate(vocabulary.words[2:], start=2):
        row = vectors.key_to_index.get(word)
        if row is not None:
            matrix[index] = vectors.vectors[row]
            found += 1
    return matrix, found

