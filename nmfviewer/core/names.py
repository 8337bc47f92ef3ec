"""File and image names as text: shown on one line, written losslessly, read back.

On POSIX a file name is bytes. Python decodes it with the file-system encoding
and ``surrogateescape``: a Latin-1 name ``caf\\xe9.png`` becomes the str
``'caf\\udce9.png'``, which cannot be encoded as UTF-8. Every name nmfviewer
handles stays that exact str in memory (so the file can be opened again); at
the edges it takes one of three forms:

- :func:`printable` -- for messages: one line, control characters and
  undecodable bytes escaped (``caf\\xe9.png``, ``a\\nb.png``). Readable, but
  not meant to be parsed back.
- :func:`encode_exact` / :func:`decode_exact` -- the lossless form written to
  weights.csv (column ``image_exact``) and run.json (keys ``*_exact``): the
  name's file-system bytes (:func:`os.fsencode`) percent-encoded (RFC 3986,
  every byte but ``A-Z a-z 0-9 _ . ~`` as ``%XX``). Plain ASCII text, never
  starting with a spreadsheet formula character. In Python:
  ``os.fsdecode(urllib.parse.unquote_to_bytes(s))``.
- :func:`csv_cell` -- a name as a spreadsheet cell: :func:`printable`, and a
  cell starting with ``= + - @``, tab or carriage return (or with ``'``) gets a
  leading ``'`` as OWASP recommends against CSV injection.
"""

from __future__ import annotations

import os
import unicodedata
from urllib.parse import quote_from_bytes, unquote_to_bytes

__all__ = [
    "csv_cell",
    "decode_exact",
    "encode_exact",
    "is_plain",
    "printable",
]

#: first characters a spreadsheet reads as a formula (OWASP "CSV injection")
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\\": "\\\\"}


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte kept by surrogateescape
        return f"\\x{code - 0xDC00:02x}"
    if ch in _ESCAPES:
        return _ESCAPES[ch]
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def _needs_escape(ch: str) -> bool:
    # Cc: C0/C1 controls; Cs: lone surrogates; Zl/Zp: line/paragraph separators;
    # Cf includes bidi overrides that make a name display in another order
    return unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp", "Cf")


def printable(text: object, *, backslash: bool = False) -> str:
    """``text`` on one line: control characters, line separators, bidi controls
    and undecodable bytes escaped Python-style (``\\n``, ``\\x1b``, ``\\xe9``).

    backslash: escape backslashes too (off by default, so Windows-style paths in
    messages stay readable).
    """
    text = str(text)
    if text.isprintable() and (not backslash or "\\" not in text):
        return text  # the common case, fast
    out = []
    for ch in text:
        if _needs_escape(ch) or (backslash and ch == "\\"):
            out.append(_escape_char(ch))
        else:
            out.append(ch)
    return "".join(out)


def is_plain(name: str) -> bool:
    """True when ``name`` is valid, printable UTF-8 text that no spreadsheet
    reads as a formula: then it is written as it is, everywhere."""
    return printable(name) == name and not name.startswith((*FORMULA_START, "'"))


def encode_exact(name: str) -> str:
    """The lossless ASCII form of a file or image name (see the module notes)."""
    return quote_from_bytes(os.fsencode(name), safe="_.~").replace("-", "%2D")


def decode_exact(text: str) -> str:
    """Inverse of :func:`encode_exact`. Raises ValueError on a non-ASCII text."""
    if not isinstance(text, str) or not text.isascii():
        raise ValueError(f"{text!r} is not a percent-encoded name")
    return os.fsdecode(unquote_to_bytes(text))


def csv_cell(name: str) -> str:
    """A name as a spreadsheet-safe, readable cell (OWASP: a leading ``'``
    neutralises ``= + - @``, tab and CR; a name starting with ``'`` gets one too,
    so a leading ``'`` always means "added")."""
    text = printable(name)
    if name.startswith((*FORMULA_START, "'")):
        text = "'" + text
    return text
