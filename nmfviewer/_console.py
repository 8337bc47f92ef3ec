"""Writing to the terminal without ever costing a result.

Progress lines, warnings and errors go to stderr; the one result line (the
output folder) goes to stdout, written last. Either stream may fail: stdout
piped into a reader that already quit (``nmfviewer fit ... | head -0``:
BrokenPipeError), stderr on a full disk (``2>/dev/full``: ENOSPC), a closed or
revoked terminal (EIO). None of that may stop a run or turn a written export
into a traceback, so:

- every line is made one line (:func:`nmfviewer.core.names.printable`: a name
  holding a newline or an undecodable byte is escaped, never split);
- a stream that fails once is given up for the rest of the process, and its
  file descriptor is pointed at ``os.devnull`` so that the interpreter's final
  flush cannot fail either (what the Python documentation recommends for
  SIGPIPE, https://docs.python.org/3/library/signal.html#note-on-sigpipe);
- the result line is written as the path's file-system bytes, so a script
  reading stdout gets the exact folder even for a name that is not UTF-8.

Exit codes do not change: a run whose results were written exits 0 even when
nobody was left to read its stdout, and a refused run exits 2 even when its
error line could not be shown.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TextIO

from .core import printable

PROG = "nmfviewer"

#: ids of the streams that failed (given up for the rest of the process)
_failed: set[int] = set()


def _give_up(stream: TextIO) -> None:
    """Stop writing to ``stream``; point a real process stream at os.devnull."""
    _failed.add(id(stream))
    if stream not in (sys.__stdout__, sys.__stderr__):
        return  # a stream of the caller's (a test's, an embedding app's): leave it alone
    try:
        fd = stream.fileno()
        devnull = os.open(os.devnull, os.O_WRONLY)
    except (OSError, ValueError, AttributeError):
        return
    try:
        os.dup2(devnull, fd)  # the pending buffer now flushes into /dev/null
    except OSError:
        pass
    finally:
        os.close(devnull)
    try:
        stream.flush()
    except (OSError, ValueError):
        pass


def _attempt(stream: TextIO | None, write: Callable[[TextIO], None]) -> bool:
    """Run ``write(stream)``; False (and the stream given up) if the stream failed."""
    if stream is None or id(stream) in _failed:
        return False
    try:
        write(stream)
    except (OSError, ValueError):
        _give_up(stream)
        return False
    return True


def write_line(stream: TextIO | None, text: str) -> bool:
    """Write ``text`` as one line to ``stream`` and flush; False if the stream failed.

    Never raises for a failing stream (closed pipe, full disk, I/O error,
    closed file object).
    """

    def write(out: TextIO) -> None:
        out.write(printable(text) + "\n")
        out.flush()

    return _attempt(stream, write)


def warn(message: str, stream: TextIO | None = None) -> bool:
    """``nmfviewer: warning: <message>`` on stderr."""
    return write_line(stream or sys.stderr, f"{PROG}: warning: {message}")


def error(message: str, stream: TextIO | None = None) -> bool:
    """``nmfviewer: error: <message>`` as one line (whitespace runs collapsed) on stderr."""
    one_line = " ".join(printable(message).split())
    return write_line(stream or sys.stderr, f"{PROG}: error: {one_line}")


def result(path: object, stream: TextIO | None = None) -> bool:
    """The result line on stdout: the path's exact file-system bytes and a newline.

    Returns False when stdout is gone (the caller's exit code stays what the
    run earned).
    """
    data = os.fsencode(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else None

    def write(out: TextIO) -> None:
        buffer = getattr(out, "buffer", None)
        if data is not None and buffer is not None:
            out.flush()
            buffer.write(data + b"\n")
            buffer.flush()
        else:
            out.write(printable(path) + "\n")
            out.flush()

    return _attempt(stream or sys.stdout, write)
