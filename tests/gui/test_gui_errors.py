"""Issue 5 in the window: every bad input shows the core's message (dialog, collection
panel or the parameter panel) and the window keeps working; a solver that raises
mid-run reaches the user as a message; an unwritable export folder keeps the results.

The bad inputs are the ones of tests/bad_input_cases.py (same builders, same expected
fragments), so the CLI and the window are held to the same words.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from PySide6.QtWidgets import QMessageBox

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bad_input_cases as bad  # tests/ is not a package

from nmfviewer.cli_options import build_fit_parser, load_options_from_args, params_from_args
from nmfviewer.core import LoadError, LoadOptions, NMFParams, ParameterError
from nmfviewer.gui.dialogs import describe_error, error_text
from nmfviewer.gui.main_window import OPEN_FILTER
from nmfviewer.gui.session import FINISHED, RUNNING, Session

#: cases of the command line's own parsing; in the window they are widgets (see below)
PARAM_CASES = {"k-zero", "tol-negative", "tol-negative-exponent", "max-iter-zero", "unknown-loss"}
LOAD_CASES = [c for c in bad.CASES if c.id not in PARAM_CASES and "cli-only" not in c.tags]
#: True once the workers hand the session the error object (then the window words the fix
#: from its fields); while they send text, only the fix of a refused *start* is checked
LOAD_ERRORS_CARRY_FIELDS = "QString,QString" not in str(Session.loadFailed)
Wait = Callable[[Callable[[], bool], int], None]


@dataclass
class Shown:
    """What the window showed for a case.

    kind: 'dialog' (load or start refused: a message box), 'inline' (the parameter
          panel's error, Run disabled) or 'loaded' (collection panel, maybe warnings).
    text: the dialog's / inline error's text, or the collection panel's warnings.
    """

    kind: str
    text: str
    panel: str = ""
    n_images: int | None = None
    dialog_visible: bool = False


def visible_dialogs(window) -> list[QMessageBox]:
    return [b for b in window.findChildren(QMessageBox) if b.isVisible()]


def close_dialogs(window) -> None:
    for box in visible_dialogs(window):
        box.done(0)


def drop(window, paths) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(
        QPointF(20, 20),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    window.dropEvent(event)


def show_case(window, case: bad.Case, root: Path, wait_until: Wait, use_drop=False) -> Shown:
    """Give the window the case's input the way a user would (a drop or File > Open,
    with the case's load options and parameters set) and report what it shows."""
    parser, _ = build_fit_parser()
    ns = parser.parse_intermixed_args(case.build(root))
    s = window.session
    s.load_options = load_options_from_args(ns)
    before = len(window.messages)
    old = s.collection
    if use_drop:
        drop(window, ns.paths)
        wait_until(lambda: s.loading or len(window.messages) > before, 5_000)
    else:
        assert window.open_paths(ns.paths)
    wait_until(
        lambda: not s.loading and (s.collection is not old or len(window.messages) > before), 20_000
    )
    panel = window.collection_panel.warnings.toPlainText()
    if len(window.messages) > before:  # refused while loading
        return Shown(
            "dialog",
            window.messages[-1],
            panel,
            dialog_visible=any(b.text() == window.messages[-1] for b in visible_dialogs(window)),
        )
    n = s.collection.n_images
    window.params_panel.set_params(replace(params_from_args(ns), max_iter=3))
    if not window.params_panel.is_valid:
        inline = window.params_panel.error_text
        assert not window.params_panel.run_button.isEnabled()
        assert not window.start_run()  # Run by shortcut anyway: refused with a dialog
        assert window.messages[-1] == inline
        return Shown(
            "inline",
            inline,
            panel,
            n,
            dialog_visible=any(b.text() == inline for b in visible_dialogs(window)),
        )
    assert window.start_run()
    wait_until(lambda: s.run_state == FINISHED, 20_000)
    return Shown("loaded", panel, panel, n)


def check_still_works(window, folder: Path, qtbot) -> None:
    """After a bad input: a good folder loads and a short run finishes."""
    s = window.session
    s.load_options = LoadOptions()
    with qtbot.waitSignal(s.collectionChanged, timeout=20_000):
        assert window.open_paths([folder])
    window.params_panel.set_params(NMFParams(n_components=2, max_iter=3, seed=0))
    with qtbot.waitSignal(s.runFinished, timeout=20_000) as finished:
        assert window.start_run()
    assert finished.args == ["max_iter"]
    assert window.basis.n_tiles == 2


@pytest.mark.parametrize("case", [bad.case_param(c) for c in LOAD_CASES])
def test_bad_input_in_the_window(case, window, tmp_path, qtbot):
    shown = show_case(
        window,
        case,
        tmp_path / "case",
        lambda cond, ms: qtbot.waitUntil(cond, timeout=ms),
        use_drop=case.id in ("non-images-folder", "empty-folder"),
    )
    if case.outcome == "refused":
        assert shown.kind in ("dialog", "inline"), shown
        gui_fix = case.gui_fix if shown.kind == "inline" or LOAD_ERRORS_CARRY_FIELDS else ()
        for fragment in (*case.expect, *gui_fix):
            assert fragment in shown.text, f"{fragment!r} not in {shown.text!r}"
        for fragment in case.cli_fix:  # the command line's words are not the window's
            assert fragment not in shown.text
        assert shown.dialog_visible or shown.kind == "inline"
        if shown.kind == "dialog":  # nothing was loaded before: the panel says it too
            assert shown.text in shown.panel
            assert window.session.collection is None
    else:
        assert shown.kind == "loaded", shown
        assert shown.n_images == case.n_images
        if case.expect:
            assert any(all(f in line for f in case.expect) for line in shown.text.splitlines())
            assert window.collection_panel.warnings.isVisible()
        else:
            assert shown.text == ""
    close_dialogs(window)
    check_still_works(window, bad.good_folder(tmp_path / "good"), qtbot)
    assert visible_dialogs(window) == []


def test_unreadable_file_in_the_window_without_root_override(tmp_path):
    """Root reads mode-000 files, so run the 'unreadable-permission' case of the window
    test in a pytest process that really lacks the permission (setpriv drops
    CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH)."""
    prefix = bad.drop_root_override()
    if prefix is None or prefix == ():
        pytest.skip("not root (the case runs in process) or no setpriv")
    test = f"{Path(__file__).name}::test_bad_input_in_the_window[unreadable-permission]"
    import os

    root = str(Path(__file__).resolve().parents[2])  # the package under test, not another
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    )
    proc = subprocess.run(
        [*prefix, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--basetemp", str(tmp_path / "base"), test],
        capture_output=True, text=True, timeout=120, cwd=Path(__file__).parent, env=env,
    )  # fmt: skip
    assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout + proc.stderr


def test_a_failed_load_keeps_the_collection_on_screen(window, tmp_path, qtbot):
    good = bad.good_folder(tmp_path / "good")
    with qtbot.waitSignal(window.session.collectionChanged, timeout=20_000):
        window.open_paths([good])
    kept = window.session.collection
    empty = tmp_path / "empty"
    empty.mkdir()
    with qtbot.waitSignal(window.session.loadFailed, timeout=20_000) as failed:
        drop(window, [empty])
    assert isinstance(failed.args[0], LoadError)  # the error object, not its text
    message = error_text(failed.args[0])
    assert "is empty" in message
    assert window.session.collection is kept
    assert window.collection_panel.model.rowCount() == kept.n_images
    assert any(b.text() == message for b in visible_dialogs(window))
    assert message.split(";")[0] in window.statusBar().currentMessage()


# --------------------------------------------------------------------------- parameters
@dataclass(frozen=True)
class ParamCase:
    id: str
    widget: str
    text: str
    expect: tuple[str, ...]  # in the inline error; () when the widget cannot hold the value


PARAM_WIDGET_CASES = [
    ParamCase("k-zero", "k", "0", ()),
    ParamCase("tol-negative", "tol", "-1", ("tol", "-1", ">= 0")),
    ParamCase("tol-negative-exponent", "tol", "-1e-4", ("tol", "-1e-4", ">= 0")),
    ParamCase("max-iter-zero", "max_iter", "0", ()),
    ParamCase("unknown-loss", "loss", "euclid", ()),
    ParamCase(
        "k-too-large",
        "k",
        "21",
        ("n_components (k)=21", "k must be <= 20", "Lower k", "Components k = 20 in the Run panel"),
    ),
    # numeric fields use the core's validation (issue 14)
    ParamCase("seed-2**32", "seed", str(2**32), ("seed='4294967296'", "0 to 4294967295")),
    ParamCase("seed-superscript", "seed", "²", ("seed='²'", "whole number")),
    ParamCase("seed-fullwidth", "seed", "１２", ("seed='１２'", "whole number")),
    ParamCase("seed-negative", "seed", "-3", ("seed='-3'",)),
    ParamCase("seed-typo", "seed", "12a", ("seed='12a'",)),
    ParamCase("tol-typo", "tol", "1e-6x", ("tol='1e-6x'", "number")),
]


def show_param_case(window, case: ParamCase) -> tuple[str, str]:
    """Type the case's value into its widget; returns (kind, text shown)."""
    panel = window.params_panel
    widget = getattr(panel, case.widget)
    if case.widget in ("k", "max_iter"):
        widget.clear()
        widget.lineEdit().setText(case.text)
        widget.interpretText()
        if str(widget.value()) != case.text:
            return "cannot be entered", (
                f"the {case.widget} box accepts {widget.minimum()} "
                f"… {widget.maximum()}; {case.text} cannot be typed"
            )
    elif case.widget == "loss":
        if widget.findData(case.text) < 0:
            names = ", ".join(widget.itemData(i) for i in range(widget.count()))
            return "cannot be entered", f"the loss is chosen from a list ({names})"
    else:
        widget.setText(case.text)
    return ("inline", panel.error_text) if not panel.is_valid else ("accepted", "")


@pytest.mark.parametrize("case", PARAM_WIDGET_CASES, ids=[c.id for c in PARAM_WIDGET_CASES])
def test_bad_parameters_in_the_window(case, window, image_dir, qtbot):
    s = window.session
    with qtbot.waitSignal(s.collectionChanged, timeout=20_000):
        window.open_paths([image_dir])  # 20 images of 16 x 16
    window.params_panel.set_params(NMFParams(n_components=2, max_iter=3, seed=0))
    kind, text = show_param_case(window, case)
    if case.expect:
        assert kind == "inline", text
        for fragment in case.expect:
            assert fragment in text
        assert not window.params_panel.run_button.isEnabled()
        assert not window.actions.run.isEnabled()
    else:
        assert kind == "cannot be entered", text
    # the window keeps working once the value is put right
    window.params_panel.set_params(NMFParams(n_components=2, max_iter=3, seed=0))
    assert window.params_panel.run_button.isEnabled()
    with qtbot.waitSignal(s.runFinished, timeout=20_000):
        assert window.start_run()


# --------------------------------------------------------------------------- faults
@pytest.mark.parametrize("fail_at", [0, 5], ids=["at-the-start", "mid-run"])
def test_an_exception_in_the_solver_reaches_the_user(
    fail_at, window, image_dir, qtbot, monkeypatch
):
    """The HALS solver itself raises (after ``fail_at`` iterations): the user gets a
    dialog with the error, the run state is sane and the next run works."""
    s = window.session
    with qtbot.waitSignal(s.collectionChanged, timeout=20_000):
        window.open_paths([image_dir])
    from nmfviewer.core import SOLVER_REGISTRY

    # every solver generator the engine dispatches to (the solver registry's iterate_*)
    solvers = [
        (importlib.import_module(f"nmfviewer.core.nmf.{info.module}"), info.function)
        for info in SOLVER_REGISTRY.values()
    ]
    assert solvers

    def exploding(real):
        def solver(*args, **kwargs):
            for i, state in enumerate(real(*args, **kwargs)):
                if i == fail_at:
                    raise FloatingPointError("solver exploded on purpose")
                yield state

        return solver

    for module, name in solvers:
        monkeypatch.setattr(module, name, exploding(getattr(module, name)))
    window.params_panel.set_params(
        NMFParams(n_components=3, max_iter=10_000, tol=0.0, window=10_000, seed=0)
    )
    with qtbot.waitSignal(s.runFailed, timeout=20_000) as failed:
        assert window.start_run()
    message = failed.args[0]
    assert "FloatingPointError: solver exploded on purpose" in message
    assert window.messages[-1] == message
    boxes = [b for b in visible_dialogs(window) if b.text() == message]
    assert boxes and "in solver" in boxes[0].detailedText()  # the traceback, for a bug report
    assert s.run_state != RUNNING
    qtbot.waitUntil(lambda: s.busy_threads == 0, timeout=10_000)
    assert window.params_panel.run_button.isEnabled()
    close_dialogs(window)

    monkeypatch.undo()
    window.params_panel.set_params(NMFParams(n_components=3, max_iter=5, seed=0))
    with qtbot.waitSignal(s.runFinished, timeout=20_000) as finished:
        assert window.start_run()
    assert finished.args == ["max_iter"] and s.latest.state.iteration == 5
    assert visible_dialogs(window) == []


def test_export_to_an_unwritable_folder_keeps_the_results(window, image_dir, tmp_path, qtbot):
    """/sys refuses new folders even to root: a real unwritable place."""
    s = window.session
    with qtbot.waitSignal(s.collectionChanged, timeout=20_000):
        window.open_paths([image_dir])
    window.params_panel.set_params(NMFParams(n_components=3, max_iter=5, seed=0))
    with qtbot.waitSignal(s.runFinished, timeout=20_000):
        assert window.start_run()
    H_state = np.array(s.latest.state.H)
    H = np.array(s.result().H)  # exports hold the result: components in energy order
    target = Path("/sys/nmfviewer-export-test")
    assert not window.export_to(target)
    assert str(target) in window.messages[-1] and "choose another folder" in window.messages[-1]
    assert any("not writable" in b.text() for b in visible_dialogs(window))
    assert s.has_unsaved_results and np.array_equal(s.latest.state.H, H_state)
    close_dialogs(window)
    assert window.export_to(tmp_path / "elsewhere")
    with np.load(tmp_path / "elsewhere" / "factors.npz") as z:
        np.testing.assert_array_equal(z["H"], H)


def test_an_exception_while_loading_reaches_the_user(window, image_dir, qtbot, monkeypatch):
    """A bug in the loader (forced: the value policy raises in a decoding thread) is a
    dialog with the traceback as details, not a dead window; the next load works."""
    from nmfviewer.core import collection as collection_module

    def broken(*args, **kwargs):
        raise ZeroDivisionError("policy bug on purpose")

    monkeypatch.setattr(collection_module, "apply_values", broken)
    with qtbot.waitSignal(window.session.loadFailed, timeout=20_000) as failed:
        assert window.open_paths([image_dir])
    assert "ZeroDivisionError: policy bug on purpose" in failed.args[0]
    boxes = [b for b in visible_dialogs(window) if b.text() == failed.args[0]]
    assert boxes and "broken" in boxes[0].detailedText()
    assert not window.session.loading and not window.load_progress.isVisible()
    close_dialogs(window)
    monkeypatch.undo()
    check_still_works(window, image_dir, qtbot)


@pytest.fixture
def full_disk(tmp_path):
    """A folder on a 16 KB tmpfs (root only; unmounted afterwards)."""
    import os
    import shutil

    small = tmp_path / "small"
    small.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("needs root to mount a small file system")
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(small)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield small
    finally:
        if subprocess.run(["umount", str(small)]).returncode != 0:
            subprocess.run(["umount", "-l", str(small)])


def test_export_to_a_full_disk_keeps_the_results(window, tmp_path, full_disk, qtbot):
    s = window.session
    faces = Path(__file__).resolve().parents[2] / "sample_images" / "faces"
    with qtbot.waitSignal(s.collectionChanged, timeout=20_000):
        window.open_paths([faces])
    window.params_panel.set_params(NMFParams(n_components=4, max_iter=5, seed=0))
    with qtbot.waitSignal(s.runFinished, timeout=20_000):
        assert window.start_run()
    H_state = np.array(s.latest.state.H)
    H = np.array(s.result().H)  # exports hold the result: components in energy order
    assert not window.export_to(full_disk / "out")
    assert "disk is full" in window.messages[-1]
    assert any("disk is full" in b.text() for b in visible_dialogs(window))
    assert list((full_disk / "out").iterdir()) == []  # no partial file, no temporary
    assert s.has_unsaved_results and np.array_equal(s.latest.state.H, H_state)
    close_dialogs(window)
    assert window.export_to(tmp_path / "elsewhere")
    with np.load(tmp_path / "elsewhere" / "factors.npz") as z:
        np.testing.assert_array_equal(z["H"], H)


def test_the_largest_seed_runs_in_the_window(window, image_dir, qtbot):
    s = window.session
    with qtbot.waitSignal(s.collectionChanged, timeout=20_000):
        window.open_paths([image_dir])
    window.params_panel.set_params(NMFParams(n_components=2, max_iter=3, seed=0))
    window.params_panel.seed.setText(str(2**32 - 1))
    assert window.params_panel.is_valid
    with qtbot.waitSignal(s.runFinished, timeout=20_000) as finished:
        assert window.start_run()
    assert finished.args == ["max_iter"] and s.run_params.seed == 2**32 - 1


# --------------------------------------------------------------------------- error wording
def test_describe_error_points_to_the_widget_from_the_fields():
    exc = LoadError(
        "images in x differ in size and size_policy is 'refuse'.",
        "x",
        field="size_policy",
        value="refuse",
        suggestion="resize",
        hint="Use {option} to resize them.",
    )
    text, hint = describe_error(exc)
    assert text == exc.message and "--" not in hint and "size_policy=" not in hint
    assert (
        hint == "Use File ▸ Load options… ▸ Mixed sizes ▸ “resize to the most common size” "
        "to resize them."
    )
    assert str(exc).endswith("Use size_policy='resize' to resize them.")  # the API's words
    exc = ParameterError(
        "n_components (k)=9 is too large.",
        field="n_components",
        value=9,
        suggestion=4,
        hint="Lower k to at most 4 ({option}).",
    )
    assert describe_error(exc)[1] == "Lower k to at most 4 (Components k = 4 in the Run panel)."
    exc.source = "run.json key 'params.n_components'"
    assert describe_error(exc) == (
        exc.message,
        "The value comes from run.json key 'params.n_components'.",
    )
    text, hint = describe_error(KeyError("typo"))
    assert "KeyError" in text and hint == ""


def test_show_error_renders_an_error_object(window):
    exc = LoadError(
        "minus.tif has negative values (min -0.5).",
        "minus.tif",
        field="negative",
        value="error",
        suggestion="clip",
        hint="Use {option} to clip them.",
    )
    window.show_error("Could not load", exc)
    message = window.messages[-1]
    assert message.startswith("minus.tif has negative values")
    assert "File ▸ Load options… ▸ Negative values ▸ “clip at zero”" in message
    assert "--negative" not in message and "negative='clip'" not in message
    assert any(b.text() == message for b in visible_dialogs(window))
    close_dialogs(window)


def test_the_open_files_filter_is_what_the_loader_reads():
    patterns = OPEN_FILTER.split(";;")[0]
    for suffix in (".png", ".tif", ".tiff", ".npy", ".pgm", ".ppm", ".jpg", ".bmp", ".gif"):
        assert f"*{suffix} " in patterns or f"*{suffix})" in patterns
    assert ".webp" not in OPEN_FILTER  # refused by the loader: not offered
