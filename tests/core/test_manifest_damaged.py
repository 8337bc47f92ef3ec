"""Issue 14: a damaged or tampered run.json is refused in one clear line naming the key,
never a traceback, never a hang, never an unbounded read."""

from __future__ import annotations

import copy
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from nmfviewer import cli
from nmfviewer.core.collection import load_collection
from nmfviewer.core.errors import NMFViewerError
from nmfviewer.core.export import export_run
from nmfviewer.core.manifest import MAX_MANIFEST_BYTES, ManifestError, RunManifest, read_manifest
from nmfviewer.core.nmf.fit import FitResult
from nmfviewer.core.params import NMFParams


@pytest.fixture(scope="module")
def valid(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("valid")
    folder = root / "in"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(10, 250, (5, 4), dtype=np.uint8)).save(folder / f"{i}.png")
    coll = load_collection(folder)
    res = FitResult(W=rng.random((4, 2), dtype=np.float32), H=rng.random((2, 20),
                    dtype=np.float32), n_iter=3, loss=1.0, loss_history=np.array([3., 2., 1.5,
                    1.]), stop_reason="max_iter", elapsed=0.1, params=NMFParams(
                    n_components=2, seed=1, max_iter=3))  # fmt: skip
    export_run(root / "out", coll, res)
    return json.loads((root / "out" / "run.json").read_text(encoding="utf-8"))


def _write(tmp_path: Path, doc) -> Path:
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def _set(doc: dict, dotted: str, value) -> dict:
    doc = copy.deepcopy(doc)
    *parents, last = dotted.split(".")
    target = doc
    for key in parents:
        target = target[int(key)] if isinstance(target, list) else target[key]
    if value is _DELETE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return doc


_DELETE = object()

DAMAGES = [
    ("params.max_iter", "abc", "params.max_iter"),
    ("params.max_iter", 2.5, "params.max_iter"),
    ("params.seed", True, "params.seed"),
    ("params.seed", -3, "params.seed"),
    ("params.tol", "1e-4", "params.tol"),
    ("params.loss", "euclid", "params.loss"),
    ("params.n_components", _DELETE, "params.n_components"),
    ("params.n_components", [2], "params.n_components"),
    ("params.bogus", 1, "params.bogus"),
    ("params", [], "'params'"),
    ("params", None, "'params'"),
    ("load_options.recursive", "yes", "load_options.recursive"),
    ("load_options.color", "sepia", "load_options.color"),
    ("load_options.max_memory_bytes", -5, "load_options.max_memory_bytes"),
    ("load_options", "none", "'load_options'"),
    ("result", {}, "result.n_iter"),
    ("result", [], "'result'"),
    ("result", None, "'result'"),
    ("result", _DELETE, "'result'"),
    ("result.n_iter", -1, "result.n_iter"),
    ("result.n_iter", "3", "result.n_iter"),
    ("result.n_iter", 1e300, "result.n_iter"),
    ("result.stop_reason", 7, "result.stop_reason"),
    ("result.loss_history", "lots", "result.loss_history"),
    ("result.loss_history", [1.0, {"x": 1}], "result.loss_history[1]"),
    ("inputs", _DELETE, "'inputs'"),
    ("inputs.source", "/tmp", "inputs.source"),
    ("inputs.source", [3], "inputs.source[0]"),
    ("inputs.source_exact", ["%ZZ\u00e9"], "inputs.source_exact"),
    ("inputs.files", {}, "inputs.files"),
    ("inputs.files.0", "x.png", "inputs.files[0]"),
    ("inputs.files.0.path", None, "inputs.files[0].path"),
    ("inputs.files.0.size", -1, "inputs.files[0].size"),
    ("inputs.files.0.sha256", "zz", "inputs.files[0].sha256"),
    ("export", None, "'export'"),
    ("export.bit_depth", "8", "export.bit_depth"),
    ("export.bit_depth", 12, "export.bit_depth"),
    ("export.bit_depth", None, "export.bit_depth"),
    ("format_version", "1", "format_version"),
    ("format_version", 0, "format_version"),
    ("data", 5, "'data'"),
]


@pytest.mark.parametrize(
    "key, value, named", DAMAGES, ids=[f"{k}={v!r}"[:40] for k, v, _ in DAMAGES]
)
def test_a_damaged_key_is_refused_naming_it(key, value, named, valid, tmp_path):
    path = _write(tmp_path, _set(valid, key, value))
    with pytest.raises(ManifestError) as info:
        read_manifest(path)
    message = str(info.value)
    assert named in message and "run.json" in message
    assert "\n" not in message


@pytest.mark.parametrize("key, value, named", DAMAGES[:6] + DAMAGES[15:18] + DAMAGES[34:38])
def test_cli_replay_of_a_damaged_manifest_is_one_line_exit_2(
    key, value, named, valid, tmp_path, capsys
):
    path = _write(tmp_path, _set(valid, key, value))
    out = tmp_path / "out"
    code = cli.main(["fit", "--replay", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith("nmfviewer: error: ")
    assert named in err and not out.exists()


@pytest.mark.parametrize("content, expect", [
    (b"", "not valid JSON"),
    (b"{", "not valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[1, 2]", "not an nmfviewer run manifest"),
    (b"null", "not an nmfviewer run manifest"),
    (b"[" * 200_000 + b"]" * 200_000, "nested far too deeply"),
    (b'{"format": "nmfviewer-run", "format_version": ' + b"9" * 5000 + b"}", "not valid JSON"),
    (b'{"format": "nmfviewer-run", "format_version": 99}', "newer than this"),
])  # fmt: skip
def test_not_a_manifest_is_one_clear_error(content, expect, tmp_path):
    path = tmp_path / "run.json"
    path.write_bytes(content)
    with pytest.raises(ManifestError, match=expect):
        read_manifest(path)


def test_a_byte_order_mark_is_accepted(valid, tmp_path):
    path = tmp_path / "run.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(valid).encode("utf-8"))
    assert isinstance(read_manifest(path), RunManifest)


def _in_thread(func, timeout: float = 10.0):
    """Run func in a daemon thread: a hang fails the test instead of blocking it."""
    box: list = []

    def run():
        try:
            box.append(func())
        except BaseException as exc:
            box.append(exc)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert box, "read_manifest hung"
    return box[0]


def test_a_fifo_is_refused_without_opening_it(tmp_path):
    fifo = tmp_path / "run.json"
    os.mkfifo(fifo)
    exc = _in_thread(lambda: read_manifest(fifo))
    assert isinstance(exc, ManifestError) and "not a regular file" in str(exc)


def test_a_link_to_a_fifo_is_refused_too(tmp_path):
    os.mkfifo(tmp_path / "pipe")
    os.symlink(tmp_path / "pipe", tmp_path / "run.json")
    exc = _in_thread(lambda: read_manifest(tmp_path / "run.json"))
    assert isinstance(exc, ManifestError) and "not a regular file" in str(exc)


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom", "/dev/null"])
def test_a_device_is_refused(device):
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    exc = _in_thread(lambda: read_manifest(device))
    assert isinstance(exc, ManifestError) and "not a regular file" in str(exc)


def test_a_huge_file_is_refused_from_its_size(tmp_path):
    path = tmp_path / "run.json"
    with open(path, "wb") as fh:
        fh.truncate(MAX_MANIFEST_BYTES + 1)  # sparse: no time, no disk
    with pytest.raises(ManifestError, match=r"far larger than any run\.json"):
        read_manifest(path)


def test_a_folder_and_a_missing_file(tmp_path):
    with pytest.raises(ManifestError, match="is a folder"):
        read_manifest(tmp_path)
    with pytest.raises(ManifestError, match="does not exist"):
        read_manifest(tmp_path / "nope.json")


# --------------------------------------------------------------------------- property based
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)


def _paths(doc, prefix=()):
    """Every (path to a value) in a JSON document."""
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_mutation_gives_a_manifest_or_our_error(valid, tmp_path, data):
    doc = copy.deepcopy(valid)
    for _ in range(data.draw(st.integers(1, 3))):
        paths = [p for p in _paths(doc) if p]
        where = data.draw(st.sampled_from(paths))
        parent = doc
        for key in where[:-1]:
            parent = parent[key]
        action = data.draw(st.sampled_from(["replace", "delete", "replace"]))
        if action == "delete":
            del parent[where[-1]]
        else:
            parent[where[-1]] = data.draw(_JSON)
    path = tmp_path / "run.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    try:
        manifest = read_manifest(path)
    except NMFViewerError as exc:
        assert "\n" not in str(exc)
        return
    # accepted: everything the replay uses has the right type
    assert isinstance(manifest.n_iter, int) and manifest.n_iter >= 0
    assert isinstance(manifest.stop_reason, str)
    assert all(isinstance(p, Path) for p in manifest.paths)
    assert manifest.raw.get("export", {}).get("bit_depth", 8) in (8, 16)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_byte_damage_gives_a_manifest_or_our_error(valid, tmp_path, data):
    raw = bytearray(json.dumps(valid).encode("utf-8"))
    for _ in range(data.draw(st.integers(1, 4))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    path = tmp_path / "run.json"
    path.write_bytes(bytes(raw))
    try:
        read_manifest(path)
    except NMFViewerError:
        pass
