#!/usr/bin/env python3
"""Peer timing for `sims corpus generate`: slamkit's offline interleaving in Python.

slamkit (github.com/slp-rl/slamkit, slamkit/tokeniser/interleaving_tokeniser.py) interleaves
each aligned utterance in Python: Poisson(lambda=10) word spans until ceil(0.3 * words) words are
speech (numpy draws, a set of eligible starts), then the units of each speech span are found by
bisecting the cumulative unit times, and the interleaved document is built as a string of
'<UnN>' tokens and words (tokenised afterwards by a Hugging Face tokenizer, not timed here).
This script re-implements that procedure (same algorithm, written here) on utterances shaped
like the synthetic corpus' (26 words, ~8 frames and ~6.5 de-duplicated units per word) and
reports interleaved-stream tokens per second. It times only the interleaving: no rendering, no
de-duplication, no tokenizer, no file writing, so it is a generous peer for the C++ generator,
which does all of those.

    python3 bench/corpus_slamkit_interleave.py [--utterances 20000]
"""
import argparse
import math
import time
from bisect import bisect_left, bisect_right

import numpy as np


def select_spans_poisson(n, lam, eta, rng):
    total = math.ceil(n * eta)
    mask = np.zeros(n, dtype=int)
    eligible = set(range(n))
    selected = 0
    while selected < total and eligible:
        start = rng.choice(list(eligible))
        end = min(start + rng.poisson(lam), n)
        if np.any(mask[start:end] == 1):
            continue
        mask[start:end] = 1
        selected += end - start
        for i in range(start, end):
            eligible.discard(i)
        if end < n:
            eligible.discard(end)
    return mask


def interleave(units, durations, aligned, rng, unit_seconds=0.04):
    speech = select_spans_poisson(len(aligned), 10, 0.3, rng)
    unit_time = np.cumsum(durations) * unit_seconds
    out, tokens, i = [], 0, 0
    while i < len(aligned):
        j = i
        while j < len(aligned) and speech[j] == speech[i]:
            j += 1
        out.append('<speech>' if speech[i] else '<text>')
        tokens += 1
        if speech[i]:
            lo = bisect_left(unit_time, aligned[i][1])
            hi = bisect_right(unit_time, aligned[j - 1][2])
            out.append(''.join(f'<Un{u}>' for u in units[lo:hi]))
            tokens += hi - lo
        else:
            out.append(' '.join(w for w, _, _ in aligned[i:j]))
            tokens += j - i
        i = j
    return ''.join(out), tokens


def make_utterance(rng, words=26):
    aligned, units, durations, t = [], [], [], 0.0
    for w in range(words):
        frames = int(rng.integers(4, 13))
        n_units = max(1, round(frames / 1.26))
        d = np.full(n_units, frames // n_units)
        d[: frames - d.sum()] += 1
        units.extend(rng.integers(0, 500, n_units).tolist())
        durations.extend(d.tolist())
        aligned.append((f'w{w}', t, t + frames * 0.04))
        t += frames * 0.04
    return units, durations, aligned


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--utterances', type=int, default=20000)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    data = [make_utterance(rng) for _ in range(args.utterances)]
    start, cpu_start = time.perf_counter(), time.process_time()
    tokens = 0
    for units, durations, aligned in data:
        tokens += interleave(units, durations, aligned, rng)[1] + 2  # + BOS/EOS as in sims
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    print(f'slamkit-style interleaving: {tokens} tokens in {seconds:.2f} s wall, {cpu:.2f} s CPU = '
          f'{tokens / cpu / 1e6:.3f}M tokens per CPU second')


if __name__ == '__main__':
    main()
