"""Turn a benchmark result dict into target verdicts, a text table and Markdown."""

from __future__ import annotations

from machine import one_line

#: the issue's targets: (key, label, threshold, sense)
TARGETS = (
    ("speedup", "time to scikit-learn's converged error, vs its best solver", 5.0, ">="),
    ("hals_floor", "plain HALS s/iteration over the two-GEMM floor", 1.3, "<="),
    ("kl_speedup", "KL MU s/iteration, scikit-learn 'mu' over nmfviewer", 1.5, ">="),
    ("memory", "peak extra memory of a fit over 3(W+H) + 100 MB", 1.0, "<="),
    ("final_error", "final error at convergence over scikit-learn's best", 1.001, "<="),
)
MB = 2**20
LIVE_LABEL = "live view: worker throughput over headless (<= 10% cost)"


def _get(d: dict, *keys):
    for key in keys:
        if not isinstance(d, dict) or d.get(key) is None:
            return None
        d = d[key]
    return d


def achieved(problem: dict) -> dict[str, float | None]:
    """The five target figures of one problem (None where not measured)."""
    mem = problem.get("memory", {})
    extra = _get(mem, "nmfviewer", "extra_bytes")
    budget = mem.get("budget_extra_bytes")
    return {
        "speedup": _get(problem, "speedup", "headline"),
        "hals_floor": _get(problem, "hals_per_iter", "ratio"),
        "kl_speedup": _get(problem, "kl", "ratio"),
        "memory": None if extra is None or not budget else extra / budget,
        "final_error": _get(problem, "final_error", "ratio"),
    }


def verdicts(results: dict) -> list[dict]:
    """One row per (problem, target): achieved value, threshold, PASS / MISS / n/a."""
    rows = []
    for name, problem in results["problems"].items():
        values = achieved(problem)
        for key, label, threshold, sense in TARGETS:
            value = values[key]
            if value is None:
                verdict = "n/a"
            elif sense == ">=":
                verdict = "PASS" if value >= threshold else "MISS"
            else:
                verdict = "PASS" if value <= threshold else "MISS"
            rows.append(
                {
                    "problem": name,
                    "target": key,
                    "label": label,
                    "value": value,
                    "threshold": threshold,
                    "sense": sense,
                    "verdict": verdict,
                }
            )
    for name, entry in results.get("live_view_overhead", {}).get("per_problem", {}).items():
        value = entry.get("ratio")
        rows.append(
            {
                "problem": name,
                "target": "live_view",
                "label": LIVE_LABEL,
                "value": value,
                "threshold": 0.9,
                "sense": ">=",
                "verdict": "n/a" if value is None else ("PASS" if value >= 0.9 else "MISS"),
            }
        )
    return rows


def _f(value, fmt="{:.2f}", none="-"):
    return none if value is None else fmt.format(value)


def _speed_rows(problem: dict) -> list[list[str]]:
    rows = []
    for name, entry in problem.get("speedup", {}).get("per_target", {}).items():
        rows.append(
            [
                name,
                _f(entry["sklearn_s"], "{:.3f}"),
                str(entry["sklearn_n_iter"]),
                _f(entry["target_error"], "{:.5g}"),
                _f(entry["nmfviewer_s"], "{:.3f}"),
                _f(entry["nmfviewer_iter"], "{}"),
                _f(entry["ratio"], "{:.2f}x"),
                _f(entry.get("ratio_best_of"), "{:.2f}x"),
            ]
        )
    return rows


def _table(header: list[str], rows: list[list[str]], markdown: bool) -> str:
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    # strict=False: an errored problem's row is shorter than the header (as before)
    widths = [max(len(str(c)) for c in col) for col in zip(header, *rows, strict=False)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(
        [fmt.format(*header), fmt.format(*("-" * w for w in widths))]
        + [fmt.format(*r) for r in rows]
    )


def render(results: dict, markdown: bool = False) -> str:
    """The whole report: machine, per-problem details, target verdicts."""
    out = []
    h = "### " if markdown else "== "
    out.append(("**Machine:** " if markdown else "Machine: ") + one_line(results["machine"]))
    mode = "quick (tiny problems, numbers not meaningful)" if results["quick"] else "full"
    out.append(
        f"Mode: {mode}; run at {results['started']} UTC, took {results['duration_s']:.0f} s."
    )
    for name, p in results["problems"].items():
        out.append("")
        load = p.get("loadavg_1min", {})
        loadtxt = f" (load average {load['before']:.1f} -> {load['after']:.1f})" if load else ""
        out.append(f"{h}{name}: {p['description']}{loadtxt}")
        if "error" in p:
            out.append(f"FAILED: {p['error']}")
            continue
        out.append(
            "Time to each scikit-learn run's converged error (medians; nmfviewer "
            "hals_variant='auto'):"
        )
        out.append(
            _table(
                [
                    "sklearn run",
                    "sklearn s",
                    "its n_iter",
                    "error (Frobenius)",
                    "nmfviewer s",
                    "nmfviewer iter",
                    "speedup",
                    "best-of",
                ],
                _speed_rows(p),
                markdown,
            )
        )
        var = p.get("variants", {})
        if var:
            out.append(
                "Other HALS variants (one run each), seconds to each target: "
                + "; ".join(
                    f"{v}: "
                    + ", ".join(
                        f"{t} {_f(e.get('time_s'), '{:.3f}')}" for t, e in d["targets"].items()
                    )
                    for v, d in var.items()
                )
            )
        hp = p.get("hals_per_iter", {})
        if hp:
            out.append(
                f"Plain HALS {_f(hp.get('plain_s'), '{:.4f}')} s/iter vs two-GEMM floor "
                f"{_f(hp.get('floor_s'), '{:.4f}')} s ({_f(hp.get('ratio'), '{:.2f}x')}); "
                f"accelerated {_f(hp.get('accelerated_s'), '{:.4f}')} s/iter; sklearn cd "
                f"{_f(hp.get('sklearn_cd_s'), '{:.4f}')} s/iter."
            )
            one = hp.get("one_thread_cpu")
            if one:
                out.append(
                    f"At 1 BLAS thread, in CPU time (robust to other load): plain HALS "
                    f"{_f(one.get('plain_s'), '{:.4f}')} s/iter vs floor "
                    f"{_f(one.get('floor_s'), '{:.4f}')} s "
                    f"({_f(one.get('ratio'), '{:.2f}x')})."
                )
        kl = p.get("kl", {})
        if kl:
            out.append(
                f"KL MU on {kl['rows']} rows, {kl['n_iter']} iterations: nmfviewer "
                f"{_f(kl.get('nmfviewer_s'), '{:.4f}')} s/iter, sklearn "
                f"{_f(kl.get('sklearn_s'), '{:.4f}')} s/iter "
                f"({_f(kl.get('ratio'), '{:.2f}x')}"
                f"); KL reached {_f(kl.get('nmfviewer_kl'), '{:.6g}')} vs "
                f"{_f(kl.get('sklearn_kl'), '{:.6g}')}."
            )
            one = kl.get("one_thread_cpu")
            if one:
                out.append(
                    f"KL at 1 BLAS thread, in CPU time (robust to other load): nmfviewer "
                    f"{_f(one.get('nmfviewer_s'), '{:.4f}')} s/iter, sklearn "
                    f"{_f(one.get('sklearn_s'), '{:.4f}')} s/iter "
                    f"({_f(one.get('ratio'), '{:.2f}x')})."
                )
        mem = p.get("memory", {})
        if mem:
            parts = []
            for side in ("nmfviewer", "sklearn-cd", "sklearn-mu"):
                d = mem.get(side, {})
                extra = _get(d, "extra_bytes")
                parts.append(f"{side} +{_f(extra and extra / MB, '{:.0f}')} MB")
            code = _get(mem.get("nmfviewer", {}), "code_load_bytes")
            loaded = (
                f" (nmfviewer's compiled kernels, loaded before: +{code / MB:.0f} MB once "
                "per process)"
                if code
                else ""
            )
            out.append(
                f"Peak memory over X ({mem['x_bytes'] / MB:.0f} MB): "
                + ", ".join(parts)
                + f"; budget +{mem['budget_extra_bytes'] / MB:.0f} MB{loaded}."
            )
        fe = p.get("final_error", {})
        if fe:
            out.append(
                f"Final error: nmfviewer {_f(fe.get('nmfviewer'), '{:.6g}')} after "
                f"{fe.get('nmfviewer_n_iter')} iterations ({fe.get('nmfviewer_stop')}, "
                f"{_f(fe.get('nmfviewer_s'), '{:.2f}')} s) vs scikit-learn best "
                f"{_f(fe.get('sklearn_best'), '{:.6g}')} ({fe.get('sklearn_best_run')}): "
                f"ratio {_f(fe.get('ratio'), '{:.5f}')}."
            )
    out.append("")
    out.append(f"{h}Targets")
    rows = [
        [
            r["problem"],
            r["label"],
            _f(r["value"], "{:.3g}"),
            f"{r['sense']} {r['threshold']:g}",
            r["verdict"],
        ]
        for r in verdicts(results)
    ]
    out.append(_table(["problem", "target", "achieved", "needed", "verdict"], rows, markdown))
    lv = results.get("live_view_overhead", {})
    out.append("")
    if lv.get("per_problem"):
        out.append(
            f"{h}Live view overhead (GUI FitWorker at its default snapshot rate vs "
            "headless iterate_nmf, same iterations, medians)"
        )
        rows = []
        for name, e in lv["per_problem"].items():
            if "error" in e:
                rows.append([name, "-", "-", "-", "-", e["error"]])
                continue
            rows.append(
                [
                    name,
                    str(e["n_iter"]),
                    f"{e['headless_it_per_s']:.1f}",
                    f"{e['worker_it_per_s']:.1f}",
                    f"{e['ratio']:.3f}",
                    f"{100 * e['overhead']:.1f}%",
                    _f(e.get("ratio_best_of"), "{:.3f}"),
                ]
            )
        out.append(
            _table(
                [
                    "problem",
                    "iterations",
                    "headless it/s",
                    "worker it/s",
                    "ratio",
                    "overhead",
                    "best-of ratio",
                ],
                rows,
                markdown,
            )
        )
    else:
        out.append(f"Live view overhead: {lv.get('status', 'not measured')}")
    # Markdown: a blank line between blocks, so tables and text render apart
    return ("\n\n" if markdown else "\n").join(out)


def summary(results: dict, markdown: bool = True) -> str:
    """Targets x problems: the achieved figure and PASS / MISS in each cell."""
    rows = verdicts(results)
    problems = list(dict.fromkeys(r["problem"] for r in rows))
    labels = {key: (label, threshold, sense) for key, label, threshold, sense in TARGETS}
    labels["live_view"] = (LIVE_LABEL, 0.9, ">=")
    table = []
    for key, (label, threshold, sense) in labels.items():
        cells = {r["problem"]: r for r in rows if r["target"] == key}
        if not cells:
            continue
        line = [f"{label} ({sense} {threshold:g})"]
        for name in problems:
            r = cells.get(name)
            line.append("-" if r is None else f"{_f(r['value'], '{:.3g}')} {r['verdict']}")
        table.append(line)
    return _table(["target", *problems], table, markdown)
