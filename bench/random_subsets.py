#!/usr/bin/env python3
"""How well can 10% of a published IsoFLOP pool predict its largest budget at all?

Draws random subsets of the pool (every budget but the largest) within a FLOP spend, each run
weighted by FLOPs**W (W = 0: uniform; W > 0 favours the expensive runs), fits each with
`sims fit` (approach 3, 4500 starts) and prints the best subsets' mean absolute percentage
error on the largest budget's runs and the median over all subsets. The yardstick for
`sims bench design` on one pool (docs/benchmarks.md, "Adaptive design").

    python3 bench/random_subsets.py --dataset nemotron --subsets 120 --weight 0.5
"""
import argparse
import csv
import json
import os
import random
import subprocess
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "tests/data/isoflops_marin_misfitting.csv"))
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--spend", type=float, default=0.1, help="fraction of the pool's FLOPs")
    ap.add_argument("--subsets", type=int, default=120)
    ap.add_argument("--weight", type=float, default=0.5, help="runs drawn with weight FLOPs**W")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sims", default=os.path.join(ROOT, "build/sims"))
    args = ap.parse_args()

    rows = [r for r in csv.DictReader(open(args.data))
            if r["dataset"] == args.dataset and r["outlier"] in ("", "0", "False", "false")]
    largest = max(float(r["budget"]) for r in rows)
    target = [r for r in rows if float(r["budget"]) == largest]
    pool = [r for r in rows if float(r["budget"]) < largest]
    limit = args.spend * sum(float(r["budget"]) for r in pool)

    def mape(subset):
        with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", delete=False) as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
            writer.writeheader()
            writer.writerows(subset)
        out = subprocess.run([args.sims, "--log-level", "error", "fit", "--data", f.name, "--columns",
                              "params=params,tokens=tokens,loss=loss,budget=budget", "--no-store",
                              "--format", "json"], capture_output=True, text=True)
        os.unlink(f.name)
        if out.returncode != 0:
            return None
        p = json.loads(out.stdout)["params"]
        error = 0.0
        for t in target:
            n, d, loss = float(t["params"]), float(t["tokens"]), float(t["loss"])
            error += abs(p["E"] + p["A"] / n ** p["alpha"] + p["B"] / d ** p["beta"] - loss) / loss
        return error / len(target)

    print(f"{args.dataset}: pool {len(pool)} runs, target {len(target)} runs; all data "
          f"{100 * mape(pool):.2f}%")
    rng = random.Random(args.seed)
    results = []
    for _ in range(args.subsets):
        order = sorted(pool, key=lambda r: -rng.random() ** (1 / float(r["budget"]) ** args.weight))
        subset, spent = [], 0.0
        for r in order:
            if spent + float(r["budget"]) <= limit:
                subset.append(r)
                spent += float(r["budget"])
        error = mape(subset)
        if error is not None:
            results.append((error, subset))
    results.sort(key=lambda x: x[0])
    for error, subset in results[:5]:
        budgets = sorted({float(r["budget"]) for r in subset})
        print(f"  {100 * error:.2f}%  {len(subset)} runs at budgets "
              + ", ".join(f"{b:.2g} x{sum(float(r['budget']) == b for r in subset)}" for b in budgets))
    print(f"median over {len(results)} subsets: {100 * results[len(results) // 2][0]:.2f}%")


if __name__ == "__main__":
    main()
