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
        check_refused(code, captured.err, out, (*case.expect, *case.cli_fix))
    else:
        check_loaded(code, captured.err, captured.out, out, case.expect, case.n_images)
        if case.verify is not None:
            case.verify(out)


# --------------------------------------------------------------------------- real processes
def _subprocess(args: list[str], *, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    # what a user's shell has (no warning filters); the package next to tests/ is the one run
    root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONWARNINGS": "default", "PYTHONPATH": path}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "nmfviewer", "fit", *args],
        check=False, capture_output=True, text=True, timeout=120, env=env,
        cwd=Path(__file__).parent,
    )  # fmt: skip


_BY_ID = {c.id: c for c in CASES + REPLAY_CASES}


@pytest.mark.parametrize(
    "case_id",
    [
        "truncated-jpeg",
        "empty-folder",
        "memory-from-header",
        "k-too-large",
        "unknown-loss",
        "replay-fifo",
        "replay-nested",
        "replay-empty-result",
    ],
)
def test_python_m_nmfviewer_fit_exits_2_without_traceback(case_id, tmp_path):
    case = _BY_ID[case_id]
    args = case.build(tmp_path)
    out = tmp_path / "out"
    fast = [] if "--replay" in args else FAST
    proc = _subprocess([*args, *fast, "--out", str(out)])
    check_refused(proc.returncode, proc.stderr, out, (*case.expect, *case.cli_fix))
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
    proc = _subprocess(
        [str(target), "-k", "2" if not alone else "1", *FAST, "--out", str(out)], prefix=prefix
    )
    if alone:
        check_refused(
            proc.returncode,
            proc.stderr,
            out,
            ("locked.png", "Permission denied", "choose other ones"),
        )
    else:
        check_loaded(
            proc.returncode,
            proc.stderr,
            proc.stdout,
            out,
            ("skipped locked.png", "Permission denied"),
            6,
        )


def test_huge_image_header_gives_one_line_not_a_library_warning(tmp_path):
    """A 10000 x 10000 image (above Pillow's 89 M pixel 'decompression bomb' warning
    limit) refused for memory: one line, not Pillow's warning text as well."""
    folder = good_folder(tmp_path / "in", n=3)
    header_only_png(folder / "slide scan.png", 10_000, 10_000)
    out = tmp_path / "out"
    proc = _subprocess([str(folder), "-k", "2", *FAST, "--max-memory", "100M", "--out", str(out)])
    check_refused(proc.returncode, proc.stderr, out, ("--max-memory",))


@pytest.mark.parametrize("args, expect", [
    (["--time-budget", "0"], ("--time-budget: time_budget=0", "or no limit")),
    (["--seed", "-5"], ("argument --seed", "'-5' is not a seed", "or 'random'")),
    (["--alpha-W", "-1e-3"], ("--alpha-W: alpha_W=-0.001", ">= 0")),
    (["--l1-ratio", "2"], ("--l1-ratio: l1_ratio=2.0", "between 0 and 1")),
    (["--solver", "hals", "--loss", "kl"], ("--solver: solver 'hals'", "Use --solver mu")),
    (["--workers", "0"], ("--workers: workers=0", ">= 1")),
])  # fmt: skip
def test_parameter_errors_name_the_option_typed(args, expect, tmp_path, capsys):
    """The core's ParameterError carries the field; the command line leads with the
    option typed and spells the fix as an option, never in Python."""
    out = tmp_path / "out"
    code = cli.main(["fit", str(good_folder(tmp_path / "in")), "-k", "2", *args, "--out", str(out)])
    line = check_refused(code, capsys.readouterr().err, out, expect)
    assert "='" not in line  # no Python spelling of the fix


def test_a_file_named_like_an_option(tmp_path, capsys, monkeypatch):
    """'-scan.png' is refused as an unknown option with a hint, and loads after '--'
    (or as ./-scan.png)."""
    monkeypatch.chdir(tmp_path)
    good_folder(tmp_path / "in")
    (tmp_path / "-scan.png").write_bytes(png_bytes(pixels(1)[0]))
    out = tmp_path / "out"
    code = cli.main(["fit", "-k", "1", "--out", str(out), "-scan.png"])
    check_refused(
        code,
        capsys.readouterr().err,
        out,
        ("unrecognized arguments: -scan.png", "./NAME", "after '--'"),
    )
    for args in (["--", "-scan.png", "in"], ["./-scan.png", "in"]):
        code = cli.main(["fit", "-k", "1", *FAST, "--out", str(out), *args])
        captured = capsys.readouterr()
        check_loaded(code, captured.err, captured.out, out, (), 7)


def test_replay_values_are_said_to_come_from_run_json(tmp_path, capsys):
    """A replay cannot change k: a k the data no longer allows is reported with the
    run.json key it came from, and no 'Lower k' / '-k' fix is offered."""
    folder = good_folder(tmp_path / "in")
    out = tmp_path / "out"
    assert cli.main(["fit", str(folder), "-k", "5", *FAST, "--out", str(out), "-q"]) == 0
    for extra in sorted(folder.glob("*.png"))[:2]:
        extra.unlink()  # 4 images left: k = 5 no longer fits
    again = tmp_path / "again"
    code = cli.main(["fit", "--replay", str(out / "run.json"), "--out", str(again)])
    err = [ln for ln in capsys.readouterr().err.splitlines() if "warning" not in ln]
    assert code == 2 and len(err) == 1 and err[0].startswith("nmfviewer: error: ")
    line = err[0]
    assert "n_components (k)=5" in line and "k must be <= 4" in line
    assert f"{out / 'run.json'} key 'params.n_components'" in line
    assert "Lower k" not in line and "-k" not in line.replace("run.json", "")
    assert not again.exists()
