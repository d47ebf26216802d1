"""One-line errors for the user instead of stack traces.

Every entry point (train.py, eval.py, ...) runs its main function through `run_main`: a
`UserError` (bad input the user can fix) is printed as a single `error: ...` line on stderr and
the process exits with code 2. Anything else is a bug and keeps its traceback.
"""
import sys


class UserError(Exception):
    """An input problem the user can fix; the message names the file or key and what to do."""


def first_line(error):
    """The first line of an exception's message (library errors often carry a C++ stack below)."""
    message = str(error).strip()
    return message.splitlines()[0] if message else type(error).__name__


def run_main(main_function, *args, **kwargs):
    try:
        return main_function(*args, **kwargs)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(2)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr, flush=True)
        sys.exit(130)
