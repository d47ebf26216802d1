"""One-line errors for the user instead of stack traces.

Every entry point (train.py, eval.py, ...) runs its main function through `run_main`: a
`UserError` (bad input the user can fix) is printed as a single `error: ...` line on stderr and
the process exits with code 2. Anything else is a bug and keeps its traceback. Ctrl-C (SIGINT)
and SIGTERM end the run with one line saying what was kept (set_interrupt_note) and exit codes
130 and 143; both unwind as exceptions, so `finally` blocks and atexit handlers (the run's lock)
run.
"""
import os
import signal
import sys
import threading


class UserError(Exception):
    """An input problem the user can fix; the message names the file or key and what to do."""


class Terminated(BaseException):
    """SIGTERM, raised in the main thread like KeyboardInterrupt for SIGINT."""


_interrupt_note = None  # () -> str: what an interrupted run keeps and how to go on


def set_interrupt_note(note):
    """`note`: a function giving the sentence printed after `error: interrupted by ...`."""
    global _interrupt_note
    _interrupt_note = note


def first_line(error):
    """The first line of an exception's message (library errors often carry a C++ stack below)."""
    message = str(error).strip()
    return message.splitlines()[0] if message else type(error).__name__


def _raise_terminated(signal_number, frame):
    raise Terminated()


_SIGNAL_OF = {Terminated: signal.SIGTERM, KeyboardInterrupt: signal.SIGINT}


def _deliver_again(unraisable, default_hook=sys.unraisablehook):
    """A signal that lands while Python runs a __del__ or a weakref callback (MindSpore's tensors
    run many) raises there, where Python prints the exception and ignores it: the run went on
    training after a SIGTERM. The signal is sent again from another thread: its handler then runs
    in the main thread once this hook has returned (sent from here, it would raise in the hook)."""
    signal_number = _SIGNAL_OF.get(unraisable.exc_type)
    if signal_number is None:
        default_hook(unraisable)
    else:
        threading.Timer(0.01, os.kill, (os.getpid(), signal_number)).start()


def _report_interrupt(signal_name, exit_code):
    try:
        note = _interrupt_note() if _interrupt_note else ""
    except Exception:  # noqa: BLE001  the line must come out whatever the note's trouble
        note = ""
    print(f"error: interrupted by {signal_name}" + (f"; {note}" if note else ""), file=sys.stderr, flush=True)
    sys.exit(exit_code)


def run_main(main_function, *args, **kwargs):
    try:
        signal.signal(signal.SIGTERM, _raise_terminated)
    except ValueError:  # not the main thread (a test calling main()): keep the default
        pass
    else:
        sys.unraisablehook = _deliver_again
    try:
        return main_function(*args, **kwargs)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt:
        _report_interrupt("Ctrl-C (SIGINT)", 130)
    except Terminated:
        _report_interrupt("SIGTERM", 143)
