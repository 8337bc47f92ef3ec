"""Exceptions for errors a user can cause.

Every error names the file or the value at fault and says how to fix it, and
carries what a front end needs to say so in its own words:

field       the option at fault or the one that fixes it, by its Python name
            ('size_policy', 'n_components', 'normalize', ...), or None;
value       the offending value (None when there is none);
suggestion  a value of ``field`` that would work (None when there is none);
path        the file or folder at fault (a Path, or None);
source      where the value came from when the user did not type it (e.g.
            "run.json key 'params.n_components'" in a replay), or None;
message     the problem, naming options by their Python names only;
hint        the fix, or None. It may hold ``{option}``, which each front end
            replaces by its own spelling of ``field`` (and ``suggestion``):
            ``size_policy='resize'`` here, ``--size-policy resize`` on the
            command line, "File ▸ Load options… ▸ Mixed sizes" in the window.

``str(exc)`` is the message and the hint in Python spelling (for API users);
:meth:`NMFViewerError.render` spells the option another way. The CLI turns
these into exit code 2 and one line; the GUI into a dialog pointing to the
widget. Anything else that escapes is a bug in nmfviewer.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

#: spell(field, suggestion) -> how a front end names the option (and its value)
Spelling = Callable[[str, Any], str]


def python_spelling(field: str, suggestion: Any) -> str:
    """``size_policy='resize'`` (or just ``size_policy`` without a suggestion)."""
    return field if suggestion is None else f"{field}={suggestion!r}"


class NMFViewerError(Exception):
    """Base class for every error a user can cause and fix (see the module doc)."""

    def __init__(
        self,
        message: str,
        path: str | Path | None = None,
        *,
        field: str | None = None,
        value: Any = None,
        suggestion: Any = None,
        hint: str | None = None,
        source: str | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.path = Path(path) if path is not None else None
        self.field = field
        self.value = value
        self.suggestion = suggestion
        self.hint = hint
        self.source = source

    def render_hint(self, spell: Spelling = python_spelling) -> str:
        """The hint with ``{option}`` spelled by ``spell`` ('' without a hint)."""
        if not self.hint:
            return ""
        if "{option}" not in self.hint or self.field is None:
            return self.hint
        return self.hint.replace("{option}", spell(self.field, self.suggestion))

    def render(self, spell: Spelling = python_spelling) -> str:
        """Message and hint, the option spelled by ``spell``. With a ``source``,
        the value was not typed: say where it came from instead of offering to
        change it."""
        if self.source is not None:
            return f"{self.message} The value comes from {self.source}."
        hint = self.render_hint(spell)
        return f"{self.message} {hint}" if hint else self.message

    def __str__(self) -> str:
        return self.render()

    def __reduce__(self):  # keep the attributes through pickling (process pools)
        return (_rebuild, (type(self), self.message, dict(self.__dict__)))


def _rebuild(cls: type[NMFViewerError], message: str, state: dict[str, Any]) -> NMFViewerError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


class LoadError(NMFViewerError):
    """An input file or folder cannot be turned into a collection.

    ``path`` is the offending file or folder when there is one; ``field`` the
    LoadOptions field that would fix it (e.g. 'size_policy').
    """


class MemoryLimitError(LoadError):
    """The collection would not fit in memory (estimated before reading pixels)."""


class ParameterError(NMFViewerError, ValueError):
    """A parameter value is invalid, alone or for the data at hand.

    ``field`` is the NMFParams / LoadOptions field at fault. Also a
    ``ValueError`` so scikit-learn-style callers catching that still work.
    """


class ExportError(NMFViewerError):
    """Results could not be written (unwritable folder, full disk, ...)."""
