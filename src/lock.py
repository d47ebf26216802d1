"""One training run per output folder.

    lock.acquire(config.ckpt_path)   # held until the process exits

Two runs writing lstm-<epoch>_<step>.ckpt and history.json into one folder would interleave their
files, and --resume would then continue from the other run's checkpoint. The lock is an flock on
<folder>/.lock: the kernel releases it when its process ends, however it ends (SIGKILL included),
so the .lock file a killed run leaves behind never blocks the next one. Preprocessing locks
.<name>.lock beside its folder <name> the same way (acquire_preprocessing). The file holds the PID of
the holder, only to name it in the message; a run that exits normally deletes it.
"""
import atexit
import fcntl
import os

from src import errors

LOCK_FILE = ".lock"

_held = {}  # folder (or lock file) -> (lock file path, open file); kept for the life of the process


def acquire(folder):
    """Creates `folder` if needed and locks it; raises UserError if another process holds it."""
    folder = os.path.abspath(folder)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as error:
        raise errors.UserError(f"cannot write to the output folder {folder}: {error.strerror} "
                               "(pass a --ckpt_path in a writable folder)") from None
    return _acquire(os.path.join(folder, LOCK_FILE), folder,
                    f"{folder} is in use by another training run (PID {{holder}}); wait for it to "
                    "finish, stop it, or pass another --ckpt_path",
                    f"cannot write to the output folder {folder}: {{problem}} (pass a --ckpt_path in a "
                    "writable folder with free space)")


def acquire_preprocessing(preprocess_path):
    """Locks .<name>.lock beside the folder <name>: preprocessing replaces the folder itself,
    so a lock file inside it would be replaced with it. Two runs building into one folder would
    otherwise both rename theirs into place."""
    path = _preprocessing_lock_file(preprocess_path)
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
    except OSError as error:
        raise errors.UserError(f"cannot write preprocessed data under {os.path.dirname(path)}: "
                               f"{error.strerror}; pass a --preprocess_path in a writable folder") from None
    return _acquire(path, path,
                    f"{preprocess_path} is being preprocessed by another run (PID {{holder}}); wait for it "
                    "to finish, stop it, or pass another --preprocess_path",
                    f"cannot write preprocessed data beside {preprocess_path}: {{problem}}; pass a "
                    "--preprocess_path in a writable folder with free space")


def _acquire(path, key, busy_message, write_message):
    """flock on the file `path`, held under `key`; the messages take {holder} / {problem}."""
    if key in _held:
        return _held[key][1]
    while True:
        try:
            file = open(path, "a+", encoding="utf-8")
        except OSError as error:
            raise errors.UserError(write_message.format(problem=error.strerror)) from None
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "unknown"
            file.close()
            raise errors.UserError(busy_message.format(holder=holder)) from None
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
        raise errors.UserError(write_message.format(problem=error.strerror)) from None
    _held[key] = (path, file)
    atexit.register(_release, key)
    return file


def _same_file(file, path):
    try:
        return os.fstat(file.fileno()).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def release(folder):
    _release(os.path.abspath(folder))


def release_preprocessing(preprocess_path):
    _release(_preprocessing_lock_file(preprocess_path))


def _preprocessing_lock_file(preprocess_path):
    """.<name>.lock beside the folder <name>: hidden, as the one a killed run leaves behind stays."""
    folder = os.path.abspath(preprocess_path).rstrip(os.sep)
    return os.path.join(os.path.dirname(folder), f".{os.path.basename(folder)}{LOCK_FILE}")


def _release(key):
    path, file = _held.pop(key, (None, None))
    if file is not None:
        try:
            os.remove(path)  # before unlocking: see _same_file
        except FileNotFoundError:
            pass
        file.close()  # closing the descriptor drops the flock
