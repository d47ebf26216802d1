"""Fingerprints of the preprocessing inputs, so a preprocessed folder is reused only when the corpus
and the word vectors it was built from are provably unchanged.

    corpus folder: per review folder (train/pos, ...) the count and a digest of the names, sizes and
                   modification times of its *.txt files (os.scandir: the 75,000 aclImdb files
                   take a fraction of a second, no review is read)
    a file (aclImdb_v1.tar.gz, the vectors file): size, modification time and a SHA-256 of its
                   first and last MiB only. Hashing whole files (84 MB archive, 1 GB of GloVe)
                   would make every reuse cost seconds; the size and time catch what the
                   partial hash cannot see (an edit in the middle keeps neither the time nor,
                   usually, the size).
"""
import hashlib
import os

from src import imdb

EDGE_BYTES = 1 << 20  # hashed at each end of a file


def file_fingerprint(path):
    """{size, mtime_ns, edges_sha256} of one file."""
    status = os.stat(path)
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        digest.update(file.read(EDGE_BYTES))
        if status.st_size > 2 * EDGE_BYTES:
            file.seek(-EDGE_BYTES, os.SEEK_END)
        digest.update(file.read(EDGE_BYTES))
    return {"size": status.st_size, "mtime_ns": status.st_mtime_ns, "edges_sha256": digest.hexdigest()}


def folder_fingerprint(directory):
    """{files, digest} of the regular *.txt files in `directory` (names, sizes, times)."""
    digest, count = hashlib.sha256(), 0
    try:
        entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
    except OSError:
        return {"files": 0, "digest": None}
    for entry in entries:
        if not entry.name.endswith(".txt"):
            continue
        try:
            status = entry.stat()  # follows links; a dangling one is skipped as the reader does
        except OSError:
            continue
        record = f"{entry.name}\0{status.st_size}\0{status.st_mtime_ns}\n"
        digest.update(record.encode("utf-8", "surrogateescape"))
        count += 1
    return {"files": count, "digest": digest.hexdigest()}


def corpus_fingerprint(aclimdb_path, root, folders):
    """The archive's file fingerprint, or {folder: folder fingerprint} under `root` (the folder
    holding train/ and test/) for each "parent/folder" the reviews are read from."""
    if os.path.isfile(aclimdb_path):
        return {"archive": file_fingerprint(aclimdb_path)}
    return {folder: folder_fingerprint(os.path.join(root, folder)) for folder in folders}


def describe_changes(recorded, current):
    """What differs between two input fingerprints, as phrases for a note or an error."""
    changes = []
    recorded_corpus, current_corpus = recorded.get("corpus", {}), current.get("corpus", {})
    for name in sorted(set(recorded_corpus) | set(current_corpus)):
        if recorded_corpus.get(name) != current_corpus.get(name):
            if name == "missing":
                path = current_corpus.get(name) or recorded_corpus.get(name)
                changes.append(f"the corpus {path} is missing")
            else:
                changes.append(f"{'the archive' if name == 'archive' else 'the reviews in ' + name} changed")
    if recorded.get("vectors") != current.get("vectors"):
        changes.append("the word vectors file changed")
    return changes


def inputs_of(settings):
    """The fingerprints of the corpus and the vectors file that dataset.settings_of names."""
    splits = ("train", "test", "unsup") if settings.get("unsup") else ("train", "test")
    aclimdb_path = settings["aclimdb_path"]
    root = imdb.folder_root(aclimdb_path) if os.path.isdir(aclimdb_path) else None
    corpus = corpus_fingerprint(aclimdb_path, root or aclimdb_path, imdb.review_folders(splits)) \
        if os.path.exists(aclimdb_path) else {"missing": aclimdb_path}
    return {"corpus": corpus, "vectors": file_fingerprint(settings["vectors_file"])}


def differences(meta, settings, inputs):
    """Why a folder with this meta.json was not built from `settings` and `inputs` (empty: it was)."""
    recorded = meta.get("settings", {})
    changed = [f"{key} {recorded.get(key)!r} -> {settings.get(key)!r}"
               for key in settings if recorded.get(key) != settings.get(key)]
    return changed or describe_changes(meta.get("inputs", {}), inputs)
