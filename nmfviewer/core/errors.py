"""Exceptions for errors a user can cause.

Every message names the file or the value at fault and says how to fix it.
The CLI turns these into exit code 2 and one line; the GUI into a dialog or a
status message. Anything else that escapes is a bug in nmfviewer.
"""

from __future__ import annotations

from pathlib import Path


class NMFViewerError(Exception):
    """Base class for every error a user can cause and fix."""


class LoadError(NMFViewerError):
    """An input file or folder cannot be turned into a collection.

    ``path`` is the offending file or folder when there is one.
    """

    def __init__(self, message: str, path: str | Path | None = None):
        super().__init__(message)
        self.path = Path(path) if path is not None else None


class MemoryLimitError(LoadError):
    """The collection would not fit in memory (estimated before reading pixels)."""


class ParameterError(NMFViewerError, ValueError):
    """A parameter value is invalid, alone or for the data at hand.

    Also a ``ValueError`` so scikit-learn-style callers catching that still work.
    """


class ExportError(NMFViewerError):
    """Results could not be written (unwritable folder, full disk, ...)."""

    def __init__(self, message: str, path: str | Path | None = None):
        super().__init__(message)
        self.path = Path(path) if path is not None else None
