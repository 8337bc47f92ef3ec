"""Initial factors: random (seeded), nndsvd, nndsvda, nndsvdar, custom.

Follows scikit-learn's ``_initialize_nmf`` (Boutsidis & Gallopoulos 2008 for
NNDSVD). The SVD is exact for small X and a seeded randomized SVD (Halko et al.
2011) for large X; neither copies X when it is large. The same seed, data and
dtype give bit-for-bit the same factors on the same machine.

Robust against the machine's rounding (issue 15): singular vectors of
singular values at rounding level (k above the numerical rank of X) are pure
rounding noise, so they are dropped, not used; and ``init='auto'`` on small
Frobenius problems tries a few starts with short plain HALS runs and keeps
the one that got lowest (:func:`best_of_starts`), so a start that HALS takes into a
poor local minimum (two components on one part, another part shared) is not
the answer because of the last bit of an SVD.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..errors import ParameterError

#: X with at most this many entries gets an exact SVD (LAPACK works on a copy)
EXACT_SVD_MAX_SIZE = 1 << 20

#: init='auto' for the Frobenius loss tries several starts on problems below
#: this many multiply-adds per product (n*m*k; the problems plain HALS runs,
#: see hals.ACCELERATE_ABOVE): they take milliseconds per iteration
RESTARTS_BELOW = 1e7
#: starts tried: nndsvda, then seeded random ones (see best_of_starts)
N_STARTS = 5
#: each start runs plain HALS until the relative loss decrease per iteration
#: over TRIAL_WINDOW iterations is below TRIAL_TOL, or TRIAL_MAX_ITER
TRIAL_TOL = 1e-4
TRIAL_WINDOW = 10
TRIAL_MAX_ITER = 200


def randomized_svd(
    X: np.ndarray, k: int, *, seed: int, n_oversamples: int = 10, n_iter: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank-k truncated SVD of X (n, m) by randomized range finding.

    Returns U (n, k), S (k,), Vt (k, m) in X's dtype. Power iterations use QR
    re-orthonormalisation; X is only used in products (never copied).
    """
    n, m = X.shape
    p = min(k + n_oversamples, n, m)
    if n_iter is None:
        n_iter = 7 if k < 0.1 * min(n, m) else 4
    rng = np.random.RandomState(seed)
    omega = rng.standard_normal(size=(m, p)).astype(X.dtype, copy=False)
    Q = X @ omega  # (n, p)
    for _ in range(n_iter):
        Q, _r = np.linalg.qr(Q)
        Z = X.T @ Q  # (m, p)
        Z, _r = np.linalg.qr(Z)
        Q = X @ Z
    Q, _r = np.linalg.qr(Q)
    B = Q.T @ X  # (p, m)
    Ub, S, Vt = np.linalg.svd(B, full_matrices=False)
    U = Q @ Ub
    return U[:, :k], S[:k], Vt[:k]


def _svd(X: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if X.size <= EXACT_SVD_MAX_SIZE:
        U, S, Vt = np.linalg.svd(X.astype(np.float64), full_matrices=False)
        return U[:, :k], S[:k], Vt[:k]
    return randomized_svd(X, k, seed=seed)


def _nndsvd(X: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Plain NNDSVD factors W (n, k), H (k, m) in float64 (zeros kept).

    Components j whose singular value is at rounding level (S_j <= S_0 *
    max(n, m) * eps of the SVD's dtype: beyond X's numerical rank) are left
    zero: their singular vectors are an arbitrary basis of a null space that
    each BLAS kernel picks differently. Entries below 1e-6 * sqrt(max(X)) are
    set to zero (scikit-learn's 1e-6 for X scaled to [0, 1]; relative, so
    that X scaled by c gives sqrt(c) times the factors).
    """
    U, S, Vt = _svd(X, k, seed)
    rank_tol = float(S[0]) * max(X.shape) * float(np.finfo(S.dtype).eps)
    U = U.astype(np.float64, copy=False)
    Vt = Vt.astype(np.float64, copy=False)
    n, m = X.shape
    W = np.zeros((n, k))
    H = np.zeros((k, m))
    W[:, 0] = np.sqrt(S[0]) * np.abs(U[:, 0])
    H[0, :] = np.sqrt(S[0]) * np.abs(Vt[0, :])
    for j in range(1, k):
        if S[j] <= rank_tol:  # beyond the numerical rank: rounding noise
            continue
        x, y = U[:, j], Vt[j, :]
        xp, yp = np.maximum(x, 0), np.maximum(y, 0)
        xn, yn = np.abs(np.minimum(x, 0)), np.abs(np.minimum(y, 0))
        xpn, ypn = np.linalg.norm(xp), np.linalg.norm(yp)
        xnn, ynn = np.linalg.norm(xn), np.linalg.norm(yn)
        mp, mn = xpn * ypn, xnn * ynn
        if mp > mn:
            u, v, sigma = xp / xpn, yp / ypn, mp
        elif mn > 0:
            u, v, sigma = xn / xnn, yn / ynn, mn
        else:  # a zero singular vector pair (rank-deficient X)
            continue
        lbd = np.sqrt(S[j] * sigma)
        W[:, j] = lbd * u
        H[j, :] = lbd * v
    eps = 1e-6 * np.sqrt(float(X.max()))
    W[W < eps] = 0
    H[H < eps] = 0
    return W, H


def initialize(
    X: np.ndarray,
    n_components: int,
    init: str,
    *,
    seed: int,
    dtype: npt.DTypeLike,
    W0: np.ndarray | None = None,
    H0: np.ndarray | None = None,
    beta: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Initial factors for NMF of X, both >= 0.

    Parameters
    ----------
    X : ndarray, shape (n_images, n_pixels)
        The data (only read; never copied when large).
    n_components : int
        k, the number of basis images.
    init : str
        'auto' (nndsvda if k <= min(n_images, n_pixels) else random; see
        Notes), 'random' (scaled by sqrt(mean(X) / k), scikit-learn's draw for
        the same seed), 'nndsvd' (zeros kept: sparse, slow to leave zero),
        'nndsvda' (zeros replaced by mean(X)), 'nndsvdar' (zeros replaced by
        small random values), 'custom' (W0 and H0).
    seed : int
        Seeds 'random', 'nndsvdar' and the randomized SVD of large X.
    dtype : dtype
        Of the returned factors.
    W0 : ndarray, shape (n_images, k), optional
    H0 : ndarray, shape (k, n_pixels), optional
        Required for init='custom'; given with another init they continue a
        run from them (both needed). Checked and copied.

    beta : float
        The loss's beta (2 Frobenius, 1 KL, 0 IS); 'auto' tries several starts
        for the Frobenius loss only.

    Returns
    -------
    W : ndarray, shape (n_images, k)
    H : ndarray, shape (k, n_pixels)
        C-contiguous, in ``dtype``, owning their memory.

    Notes
    -----
    'auto' for the Frobenius loss on problems below RESTARTS_BELOW
    multiply-adds (n*m*k): nndsvda and N_STARTS - 1 seeded random starts are
    each tried by a short plain HALS run and the start that got lowest is
    returned (:func:`best_of_starts`). One start can end in a poor local
    minimum on one machine's rounding and not on another's (the swimmer's
    repeated singular values); the best of several does not depend on it.
    """
    n, m = X.shape
    k = int(n_components)
    dtype = np.dtype(dtype)
    if W0 is not None or H0 is not None or init == "custom":
        return _custom(X, k, dtype, W0, H0)
    if init == "auto":
        init = "nndsvda" if k <= min(n, m) else "random"
        if beta == 2 and float(n) * m * k < RESTARTS_BELOW:
            starts = [_start(X, k, init, seed, dtype)]
            rng = np.random.RandomState(seed)
            for s in rng.randint(0, 2**31 - 1, size=N_STARTS - 1):
                starts.append(_start(X, k, "random", int(s), dtype))
            return best_of_starts(X, starts, dtype)
    return _start(X, k, init, seed, dtype)


def _start(
    X: np.ndarray, k: int, init: str, seed: int, dtype: npt.DTypeLike
) -> tuple[np.ndarray, np.ndarray]:
    n, m = X.shape
    mean = float(X.mean(dtype=np.float64))
    if init == "random":
        avg = np.sqrt(X.mean() / k)
        rng = np.random.RandomState(seed)
        H = avg * rng.standard_normal(size=(k, m)).astype(X.dtype, copy=False)
        W = avg * rng.standard_normal(size=(n, k)).astype(X.dtype, copy=False)
        np.abs(H, out=H)
        np.abs(W, out=W)
    elif init in ("nndsvd", "nndsvda", "nndsvdar"):
        if k > min(n, m):
            raise ParameterError(
                f"init={init!r} needs n_components (k)={k} <= min(n_images, n_pixels)="
                f"{min(n, m)}; lower k or use init='random'."
            )
        W, H = _nndsvd(X, k, seed)
        if init == "nndsvda":
            W[W == 0] = mean
            H[H == 0] = mean
        elif init == "nndsvdar":
            rng = np.random.RandomState(seed)
            W[W == 0] = np.abs(mean * rng.standard_normal(size=int((W == 0).sum())) / 100)
            H[H == 0] = np.abs(mean * rng.standard_normal(size=int((H == 0).sum())) / 100)
    else:
        raise ParameterError(
            f"init={init!r} is not supported; use 'auto', 'random', 'nndsvd', 'nndsvda', "
            "'nndsvdar' or 'custom'."
        )
    return (
        np.ascontiguousarray(W, dtype=dtype),
        np.ascontiguousarray(H, dtype=dtype),
    )


def best_of_starts(
    X: np.ndarray, starts: list[tuple[np.ndarray, np.ndarray]], dtype: npt.DTypeLike
) -> tuple[np.ndarray, np.ndarray]:
    """The start (W (n, k), H (k, m)) whose short plain HALS run gets lowest.

    Each start runs on copies until its relative loss decrease per iteration
    over TRIAL_WINDOW iterations falls below TRIAL_TOL, or TRIAL_MAX_ITER; the
    start (not the refined factors: the fit then runs the same iterates, its
    history from the start) with the lowest Frobenius loss is returned, the
    first one on ties, C-contiguous in ``dtype``. On the swimmer data (k=17
    above its rank 13) single starts ended at a relative error of 0.14 or 0.27
    (two components on one part, another part spread) for 5-75% of the bases
    a degenerate SVD can return; the best of five always reached an exact fit.
    """
    from ..params import NMFParams
    from .run import NMFRun  # the run driver imports this module

    trial = NMFParams(
        n_components=starts[0][1].shape[0],
        solver="hals",
        hals_variant="plain",
        init="custom",
        tol=TRIAL_TOL,
        window=TRIAL_WINDOW,
        max_iter=TRIAL_MAX_ITER,
        dtype=X.dtype.name,
        seed=0,
    )
    best: tuple[float, int] | None = None
    for i, (W, H) in enumerate(starts):
        run = NMFRun(X, trial, W0=W, H0=H)  # copies the start; X is used as it is
        for _ in run:
            pass
        loss = run.result().loss
        if best is None or loss < best[0]:
            best = (loss, i)
    assert best is not None
    W, H = starts[best[1]]
    return np.ascontiguousarray(W, dtype=dtype), np.ascontiguousarray(H, dtype=dtype)


def _custom(
    X: np.ndarray, k: int, dtype: npt.DTypeLike, W0: np.ndarray | None, H0: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    n, m = X.shape
    if W0 is None or H0 is None:
        raise ParameterError(
            "init='custom' needs both W0 (n_images x k) and H0 (k x n_pixels); "
            f"got W0={'given' if W0 is not None else 'None'}, "
            f"H0={'given' if H0 is not None else 'None'}."
        )
    out = []
    for name, F, shape in (("W", W0, (n, k)), ("H", H0, (k, m))):
        a = np.asarray(F)
        if a.shape != shape:
            raise ParameterError(
                f"initial {name} has shape {a.shape}, expected {shape} for X of shape "
                f"{X.shape} and n_components={k}."
            )
        if not np.issubdtype(a.dtype, np.number) or np.issubdtype(a.dtype, np.complexfloating):
            raise ParameterError(f"initial {name} has dtype {a.dtype}; it must be real numbers.")
        if not np.isfinite(a).all():
            raise ParameterError(
                f"initial {name} contains NaN or infinite values; give finite ones."
            )
        if (a < 0).any():
            raise ParameterError(f"initial {name} has negative values; NMF factors must be >= 0.")
        # always a fresh, owned buffer: solvers update it in place
        out.append(np.array(a, dtype=dtype, order="C", copy=True))
    return out[0], out[1]
