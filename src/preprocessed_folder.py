"""Putting a freshly built preprocessed folder in place, and only over what preprocessing made.

A user's --preprocess_path can be anything: the folder holding aclImdb/ and glove/, a file, a
folder with checkpoints in it. Preprocessing replaces a path only when it is empty or holds
nothing but what preprocessing writes, with its meta.json; anything else stops the run with one
line naming the path, and nothing is touched.
"""
import fnmatch
import glob
import os
import shutil
import socket

from src import errors

META_FILE = "meta.json"
# Every name dataset._build writes into the folder.
WRITTEN_NAMES = ("meta.json", "vocab.txt", "weight.npy",
                 "aclImdb_*.mindrecord[0-9]", "aclImdb_*.mindrecord[0-9].db")


def written_by_preprocessing(name):
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in WRITTEN_NAMES)


def check_replaceable(path):
    """Raises UserError unless `path` is missing, an empty folder, or a preprocessed folder."""
    if not os.path.lexists(path):
        return
    if not os.path.isdir(path):
        raise errors.UserError(f"--preprocess_path {path} is a file, not a preprocessed folder; nothing "
                               "was changed: pass the path of a new or empty folder")
    names = sorted(os.listdir(path))
    if not names:
        return
    others = [name for name in names if not written_by_preprocessing(name)]
    if others or META_FILE not in names:
        shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "") if others else f"no {META_FILE}"
        raise errors.UserError(f"--preprocess_path {path} is not a preprocessed folder ({shown}); "
                               "nothing was changed: pass the path of a new or empty folder")


def temporary_suffix():
    """host-pid: a killed run's leftovers are recognised by it."""
    return f"{socket.gethostname()}-{os.getpid()}"


def put_in_place(temporary, path):
    """Renames the finished `temporary` folder to `path`, replacing the preprocessed folder there
    (check_replaceable has been called). The old one is renamed aside first, so `path` always
    holds a complete folder."""
    if os.path.exists(path):
        old = f"{os.path.abspath(path)}.old-{temporary_suffix()}"
        os.rename(path, old)
        os.rename(temporary, path)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.rename(temporary, path)


def remove_leftovers(path):
    """Deletes the .tmp-/.old- folders that runs killed on this machine left beside `path`."""
    for kind in ("tmp", "old"):
        pattern = f"{glob.escape(os.path.abspath(path))}.{kind}-{glob.escape(socket.gethostname())}-*"
        for leftover in glob.glob(pattern):
            pid = leftover.rsplit("-", 1)[1]
            if pid.isdigit() and not _process_alive(int(pid)):
                print(f"Removing {leftover}, left by an interrupted preprocessing run")
                shutil.rmtree(leftover, ignore_errors=True)


def _process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by another user
        return True
    return True
