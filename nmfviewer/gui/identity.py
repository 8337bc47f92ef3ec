"""Stable component identity in the window: each component keeps its slot (tile
number) when a run follows another on the same collection.

The first run of a collection is shown in the engine's order while it runs and in
energy order (``energy_order``) once it ends. Every later run (Continue, Run again
with another seed or init, k changed by a few) is matched to the previous run's
final components as they were shown (``match_components``: Hungarian on the cosine
of the basis images): its components keep their slots, a new one takes a free
slot, and the matched cosine is shown on each tile.

Only the display is permuted: the session's states and results stay in the
engine's order (a continuation and a replay must see the engine's factors), and
:meth:`ComponentSlots.engine_index` maps a tile back.

Cost on the GUI thread: while a run goes on, the match is recomputed at most every
``REMATCH_INTERVAL`` seconds on at most ``MATCH_PIXELS`` pixels (a fixed stride
of the basis images; enough to tell components apart), so it is O(k_ref * k *
MATCH_PIXELS) whatever the image size; the match at the end of a run uses every
pixel once. Permuting W and H for the views is O((n_images + n_pixels) * k), the
size of the snapshot the views draw anyway.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from ..core import energy_order, match_components

#: pixels used by the live match (a stride of the basis images)
MATCH_PIXELS = 4096
#: seconds between two live matches
REMATCH_INTERVAL = 0.5


class ComponentSlots:
    """The slot order of the shown components across the runs of one collection."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """A new collection: no reference any more."""
        self._last: np.ndarray | None = None  # the last finished run's H, in slot order
        self._ref: np.ndarray | None = None  # the current run's reference
        self.order: np.ndarray | None = None  # display position -> engine component
        self.cosine: np.ndarray | None = None  # (k,) matched cosine per slot (nan: new)
        self._matched_at = -np.inf

    def begin_run(self) -> None:
        """A run starts: the previous run's shown components become the reference."""
        self._ref = self._last
        self.order = self.cosine = None
        self._matched_at = -np.inf

    @property
    def has_reference(self) -> bool:
        return self._ref is not None

    def engine_index(self, slot: int) -> int:
        """The engine's component shown in tile ``slot``."""
        if self.order is None or not 0 <= slot < len(self.order):
            return int(slot)
        return int(self.order[slot])

    def align(self, update, *, done: bool = False, now: float | None = None):
        """``update`` (a FitUpdate) with its W (n, k) and H (k, m) in slot order.

        done: the last update of the run (matched on every pixel; it becomes the
        next run's reference).
        """
        state = update.state
        k = state.H.shape[0]
        now = time.perf_counter() if now is None else now
        stale = self.order is None or len(self.order) != k
        if done or stale or now - self._matched_at >= REMATCH_INTERVAL:
            self._match(state.W, state.H, full=done)
            self._matched_at = now
        order = self.order
        if order is not None and not np.array_equal(order, np.arange(k)):
            W = np.ascontiguousarray(state.W[:, order])
            H = np.ascontiguousarray(state.H[order])
            W.setflags(write=False)
            H.setflags(write=False)
            update = replace(update, state=replace(state, W=W, H=H))
        if done:
            self._last = np.array(update.state.H, dtype=np.float32)
        return update

    def export_order(self, update) -> tuple[np.ndarray | None, dict | None]:
        """How to export the run of ``update`` (the session's latest, engine order) in
        the tiles' order: a permutation of its energy-ordered result and a run.json
        section recording it; (None, None) when the tiles show the energy order."""
        if update is None or self.order is None or len(self.order) != update.state.H.shape[0]:
            return None, None
        energy = energy_order(update.state.W, update.state.H)  # result row -> engine
        rank_of = np.empty_like(energy)
        rank_of[energy] = np.arange(energy.size)  # engine -> result row
        order = rank_of[self.order]  # tile -> result row
        if np.array_equal(order, np.arange(order.size)):
            return None, None
        cosine = self.cosine if self.cosine is not None else np.full(order.size, np.nan)
        section = {
            "note": "components in the window's tile order (matched to the previous run "
            "on the collection); a replay gives them in energy order: energy_rank[j] is "
            "tile j's position there",
            "energy_rank": [int(i) for i in order],
            "matched_cosine": [None if not np.isfinite(c) else round(float(c), 6) for c in cosine],
        }
        return order, {"window_order": section}

    def _match(self, W: np.ndarray, H: np.ndarray, *, full: bool) -> None:
        if self._ref is None:
            # the first run: the engine's order while it runs, energy order at its end
            k = H.shape[0]
            self.order = energy_order(W, H) if full else np.arange(k)
            self.cosine = None
            return
        ref, new = self._ref, np.asarray(H)
        if not full and new.shape[1] > MATCH_PIXELS:
            step = -(-new.shape[1] // MATCH_PIXELS)  # ceil division
            ref, new = ref[:, ::step], new[:, ::step]
        match = match_components(ref, new)
        self.order = match.order()
        self.cosine = np.asarray(match.cosine, dtype=float)[self.order]


def stability_per_tile(row, H: np.ndarray) -> np.ndarray:
    """Per-component stability of a restarts row (a core ``RankRow``) carried over to
    the shown components H (k, m): each is matched to the row's best restart
    (``row.H``) and takes that component's ``component_stability``; nan without a
    partner. (k,) float."""
    match = match_components(np.asarray(row.H), np.asarray(H))
    stability = np.asarray(row.component_stability, dtype=float)
    out = np.full(H.shape[0], np.nan)
    partnered = match.slots < stability.size
    out[partnered] = stability[match.slots[partnered]]
    return out


def tile_notes(cosine: np.ndarray | None, stability: np.ndarray | None, k: int) -> list[str]:
    """The text after each tile's number: '· 0.98' (matched cosine to the previous
    run), 's 0.95' (stability over restarts)."""
    notes = []
    for j in range(k):
        parts = []
        if cosine is not None and j < len(cosine) and np.isfinite(cosine[j]):
            parts.append(f"· {cosine[j]:.2f}")
        if stability is not None and j < len(stability) and np.isfinite(stability[j]):
            parts.append(f"s {stability[j]:.2f}")
        notes.append(" ".join(parts))
    return notes
