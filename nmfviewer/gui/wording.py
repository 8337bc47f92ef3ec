"""Words the window uses in more than one place (status bar, loss panel, dialogs).

STOP_REASON_TEXT is the one wording of a run's stop reasons in the window. The
core run driver is getting the same table (``STOP_REASON_TEXT`` in
``nmfviewer.core``); once it is exported, this module should re-export that one.
"""

from __future__ import annotations

import math
from types import MappingProxyType

#: stop reason code (NMFState.stop_reason) -> the words the user reads
STOP_REASON_TEXT = MappingProxyType({
    "converged": "converged",
    "max_iter": "reached max iterations",
    "time_budget": "time budget used up",
    "cancelled": "stopped by user",
})

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
