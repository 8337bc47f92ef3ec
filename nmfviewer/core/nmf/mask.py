"""Masks: which entries of X (n_images, n_pixels) a fit uses, and held-out entries.

A :class:`Mask` holds one weight per entry of X: 1 observed, 0 missing, or a
weight in [0, 1]. It is stored compactly, never as a float copy of X:

- ``'dense'``: a bool array (1 byte per entry) of X's shape, True = observed;
- ``'columns'`` / ``'rows'``: a bool (n_pixels,) pixel mask or (n_images,)
  image mask, broadcast over the other axis (a region excluded in every image);
- ``'missing'``: the sorted flat indices of the missing entries (int64), when
  fewer than 1/16 of the entries are missing (cheaper than the bool array);
- ``'weights'``: float32 weights (of X's shape or broadcast) when any weight
  lies strictly between 0 and 1.

Rules (:class:`MaskError`, an NMFViewerError with ``field='mask'``): the shape
must be X's or broadcast to it; values finite and in [0, 1]; at least one
entry observed; no image (row) hidden entirely: its weights would be
undetermined. A pixel (column) hidden in every image is allowed: that is how
a region is excluded from the fit (the basis is then fitted to nothing there
and left at zero); ``allow_hidden_columns=False`` makes it an error.

:func:`split_holdout` draws speckled held-out entries (cross-validation),
:func:`loss_on` evaluates the loss on a mask's entries only.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..errors import NMFViewerError

#: 'missing' storage (flat int64 indices, 8 bytes each) below this missing fraction
SPARSE_BELOW = 1.0 / 16
#: entries per row block when a mask or a loss is expanded block-wise
_BLOCK_ENTRIES = 1 << 20


class MaskError(NMFViewerError):
    """A mask cannot be used: wrong shape, values outside [0, 1], or it hides too much."""

    def __init__(self, message: str, path: str | Path | None = None, **kw: Any) -> None:
        kw.setdefault("field", "mask")
        super().__init__(message, path, **kw)


def _rows_per_block(m: int) -> int:
    return max(1, _BLOCK_ENTRIES // max(1, m))


class Mask:
    """Which entries of X (n_images, n_pixels) a fit uses (see the module doc).

    Build one with :meth:`from_array`, :meth:`from_missing` or :meth:`load`;
    the constructor takes the compact storage as it is (no checks).

    Attributes
    ----------
    shape : tuple of int
        (n_images, n_pixels) of the X it belongs to.
    kind : str
        'dense', 'columns', 'rows', 'missing' or 'weights' (the storage).
    source : str or None
        Where it came from (a file, 'nonfinite', 'saturation', ...), for messages.
    """

    def __init__(
        self, kind: str, data: np.ndarray, shape: tuple[int, int], source: str | None = None
    ) -> None:
        self.kind = kind
        self._data = data
        self.shape = (int(shape[0]), int(shape[1]))
        self.source = source
        self._n_missing: int | None = None

    # -- construction ---------------------------------------------------------------
    @classmethod
    def from_array(
        cls,
        M: npt.ArrayLike,
        shape: tuple[int, int] | None = None,
        *,
        source: str | None = None,
        allow_hidden_columns: bool = True,
        check: bool = True,
        names: Any = None,
    ) -> Mask:
        """A Mask from an array of X's shape or one that broadcasts to it.

        Parameters
        ----------
        M : array_like of bool, int or float
            Shape (n_images, n_pixels), or (n_pixels,) / (1, n_pixels) (the same
            pixels in every image) or (n_images, 1) (whole images); 1 / True
            observed, 0 / False missing, floats in [0, 1] weights.
        shape : tuple of int, optional
            X's shape (n_images, n_pixels); required for a broadcast M.
        source : str, optional
            Where M came from, named in error messages.
        allow_hidden_columns : bool
            False: a pixel hidden in every image is an error.
        check : bool
            False skips the "hides everything / a whole image" checks (held-out
            test masks hide most entries by design).
        names : sequence of str, optional
            The images' names, used in messages instead of row numbers.
        """
        where = f" ({source})" if source else ""
        try:
            a = np.asarray(M)
        except (TypeError, ValueError) as exc:
            raise MaskError(f"the mask{where} is not an array: {exc}") from None
        if a.dtype == object or not (np.issubdtype(a.dtype, np.number) or a.dtype == np.bool_):
            raise MaskError(
                f"the mask{where} has dtype {a.dtype}; give 1/True for entries to use and "
                "0/False for entries to ignore."
            )
        if np.issubdtype(a.dtype, np.complexfloating):
            raise MaskError(f"the mask{where} is complex; give real weights in [0, 1].")
        if shape is None:
            if a.ndim != 2:
                raise MaskError(
                    f"the mask{where} has shape {a.shape}; a broadcast mask needs X's shape "
                    "(pass shape=(n_images, n_pixels))."
                )
            shape = (a.shape[0], a.shape[1])
        n, m = int(shape[0]), int(shape[1])
        if a.ndim == 1 and a.shape[0] == m:
            a = a.reshape(1, m)
        if a.ndim != 2 or a.shape not in ((n, m), (1, m), (n, 1)):
            raise MaskError(
                f"the mask{where} has shape {a.shape} but X is ({n}, {m}) "
                f"(n_images, n_pixels); give a mask of shape ({n}, {m}), ({m},) for the "
                f"same pixels in every image, or ({n}, 1) for whole images.",
                value=a.shape,
            )
        binary: np.ndarray | None = None
        if a.dtype == np.bool_:
            binary = a
        else:
            if np.issubdtype(a.dtype, np.floating):
                finite = np.isfinite(a)
                if not finite.all():
                    bad = int(a.size - np.count_nonzero(finite))
                    raise MaskError(
                        f"the mask{where} contains {bad} NaN or infinite value(s); mask "
                        "values must be weights in [0, 1] (1 use, 0 ignore)."
                    )
            lo, hi = (a.min(), a.max()) if a.size else (0, 0)
            if lo < 0 or hi > 1:
                raise MaskError(
                    f"the mask{where} has values from {float(lo):g} to {float(hi):g}; mask "
                    "values must lie in [0, 1] (1 use, 0 ignore). Rescale it, e.g. M / M.max().",
                    value=(float(lo), float(hi)),
                )
            if np.isin(a, (0, 1)).all():
                binary = a.astype(bool)
        if binary is None:
            mask = cls("weights", np.ascontiguousarray(a, dtype=np.float32), (n, m), source)
        elif binary.shape == (1, m):
            mask = cls("columns", np.ascontiguousarray(binary[0]), (n, m), source)
        elif binary.shape == (n, 1) and (n, 1) != (n, m):
            mask = cls("rows", np.ascontiguousarray(binary[:, 0]), (n, m), source)
        else:
            mask = cls._from_bool(np.ascontiguousarray(binary), source)
        if check:
            mask._check(allow_hidden_columns, names)
        return mask

    @classmethod
    def _from_bool(cls, observed: np.ndarray, source: str | None) -> Mask:
        """'dense' or 'missing' storage of a full bool array (True observed)."""
        shape = (observed.shape[0], observed.shape[1])
        n_missing = observed.size - int(np.count_nonzero(observed))
        if n_missing < SPARSE_BELOW * observed.size:
            flat = np.flatnonzero(~observed.ravel()).astype(np.int64)
            mask = cls("missing", flat, shape, source)
        else:
            mask = cls("dense", observed, shape, source)
        mask._n_missing = n_missing
        return mask

    @classmethod
    def from_missing(
        cls,
        rows: npt.ArrayLike,
        cols: npt.ArrayLike,
        shape: tuple[int, int],
        *,
        source: str | None = None,
        check: bool = True,
    ) -> Mask:
        """The mask of X (shape) with the entries (rows[i], cols[i]) missing."""
        n, m = int(shape[0]), int(shape[1])
        r = np.asarray(rows, dtype=np.int64).ravel()
        c = np.asarray(cols, dtype=np.int64).ravel()
        if r.shape != c.shape:
            raise MaskError(f"rows ({r.size}) and cols ({c.size}) differ in length.")
        if r.size and (r.min() < 0 or r.max() >= n or c.min() < 0 or c.max() >= m):
            raise MaskError(f"missing entries lie outside X's shape ({n}, {m}).")
        flat = np.unique(r * m + c)
        if flat.size >= SPARSE_BELOW * n * m:
            observed = np.ones(n * m, dtype=bool)
            observed[flat] = False
            mask = cls("dense", observed.reshape(n, m), (n, m), source)
        else:
            mask = cls("missing", flat, (n, m), source)
        mask._n_missing = int(flat.size)
        if check:
            mask._check(True)
        return mask

    def _check(self, allow_hidden_columns: bool, names: Any = None) -> None:
        n, m = self.shape
        where = f" ({self.source})" if self.source else ""
        if self.n_used == 0:
            raise MaskError(
                f"the mask{where} hides every entry of X; nothing is left to fit. Mark the "
                "entries to use with 1 (white) and those to ignore with 0 (black)."
            )
        rows = self._used_per_row()
        if (rows == 0).any():
            bad = np.flatnonzero(rows == 0)
            shown = _few(bad) if names is None else ", ".join(str(names[i]) for i in bad[:5])
            raise MaskError(
                f"the mask{where} hides every pixel of image(s) {shown} (of {n}); such an "
                "image has nothing to fit. Leave those images out of the collection instead.",
                value=[int(i) for i in bad[:10]],
            )
        if not allow_hidden_columns:
            cols = self._used_per_column()
            if (cols == 0).any():
                bad = np.flatnonzero(cols == 0)
                raise MaskError(
                    f"the mask{where} hides pixel(s) {_few(bad)} (of {m}) in every image; "
                    "the basis is undetermined there.",
                    value=[int(i) for i in bad[:10]],
                )

    # -- what it says -----------------------------------------------------------------
    @property
    def is_binary(self) -> bool:
        """True when every weight is 0 or 1."""
        return self.kind != "weights"

    @property
    def n_missing(self) -> int:
        """Entries with weight 0 (not used by a fit at all)."""
        if self._n_missing is None:
            self._n_missing = int(self.size - self._count(lambda b: np.count_nonzero(b)))
        return self._n_missing

    @property
    def n_used(self) -> int:
        """Entries with a weight > 0."""
        return self.size - self.n_missing

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def observed_fraction(self) -> float:
        """The sum of the weights over the number of entries (the observed share)."""
        if self.is_binary:
            return self.n_used / self.size
        total = sum(float(b.sum(dtype=np.float64)) for _, _, b in self.blocks())
        return total / self.size

    @property
    def nbytes(self) -> int:
        """Bytes of the compact storage."""
        return int(self._data.nbytes)

    def _count(self, fn: Any) -> int:
        """sum over row blocks of fn(bool block of 'used' entries)."""
        return sum(int(fn(b > 0)) for _, _, b in self.blocks())

    def _used_per_row(self) -> np.ndarray:
        return np.concatenate([np.count_nonzero(b > 0, axis=1) for _, _, b in self.blocks()])

    def _used_per_column(self) -> np.ndarray:
        total = np.zeros(self.shape[1], dtype=np.int64)
        for _, _, b in self.blocks():
            total += np.count_nonzero(b > 0, axis=0)
        return total

    def holdout(self, fraction: float, seed: int) -> tuple[Mask, Mask]:
        """(train, test) held-out entries drawn among this mask's used entries
        (:func:`split_holdout` with ``within=self``)."""
        return split_holdout(self.shape, fraction, seed, within=self)

    def hidden_columns(self) -> np.ndarray:
        """Indices of the pixels no image uses (weight 0 in every row)."""
        if self.kind == "columns":
            return np.flatnonzero(~self._data)
        if self.kind == "rows" or self.n_missing < self.shape[0]:
            return np.empty(0, dtype=np.int64)
        return np.flatnonzero(self._used_per_column() == 0)

    def blocks(self, rows: int | None = None) -> Any:
        """Yield (r0, r1, weights) over row blocks: float32 (r1 - r0, n_pixels)."""
        n, m = self.shape
        rows = rows or _rows_per_block(m)
        buf = np.empty((min(rows, n), m), dtype=np.float32)
        for r0 in range(0, n, rows):
            r1 = min(n, r0 + rows)
            b = buf[: r1 - r0]
            self.fill(r0, r1, b)
            yield r0, r1, b

    def fill(self, r0: int, r1: int, out: np.ndarray) -> np.ndarray:
        """out (r1 - r0, n_pixels) <- the weights of rows r0..r1 (any float dtype)."""
        m = self.shape[1]
        d, kind = self._data, self.kind
        if kind == "dense":
            np.copyto(out, d[r0:r1])
        elif kind == "columns":
            out[...] = d[None, :]
        elif kind == "rows":
            out[...] = d[r0:r1, None]
        elif kind == "weights":
            out[...] = d if d.shape[0] == 1 else d[r0:r1]
        else:  # 'missing'
            out.fill(1)
            lo, hi = np.searchsorted(d, (r0 * m, r1 * m))
            out.ravel()[d[lo:hi] - r0 * m] = 0
        return out

    def rows_view(self, r0: int, r1: int, buf: np.ndarray | None = None) -> np.ndarray:
        """The weights of rows r0..r1, (r1 - r0, n_pixels), as cheaply as the storage
        allows: a bool array (binary) or float32 (weighted), a read-only view or a
        broadcast where possible; 'missing' storage is expanded into ``buf``
        (bool, at least (r1 - r0, n_pixels)) or a new array."""
        m = self.shape[1]
        d, kind, r = self._data, self.kind, r1 - r0
        if kind == "dense":
            return d[r0:r1]
        if kind == "columns":
            return np.broadcast_to(d, (r, m))
        if kind == "rows":
            return np.broadcast_to(d[r0:r1, None], (r, m))
        if kind == "weights":
            return np.broadcast_to(d if d.shape[0] == 1 else d[r0:r1], (r, m))
        out = np.empty((r, m), dtype=bool) if buf is None else buf[:r]
        return self.fill(r0, r1, out)

    def dense(self, dtype: npt.DTypeLike = np.float32) -> np.ndarray:
        """The weights as an (n_images, n_pixels) array (tests and views only)."""
        out = np.empty(self.shape, dtype=dtype)
        self.fill(0, self.shape[0], out)
        return out

    def missing_rows(self, r0: int, r1: int) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """The entries with weight < 1 in rows r0..r1, as CSR over those rows.

        Returns (indptr (r1 - r0 + 1,) int64, cols int32, weights float32 or None
        when binary).
        """
        m = self.shape[1]
        if self.kind == "missing":
            d = self._data
            lo, hi = np.searchsorted(d, (r0 * m, r1 * m))
            flat = d[lo:hi] - r0 * m
            rows, cols = np.divmod(flat, m)
            indptr = np.zeros(r1 - r0 + 1, dtype=np.int64)
            np.cumsum(np.bincount(rows, minlength=r1 - r0), out=indptr[1:])
            return indptr, cols.astype(np.int32), None
        w = self.fill(r0, r1, np.empty((r1 - r0, m), dtype=np.float32))
        partial = w < 1
        counts = np.count_nonzero(partial, axis=1)
        indptr = np.zeros(r1 - r0 + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        rows, cols = np.nonzero(partial)
        weights = None if self.is_binary else w[rows, cols]
        return indptr, cols.astype(np.int32), weights

    def __repr__(self) -> str:
        return (
            f"Mask(shape={self.shape}, kind={self.kind!r}, observed_fraction="
            f"{self.observed_fraction:.4g}, nbytes={self.nbytes})"
        )

    # -- identity and files -----------------------------------------------------------
    def sha256(self) -> str:
        """Hash of the weights (the same for the same weights, whatever the storage)."""
        h = hashlib.sha256()
        h.update(f"nmfviewer-mask {self.shape[0]}x{self.shape[1]} ".encode())
        for _, _, b in self.blocks():
            if self.is_binary:
                h.update(np.packbits(b > 0, axis=None).tobytes())
            else:
                h.update(np.ascontiguousarray(b, dtype="<f4").tobytes())
        return h.hexdigest()

    def to_bytes(self) -> bytes:
        """The compact storage as the bytes of an .npz file (see :meth:`save`)."""
        import io

        buf = io.BytesIO()
        np.savez_compressed(
            buf,
            kind=np.array(self.kind),
            shape=np.array(self.shape, dtype=np.int64),
            data=self._data,
            source=np.array(self.source or ""),
        )
        return buf.getvalue()

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the compact storage to an .npz file (atomically); returns the path."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(self.to_bytes())
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Mask:
        """A mask written by :meth:`save` (MaskError naming the file if unreadable)."""
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as z:
                kind = str(z["kind"])
                shape = tuple(int(v) for v in z["shape"])
                data = np.array(z["data"])
                source = str(z["source"]) or None
        except (OSError, KeyError, ValueError) as exc:
            raise MaskError(f"cannot read the mask file {path}: {exc}", path) from None
        if kind not in ("dense", "columns", "rows", "missing", "weights") or len(shape) != 2:
            raise MaskError(f"{path} is not a mask file written by nmfviewer.", path)
        return cls(kind, data, (shape[0], shape[1]), source)


def _few(idx: np.ndarray) -> str:
    shown = ", ".join(str(int(i)) for i in idx[:5])
    return shown + (f", ... ({idx.size} in all)" if idx.size > 5 else "")


def as_mask(mask: Mask | npt.ArrayLike | None, shape: tuple[int, int]) -> Mask | None:
    """mask checked against X's shape (an array is turned into a Mask)."""
    if mask is None:
        return None
    if not isinstance(mask, Mask):
        return Mask.from_array(mask, shape)
    if mask.shape != tuple(shape):
        raise MaskError(
            f"the mask is for X of shape {mask.shape} but X has shape {tuple(shape)} "
            "(n_images, n_pixels); make the mask for this data.",
            value=mask.shape,
        )
    return mask


def split_holdout(
    shape: tuple[int, int], fraction: float, seed: int, *, within: Mask | None = None
) -> tuple[Mask, Mask]:
    """(train, test): a random speckled ``fraction`` of the entries held out.

    Parameters
    ----------
    shape : tuple of int
        X's shape (n_images, n_pixels).
    fraction : float
        Share of the (used) entries held out, in (0, 1).
    seed : int
        The draw (the same seed gives the same split).
    within : Mask, optional
        Held-out entries are drawn among the entries this mask uses; the train
        mask keeps its other hidden entries hidden (binary masks only).

    Returns
    -------
    train : Mask
        The entries to fit (``within``'s used entries minus the held-out ones).
        No image and no pixel loses all its entries: such draws are put back.
    test : Mask
        The held-out entries only (``loss_on(X, W, H, test)`` is the test error).
    """
    n, m = int(shape[0]), int(shape[1])
    if not 0.0 < float(fraction) < 1.0:
        raise MaskError(
            f"holdout fraction={fraction!r} must lie strictly between 0 and 1 (e.g. 0.1).",
            field="holdout",
            value=fraction,
        )
    if within is not None:
        within = as_mask(within, (n, m))
        if within is not None and not within.is_binary:
            raise MaskError("split_holdout needs a binary mask as 'within' (0/1 weights).")
    rng = np.random.default_rng(seed)
    held = np.empty((n, m), dtype=bool)
    used = np.ones((n, m), dtype=bool) if within is None else within.dense(bool)
    rows = _rows_per_block(m)
    for r0 in range(0, n, rows):  # draw in blocks: no float64 array of X's size
        r1 = min(n, r0 + rows)
        np.less(rng.random((r1 - r0, m), dtype=np.float32), fraction, out=held[r0:r1])
    held &= used
    train = used & ~held
    # put back one held-out entry in every image / pixel left without any
    for axis in (1, 0):
        empty = np.flatnonzero(~train.any(axis=axis) & held.any(axis=axis))
        for i in empty:
            line = held[i] if axis == 1 else held[:, i]
            j = int(rng.choice(np.flatnonzero(line)))
            r, c = (i, j) if axis == 1 else (j, i)
            held[r, c] = False
            train[r, c] = True
    del used
    return Mask._from_bool(train, "holdout train"), Mask("dense", held, (n, m), "holdout test")


def loss_on(X: np.ndarray, W: np.ndarray, H: np.ndarray, mask: Mask, *, beta: float = 2.0) -> float:
    """The loss over the entries of ``mask`` only, weighted, float64.

    The engine's convention, without any penalty: beta=2 ``0.5 * sum w (x - wh)^2``;
    beta=1 (KL) ``sum w (x log(x / wh) - x + wh)``; beta=0 (IS) ``sum w (x / wh -
    log(x / wh) - 1)`` over the entries with x > 0; W H guarded at float32 eps
    times max(X) as in the solvers. When the mask uses few entries (a test
    mask), only those entries of W H are formed (O(n_used k)); otherwise W H
    is formed over row blocks.

    X (n_images, n_pixels), W (n_images, k), H (k, n_pixels).
    """
    X = np.asarray(X)
    mask = as_mask(mask, X.shape)  # type: ignore[assignment]
    W64 = np.asarray(W, dtype=np.float64)
    H64 = np.asarray(H, dtype=np.float64)
    eps = float(np.finfo(np.float32).eps) * float(X.max())
    total = 0.0
    n, m = X.shape
    sampled = mask.n_used < 0.25 * mask.size
    rows = max(1, _rows_per_block(m) // 4)
    for r0 in range(0, n, rows):
        r1 = min(n, r0 + rows)
        w = mask.fill(r0, r1, np.empty((r1 - r0, m), dtype=np.float32))
        if sampled:
            ii, jj = np.nonzero(w)
            wv = w[ii, jj].astype(np.float64)
            x = X[r0 + ii, jj].astype(np.float64)
            wh = np.einsum("ik,ki->i", W64[r0 + ii], H64[:, jj])
        else:
            wv = w.astype(np.float64).ravel()
            x = X[r0:r1].astype(np.float64).ravel()
            wh = (W64[r0:r1] @ H64).ravel()
        total += _divergence(x, wh, wv, beta, eps)
    return total


def _divergence(x: np.ndarray, wh: np.ndarray, w: np.ndarray, beta: float, eps: float) -> float:
    """The weighted beta-divergence of float64 vectors x, wh with weights w."""
    if beta == 2:
        d = x - wh
        return 0.5 * float(np.dot(w, d * d))
    pos = x > 0
    if beta == 1:
        lt = np.zeros_like(x)
        lt[pos] = x[pos] * np.log(x[pos] / np.maximum(wh[pos], eps))
        return float(np.dot(w, lt - x + wh))
    r = x[pos] / np.maximum(wh[pos], eps)
    return float(np.dot(w[pos], r - np.log(r) - 1.0))
