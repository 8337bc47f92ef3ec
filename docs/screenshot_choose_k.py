"""Make resources/screenshot_choose_k.png: the window on the sample faces with a
finished k sweep in the Choose-k dock, brought to the front, and k adopted.

    QT_QPA_PLATFORM=offscreen python docs/screenshot_choose_k.py [OUT.png [K_MAX [REPS]]]

Prints the seconds to the scree, to the sweep's first point and to its end.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSettings

from nmfviewer._paths import sample_images_dir
from nmfviewer.core import NMFParams
from nmfviewer.gui.app import create_app
from nmfviewer.gui.layout import DEFAULT_SIZE
from nmfviewer.gui.main_window import MainWindow
from nmfviewer.gui.views.choose_k_view import SweepRequest


def wait(app, condition, timeout=300.0) -> float:
    t0 = time.perf_counter()
    while not condition():
        app.processEvents()
        time.sleep(0.005)
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError
    return time.perf_counter()


def main(out: Path, k_max: int = 20, reps: int = 3) -> None:
    app = create_app()
    settings = QSettings(str(Path(tempfile.mkdtemp()) / "s.ini"), QSettings.Format.IniFormat)
    w = MainWindow(settings=settings, confirm=lambda q: True)
    w.ask_on_close = False
    w.reset_layout(DEFAULT_SIZE)
    w.show()
    t0 = time.perf_counter()
    w.open_paths([sample_images_dir() / "faces"])
    wait(app, lambda: w.session.collection is not None)
    t_scree = wait(app, lambda: w.choose_k.scree is not None) - t0
    w.params_panel.set_params(NMFParams(n_components=8, seed=0))
    w.docks["choose_k"].raise_()
    rows: list[float] = []
    w.choose_k_view.kHovered.connect(lambda _k: rows.append(time.perf_counter()))
    t1 = time.perf_counter()
    w.choose_k.sweep(SweepRequest(tuple(range(2, k_max + 1)), reps, 1, 0.1))
    wait(app, lambda: w.choose_k.result is not None)
    t_end = time.perf_counter() - t1
    k = w.choose_k_view.suggested_k
    w.adopt_k(k)
    wait(app, lambda: w.session.run_state == "finished")
    w.docks["choose_k"].raise_()
    w.choose_k_view.show_k(k, pin=True)
    for _ in range(20):
        app.processEvents()
        time.sleep(0.02)
    w.grab().save(str(out))
    print(
        f"scree {t_scree:.2f} s after the load started; first sweep point "
        f"{rows[0] - t1:.2f} s, whole sweep {t_end:.1f} s; suggested k = {k}; saved {out}"
    )
    w.close()


if __name__ == "__main__":
    args = sys.argv[1:]
    out = Path(args[0]) if args else Path("resources/screenshot_choose_k.png")
    main(out, *(int(a) for a in args[1:3]))  # optional: largest k, repeats
