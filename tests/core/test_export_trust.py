"""Issue 14, lost results: names that are not UTF-8, formula names, files that are not
ours in the output folder, two exports into one folder at once, an empty output path."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nmfviewer.core import export as export_mod
from nmfviewer.core.collection import Collection, load_collection
from nmfviewer.core.errors import ExportError
from nmfviewer.core.export import export_run, read_manifest
from nmfviewer.core.names import csv_cell, decode_exact, encode_exact, printable
from nmfviewer.core.nmf.fit import FitResult
from nmfviewer.core.params import NMFParams

ROOT = Path(__file__).resolve().parents[2]
SHAPE = (6, 5)


def _images(folder: Path, names: list[str], seed: int = 0) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for name in names:
        path = folder / name
        Image.fromarray(rng.integers(20, 250, SHAPE, dtype=np.uint8)).save(path, format="PNG")
        paths.append(path)
    return paths


def _result(collection: Collection, k: int = 2, seed: int = 0) -> FitResult:
    r = np.random.default_rng(seed)
    n, (h, w) = collection.n_images, collection.image_shape
    return FitResult(W=r.random((n, k), dtype=np.float32), H=r.random((k, h * w),
                     dtype=np.float32), n_iter=1, loss=1.0, loss_history=np.array([2.0, 1.0]),
                     stop_reason="max_iter", elapsed=0.1, params=NMFParams(n_components=k,
                     seed=seed))  # fmt: skip


def _rows(out: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO((out / "weights.csv").read_text(encoding="utf-8"))))


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "default"}


# --------------------------------------------------------------------------- names
LATIN1 = [os.fsdecode(b) for b in (b"caf\xe9.png", b"\xc4rger \xfc.png", b"plain.png",
                                   b"na\xefve\xff.png")]  # fmt: skip


@pytest.mark.parametrize(
    "folder_bytes",
    [b"in", b"Ordner \xe9t\xe9", b"\xff\xfe"],
    ids=["ascii-folder", "latin1-folder", "invalid-folder"],
)
def test_non_utf8_names_round_trip_into_every_file(folder_bytes, tmp_path):
    folder = tmp_path / os.fsdecode(folder_bytes)
    _images(folder, LATIN1)
    collection = load_collection(folder)
    assert sorted(collection.names) == sorted(LATIN1)
    out = tmp_path / "out"
    export_run(out, collection, _result(collection))
    rows = _rows(out)  # valid UTF-8
    assert rows[0][-1] == "image_exact"
    assert [decode_exact(r[-1]) for r in rows[1:]] == list(collection.names)
    assert [r[0] for r in rows[1:]] == [printable(n) for n in collection.names]
    assert "caf\\xe9.png" in [r[0] for r in rows[1:]]  # readable: the byte shown as \xe9
    with np.load(out / "factors.npz", allow_pickle=False) as z:
        assert list(z["names"]) == list(collection.names)
    raw = json.loads((out / "run.json").read_bytes().decode("utf-8"))  # strict UTF-8 JSON
    assert [decode_exact(s) for s in raw["data"]["names_exact"]] == list(collection.names)
    manifest = read_manifest(out / "run.json")
    assert all(f.path.exists() for f in manifest.files)
    assert {f.path for f in manifest.files} == {folder.absolute() / n for n in LATIN1}
    assert manifest.paths == (folder.absolute(),)
    assert manifest.changed_inputs(collection.files) == []


def test_cli_fit_and_replay_with_latin1_names_in_real_processes(tmp_path):
    """The issue's case end to end: fit exports (no traceback), replay finds the files."""
    folder = tmp_path / os.fsdecode(b"Bilder \xe9t\xe9")
    _images(folder, [*LATIN1, os.fsdecode(b"line\nbreak \xe9.png")], seed=1)
    out = tmp_path / os.fsdecode(b"r\xe9sultats")
    cmd = [sys.executable, "-m", "nmfviewer", "fit"]
    proc = subprocess.run(
        [*cmd, folder, "-k", "2", "--max-iter", "5", "--out", out],
        check=False,
        capture_output=True,
        env=_env(),
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    assert b"Traceback" not in proc.stderr
    assert proc.stdout == os.fsencode(str(out)) + b"\n"  # the exact folder, as bytes
    assert {"weights.csv", "factors.npz", "run.json"} <= set(os.listdir(out))
    replay = tmp_path / "replay"
    proc = subprocess.run(
        [*cmd, "--replay", out / "run.json", "--out", replay],
        check=False,
        capture_output=True,
        env=_env(),
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    assert b"warning" not in proc.stderr  # every input found, none changed
    with np.load(out / "factors.npz") as a, np.load(replay / "factors.npz") as b:
        assert np.array_equal(a["W"], b["W"]) and np.array_equal(a["H"], b["H"])
        assert list(a["names"]) == list(b["names"])


@pytest.mark.parametrize(
    "name",
    [
        "=1+2.png",
        "+SUM(A1).png",
        "-2+3.png",
        "@cmd.png",
        "\tx.png",
        "\rcr.png",
        "'quoted.png",
        "=HYPERLINK(x).png",
    ],
)
def test_formula_names_are_neutralised_in_weights_csv_and_recoverable(name, tmp_path):
    folder = tmp_path / "in"
    _images(folder, [name, "a.png", "b.png"])
    collection = load_collection(folder)
    out = tmp_path / "out"
    export_run(out, collection, _result(collection))
    rows = _rows(out)
    cells = {r[0]: r for r in rows[1:]}
    cell = csv_cell(name)
    assert cell.startswith("'") and cell in cells
    for r in rows[1:]:  # no cell of the file starts a formula
        assert not any(c.startswith(("=", "+", "@", "\t", "\r")) for c in r)
        assert not r[0].startswith("-") and not r[-1].startswith("-")
    assert decode_exact(cells[cell][-1]) == name  # recoverable, and exact in the npz
    with np.load(out / "factors.npz") as z:
        assert name in list(z["names"])
    assert name in read_manifest(out / "run.json").raw["data"]["names"]


def test_plain_names_keep_the_plain_csv_layout(tmp_path):
    collection = load_collection(_images(tmp_path / "in", ["a.png", "b c.png", "é.png"])[0].parent)
    export_run(tmp_path / "out", collection, _result(collection))
    assert _rows(tmp_path / "out")[0] == ["image", "component_0", "component_1"]


def test_encode_exact_is_ascii_and_inverse():
    for name in [*LATIN1, "=x", "-y", "a b/c%d", "\udcff", "日本", "x\ny"]:
        text = encode_exact(name)
        assert text.isascii() and text[0] not in "=+-@\t\r"
        assert decode_exact(text) == name


# --------------------------------------------------------------------------- ownership
@pytest.fixture
def small(tmp_path):
    collection = load_collection(
        _images(tmp_path / "in", [f"img{i}.png" for i in range(5)])[0].parent
    )
    return collection


@pytest.mark.parametrize(
    "foreign", ["weights.csv", "run.json", "basis_01.png", "factors.npz", "basis_montage.png"]
)
def test_a_file_we_did_not_write_is_never_overwritten(foreign, small, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / foreign).write_bytes(b"the user's own file")
    with pytest.raises(
        ExportError,
        match=f"{foreign} in folder .* was not written by an "
        "nmfviewer export.*choose another folder",
    ):
        export_run(out, small, _result(small))
    assert (out / foreign).read_bytes() == b"the user's own file"
    assert sorted(os.listdir(out)) == [foreign]  # nothing else written, no lock left


def test_a_file_changed_since_our_export_is_not_ours_any_more(small, tmp_path):
    out = tmp_path / "out"
    export_run(out, small, _result(small))
    (out / "weights.csv").write_text("edited by hand\n", encoding="utf-8")
    with pytest.raises(ExportError, match=r"weights\.csv"):
        export_run(out, small, _result(small, seed=1))
    assert (out / "weights.csv").read_text(encoding="utf-8") == "edited by hand\n"


def test_a_link_in_place_of_our_file_is_refused(small, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    target = tmp_path / "elsewhere.csv"
    target.write_text("keep", encoding="utf-8")
    os.symlink(target, out / "weights.csv")
    with pytest.raises(ExportError, match=r"weights\.csv"):
        export_run(out, small, _result(small))
    assert os.path.islink(out / "weights.csv") and target.read_text(encoding="utf-8") == "keep"


def test_our_earlier_export_is_replaced_and_its_extra_basis_images_removed(small, tmp_path):
    out = tmp_path / "out"
    export_run(out, small, _result(small, k=4))
    export_run(out, small, _result(small, k=2, seed=1))
    assert sorted(os.listdir(out)) == sorted(["basis_00.png", "basis_01.png", "run.json",
                                              "basis_montage.png", "weights.csv",
                                              "factors.npz", "loss.png"])  # fmt: skip


def test_inputs_of_this_run_are_never_overwritten_or_removed(tmp_path):
    """The issue's case: the earlier results are the very inputs of this run."""
    out = tmp_path / "out"
    first = load_collection(_images(tmp_path / "in", [f"i{i}.png" for i in range(5)])[0].parent)
    export_run(out, first, _result(first, k=4))
    # a run on two of the earlier basis images (they are ours) and three other images
    inputs = [out / "basis_02.png", out / "basis_03.png", *sorted((tmp_path / "in").iterdir())[:3]]
    before = {p: p.read_bytes() for p in inputs[:2]}
    second = load_collection(inputs)
    export_run(out, second, _result(second, k=2, seed=5))  # writes basis_00, basis_01
    for p, data in before.items():  # stale by number, but inputs: kept, unchanged
        assert p.read_bytes() == data
    # an input in the way of a file to write is refused, and left alone
    third = load_collection([out / "basis_00.png", *inputs[2:]])
    kept = (out / "basis_00.png").read_bytes()
    with pytest.raises(ExportError, match=r"basis_00\.png in folder .* is an input of this run"):
        export_run(out, third, _result(third, k=2, seed=6))
    assert (out / "basis_00.png").read_bytes() == kept


@pytest.mark.parametrize("out_dir", ["", "   ", b""])
def test_an_empty_output_path_is_refused(out_dir, small, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ExportError, match="output folder is empty"):
        export_run(out_dir, small, _result(small))
    assert not any(p.name.startswith("basis") for p in tmp_path.iterdir())


def test_cli_out_empty_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    from nmfviewer import cli

    monkeypatch.chdir(tmp_path)
    _images(tmp_path / "in", ["a.png", "b.png", "c.png"])
    code = cli.main(["fit", str(tmp_path / "in"), "-k", "2", "--out", ""])
    err = capsys.readouterr().err
    assert code == 2 and "output folder is empty" in err and len(err.splitlines()) == 1
    assert sorted(os.listdir(tmp_path)) == ["in"]


# --------------------------------------------------------------------------- two exports at once
_EXPORTER = textwrap.dedent(
    """
    import sys, numpy as np
    from nmfviewer.core.collection import Collection
    from nmfviewer.core.export import export_run
    from nmfviewer.core.nmf.fit import FitResult
    from nmfviewer.core.params import NMFParams
    out, seed, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    n, h, w = 30, 40, 40
    coll = Collection.from_array(np.random.default_rng(seed).random((n, h, w), dtype=np.float32))
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    for r in range(rounds):
        k = 3 + (seed + r) % 4
        g = np.random.default_rng(seed * 100 + r)
        res = FitResult(W=g.random((n, k), dtype=np.float32),
                        H=g.random((k, h * w), dtype=np.float32), n_iter=1, loss=1.0,
                        loss_history=np.array([2.0, 1.0]), stop_reason="max_iter",
                        elapsed=0.1, params=NMFParams(n_components=k, seed=seed))
        export_run(out, coll, res)
    print("done", flush=True)
    """
)


def test_two_processes_exporting_into_one_folder_do_not_interfere(tmp_path):
    out = tmp_path / "shared"
    procs = [subprocess.Popen([sys.executable, "-c", _EXPORTER, str(out), str(seed), "8"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=_env())
             for seed in (1, 2)]  # fmt: skip
    try:
        for p in procs:
            assert p.stdout.readline() == "ready\n", p.stderr.read()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            p.kill()
            p.wait()
    for p, (stdout, stderr) in zip(procs, results, strict=True):
        assert p.returncode == 0, stderr
        assert stdout == "done\n"
    # the folder is one complete export: run.json lists exactly the files there
    manifest = read_manifest(out / "run.json")
    names = set(os.listdir(out))
    assert names == set(manifest.raw["outputs"]) | {"run.json"}
    from nmfviewer.core.manifest import sha256_file

    for name, digest in manifest.raw["outputs"].items():
        assert sha256_file(out / name) == digest


_HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from nmfviewer.core.export import folder_lock
    with folder_lock(Path(sys.argv[1])):
        print("locked", flush=True)
        sys.stdin.readline()
    """
)


def test_an_export_waits_for_the_lock_then_names_the_holder(small, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    with subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(out)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    ) as holder:
        assert holder.stdout.readline() == "locked\n"
        monkeypatch.setattr(export_mod, "LOCK_WAIT", 0.3)
        started = time.monotonic()
        with pytest.raises(
            ExportError,
            match=rf"another export into it is in progress "
            rf"\(process {holder.pid}\).*wait for it",
        ):
            export_run(out, small, _result(small))
        assert time.monotonic() - started >= 0.3
        assert sorted(os.listdir(out)) == [export_mod.LOCK_NAME]  # nothing of ours written
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.wait(timeout=30) == 0
    export_run(out, small, _result(small))  # released: now it goes through
    assert export_mod.LOCK_NAME not in os.listdir(out)


def test_a_lock_file_left_by_a_killed_export_does_not_block(small, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / export_mod.LOCK_NAME).write_text("999999999\n", encoding="ascii")
    export_run(out, small, _result(small))
    assert export_mod.LOCK_NAME not in os.listdir(out)


def test_only_temporaries_of_dead_processes_are_swept(small, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = out / f".weights.csv.{sleeper.pid}.abc_12.tmp"
        dead = out / ".basis_00.png.999999999.xyz.tmp"
        legacy = out / ".run.json.q1w2e3.tmp"
        journal = out / f".{export_mod.JOURNAL_NAME}.999999999.xyz.tmp"
        not_ours = out / ".notes.txt.999999999.xyz.tmp"
        for p in (live, dead, legacy, journal, not_ours):
            p.write_bytes(b"partial")
        export_run(out, small, _result(small))
        left = set(os.listdir(out))
        assert live.name in left and not_ours.name in left
        assert dead.name not in left and legacy.name not in left and journal.name not in left
    finally:
        sleeper.kill()
        sleeper.wait()
