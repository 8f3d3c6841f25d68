#!/usr/bin/env python3
"""Independent scipy reference for sims' fitting suite (fitting/), used two ways:

1. Golden values for CTest (tests/data/fit_reference.json), so C++ tests never need Python:
       python3 bench/fit_reference.py golden > tests/data/fit_reference.json
   Approach 3 on the (Mis)Fitting final points, approach 2 per Marin dataset (outliers dropped),
   approach 1 on the (Mis)Fitting curves, all on the CSV copies in tests/data/.
2. The timed peer of `sims bench fit`:
       python3 bench/fit_reference.py approach3 --csv FILE [--columns ...] [--where col=@col]
   prints {"name": "scipy", "seconds", "objective", "params", "starts"} as JSON.

Approach 3 is Chinchilla's: log L ~ LSE(a - alpha log N, b - beta log D, e), Huber(delta=1e-3)
on residuals summed, 4500 starts, L-BFGS-B with an analytic gradient and ftol=0, gtol=1e-12
(scipy's default ftol stops early at objectives near 1e-3). Written from the definitions, not
from sims' C++; the only shared thing is the math.
"""
import argparse
import csv
import itertools
import json
import math
import os
import sys
import time

import numpy as np
from scipy.optimize import minimize
from scipy.special import logsumexp

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data")
CURVES = os.path.join(DATA, "misfitting_loss_curves.csv")
ISOFLOPS = os.path.join(DATA, "isoflops_marin_misfitting.csv")

GRID = dict(alpha=[0, 0.5, 1, 1.5, 2], beta=[0, 0.5, 1, 1.5, 2], e=[-1, -0.5, 0, 0.5, 1],
            a=[0, 5, 10, 15, 20, 25], b=[0, 5, 10, 15, 20, 25])


def read_points(path, params="params", tokens="tokens", loss="loss", budget="budget",
                where=(), drop_outliers=False):
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            ok = True
            for col, val in where:
                want = r[val[1:]] if val.startswith("@") else val
                if r[col] != want:
                    ok = False
            if not ok:
                continue
            if drop_outliers and r["outlier"].strip().lower() in ("true", "1", "yes"):
                continue
            rows.append(dict(N=float(r[params]), D=float(r[tokens]), L=float(r[loss]),
                             C=float(r[budget])))
    return rows


def huber(r, delta):
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r * r, delta * (a - 0.5 * delta))


def approach3(rows, delta=1e-3):
    log_n = np.log([p["N"] for p in rows])
    log_d = np.log([p["D"] for p in rows])
    log_l = np.log([p["L"] for p in rows])

    def fun(x):
        e, a, b, alpha, beta = x
        t = np.stack([a - alpha * log_n, b - beta * log_d, np.full_like(log_n, e)])
        lse = logsumexp(t, axis=0)
        r = lse - log_l
        w = np.exp(t - lse)  # softmax weights
        dr = np.clip(r, -delta, delta)  # Huber'(r)
        g = np.array([np.sum(dr * w[2]), np.sum(dr * w[0]), np.sum(dr * w[1]),
                      -np.sum(dr * w[0] * log_n), -np.sum(dr * w[1] * log_d)])
        return float(np.sum(huber(r, delta))), g

    best = None
    objectives = []
    for alpha, beta, e, a, b in itertools.product(GRID["alpha"], GRID["beta"], GRID["e"],
                                                  GRID["a"], GRID["b"]):
        res = minimize(fun, np.array([e, a, b, alpha, beta], float), jac=True, method="L-BFGS-B",
                       options=dict(ftol=0.0, gtol=1e-12, maxiter=15000))
        objectives.append(res.fun)
        if best is None or res.fun < best.fun:
            best = res
    objectives = np.array(objectives)
    at_best = int(np.sum(np.abs(objectives - best.fun) <= 1e-9 * abs(best.fun)))
    e, a, b, alpha, beta = best.x
    return dict(objective=float(best.fun), starts=len(objectives), starts_at_best=at_best,
                params=dict(E=math.exp(e), A=math.exp(a), B=math.exp(b), alpha=alpha, beta=beta))


def power_law(x, y):
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return dict(coefficient=float(math.exp(intercept)), exponent=float(slope))


def approach2(rows, min_points=3):
    budgets = sorted(set(p["C"] for p in rows))
    vertices, skipped = [], []
    for c in budgets:
        pts = [p for p in rows if p["C"] == c]
        if len(pts) < min_points:
            skipped.append(dict(budget=c, n_points=len(pts)))
            continue
        x = np.log([p["N"] for p in pts])
        y = np.array([p["L"] for p in pts])
        c2, c1, c0 = np.polyfit(x, y, 2)
        if not c2 > 0:
            skipped.append(dict(budget=c, n_points=len(pts)))
            continue
        xv = -c1 / (2 * c2)
        n_opt = math.exp(xv)
        vertices.append(dict(budget=c, n_opt=n_opt, d_opt=c / (6 * n_opt),
                             loss=float(c0 + c1 * xv + c2 * xv * xv), n_points=len(pts)))
    cs = [v["budget"] for v in vertices]
    return dict(n_budgets=len(vertices), vertices=vertices, skipped=skipped,
                n_opt=power_law(cs, [v["n_opt"] for v in vertices]),
                d_opt=power_law(cs, [v["d_opt"] for v in vertices]))


def approach1(rows):
    """Pareto envelope: points (sorted by C, ties by loss) whose loss beats every lower-C point."""
    order = sorted(rows, key=lambda p: (p["C"], p["L"]))
    env, best = [], math.inf
    for p in order:
        if p["L"] < best:
            env.append(p)
            best = p["L"]
    cs = [p["C"] for p in env]
    return dict(n_envelope=len(env), n_opt=power_law(cs, [p["N"] for p in env]),
                d_opt=power_law(cs, [p["D"] for p in env]),
                loss=power_law(cs, [p["L"] for p in env]))


def golden():
    curves = dict(params="N", tokens="D", loss="loss", budget="C")
    out = {"generated_by": "python3 bench/fit_reference.py golden > tests/data/fit_reference.json",
           "scipy": __import__("scipy").__version__, "numpy": np.__version__}
    final = read_points(CURVES, where=[("current_steps", "@total_steps")], **curves)
    t0 = time.perf_counter()
    fit3 = approach3(final)
    out["approach3_misfitting_final"] = dict(n_points=len(final), seconds=time.perf_counter() - t0,
                                             **fit3)
    out["approach1_misfitting_curves"] = approach1(read_points(CURVES, **curves))
    out["approach2_marin"] = {}
    for dataset in ("comma", "dclm", "nemotron", "fineweb_c4"):
        rows = read_points(ISOFLOPS, where=[("dataset", dataset)], drop_outliers=True)
        out["approach2_marin"][dataset] = approach2(rows)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("mode", choices=["golden", "approach3"])
    ap.add_argument("--csv", default=CURVES)
    ap.add_argument("--columns", default="params=N,tokens=D,loss=loss,budget=C")
    ap.add_argument("--where", action="append", default=[])
    ap.add_argument("--huber-delta", type=float, default=1e-3)
    args = ap.parse_args()
    if args.mode == "golden":
        json.dump(golden(), sys.stdout, indent=1)
        print()
        return
    cols = dict(kv.split("=", 1) for kv in args.columns.split(",") if kv)
    where = [tuple(w.split("=", 1)) for w in args.where] or [("current_steps", "@total_steps")]
    rows = read_points(args.csv, where=where, **{k: v for k, v in cols.items()
                                                 if k in ("params", "tokens", "loss", "budget")})
    t0 = time.perf_counter()
    fit = approach3(rows, args.huber_delta)
    seconds = time.perf_counter() - t0
    json.dump(dict(name="scipy", seconds=seconds, points=len(rows), **fit), sys.stdout)
    print()


if __name__ == "__main__":
    main()
