"""Words the window uses in more than one place (status bar, loss panel, dialogs).

The stop reasons' wording is core's one table (``nmfviewer.core.STOP_REASON_TEXT``),
shared with the command line and run.json readers; it is re-exported here.
"""

from __future__ import annotations

import math
from types import MappingProxyType

from ..core import STOP_REASON_TEXT as _CORE_TEXT

#: stop reason code (NMFState.stop_reason) -> the words the user reads (core's table)
STOP_REASON_TEXT = MappingProxyType(_CORE_TEXT)

#: the state a run shows before its first iteration
INITIALISATION = "initialisation"


def stop_text(reason: str | None) -> str:
    """The words for a stop reason code (unknown codes are shown as they are)."""
    if reason is None:
        return ""
    return STOP_REASON_TEXT.get(reason, reason.replace("_", " "))


def not_converged(reason: str | None, rel_change: float | None, tol: float | None) -> bool:
    """True when a run stopped by a limit (max_iter, time budget) while its loss was
    still falling faster than tol allows (or tol = 0: no convergence test)."""
    if reason not in ("max_iter", "time_budget"):
        return False
    if rel_change is None or not math.isfinite(rel_change):
        return True  # no measure of the decrease yet: nothing says it converged
    return rel_change > 0 and (tol is None or rel_change >= tol)


def dims(h: int, w: int) -> str:
    """An image size in the window's one convention: height × width."""
    return f"{h} × {w}"
