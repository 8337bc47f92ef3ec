"""Every bad input of issue 5, end to end through ``nmfviewer fit``.

Each case of :mod:`bad_input_cases` builds its input in a fresh folder and runs the
command line in process (``nmfviewer.cli.main``); a few run as real
``python -m nmfviewer`` subprocesses to prove there is no traceback and the exit code
is 2, and the permission cases run in a process that really lacks the permission.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from bad_input_cases import (
    CASES,
    FAST,
    REPLAY_CASES,
    Case,
    case_param,
    check_loaded,
    check_refused,
    drop_root_override,
    good_folder,
    header_only_png,
    pixels,
    png_bytes,
    run_case,
)

from nmfviewer import cli


@pytest.mark.parametrize("case", [case_param(c) for c in CASES + REPLAY_CASES])
def test_bad_input_case(case: Case, tmp_path, capsys):
    code, out = run_case(case, tmp_path)
    captured = capsys.readouterr()
    if case.outcome == "refused":
        check_refused(code, captured.err, out, case.expect)
    else:
        check_loaded(code, captured.err, captured.out, out, case.expect, case.n_images)
        if case.verify is not None:
            case.verify(out)


# --------------------------------------------------------------------------- real processes
def _subprocess(args: list[str], *, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    # what a user's shell has: no warning filters; and this checkout's nmfviewer
    env = {**os.environ, "PYTHONWARNINGS": "default",
           "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "nmfviewer", "fit", *args],
        check=False, capture_output=True, text=True, timeout=120, env=env, cwd=Path(__file__).parent,
    )  # fmt: skip


_BY_ID = {c.id: c for c in CASES + REPLAY_CASES}


@pytest.mark.parametrize("case_id", ["truncated-jpeg", "empty-folder", "memory-from-header",
                                     "k-too-large", "unknown-loss", "replay-fifo",
                                     "replay-nested", "replay-empty-result"])
def test_python_m_nmfviewer_fit_exits_2_without_traceback(case_id, tmp_path):
    case = _BY_ID[case_id]
    args = case.build(tmp_path)
    out = tmp_path / "out"
    fast = [] if "--replay" in args else FAST
    proc = _subprocess([*args, *fast, "--out", str(out)])
    check_refused(proc.returncode, proc.stderr, out, case.expect)
    assert proc.stdout == ""


@pytest.mark.parametrize("alone", [True, False], ids=["alone", "in-folder"])
def test_unreadable_file_really_without_permission(alone, tmp_path):
    """A file with mode 000 read by a process that really lacks the permission."""
    prefix = drop_root_override()
    if prefix is None:
        pytest.skip("running as root without setpriv: cannot take read permission away")
    folder = tmp_path / "in"
    if not alone:
        good_folder(folder)
    folder.mkdir(exist_ok=True)
    locked = folder / "locked.png"
    locked.write_bytes(png_bytes(pixels(1)[0]))
    locked.chmod(0)
    out = tmp_path / "out"
    target = locked if alone else folder
    proc = _subprocess([str(target), "-k", "2" if not alone else "1", *FAST, "--out", str(out)],
                       prefix=prefix)
    if alone:
        check_refused(proc.returncode, proc.stderr, out,
                      ("locked.png", "Permission denied", "choose other ones"))
    else:
        check_loaded(proc.returncode, proc.stderr, proc.stdout, out,
                     ("skipped locked.png", "Permission denied"), 6)


def test_huge_image_header_gives_one_line_not_a_library_warning(tmp_path):
    """A 10000 x 10000 image (above Pillow's 89 M pixel 'decompression bomb' warning
    limit) refused for memory: one line, not Pillow's warning text as well."""
    folder = good_folder(tmp_path / "in", n=3)
    header_only_png(folder / "slide scan.png", 10_000, 10_000)
    out = tmp_path / "out"
    proc = _subprocess([str(folder), "-k", "2", *FAST, "--max-memory", "100M", "--out", str(out)])
    check_refused(proc.returncode, proc.stderr, out, ("--max-memory",))



@pytest.mark.parametrize("args, expect", [
    (["--time-budget", "0"], ("--time-budget: time_budget=0", "leave the option out")),
    (["--seed", "-5"], ("--seed: seed=-5", "or 'random'")),
    (["--alpha-W", "-1e-3"], ("--alpha-W: alpha_W=-0.001", ">= 0")),
    (["--max-memory", "0"], ("--max-memory: max_memory_bytes=0", ">= 1")),
])  # fmt: skip
def test_parameter_errors_name_the_option_typed(args, expect, tmp_path, capsys):
    """Beyond issue 5's list: the core's parameter messages, prefixed with the option."""
    out = tmp_path / "out"
    code = cli.main(["fit", str(good_folder(tmp_path / "in")), "-k", "2", *args,
                     "--out", str(out)])
    check_refused(code, capsys.readouterr().err, out, expect)
