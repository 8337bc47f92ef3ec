"""loss.png and spectra.png as an export writes them."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from nmfviewer.core.axis import SpectralAxis
from nmfviewer.core.collection import Collection
from nmfviewer.core.export import export_run
from nmfviewer.core.nmf.fit import fit
from nmfviewer.core.params import NMFParams
from nmfviewer.core.pictures import loss_png_bytes, spectra_png_bytes


def _ink(data: bytes) -> int:
    a = np.asarray(Image.open(io.BytesIO(data)).convert("L"))
    return int(np.count_nonzero(a < 200))


@pytest.fixture(scope="module")
def kl_run():
    rng = np.random.default_rng(0)
    X = (rng.random((12, 2)) @ rng.random((2, 40)) + 0.01).astype(np.float32)
    return Collection.from_array(X), fit(
        X, NMFParams(n_components=2, loss="kl", solver="mu", max_iter=35, tol=0)
    )


def test_loss_png_skips_unevaluated_iterations_and_titles_the_stop_reason(kl_run):
    _, result = kl_run
    assert np.isnan(result.loss_history).any()  # KL: evaluated every 10 iterations
    data = loss_png_bytes(result)
    with Image.open(io.BytesIO(data)) as img:
        assert img.size[0] == 800 and img.size[1] > 300
    assert _ink(data) > 2000
    from nmfviewer.core.pictures import loss_title

    assert loss_title(result).startswith("Loss: reached max iterations (not converged) after 35")


def test_every_export_writes_loss_png_and_only_cubes_spectra_png(kl_run, tmp_path):
    collection, result = kl_run
    export_run(tmp_path / "images", collection, result)
    assert (tmp_path / "images" / "loss.png").stat().st_size > 1000
    assert not (tmp_path / "images" / "spectra.png").exists()
    cube = collection.with_axis(SpectralAxis(np.linspace(400, 700, 12), "wavelength", "nm"))
    written = export_run(tmp_path / "cube", cube, result)
    assert [p.name for p in written][-1] == "run.json"
    with Image.open(tmp_path / "cube" / "spectra.png") as img:
        assert img.format == "PNG" and img.size[0] == 900


def test_spectra_png_checks_the_axis_length():
    with pytest.raises(ValueError, match="W has shape"):
        spectra_png_bytes(np.ones((5, 2)), SpectralAxis(np.arange(4.0)))
