"""Reading the IMDB Large Movie Review Dataset (aclImdb_v1) from its folder or its .tar.gz file.

Layout: aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt, and aclImdb/train/unsup/<id>_0.txt
(the 50,000 unlabelled reviews: split "unsup", label -1, read only for language-model pre-training).
Files are read in sorted order so every run sees the reviews in the same order.
"""
import codecs
import os
import stat
import tarfile

from src import errors

LABELS_BY_FOLDER = (("pos", 1), ("neg", 0))
UNLABELLED = -1


def _folders(split):
    """(parent folder, folder, label) of each folder a split is read from."""
    if split == "unsup":
        return [("train", "unsup", UNLABELLED)]
    return [(split, folder, label) for folder, label in LABELS_BY_FOLDER]


class Review:
    __slots__ = ("name", "label", "text")

    def __init__(self, name, label, text):
        self.name, self.label, self.text = name, label, text


def decode_text(raw):
    """Text as editors write it: UTF-8 with or without a BOM, UTF-16 with a BOM (Windows
    Notepad's "Unicode"), lines ended by LF, CRLF or CR; bad bytes replaced."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        text = raw.decode("utf-16", errors="replace")
    else:
        text = raw.decode("utf-8-sig", errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")


class ReadStats:
    """Counts what had to be repaired or skipped while reading, for the preprocessing report."""

    def __init__(self):
        self.undecodable_files = 0
        self.empty_files = 0
        self.skipped_entries = 0  # *.txt names that are not regular files (folders, pipes, ...)

    def decode(self, raw):
        text = decode_text(raw)
        if "\ufffd" in text and b"\xef\xbf\xbd" not in raw:
            self.undecodable_files += 1
        if not text.strip():
            self.empty_files += 1
        return text


def folder_root(path):
    """The folder holding train/ and test/: the path itself or its aclImdb/ child."""
    for candidate in (path, os.path.join(path, "aclImdb")):
        if os.path.isdir(os.path.join(candidate, "train")):
            return candidate
    return None


def read_reviews(aclimdb_path, splits=("train", "test"), stats=None):
    """Returns {split: [Review]} for 'train', 'test' and/or 'unsup', pos reviews first, each sorted
    by name."""
    stats = stats or ReadStats()
    if not aclimdb_path or not os.path.exists(aclimdb_path):
        raise errors.UserError(
            f"aclImdb path {aclimdb_path!r} does not exist (give the unpacked aclImdb folder or "
            "aclImdb_v1.tar.gz; `python -m src.download` fetches it)")
    if os.path.isfile(aclimdb_path):
        reviews = _read_tar(aclimdb_path, splits, stats)
    else:
        reviews = _read_folder(aclimdb_path, splits, stats)
    for split in splits:
        if not reviews[split]:
            folders = " or ".join(f"{parent}/{folder}" for parent, folder, _ in _folders(split))
            raise errors.UserError(f"{aclimdb_path} has no reviews in {folders}")
        _check_both_classes(aclimdb_path, split, reviews[split])
    return reviews


def _check_both_classes(aclimdb_path, split, reviews):
    """A labelled split without one class trains a model that answers one label, or scores it on
    one class: stop before that."""
    labels = {review.label for review in reviews}
    for parent, folder, label in _folders(split):
        if label != UNLABELLED and label not in labels:
            raise errors.UserError(f"{aclimdb_path} has no reviews in {parent}/{folder}: {split} needs "
                                   "reviews of both classes; add <id>_<rating>.txt files there")


def review_folders(splits):
    """"parent/folder" of every folder the given splits are read from."""
    return [f"{parent}/{folder}" for split in splits for parent, folder, _ in _folders(split)]


def _read_folder(path, splits, stats):
    root = folder_root(path)
    if root is None:
        raise errors.UserError(
            f"{path} is not an aclImdb folder: expected train/pos, train/neg, test/pos, test/neg")
    reviews = {}
    for split in splits:
        reviews[split] = []
        for parent, folder, label in _folders(split):
            directory = os.path.join(root, parent, folder)
            if not os.path.isdir(directory):
                raise errors.UserError(f"{path} is missing the folder {parent}/{folder}")
            for name, file_path in _review_files(directory, stats):
                reviews[split].append(Review(f"{parent}/{folder}/{name}", label,
                                             stats.decode(_read_review(file_path))))
    return reviews


def _review_files(directory, stats):
    """(name, path) of the regular *.txt files in `directory`, sorted by name. Other entries named
    *.txt (folders, dangling links, pipes, devices) are skipped and counted: opening a pipe would
    wait forever for a writer."""
    found = []
    for entry in os.scandir(directory):
        if not entry.name.endswith(".txt"):
            continue
        try:
            regular = stat.S_ISREG(os.stat(entry.path).st_mode)  # follows links
        except OSError:  # a dangling link, or a file that vanished
            regular = False
        if regular:
            found.append((entry.name, entry.path))
        else:
            stats.skipped_entries += 1
    return sorted(found)


def _read_review(path):
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as error:
        raise errors.UserError(f"cannot read the review file {path}: {error.strerror}; fix its "
                               "permissions or remove it") from None


def _read_tar(path, splits, stats):
    wanted = {}
    for split in splits:
        for parent, folder, label in _folders(split):
            wanted[(parent, folder)] = (split, parent, folder, label)
    reviews = {split: [] for split in splits}
    try:
        with tarfile.open(path, "r:*") as archive:
            for member in archive:
                parts = member.name.split("/")
                if not member.isfile() or len(parts) < 4 or not parts[-1].endswith(".txt"):
                    continue
                target = wanted.get((parts[-3], parts[-2]))
                if target is not None:
                    split, parent, folder, label = target
                    text = stats.decode(archive.extractfile(member).read())
                    reviews[split].append(Review(f"{parent}/{folder}/{parts[-1]}", label, text))
    except (tarfile.TarError, EOFError, OSError) as error:
        # tarfile.open(..., "r:*") lists one failure per compression on several lines.
        problem = "not a .tar or .tar.gz archive" if "could not be opened" in str(error) else " ".join(
            str(error).split())
        raise errors.UserError(
            f"{path} is truncated or not a valid tar archive ({problem}); download it again") from None
    for split in reviews:
        # Archive order is arbitrary; sort like the folder reader (pos before neg, then by name).
        reviews[split].sort(key=lambda review: (-review.label, review.name))
    return reviews
