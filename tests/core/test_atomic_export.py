"""Exports survive SIGKILL at random moments: complete files or none, never half a file.

A helper process imports nmfviewer once and then, per trial, forks a child that
exports results over and over (alternately into a fresh folder and into one
shared folder). The test kills the child with SIGKILL after a random delay and
checks the folders:

- every final file (not dot-prefixed) decodes completely: PNGs, CSV, NPZ, JSON;
- the only other files are export_run's hidden temporaries ``.NAME.XXXX.tmp``;
- a fresh folder holding run.json holds every file it lists, with the same sha256
  (run.json is renamed last);
- the next export into a folder removes the temporaries a killed one left.

(tests/core/test_export.py kills at chosen points; this one at random points.)
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nmfviewer.core.collection import Collection
from nmfviewer.core.export import export_run, read_manifest
from nmfviewer.core.nmf.fit import FitResult
from nmfviewer.core.params import NMFParams

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")

N, H_, W_, K = 40, 96, 96, 12
TRIALS = 20
FINAL = {f"basis_{j:02d}.png" for j in range(K)} | {
    "basis_montage.png",
    "loss.png",
    "weights.csv",
    "factors.npz",
    "run.json",
}
_TEMP = re.compile(
    r"^\.(basis_\d+\.png|basis_montage\.png|loss\.png|weights\.csv|factors\.npz|run\.json"
    r"|\.nmfviewer-export\.json)\..+\.tmp$"
)

_HELPER = textwrap.dedent(
    f"""
    import os, sys
    import numpy as np
    from nmfviewer.core.collection import Collection
    from nmfviewer.core.export import export_run
    from nmfviewer.core.nmf.fit import FitResult
    from nmfviewer.core.params import NMFParams

    n, h, w, k = {N}, {H_}, {W_}, {K}
    coll = Collection.from_array(np.random.default_rng(0).random((n, h, w), dtype=np.float32))

    def result(gen):
        r = np.random.default_rng(gen)
        return FitResult(W=r.random((n, k), dtype=np.float32),
                         H=r.random((k, h * w), dtype=np.float32), n_iter=1, loss=1.0 + gen,
                         loss_history=np.array([2.0 + gen, 1.0 + gen]), stop_reason="max_iter",
                         elapsed=0.1, params=NMFParams(n_components=k, seed=gen))

    results = [result(g) for g in range(4)]
    print("ready", flush=True)
    for line in sys.stdin:
        root = line.strip()
        pid = os.fork()
        if pid == 0:  # the exporting child, killed by the test
            try:
                i = 0
                while True:
                    name = f"fresh_{{i:03d}}" if i % 2 == 0 else "shared"
                    export_run(os.path.join(root, name), coll, results[i % 4])
                    i += 1
            finally:
                os._exit(3)
        print(pid, flush=True)
        _, status = os.waitpid(pid, 0)
        print(os.WTERMSIG(status) if os.WIFSIGNALED(status) else -1, flush=True)
    """
)


@pytest.fixture
def helper():
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", _HELPER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout.readline() == "ready\n"
        yield proc
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
        proc.stdout.close()


def _check_final_file(path: Path) -> None:
    """Decode the whole file; any truncation raises."""
    name = path.name
    if name.endswith(".png"):
        with Image.open(path) as im:
            im.load()
            size = im.size
        assert (
            size == (W_, H_)
            if name.startswith("basis_") and name != "basis_montage.png"
            else min(size) > 0
        )
    elif name == "weights.csv":
        rows = list(csv.reader(io.StringIO(path.read_text(encoding="utf-8"))))
        assert len(rows) == N + 1 and all(len(r) == K + 1 for r in rows)
        np.array([[float(v) for v in r[1:]] for r in rows[1:]])
    elif name == "factors.npz":
        with np.load(path, allow_pickle=False) as z:
            assert z["W"].shape == (N, K) and z["H"].shape == (K, H_ * W_)
            for key in z.files:
                z[key]  # reads (and CRC-checks) every member
    elif name == "run.json":
        json.loads(path.read_text(encoding="utf-8"))
        read_manifest(path)
    else:
        raise AssertionError(f"unexpected file {path}")


def _check_folder(folder: Path, fresh: bool) -> tuple[int, bool]:
    """Check one export folder; returns (temporaries left, a partial set of final files)."""
    temps = 0
    finals = set()
    for entry in folder.iterdir():
        if entry.name == ".nmfviewer-export.lock":
            continue  # its holder was killed: the kernel released the lock
        if entry.name == ".nmfviewer-export.json":  # killed while renaming: complete too
            assert json.loads(entry.read_text(encoding="ascii"))["files"]
            continue
        if entry.name.startswith("."):
            assert _TEMP.match(entry.name), f"unexpected hidden file {entry}"
            temps += 1
        else:
            assert entry.name in FINAL, f"unexpected file {entry}"
            _check_final_file(entry)
            finals.add(entry.name)
    if fresh and "run.json" in finals:
        # run.json is renamed last: everything it lists is there, and is what it lists
        outputs = json.loads((folder / "run.json").read_text(encoding="utf-8"))["outputs"]
        assert set(outputs) == FINAL - {"run.json"}
        for name, digest in outputs.items():
            assert hashlib.sha256((folder / name).read_bytes()).hexdigest() == digest, name
    return temps, bool(finals) and finals != FINAL


def test_sigkill_at_random_moments_leaves_complete_files_or_none(helper, tmp_path):
    rng = np.random.default_rng(2024)
    killed_mid_write = partial_sets = folders = 0
    with_temps: list[Path] = []
    for trial in range(TRIALS):
        root = tmp_path / f"trial_{trial:02d}"
        root.mkdir()
        helper.stdin.write(f"{root}\n")
        helper.stdin.flush()
        pid = int(helper.stdout.readline())
        time.sleep(float(rng.uniform(0.01, 0.35)))
        os.kill(pid, signal.SIGKILL)
        assert int(helper.stdout.readline()) == signal.SIGKILL  # killed, not finished
        for folder in sorted(root.iterdir()):
            temps, partial = _check_folder(folder, fresh=folder.name.startswith("fresh_"))
            folders += 1
            killed_mid_write += temps > 0
            partial_sets += partial
            if temps:
                with_temps.append(folder)
    print(
        f"{TRIALS} kills, {folders} folders checked, {killed_mid_write} with temporaries "
        f"(killed while staging), {partial_sets} with a partial set (killed while renaming)"
    )
    # the kills really landed inside exports, not only between them
    assert killed_mid_write >= 3

    # stale temporaries are not left for ever: the next export into the folder removes them
    folder = with_temps[0]
    coll = Collection.from_array(np.random.default_rng(0).random((N, H_, W_), dtype=np.float32))
    r = np.random.default_rng(9)
    result = FitResult(
        W=r.random((N, K), dtype=np.float32),
        H=r.random((K, H_ * W_), dtype=np.float32),
        n_iter=1,
        loss=1.0,
        loss_history=np.array([2.0, 1.0]),
        stop_reason="max_iter",
        elapsed=0.1,
        params=NMFParams(n_components=K, seed=9),
    )
    export_run(folder, coll, result)
    assert _check_folder(folder, fresh=True) == (0, False)
    assert sorted(p.name for p in folder.iterdir()) == sorted(FINAL)


def test_cli_export_to_a_full_disk_reports_it_and_leaves_nothing(tmp_path):
    """A real full disk: a 16 KB tmpfs in a private mount namespace (unshare -m), so
    nothing outside this one command sees the mount. ``nmfviewer fit`` exits 2 with one
    line saying the disk is full, and leaves no file, whole or partial, behind."""
    import shutil

    unshare = shutil.which("unshare")
    if unshare is None or os.geteuid() != 0:
        pytest.skip("needs root and unshare to mount a small file system")
    folder = Path(__file__).resolve().parents[2] / "sample_images" / "faces"
    small = tmp_path / "small"
    small.mkdir()
    script = (
        f'mount -t tmpfs -o size=16k tmpfs "{small}" || exit 97; '
        f'"{sys.executable}" -m nmfviewer fit "{folder}" -k 4 --max-iter 5 -q '
        f'--out "{small}/out"; code=$?; echo "exit $code"; ls -A "{small}/out"'
    )
    proc = subprocess.run(
        [unshare, "-m", "sh", "-c", script], capture_output=True, text=True, timeout=120
    )
    if proc.returncode == 97:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nmfviewer: error: "), proc.stderr
    assert "disk is full" in lines[0] and f"{small}/out" in lines[0]
    assert "free some space or choose another folder" in lines[0]
    assert proc.stdout.splitlines() == ["exit 2"]  # and `ls -A out` listed nothing
