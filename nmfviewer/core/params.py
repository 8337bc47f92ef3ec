"""Frozen parameter objects, validated once in ``__post_init__``.

Change them with :func:`dataclasses.replace`; the copy is validated again.
Every message names the value at fault and what would be accepted.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields
from typing import Any, Self

from .errors import ParameterError
from .nmf.registry import SOLVERS as _SOLVER_REGISTRY

LOSSES = ("frobenius", "kl", "is")
#: beta of the beta-divergence for each loss name
LOSS_BETA = {"frobenius": 2.0, "kl": 1.0, "is": 0.0}
#: scikit-learn's spellings of the losses, accepted everywhere a loss is.
LOSS_ALIASES = {
    "frobenius": "frobenius",
    "fro": "frobenius",
    "kl": "kl",
    "kullback-leibler": "kl",
    "is": "is",
    "itakura-saito": "is",
}
SOLVERS = tuple(_SOLVER_REGISTRY)  # the solver registry, nmf/registry.py
#: 'cd' is scikit-learn's name for its coordinate-descent (HALS-type) solver.
SOLVER_ALIASES = {"hals": "hals", "cd": "hals", "mu": "mu"}
INITS = ("auto", "random", "nndsvd", "nndsvda", "nndsvdar", "custom")
HALS_VARIANTS = ("auto", "plain", "accelerated")
DTYPES = ("float32", "float64")

COLOR_POLICIES = ("luminance", "mean", "refuse", "channels")
SIZE_POLICIES = ("resize", "refuse")
NORMALIZATIONS = ("none", "max", "sum")
NEGATIVE_POLICIES = ("error", "clip", "shift")
NONFINITE_POLICIES = ("error", "zero", "mask")


#: seeds numpy's generators accept (and the nndsvdar / random inits use)
SEED_LIMIT = 2**32


def _choice(
    name: str, value: Any, allowed: tuple[str, ...], aliases: dict[str, str] | None = None
) -> str:
    key = value.lower() if isinstance(value, str) else value
    if aliases is not None and key in aliases:
        return aliases[key]
    if key in allowed:
        return key
    shown = ", ".join(repr(a) for a in (aliases or allowed))
    raise ParameterError(
        f"{name}={value!r} is not supported; use one of {shown}.", field=name, value=value
    )


def _is_int(value: Any) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or (
        hasattr(value, "__index__") and not isinstance(value, (bool, float))
    )


def _whole(value: Any) -> int | None:
    """An int from an int-like value or a string of ASCII digits ('12'); else None.

    Strict on purpose: int() would also take '１２' and '٣', and str.isdigit()
    says yes to '²', which int() then refuses.
    """
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit():
            return int(text)
        return None
    return int(value) if _is_int(value) else None


def _positive_int(name: str, value: Any, minimum: int = 1) -> int:
    number = None if isinstance(value, str) else _whole(value)  # text: parse it first
    if number is None or number < minimum:
        raise ParameterError(
            f"{name}={value!r} must be a whole number >= {minimum}.", field=name, value=value
        )
    return number


def _nonneg_float(name: str, value: Any) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ParameterError(
            f"{name}={value!r} must be a number >= 0.", field=name, value=value
        ) from None
    if not math.isfinite(f) or f < 0:
        raise ParameterError(
            f"{name}={value!r} must be a finite number >= 0.", field=name, value=value
        )
    return f


def _finite_float(name: str, value: Any) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan
    if isinstance(value, bool) or not math.isfinite(v):
        raise ParameterError(
            f"{name}={value!r} must be a finite number (the level at and above which "
            "values are left out of the fit).",
            field=name,
            value=value,
        )
    return v


def _optional_text(name: str, value: Any) -> str | None:
    """None, or text that is not blank (stripped); ParameterError else."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # an HDF5 dimension given as a number
    if not isinstance(value, str) or not value.strip():
        raise ParameterError(
            f"{name}={value!r} must be a non-empty text or None (automatic).",
            field=name,
            value=value,
        )
    return value.strip()


def parse_seed(value: Any) -> int | None:
    """A seed from a number or text: None (or '' / 'random') draws one; otherwise a
    whole number 0 <= seed < 2**32 (ASCII digits only in text). ParameterError else."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "random")):
        return None
    seed = _whole(value)
    if seed is None or not 0 <= seed < SEED_LIMIT:
        raise ParameterError(
            f"seed={value!r} must be a whole number from 0 to {SEED_LIMIT - 1}.",
            field="seed",
            value=value,
        )
    return seed


def _continued_at(value: Any, max_iter: int) -> tuple[int, ...]:
    try:
        points = tuple(value)
    except TypeError:
        points = None
    if (
        points is None
        or not all(_is_int(p) and 0 <= int(p) <= max_iter for p in points)
        or (list(points) != sorted(points))
    ):
        raise ParameterError(
            f"continued_at={value!r} must list ascending iterations between 0 and "
            f"max_iter={max_iter}; use () for a run in one go."
        )
    return tuple(int(p) for p in points)


class _Serializable:
    """asdict/from_dict round trip for manifests (run.json)."""

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = asdict(self)  # type: ignore[call-overload]  # a dataclass mixin
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        unknown = set(data) - names
        if unknown:
            raise ParameterError(
                f"unknown {cls.__name__} field(s) {sorted(unknown)}; known: {sorted(names)}.",
                field=sorted(unknown)[0],
                value=data[sorted(unknown)[0]],
            )
        return cls(**data)


def _axis_file(name: str, value: Any) -> str:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise ParameterError(
            f"{name}={value!r} is not a file path; give the path of a text or CSV file "
            "with one value per band.",
            field=name,
            value=value,
        )
    return value


@dataclass(frozen=True)
class LoadOptions(_Serializable):
    """How files become a collection. Each policy's effect is reported in
    ``Collection.warnings``.

    recursive:        descend into sub-folders of a folder argument.
    color:            'luminance' (ITU-R 601 weights), 'mean' of channels,
                      'refuse' colour images, or keep colour as 'channels': every
                      image contributes its R, G, B values (X has n_pixels × 3
                      columns, pixel-major: r, g, b of pixel 0, then pixel 1 ...);
                      gray images are replicated to three channels.
    size_policy:      'resize' images to the most common shape, or 'refuse'.
    normalize:        'none' (values kept as read), 'max' (divide each image by
                      its max), 'sum' (each image sums to 1).
    negative:         what to do with negative values: 'error', 'clip' at zero,
                      or 'shift' each image so its minimum is zero.
    nonfinite:        NaN / inf: 'error', replace by 'zero', or 'mask' (left out of
                      the fit: ``Collection.mask``; X holds 0 there).
    mask_file:        a mask image (white = use, black = ignore) for every image,
                      or a folder with one mask per image matched by file stem
                      (images without one are used whole); see
                      ``core/mask_sources.py``.
    saturation:       values at or above this level (as read, before any
                      normalisation) are left out of the fit (``Collection.mask``).
    max_memory_bytes: refuse a collection whose float32 stack exceeds this;
                      None means half of the currently available memory.
    workers:          decoding threads; None picks from the CPU count.
    follow_links:     with recursive, also follow folder links that lead out of
                      the folder given (links inside it are followed anyway;
                      loops are always skipped).
    image_axis:       which axis of a multi-axis file holds the images (an
                      OME-TIFF / ImageJ axis letter such as 'C', 'T', 'Z'; an
                      HDF5 dimension number '0'..'2'; a vendor file's axis name
                      such as 'Energy'); None picks one and says which in the
                      load warnings. Every other axis is read at its first index.
    dataset:          the HDF5 / NeXus dataset to read ('/entry/data/data') or
                      the signal of a vendor file holding several (its title or
                      number); None takes the only 2-D/3-D one (or NeXus' default).
    axis_file:        a text/CSV file with one value per band (the physical band
                      axis, :func:`~nmfviewer.core.axis.read_axis_file`); None
                      takes it from the file's metadata or a sidecar beside the cube.
    """

    recursive: bool = False
    color: str = "luminance"
    size_policy: str = "resize"
    normalize: str = "none"
    negative: str = "error"
    nonfinite: str = "error"
    max_memory_bytes: int | None = None
    workers: int | None = None
    follow_links: bool = False
    mask_file: str | None = None
    saturation: float | None = None
    image_axis: str | None = None
    dataset: str | None = None
    axis_file: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "recursive", bool(self.recursive))
        if self.mask_file is not None:
            object.__setattr__(self, "mask_file", str(self.mask_file))
        if self.saturation is not None:
            object.__setattr__(self, "saturation", _finite_float("saturation", self.saturation))
        for name in ("image_axis", "dataset"):
            object.__setattr__(self, name, _optional_text(name, getattr(self, name)))
        if self.axis_file is not None:
            object.__setattr__(self, "axis_file", _axis_file("axis_file", self.axis_file))
        object.__setattr__(self, "follow_links", bool(self.follow_links))
        object.__setattr__(self, "color", _choice("color", self.color, COLOR_POLICIES))
        object.__setattr__(
            self, "size_policy", _choice("size_policy", self.size_policy, SIZE_POLICIES)
        )
        object.__setattr__(self, "normalize", _choice("normalize", self.normalize, NORMALIZATIONS))
        object.__setattr__(self, "negative", _choice("negative", self.negative, NEGATIVE_POLICIES))
        object.__setattr__(
            self, "nonfinite", _choice("nonfinite", self.nonfinite, NONFINITE_POLICIES)
        )
        if self.max_memory_bytes is not None:
            object.__setattr__(
                self, "max_memory_bytes", _positive_int("max_memory_bytes", self.max_memory_bytes)
            )
        if self.workers is not None:
            object.__setattr__(self, "workers", _positive_int("workers", self.workers))


@dataclass(frozen=True)
class NMFParams(_Serializable):
    """Everything that defines an NMF run, apart from the data.

    n_components: k, the number of basis images.
    loss:         'frobenius', 'kl' (Kullback-Leibler) or 'is' (Itakura-Saito);
                  scikit-learn's spellings are accepted and normalised.
    solver:       'hals' (Frobenius only) or 'mu' (multiplicative updates, any
                  loss); 'cd' is accepted as scikit-learn's name for HALS.
    init:         'auto' (nndsvda when k <= min(n, m), else random), 'random',
                  'nndsvd', 'nndsvda', 'nndsvdar', or 'custom' (W0/H0 given).
    seed:         seeds the random init and nndsvdar; None draws a fresh seed
                  (the run manifest records the one used).
    max_iter:     iterations at most (3000: accelerated HALS converges in a few
                  hundred; MU can need thousands).
    tol:          stop when the relative loss decrease over the last
                  ``window`` iterations, per iteration, falls below tol.
                  1e-6 reaches scikit-learn's converged error (its 'cd' at
                  tol=1e-4) or better on faces, spectra and swimmer data;
                  1e-5 stopped up to 0.1% above it. tol=0 never converges.
    window:       iterations the convergence test looks back over (10: the
                  extrapolated solver's progress comes in bursts).
    time_budget:  seconds at most (None: no limit).
    alpha_W, alpha_H, l1_ratio: regularisation as scikit-learn names it;
                  alpha_H='same' uses alpha_W. Penalties are scaled like
                  scikit-learn's (alpha_W by n_pixels, alpha_H by n_images).
    dtype:        'float32' (default) or 'float64'.
    hals_variant: 'auto' (by problem size: 'accelerated' from n*m*k >= 1e7
                  multiply-adds per product, else 'plain'), 'plain' (textbook
                  HALS, scikit-learn's 'cd' iterates) or 'accelerated' (inner
                  repeats plus extrapolation: fewer iterations to the same error).
    continued_at: whole-run iterations at which the run was continued (the
                  window's "Continue +N"): the solver restarted from the
                  factors reached there and ran on exactly to max_iter (the
                  total), neither tol nor time_budget stopping it. Recorded in
                  a continued run's result so that running these params again
                  repeats it exactly; () for a run in one go.
    """

    n_components: int
    loss: str = "frobenius"
    solver: str = "hals"
    init: str = "auto"
    seed: int | None = 0
    max_iter: int = 3000
    tol: float = 1e-6
    window: int = 10
    time_budget: float | None = None
    alpha_W: float = 0.0
    alpha_H: float | str = "same"
    l1_ratio: float = 0.0
    dtype: str = "float32"
    hals_variant: str = "auto"
    continued_at: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        k = None if isinstance(self.n_components, str) else _whole(self.n_components)
        if k is None or k < 1:
            raise ParameterError(
                f"n_components (k)={self.n_components!r} must be a whole number >= 1.",
                field="n_components",
                value=self.n_components,
            )
        set_(self, "n_components", k)
        set_(self, "loss", _choice("loss", self.loss, LOSSES, LOSS_ALIASES))
        set_(self, "solver", _choice("solver", self.solver, SOLVERS, SOLVER_ALIASES))
        if self.solver == "hals" and self.loss != "frobenius":
            raise ParameterError(
                f"solver 'hals' only minimises the Frobenius loss, not {self.loss!r}.",
                field="solver",
                value="hals",
                suggestion="mu",
                hint="Use {option} for 'kl' or 'is'.",
            )
        set_(self, "init", _choice("init", "auto" if self.init is None else self.init, INITS))
        if self.seed is not None:
            if isinstance(self.seed, str):  # text is parsed by parse_seed, not here
                raise ParameterError(
                    f"seed={self.seed!r} must be a whole number or None.",
                    field="seed",
                    value=self.seed,
                )
            set_(self, "seed", parse_seed(self.seed))
        set_(self, "max_iter", _positive_int("max_iter", self.max_iter))
        set_(self, "tol", _nonneg_float("tol", self.tol))
        set_(self, "window", _positive_int("window", self.window))
        if self.time_budget is not None:
            tb = _nonneg_float("time_budget", self.time_budget)
            if tb == 0:
                raise ParameterError(
                    "time_budget=0 leaves no time to run.",
                    field="time_budget",
                    value=0,
                    hint="Give a number of seconds > 0, or no limit.",
                )
            set_(self, "time_budget", tb)
        set_(self, "alpha_W", _nonneg_float("alpha_W", self.alpha_W))
        if not (isinstance(self.alpha_H, str) and self.alpha_H == "same"):
            set_(self, "alpha_H", _nonneg_float("alpha_H", self.alpha_H))
        l1 = _nonneg_float("l1_ratio", self.l1_ratio)
        if l1 > 1:
            raise ParameterError(
                f"l1_ratio={self.l1_ratio!r} must be between 0 and 1.",
                field="l1_ratio",
                value=self.l1_ratio,
            )
        set_(self, "l1_ratio", l1)
        set_(self, "dtype", _choice("dtype", self.dtype, DTYPES))
        set_(self, "hals_variant", _choice("hals_variant", self.hals_variant, HALS_VARIANTS))
        set_(self, "continued_at", _continued_at(self.continued_at, self.max_iter))

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["continued_at"] = list(self.continued_at)  # JSON-native, like run.json holds it
        return d

    @property
    def beta(self) -> float:
        """beta of the beta-divergence: 2 Frobenius, 1 KL, 0 Itakura-Saito."""
        return LOSS_BETA[self.loss]

    @property
    def alpha_H_value(self) -> float:
        return self.alpha_W if self.alpha_H == "same" else float(self.alpha_H)

    def check_data_shape(self, n_samples: int, n_features: int) -> None:
        """Raise ParameterError when k does not fit an (n_samples x n_features) X."""
        limit = min(n_samples, n_features)
        if self.n_components > limit:
            raise ParameterError(
                f"n_components (k)={self.n_components} is larger than the data allows: "
                f"X has {n_samples} images x {n_features} pixels, so k must be <= {limit}.",
                field="n_components",
                value=self.n_components,
                suggestion=limit,
                hint=f"Lower k to at most {limit} ({{option}}), or load more images.",
            )
