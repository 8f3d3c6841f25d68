#!/usr/bin/env python3
"""A synthetic IsoFLOP pool from a known law, for `sims bench design` timing and replays.

L = E + A/N^alpha + B/D^beta with E 1.7, A 400, B 1500, alpha .34, beta .28 (the calibration
law of docs/benchmarks.md), C = 6ND, `budgets` budgets log-spaced from 1e17 by a quarter decade,
`sizes` sizes each over N_opt/8 .. 8 N_opt, losses times exp(0.01 z). Seeded; standard library
only. Writes CSV (params,tokens,loss,budget) to stdout.

    python3 bench/synthetic_pool.py --budgets 20 --sizes 20 > pool400.csv
"""
import argparse
import math
import random

E, A, B, ALPHA, BETA = 1.7, 400.0, 1500.0, 0.34, 0.28


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, default=20)
    parser.add_argument("--sizes", type=int, default=20)
    parser.add_argument("--noise", type=float, default=0.01)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    g = (ALPHA * A / (BETA * B)) ** (1 / (ALPHA + BETA))
    print("params,tokens,loss,budget")
    for i in range(args.budgets):
        c = 1e17 * 10 ** (i / 4)
        n_opt = g * (c / 6) ** (BETA / (ALPHA + BETA))
        for j in range(args.sizes):
            half = (args.sizes - 1) / 2
            n = n_opt * 8 ** ((j - half) / half)
            d = c / (6 * n)
            loss = (E + A / n**ALPHA + B / d**BETA) * math.exp(rng.gauss(0, args.noise))
            print(f"{n!r},{d!r},{loss!r},{c!r}")


if __name__ == "__main__":
    main()
