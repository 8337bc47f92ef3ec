"""Errors carry their field, value, suggestion, path and source; the core's messages name
options by their Python names only, and each front end spells the fix its own way."""

from __future__ import annotations

import ast
import pickle
import re
from pathlib import Path

import numpy as np
import pytest

from nmfviewer.cli_options import render_error
from nmfviewer.core import (
    LoadError,
    LoadOptions,
    MemoryLimitError,
    NMFParams,
    NMFViewerError,
    ParameterError,
    fit,
    load_collection,
)

CORE = Path(__file__).resolve().parents[2] / "nmfviewer" / "core"
_FLAG = re.compile(r"(^|[\s(])--?[a-z]")


def test_the_attributes_and_the_three_spellings():
    exc = LoadError(
        "images in x differ in size and size_policy is 'refuse'.",
        "x",
        field="size_policy",
        value="refuse",
        suggestion="resize",
        hint="Use {option} to resize them.",
    )
    assert (exc.field, exc.value, exc.suggestion, exc.path, exc.source) == (
        "size_policy",
        "refuse",
        "resize",
        Path("x"),
        None,
    )
    assert str(exc) == exc.message + " Use size_policy='resize' to resize them."
    assert render_error(exc) == exc.message + " Use --size-policy resize to resize them."
    exc.source = "run.json key 'load_options.size_policy'"
    assert render_error(exc) == exc.message + (
        " The value comes from run.json key 'load_options.size_policy'."
    )


def test_a_parameter_error_is_led_by_the_option_typed():
    with pytest.raises(ParameterError) as info:
        NMFParams(n_components=2, tol=-1)
    exc = info.value
    assert (exc.field, exc.value) == ("tol", -1) and isinstance(exc, ValueError)
    assert render_error(exc) == "--tol: tol=-1 must be a finite number >= 0."
    with pytest.raises(ParameterError) as info:
        NMFParams(n_components=2, loss="kl", solver="hals")
    assert render_error(info.value).endswith("Use --solver mu for 'kl' or 'is'.")
    assert str(info.value).endswith("Use solver='mu' for 'kl' or 'is'.")


def test_errors_survive_pickling_with_their_fields():
    exc = MemoryLimitError(
        "too big.", "/data", field="max_memory_bytes", value=10, hint="Raise the limit ({option})."
    )
    again = pickle.loads(pickle.dumps(exc))
    assert type(again) is MemoryLimitError and again.__dict__ == exc.__dict__
    assert str(again) == str(exc) == "too big. Raise the limit (max_memory_bytes)."


@pytest.mark.parametrize("options, field, suggestion", [
    (LoadOptions(negative="error"), "negative", "clip"),
    (LoadOptions(nonfinite="error"), "nonfinite", "zero"),
])  # fmt: skip
def test_load_errors_carry_the_option_that_fixes_them(options, field, suggestion, tmp_path):
    import tifffile

    a = np.ones((4, 4), np.float32)
    a[1, 1] = -1 if field == "negative" else np.nan
    tifffile.imwrite(tmp_path / "bad.tif", a)
    with pytest.raises(LoadError) as info:
        load_collection([tmp_path / "bad.tif"], options)
    exc = info.value
    assert (exc.field, exc.suggestion, exc.path.name) == (field, suggestion, "bad.tif")
    assert "--" not in str(exc)


def test_fit_names_the_fields_of_bad_data():
    with pytest.raises(ParameterError) as info:
        fit(-np.ones((3, 4), np.float32), NMFParams(n_components=1))
    assert (info.value.field, info.value.suggestion) == ("negative", "clip")
    assert "LoadOptions(" not in str(info.value)
    with pytest.raises(ParameterError) as info:
        fit(np.full((3, 4), 1e30, np.float32), NMFParams(n_components=1))
    assert (info.value.field, info.value.suggestion) == ("normalize", "max")
    assert render_error(info.value).endswith(
        "rescale the data (--normalize max) or compute in float64."
    )


def _raised_texts(path: Path) -> list[str]:
    """The string pieces of every error raised in a module."""
    texts = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Raise) and node.exc is not None:
            for inner in ast.walk(node.exc):
                if isinstance(inner, ast.Constant) and isinstance(inner.value, str):
                    texts.append(inner.value)
    return texts


def test_core_messages_never_spell_a_command_line_flag():
    offenders = [
        f"{path.relative_to(CORE)}: {text!r}"
        for path in CORE.rglob("*.py")
        for text in _raised_texts(path)
        if _FLAG.search(text) or "LoadOptions(" in text
    ]
    assert offenders == []


def test_every_error_is_an_nmfviewer_error():
    for cls in (LoadError, MemoryLimitError, ParameterError):
        assert issubclass(cls, NMFViewerError)
