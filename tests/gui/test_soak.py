"""Soak test of the window (issue 5): 50 start/stop cycles, 20 collection loads while a fit
runs, pause/resume storms and closing mid-run. No crash (pytest-qt fails the test on an
exception in any slot), no thread left running after close, no stale update shown, and
resident memory after all cycles within 20% of after the first one.

Tiny data (30 images of 12 x 12, and 24 of 10 x 14 so that a stale update of the other
collection would not even fit the views), so the whole file runs in well under 90 s.
"""

from __future__ import annotations

import faulthandler
import gc
import sys
import threading

import numpy as np
import psutil
import pytest
from PySide6.QtCore import QThread

from nmfviewer.core.params import NMFParams
from nmfviewer.gui.main_window import MainWindow
from nmfviewer.gui.session import FINISHED, PAUSED, RUNNING

#: seconds, not milliseconds: `pytest -m 'not slow'` leaves it out
pytestmark = pytest.mark.slow

#: a soak that has not ended by then hangs (the whole test normally takes ~20 s)
WATCHDOG_SECONDS = 240
#: never converges: runs until stopped
FOREVER = NMFParams(n_components=3, max_iter=10_000_000, tol=0.0, window=10_000_000, seed=0)


class Watch:
    """Records what reaches the views and fails on anything stale.

    An update is stale when it does not belong to the run the session runs now, or
    when its H does not fit the collection on screen, or when its iteration goes back
    within a run (a late snapshot overtaking a newer one).
    """

    def __init__(self, window):
        self.window = window
        self.stale: list[str] = []
        self.shown = 0
        self.runs: set[int] = set()
        self._last: dict[int, int] = {}
        window.session.updated.connect(self._on_update)
        window.session.runStarted.connect(self.runs.add)

    def _on_update(self, update) -> None:
        s = self.window.session
        self.shown += 1
        h, w = s.collection.image_shape
        if update.run_id != s.run_id:
            self.stale.append(f"run {update.run_id} shown during run {s.run_id}")
        if update.state.H.shape[1] != h * w or update.state.W.shape[0] != s.collection.n_images:
            self.stale.append(
                f"factors {update.state.W.shape}/{update.state.H.shape} on a "
                f"collection of {s.collection.n_images} x {h * w}"
            )
        last = self._last.get(update.run_id, -1)
        if update.state.iteration < last:
            self.stale.append(
                f"run {update.run_id}: iteration {update.state.iteration} after {last}"
            )
        self._last[update.run_id] = update.state.iteration


def qthreads_running() -> list[QThread]:
    return [o for o in gc.get_objects() if isinstance(o, QThread) and _alive(o) and o.isRunning()]


def _alive(obj) -> bool:
    try:
        obj.objectName()
    except RuntimeError:  # the C++ object is gone
        return False
    return True


def rss() -> int:
    gc.collect()
    return psutil.Process().memory_info().rss


@pytest.fixture(autouse=True)
def watchdog():
    """A GUI thread blocked in a C++ call (e.g. QThread.wait on a thread that never ends)
    cannot be interrupted by pytest-qt's timeouts: dump every thread's stack and end the
    process instead of hanging the suite for ever."""
    faulthandler.dump_traceback_later(WATCHDOG_SECONDS, exit=True, file=sys.stderr)
    yield
    faulthandler.cancel_dump_traceback_later()


@pytest.fixture
def folders(make_image_dir):
    """(a, b): 30 images of 12 x 12 and 24 images of 10 x 14."""
    return (
        make_image_dir("a", n=30, shape=(12, 12), k=3, seed=1),
        make_image_dir("b", n=24, shape=(10, 14), k=3, seed=2),
    )


def start(window, qtbot, params=FOREVER):
    window.params_panel.set_params(params)
    with qtbot.waitSignal(window.session.runStarted, timeout=10_000):
        assert window.start_run()


def stop(window, qtbot):
    s = window.session
    with qtbot.waitSignal(s.runFinished, timeout=20_000) as finished:
        s.stop()
    assert finished.args == ["cancelled"]
    assert s.run_state == FINISHED


def load(window, qtbot, folder):
    with qtbot.waitSignal(window.session.collectionChanged, timeout=20_000):
        assert window.open_paths([folder])


def test_soak_cycles_loads_storms_and_memory(window, folders, qtbot):
    w, s = window, window.session
    a, b = folders
    watch = Watch(w)
    load(w, qtbot, a)

    # -- 50 start/stop cycles; every other one waits for a live update first
    start(w, qtbot)
    stop(w, qtbot)
    first_rss = rss()
    for cycle in range(49):
        start(w, qtbot)
        if cycle % 2:
            with qtbot.waitSignal(s.updated, timeout=10_000):
                pass
        stop(w, qtbot)
        assert s.latest is not None and s.latest.run_id == s.run_id and s.latest.done
    assert len(watch.runs) == 50

    # -- 20 loads while a fit runs, alternating collections of different shapes
    for i in range(20):
        start(w, qtbot)
        # the fit really runs (its thread may start a little after Run): wait for it
        qtbot.waitUntil(
            lambda: s.latest is not None and s.latest.state.iteration > 0, timeout=10_000
        )
        target = b if i % 2 == 0 else a
        load(w, qtbot, target)
        assert s.run_state not in (RUNNING, PAUSED)  # the old run ended with its collection
        assert s.latest is None and w.basis.n_tiles == 0  # nothing of the old run shown
        qtbot.wait(30)  # time for any late snapshot of the old run to arrive (and be dropped)
    assert s.collection.image_shape == (12, 12)

    # -- pause/resume storms, then a run that still makes progress
    rng = np.random.default_rng(0)
    for storm in range(5):
        start(w, qtbot)
        for _ in range(40):
            s.pause()
            if rng.random() < 0.3:
                qtbot.wait(int(rng.integers(0, 4)))
            s.resume()
        assert s.run_state == RUNNING
        at = s.latest.state.iteration if s.latest is not None else -1
        qtbot.waitUntil(
            lambda at=at: s.latest is not None and s.latest.state.iteration > at + 2, timeout=10_000
        )
        s.pause()
        qtbot.waitUntil(lambda: s.latest.paused, timeout=10_000)
        if storm % 2:  # stop while paused
            stop(w, qtbot)
        # else: the next start replaces a paused run
    if s.run_state in (RUNNING, PAUSED):
        stop(w, qtbot)

    qtbot.waitUntil(lambda: s.busy_threads == 0, timeout=10_000)
    last_rss = rss()
    print(
        f"soak: {len(watch.runs)} runs, {watch.shown} updates shown, resident memory "
        f"{first_rss / 2**20:.1f} MB after the first cycle, {last_rss / 2**20:.1f} MB after all"
    )
    assert watch.stale == []
    assert watch.shown >= 25
    assert last_rss <= first_rss * 1.2, (
        f"resident memory grew from {first_rss / 2**20:.1f} MB after the first cycle to "
        f"{last_rss / 2**20:.1f} MB"
    )


@pytest.mark.parametrize("when", ["running", "paused", "loading", "just-started"])
def test_closing_mid_run_leaves_no_thread(when, settings, folders, qtbot):
    a, _ = folders
    win = MainWindow(settings=settings, confirm=lambda question: True)
    win.ask_on_close = False
    qtbot.addWidget(win)
    win.show()
    s = win.session
    load(win, qtbot, a)
    watch = Watch(win)
    pool_threads = {t for t in threading.enumerate() if t.name.startswith("ThreadPool")}
    start(win, qtbot)
    if when in ("running", "paused"):
        with qtbot.waitSignal(s.updated, timeout=10_000):
            pass
    if when == "paused":
        s.pause()
    if when == "loading":
        assert win.open_paths([a])
        assert s.loading
    win.close()
    assert not win.isVisible()
    assert s.busy_threads == 0
    assert qthreads_running() == []
    assert {t for t in threading.enumerate() if t.name.startswith("ThreadPool")} <= pool_threads
    # nothing of the closed run arrives later
    shown = watch.shown
    qtbot.wait(200)
    assert watch.shown == shown and watch.stale == []
