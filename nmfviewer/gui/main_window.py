"""The main window: composes the views as docks, the menus and drag-and-drop,
and wires them to the session. No computation lives here.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QSettings, QTimer
from PySide6.QtWidgets import (
    QFileDialog,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QWidget,
)

from .._paths import sample_images_dir
from ..core import (
    IMAGE_SUFFIXES,
    NMFViewerError,
    component_colors,
    labels_folder,
    read_labels,
)
from .choose_k import wire_choose_k
from .dialogs import about, ask_user, error_text, open_message
from .identity import ComponentSlots, stability_per_tile, tile_notes
from .layout import (
    RecentPaths,
    default_layout,
    hide_stale_tab_bars,
    make_docks,
    propose_export_dir,
)
from .menus import build_menus
from .quick_start import show_quick_start
from .redraw import RedrawLimiter
from .session import FINISHED, PAUSED, RUNNING, Session
from .views.basis_view import BasisPanel
from .views.choose_k_view import ChooseKView
from .views.collection_view import CollectionPanel
from .views.common import COLORMAPS, DEFAULT_COLORMAP
from .views.load_options import LoadOptionsDialog
from .views.loss_view import LossView
from .views.mask_tool import MaskBar, MaskTool, combine_masks, hidden_pixels
from .views.params_panel import ParamsPanel
from .views.reconstruction_view import ReconstructionView
from .views.spectrum_view import PixelSpectrumView
from .views.weights_view import WeightsView
from .wording import INITIALISATION, dims, not_converged, stop_text

#: the Open-files filter: every ending the loader reads inside folders
OPEN_FILTER = (
    "Images and stacks ("
    + " ".join(f"*{suffix}" for suffix in sorted(IMAGE_SUFFIXES))
    + ");;All files (*)"
)

SAMPLES = (
    ("Faces (100 photographs, 25 × 25)", "faces"),
    ("Swimmer (256 images, 32 × 32)", "swimmer/images"),
    ("Spectral cube (100 bands, 64 × 64)", "spectral/cube.tif"),
)


class MainWindow(QMainWindow):
    """settings: where geometry, dock state, last folder and recent paths live
    (tests pass a temporary one). confirm: see Session."""

    def __init__(
        self,
        session: Session | None = None,
        settings: QSettings | None = None,
        confirm: Callable[[str], bool] | None = None,
    ):
        super().__init__()
        self.setWindowTitle("nmfviewer")
        self.settings = settings if settings is not None else QSettings()
        self.session = session or Session(self)
        self.session.confirm = confirm or ask_user(self)
        self.ask_on_close = True
        self.messages: list[str] = []  # every error/notice shown, newest last
        self._image = 0
        self._component = 0
        self._pending_recent: list[str] | None = None  # added to Open recent once loaded
        # updates are drawn at a pace the drawing can afford; a view whose dock is
        # hidden is not drawn at all, and catches up with the latest when shown
        self._redraw = RedrawLimiter(self._draw_update, self)
        self._drawn = None  # the update on screen
        self._stale: set[str] = set()  # docks whose view missed updates while hidden
        self.slots = ComponentSlots()  # components keep their tiles from run to run
        self._stability_row = None  # restarts (RankRow) whose stability badges are shown
        self._pending_stability = None  # the sweep's row of an adopted k, for its run
        self._tile_stability: np.ndarray | None = None

        self.basis_panel = BasisPanel()
        self.basis, self.basis_title = self.basis_panel.grid, self.basis_panel.title
        self.colormap_box = self.basis_panel.colormap_box
        self.collection_panel = CollectionPanel()
        self.params_panel = ParamsPanel()
        self.loss_view = LossView()
        self.weights_view = WeightsView()
        self.recon_view = ReconstructionView()
        self.spectrum_view = PixelSpectrumView()
        self._pixel: int | None = None  # the pixel whose spectrum is shown
        self.choose_k_view = ChooseKView()
        self.mask_tool = MaskTool(self.recon_view.original_viewbox, self)
        self.mask_bar = MaskBar(self.mask_tool)
        self.recon_view.add_tool_row(self.mask_bar)
        self.setCentralWidget(self.basis_panel)
        self.docks = make_docks(
            self,
            {
                "run": self.params_panel,
                "collection": self.collection_panel,
                "loss": self.loss_view,
                "weights": self.weights_view,
                "image": self.recon_view,
                "spectrum": self.spectrum_view,
                "choose_k": self.choose_k_view,
            },
        )
        self.recent = RecentPaths(self.settings, str(Path.home()))
        self.actions = build_menus(self, self.docks.values())
        self._make_status_bar()
        self._connect()
        self.choose_k = wire_choose_k(self)
        default_layout(self, self.docks)
        self._default_geometry = self.saveGeometry()
        self._default_state = self.saveState()
        self._restore_settings()
        self._refresh_recent()
        self.setAcceptDrops(True)
        for child in self.findChildren(QWidget):
            child.setAcceptDrops(False)  # drops anywhere reach the window
        self._on_run_state(self.session.run_state)

    # -- construction ------------------------------------------------------------
    def _make_status_bar(self) -> None:
        bar = self.statusBar()
        self.load_progress = QProgressBar()
        self.load_progress.setMaximumWidth(220)
        self.load_progress.setMaximumHeight(16)
        self.load_cancel = QPushButton("Cancel")
        self.load_cancel.setToolTip("Cancel loading")
        bar.addPermanentWidget(self.load_progress)
        bar.addPermanentWidget(self.load_cancel)
        self.load_progress.hide()
        self.load_cancel.hide()

    def _connect(self) -> None:
        s, a, p = self.session, self.actions, self.params_panel
        s.loadStarted.connect(self._on_load_started)
        s.loadProgress.connect(self._on_load_progress)
        s.loadFinished.connect(self._on_load_finished)
        s.loadFailed.connect(self._on_load_failed)
        s.collectionChanged.connect(self._on_collection)
        s.updated.connect(self._on_update)
        s.runStarted.connect(self._on_run_started)
        s.runStateChanged.connect(self._on_run_state)
        s.runFinished.connect(self._on_run_finished)
        s.runFailed.connect(
            lambda error, details: self.show_error("The run failed", error, details)
        )
        self.load_cancel.clicked.connect(s.cancel_load)

        p.runRequested.connect(self.start_run)
        p.pauseRequested.connect(s.pause)
        p.resumeRequested.connect(s.resume)
        p.stopRequested.connect(s.stop)
        p.continueRequested.connect(self.continue_run)
        p.validityChanged.connect(lambda: self._on_run_state(s.run_state))

        a.open_folder.triggered.connect(self.open_folder_dialog)
        a.open_files.triggered.connect(self.open_files_dialog)
        a.load_options.triggered.connect(self.load_options_dialog)
        a.export.triggered.connect(self.export_dialog)
        a.quit.triggered.connect(self.close)
        a.run.triggered.connect(self.start_run)
        a.pause.triggered.connect(lambda: s.resume() if s.run_state == PAUSED else s.pause())
        a.stop.triggered.connect(s.stop)
        a.continue_.triggered.connect(lambda: self.continue_run(p.continue_n.value()))
        a.reset_layout.triggered.connect(lambda: self.reset_layout())
        a.about.triggered.connect(self._about)
        a.quick_start.triggered.connect(lambda: show_quick_start(self, self.actions))
        self.loss_view.continueRequested.connect(lambda: self.continue_run(p.continue_n.value()))
        self.weights_view.scaleChanged.connect(self._on_scale_changed)
        for key, dock in self.docks.items():
            dock.visibilityChanged.connect(lambda visible, k=key: self._on_dock_shown(k, visible))
        for name, action in a.colormaps.items():
            # the argument-less overload: no `checked=True` crosses into Python (app.py)
            action.triggered[()].connect(lambda n=name: self.set_colormap(n))
        self.colormap_box.currentTextChanged.connect(self.set_colormap)

        self.basis.componentClicked.connect(self.select_component)
        self.basis.pixelClicked.connect(self.select_pixel)
        self.recon_view.pixelClicked.connect(self.select_pixel)
        self.basis.saveRequested.connect(self.save_basis_dialog)
        self.weights_view.componentClicked.connect(self.select_component)
        self.weights_view.imageClicked.connect(self.select_image)
        self.collection_panel.imageClicked.connect(self.select_image)
        self.recon_view.imageClicked.connect(self.select_image)

    # -- loading -----------------------------------------------------------------
    def open_paths(self, paths) -> bool:
        paths = [str(p) for p in paths]
        if not paths:
            return False
        if not self.session.load(paths):
            return False
        absolute = [str(Path(p).absolute()) for p in paths]  # recent entries work from anywhere
        first = Path(absolute[0])
        self.recent.set_last_folder(str(first if first.is_dir() else first.parent))
        self._pending_recent = absolute  # listed in Open recent only once it has loaded
        return True

    def _on_load_failed(self, error: object, details: str) -> None:
        failed, self._pending_recent = self._pending_recent, None
        if failed is not None and self.recent.remove(failed):  # a recent entry that broke
            self._refresh_recent()
        self.show_error("Could not load", error, details)

    def open_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(
            self, "Open a folder of images", self.recent.last_folder()
        )
        if folder:
            self.open_paths([folder])

    def open_files_dialog(self) -> None:
        files, _ = QFileDialog.getOpenFileNames(
            self, "Open images or TIFF stacks", self.recent.last_folder(), OPEN_FILTER
        )
        if files:
            self.open_paths(files)

    def load_options_dialog(self) -> None:
        dialog = LoadOptionsDialog(self.session.load_options, self)
        if dialog.exec():
            self.session.load_options = dialog.options()
            c = self.session.collection
            if c is not None and c.source:
                self.session.load(list(c.source))

    def _refresh_recent(self) -> None:
        menu = self.actions.recent_menu
        menu.clear()
        for paths in self.recent.entries():
            text = paths[0] if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1})"
            menu.addAction(text, lambda p=paths: self.open_paths(p))
        menu.setEnabled(bool(menu.actions()))
        samples = self.actions.samples_menu
        samples.clear()
        for title, rel in SAMPLES:
            path = sample_images_dir() / rel
            if path.exists():
                samples.addAction(title, lambda p=path: self.open_paths([p]))
        samples.setEnabled(bool(samples.actions()))

    def _on_load_started(self, paths) -> None:
        self.load_progress.setRange(0, 0)
        self.load_progress.show()
        self.load_cancel.show()
        self.statusBar().showMessage(f"Loading {', '.join(paths)[:120]} …")

    def _on_load_progress(self, done: int, total: int) -> None:
        self.load_progress.setRange(0, max(total, 1))
        self.load_progress.setValue(done)
        self.load_progress.setFormat(f"{done} / {total} images")  # stack pages count one by one

    def _on_load_finished(self) -> None:
        self.load_progress.hide()
        self.load_cancel.hide()
        self.statusBar().clearMessage()

    def _on_collection(self, c) -> None:
        """A new collection: every view starts over (no title, range or tick of the
        previous run or collection survives)."""
        if self._pending_recent is not None:
            self.recent.add(self._pending_recent)
            self._pending_recent = None
            self._refresh_recent()
        self._redraw.cancel()
        self._drawn = None
        self._stale.clear()
        self.slots.reset()
        self._stability_row = self._pending_stability = self._tile_stability = None
        self.collection_panel.set_collection(c)
        noun = "image" if c.axis_label == "image" else "band"
        self.weights_view.set_axis(c.axis_values, c.axis_label, c.names)
        unit = c.axis.unit if c.axis is not None else ""
        self.spectrum_view.set_axis(c.axis_values, c.n_images, c.axis_label, unit)
        self.spectrum_view.set_mean(c.image_means)
        if c.channels != 1:
            self.spectrum_view.title.setText(
                "Pixel spectra are shown for gray collections and spectral cubes, "
                "not for colour photographs"
            )
        self._pixel = None
        self.recon_view.set_images(c.images, c.names, noun)
        self.mask_tool.set_shape(c.image_shape)
        self.mask_tool.set_own_mask(hidden_pixels(getattr(c, "mask", None), c.image_shape))
        labels = self._read_labels(c)
        if labels is not None:  # the labels file is not a skipped image: no warning about it
            shown = tuple(
                w
                for w in c.warnings
                if not re.fullmatch(r"skipped 1 non-image file: labels\.(csv|tsv)", w)
            )
            self.collection_panel.set_warnings(shown)
        self.weights_view.set_labels(labels)
        self.recon_view.set_labels(labels)
        self.basis.reset()
        spectral = c.axis_label != "image" and c.channels == 1
        self.basis.set_component_colors(component_colors(10) if spectral else None)
        self.basis_title.setText("<b>Basis images</b> (rows of H)")
        self.loss_view.clear()
        h, w = c.image_shape
        self.params_panel.set_data_shape(c.n_images, h * w * c.channels)
        self._image, self._component = 0, 0
        self.select_image(0)
        if c.axis_label != "image" and c.channels == 1:  # a cube: start at its centre pixel
            self.select_pixel((h // 2) * w + w // 2)
        name = Path(c.source[0]).name if c.source else "collection"
        self.setWindowTitle(f"{name} — nmfviewer")
        n_warn = len(c.warnings)
        notes = f" ({n_warn} warning{'' if n_warn == 1 else 's'})" if n_warn else ""
        if labels is not None:
            notes += f"; {len(set(labels) - {''})} labels from labels.csv"
        self.statusBar().showMessage(
            f"Loaded {c.n_images} {noun}s of {dims(h, w)} (h × w)" + notes, 8000
        )

    def _read_labels(self, c) -> tuple[str, ...] | None:
        folder = labels_folder(c.source) if c.source else None
        if folder is None:
            return None
        try:
            return read_labels(folder, c.names)
        except NMFViewerError as exc:  # a broken labels file must not stop the collection
            self.messages.append(str(exc))
            self.collection_panel.set_warnings((*c.warnings, f"labels ignored: {exc}"))
            return None

    # -- running -----------------------------------------------------------------
    def start_run(self) -> bool:
        try:
            params = self.params_panel.params()
            return self.session.start(params, mask=self.fit_mask())
        except NMFViewerError as exc:
            self.show_error("Cannot start", exc)
            return False

    def adopt_k(self, k: int) -> bool:
        """Set k in the Run panel and fit it fully (from the Choose-k dock)."""
        self.choose_k.stop()
        self.params_panel.k.setValue(int(k))
        self._pending_stability = self.choose_k.row_for(int(k))
        return self.start_run()

    def fit_mask(self):
        """The Mask the fits use: the collection's own and the regions drawn on the
        image (excluded in every image), or None. Raises MaskError when it hides too much."""
        c = self.session.collection
        if c is None:
            return None
        return combine_masks(
            getattr(c, "mask", None),
            self.mask_tool.excluded(),
            (c.n_images, c.to_matrix().shape[1]),  # h*w, or h*w*3 in colour
        )

    def continue_run(self, n_iter: int) -> None:
        try:
            self.session.continue_run(n_iter)
        except NMFViewerError as exc:
            self.show_error("Cannot continue", exc)

    def _on_update(self, update) -> None:
        first = self._drawn is None or self.basis.n_tiles != update.state.H.shape[0]
        # the first, a paused and the last state are drawn at once; the rest when affordable
        self._redraw.submit(update, now=first or update.done or update.paused)

    def _showing(self, key: str) -> bool:
        """Is the dock's view on screen (or could be: the window is not shown yet)?"""
        dock = self.docks[key]
        if dock.isHidden():
            return False
        if not self.isVisible():
            return True
        # a dock behind another tab still says isVisible(); its visible region is empty
        # (measured: the Pixel spectrum tab of a 2,048-band cube cost 17-50 ms a redraw)
        return dock.isVisible() and not dock.visibleRegion().isEmpty()

    def _on_dock_shown(self, key: str, visible: bool) -> None:
        if visible and key in self._stale and self._drawn is not None:
            self._stale.discard(key)
            self._draw_view(key, self._drawn)

    def _draw_update(self, update):
        """Draw ``update``, one view per event-loop turn (a generator: the limiter runs
        its steps in turn, so no turn holds the GUI thread for the whole window)."""
        c = self.session.collection
        state = update.state
        if c is None or state.W.shape[0] != c.n_images:
            return
        update = self.slots.align(update, done=update.done)
        state = update.state
        self._drawn = update
        k = state.H.shape[0]
        first = self.basis.n_tiles != k
        self.basis.set_basis(state.H, c.basis_shape)
        self._show_tile_notes(state.H, done=update.done)
        if self._is_initialisation(update):
            self.basis_title.setText(
                f"<b>Basis images</b> (rows of H) — k = {k}, "
                f"<i>{INITIALISATION}</i> (before the first iteration)"
            )
        else:
            self.basis_title.setText(
                f"<b>Basis images</b> (rows of H) — k = {k}, iteration {state.iteration}"
            )
        for key in ("loss", "weights", "image", "spectrum"):
            if self._showing(key):
                yield  # the previous view's repaint runs before this one is drawn
                self._stale.discard(key)
                self._draw_view(key, update)
            else:
                self._stale.add(key)
        if first or self._component >= k:
            yield
            self.select_component(min(self._component, k - 1))

    def _show_tile_notes(self, H, *, done: bool) -> None:
        """Matched cosines (and stability badges) after the tiles' numbers."""
        row, k = self._stability_row, H.shape[0]
        if row is not None and (done or self._tile_stability is None):
            self._tile_stability = stability_per_tile(row, H)
        stability = self._tile_stability if row is not None else None
        if stability is not None and len(stability) != k:
            stability = None
        notes = tile_notes(self.slots.cosine, stability, k)
        self.basis.set_notes(notes)
        self.basis.setToolTip(
            "Basis images (rows of H). Click a tile to see its top-weighted images; "
            "right-click to save it as PNG."
            + (
                "\nAfter a tile's number: · the matched cosine with the previous run's "
                "component in this tile; s its stability over restarts (1 = the same part "
                "every time)."
                if any(notes)
                else ""
            )
        )

    def set_stability(self, row) -> None:
        """Show the per-component stability of restarts (a RankRow at the run's k)."""
        self._stability_row, self._tile_stability = row, None
        if self._drawn is not None:
            self._show_tile_notes(self._drawn.state.H, done=True)

    def _is_initialisation(self, update) -> bool:
        return update.state.iteration == 0 and update.state.stop_reason is None

    def _draw_view(self, key: str, update) -> None:
        state = update.state
        if key == "weights":
            self.weights_view.set_weights(state.W, state.H.max(axis=1))
        elif key == "spectrum":
            if self._pixel is not None and self._pixel < state.H.shape[1]:
                self.spectrum_view.set_factors(state.W, state.H[:, self._pixel])
        elif key == "image":
            self.recon_view.set_factors(state.W, state.H, initial=self._is_initialisation(update))
        elif key == "loss":
            self.loss_view.set_progress(
                update.loss_history,
                state.iteration,
                update.max_iter,
                state.elapsed,
                state.stop_reason,
                update.paused,
                state.loss,
                rel_change=state.rel_change,
            )

    def _on_scale_changed(self, scaled: bool) -> None:
        self.recon_view.set_scaled(scaled)

    def _on_run_state(self, state: str) -> None:
        s, a = self.session, self.actions
        has_results = s.latest is not None
        self.params_panel.set_run_state(state, has_results)
        active = state in (RUNNING, PAUSED)
        a.run.setEnabled(self.params_panel.run_button.isEnabled())
        a.pause.setEnabled(active)
        a.pause.setText("&Resume" if state == PAUSED else "&Pause")
        a.stop.setEnabled(active)
        a.continue_.setEnabled(has_results and not active)
        a.export.setEnabled(has_results and state == FINISHED)

    def _on_run_started(self, _run_id: int) -> None:
        params = self.session.run_params
        self.slots.begin_run()
        if self.session.latest is None:  # a fresh run (a continuation keeps its curve)
            self._stability_row, self._tile_stability = self._pending_stability, None
            self._pending_stability = None
            self._redraw.cancel()
            self._drawn = None
            self.loss_view.clear()
            self.loss_view.status_label.setText(f"{INITIALISATION}…")
            if params is not None:
                self.loss_view.set_rule(params.tol, params.window)
        seed = self.session.run_params.seed if self.session.run_params else None
        self.statusBar().showMessage(f"Run started (seed {seed})", 8000)

    def _on_run_finished(self, reason: str) -> None:
        self._redraw.flush()
        self._on_run_state(self.session.run_state)
        latest, params = self.session.latest, self.session.run_params
        text = f"Run finished: {stop_text(reason)}"
        if (
            latest is not None
            and params is not None
            and not_converged(reason, latest.state.rel_change, params.tol)
        ):
            text += " — not converged; press Continue for more iterations"
        self.statusBar().showMessage(text, 15000)

    # -- selection ---------------------------------------------------------------
    def select_image(self, index: int) -> None:
        self._image = int(index)
        self.weights_view.set_selected_image(index)
        self.recon_view.set_selected_image(index)
        self.collection_panel.set_selected_image(index)

    def select_pixel(self, pixel: int) -> None:
        """Show one pixel's spectrum: X[:, pixel] (n_bands values, a strided read),
        its model W·h and the components' parts from the update on screen."""
        c = self.session.collection
        if c is None or c.channels != 1 or not 0 <= pixel < c.image_shape[0] * c.image_shape[1]:
            return  # a colour collection's images are photographs, not bands
        self._pixel = int(pixel)
        row, col = divmod(self._pixel, c.image_shape[1])
        self.spectrum_view.set_pixel(self._pixel, row, col, c.to_matrix()[:, self._pixel])
        state = self._drawn.state if self._drawn is not None else None
        if state is not None and state.W.shape[0] == c.n_images:
            self.spectrum_view.set_factors(state.W, state.H[:, self._pixel])
        else:
            self.spectrum_view.set_factors(None, None)

    def select_component(self, component: int) -> None:
        self._component = int(component)
        self.basis.set_selected(component)
        self.weights_view.set_selected_component(component)
        self.recon_view.set_selected_component(component)

    def set_colormap(self, name: str) -> None:
        self.basis.set_colormap(name)
        self.colormap_box.setCurrentText(name)
        self.actions.colormaps[name].setChecked(True)
        self.settings.setValue("colormap", name)

    # -- export ------------------------------------------------------------------
    def export_dialog(self) -> None:
        """Ask for a results folder; proposes a new one beside the input data (never
        the data folder itself: the next load would read the exported PNGs as data)."""
        c = self.session.collection
        k = self.session.run_params.n_components if self.session.run_params else None
        proposed = propose_export_dir(
            c.source if c is not None else (), k, self.recent.last_folder()
        )
        folder, _ = QFileDialog.getSaveFileName(
            self,
            "Export results to a new folder",
            str(proposed),
            "Folder (*)",
            options=QFileDialog.Option.DontConfirmOverwrite,
        )
        if not folder:
            return
        if c is not None and any(
            Path(folder).resolve() == Path(src).resolve() for src in c.source if Path(src).is_dir()
        ):
            self.show_error(
                "Export failed",
                f"{folder} holds the input images: the next load "
                "would read the exported PNGs as data. Choose a new folder.",
            )
            return
        self.export_to(folder)

    def export_to(self, folder) -> bool:
        try:
            order, extra = self.slots.export_order(self.session.latest)
            written = self.session.export(folder, order=order, extra=extra)
        except NMFViewerError as exc:
            self.show_error(
                "Export failed",
                f"{error_text(exc)}\n\nThe results are still here; export them to another folder.",
            )
            return False
        self.settings.setValue("lastExport", str(folder))
        self.statusBar().showMessage(f"Exported {len(written)} files to {folder}", 10000)
        return True

    def save_basis_dialog(self, component: int) -> None:
        path, _ = QFileDialog.getSaveFileName(
            self,
            f"Save basis image {component}",
            str(Path(self.recent.last_folder()) / f"basis_{component:02d}.png"),
            "PNG image (*.png)",
        )
        if path:
            self.save_basis_to(component, path)

    def save_basis_to(self, component: int, path) -> bool:
        try:
            saved = self.session.save_basis(self.slots.engine_index(component), path)
        except NMFViewerError as exc:
            self.show_error("Could not save the basis image", exc)
            return False
        self.statusBar().showMessage(f"Saved {saved}", 8000)
        return True

    # -- messages, drops, settings, close -------------------------------------------
    def show_error(self, title: str, error: str | BaseException, details: str = "") -> None:
        """Tell the user without blocking: a window-modal message box plus the status bar.

        error: an exception (our errors get their fix pointed at the widget that sets
        it, see dialogs.describe_error) or a message already worded.
        """
        message = error_text(error) if isinstance(error, BaseException) else str(error)
        self.messages.append(message)
        self.statusBar().showMessage(f"{title}: {message.splitlines()[0]}", 15000)
        if self.session.collection is None and title == "Could not load":
            self.collection_panel.set_message(message)
        open_message(self, title, message, details)

    def _about(self) -> None:
        from .. import __version__

        about(self, __version__)

    def dragEnterEvent(self, event) -> None:  # Qt API
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
            self.statusBar().showMessage("Drop to load as a new collection", 3000)

    dragMoveEvent = dragEnterEvent

    def dropEvent(self, event) -> None:  # Qt API
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            # load after the drop returns, so the drag source is not kept waiting
            QTimer.singleShot(0, lambda: self.open_paths(paths))

    def reset_layout(self, size: tuple[int, int] | None = None) -> None:
        """Docks back where they start; size: window size (None: fit to the screen)."""
        self.restoreState(self._default_state)
        default_layout(self, self.docks, size)
        hide_stale_tab_bars(self, self.docks)

    def _restore_settings(self) -> None:
        geometry = self.settings.value("geometry")
        state = self.settings.value("windowState")
        if geometry is not None:
            self.restoreGeometry(geometry)
        if state is not None:
            self.restoreState(state)
        cmap = str(self.settings.value("colormap", DEFAULT_COLORMAP))
        self.set_colormap(cmap if cmap in COLORMAPS else DEFAULT_COLORMAP)

    def closeEvent(self, event) -> None:  # Qt API
        if (
            self.ask_on_close
            and self.session.has_unsaved_results
            and not self.session.confirm(
                "Quit? The current results have not been exported and will be lost."
            )
        ):
            event.ignore()
            return
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("windowState", self.saveState())
        self.settings.sync()
        self.hide()
        if not self.session.shutdown(timeout_ms=30_000):
            # a solver step (e.g. the initial SVD of a huge matrix) cannot be interrupted:
            # wait for it rather than leave a thread behind
            print("nmfviewer: waiting for the solver to finish its current step…", file=sys.stderr)
            self.session.shutdown(timeout_ms=None)
        super().closeEvent(event)
