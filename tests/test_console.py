"""Issue 14: failing output streams never cost the results (real processes)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nmfviewer import _console
from nmfviewer._paths import sample_images_dir

ROOT = Path(__file__).resolve().parents[1]
FACES = sample_images_dir() / "faces"
EXPORTED = {"basis_00.png", "basis_01.png", "basis_montage.png", "loss.png", "weights.csv",
            "factors.npz", "run.json"}  # fmt: skip


def _fit(
    out: Path,
    *extra: str,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
    close_stdout: bool = False,
):
    cmd = [
        sys.executable,
        "-m",
        "nmfviewer",
        "fit",
        str(FACES),
        "-k",
        "2",
        "--max-iter",
        "20",
        "--seed",
        "0",
        "--out",
        str(out),
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "default"}
    with subprocess.Popen(cmd, stdout=stdout, stderr=stderr, env=env) as proc:
        if close_stdout:
            proc.stdout.close()  # the reader is gone before anything is written: `| head -0`
            err = proc.stderr.read() if proc.stderr else b""
            proc.wait(timeout=120)
            return proc.returncode, b"", err
        out_bytes, err = proc.communicate(timeout=120)
        return proc.returncode, out_bytes, err or b""


def test_stdout_closed_pipe_writes_results_and_exits_0_without_traceback(tmp_path):
    out = tmp_path / "out"
    code, _, err = _fit(out, close_stdout=True)
    assert code == 0, err
    assert b"Traceback" not in err and b"BrokenPipe" not in err and b"Exception" not in err
    assert set(os.listdir(out)) == EXPORTED


def test_stderr_on_a_full_disk_does_not_stop_the_run(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    out = tmp_path / "out"
    with open("/dev/full", "wb") as full:
        code, stdout, _ = _fit(out, stderr=full)
    assert code == 0
    assert stdout == os.fsencode(str(out)) + b"\n"
    assert set(os.listdir(out)) == EXPORTED


def test_both_streams_failing_still_exports(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    out = tmp_path / "out"
    with open("/dev/full", "wb") as full:
        code, _, _ = _fit(out, stdout=full, stderr=full)
    assert code == 0
    assert set(os.listdir(out)) == EXPORTED


def test_a_refused_run_keeps_exit_code_2_when_stderr_fails(tmp_path):
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with open("/dev/full", "wb") as full:
        code, _, _ = _fit(tmp_path / "out", "--loss", "euclid", stderr=full)
    assert code == 2 and not (tmp_path / "out").exists()


class _Failing(io.StringIO):
    def __init__(self, exc: Exception):
        super().__init__()
        self.exc = exc
        self.calls = 0

    def write(self, text):
        self.calls += 1
        raise self.exc


@pytest.mark.parametrize(
    "exc",
    [
        BrokenPipeError(32, "Broken pipe"),
        OSError(28, "No space"),
        OSError(5, "I/O error"),
        ValueError("closed file"),
    ],
)
def test_write_line_swallows_a_failing_stream_and_gives_it_up(exc):
    stream = _Failing(exc)
    assert _console.write_line(stream, "x") is False
    assert _console.write_line(stream, "y") is False
    assert stream.calls == 1  # given up after the first failure
    assert _console.result("/some/folder", stream) is False


@pytest.mark.parametrize("name, shown", [
    ("a\nb.png", "a\\nb.png"), ("tab\there", "tab\\there"), ("caf\udce9", "caf\\xe9"),
    ("esc\x1b[31mred", "esc\\x1b[31mred"), ("line\u2028sep", "line\\u2028sep"),
    ("bidi\u202egnp.exe", "bidi\\u202egnp.exe"),
])  # fmt: skip
def test_every_message_is_one_printable_line(name, shown):
    stream = io.StringIO()
    _console.warn(f"skipped {name}: broken", stream)
    _console.error(f"cannot read {name}", stream)
    lines = stream.getvalue().split("\n")
    assert lines == [
        f"nmfviewer: warning: skipped {shown}: broken",
        f"nmfviewer: error: cannot read {shown}",
        "",
    ]
