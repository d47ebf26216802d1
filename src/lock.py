"""One training run per output folder.

    lock.acquire(config.ckpt_path)   # held until the process exits

Two runs writing lstm-<epoch>_<step>.ckpt and history.json into one folder would interleave their
files, and --resume would then continue from the other run's checkpoint. The lock is an flock on
<folder>/.lock: the kernel releases it when its process ends, however it ends (SIGKILL included),
so the .lock file a killed run leaves behind never blocks the next one. The file holds the PID of
the holder, only to name it in the message; a run that exits normally deletes it.
"""
import atexit
import fcntl
import os

from src import errors

LOCK_FILE = ".lock"

_held = {}  # folder -> open lock file; keeps the lock for the life of the process


def acquire(folder):
    """Creates `folder` if needed and locks it; raises UserError if another process holds it."""
    folder = os.path.abspath(folder)
    if folder in _held:
        return _held[folder]
    path = os.path.join(folder, LOCK_FILE)
    while True:
        try:
            os.makedirs(folder, exist_ok=True)
            file = open(path, "a+", encoding="utf-8")
        except OSError as error:
            raise errors.UserError(f"cannot write to the output folder {folder}: {error.strerror} "
                                   "(pass a --ckpt_path in a writable folder)") from None
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "unknown"
            file.close()
            raise errors.UserError(f"{folder} is in use by another training run (PID {holder}); wait for "
                                   "it to finish, stop it, or pass another --ckpt_path") from None
        if _same_file(file, path):
            break
        file.close()  # its holder deleted it as it exited: lock the file that replaced it
    try:
        file.truncate(0)
        file.write(f"{os.getpid()}\n")
        file.flush()
    except OSError as error:
        os.remove(path)
        file.close()
        raise errors.UserError(f"cannot write to the output folder {folder}: {error.strerror} "
                               "(pass a --ckpt_path in a writable folder with free space)") from None
    _held[folder] = file
    atexit.register(release, folder)
    return file


def _same_file(file, path):
    try:
        return os.fstat(file.fileno()).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def release(folder):
    file = _held.pop(os.path.abspath(folder), None)
    if file is not None:
        try:
            os.remove(os.path.join(os.path.abspath(folder), LOCK_FILE))  # before unlocking: see _same_file
        except FileNotFoundError:
            pass
        file.close()  # closing the descriptor drops the flock
