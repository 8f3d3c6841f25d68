#!/usr/bin/env python3
"""Is the synthetic world learnable? An independent PyTorch check of a generated corpus.

Trains a small causal transformer (PyTorch, not sims' trainer) on one train stream of a corpus
directory and scores eval pair sets the way sims does (mean log-likelihood of the continuation
after [bos] + prefix; ties 0.5). Used to check that the world's regularities (agreement, topic
coherence, event -> ending) can be learned from text and from speech, and to record how fast;
the results are in docs/corpus.md. Reads the shard format of docs/corpus.md directly.

    python3 bench/corpus_learnability.py demo-corpus --stream text --steps 5000 \
        --tasks sblimp/text,ssc/text,tsc/text
"""
import argparse
import json
import struct
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


def load_shard(path):
    b = open(path, 'rb').read()
    magic, version, kind, dtype, vocab, count, docs = struct.unpack_from('<8sIIIIQQ', b)
    assert magic == b'SIMSSHRD' and version == 1, path
    tokens = np.frombuffer(b, dtype=np.uint16 if dtype == 2 else np.uint32, count=count, offset=64)
    offsets = np.frombuffer(b, dtype=np.uint64, count=docs + 1,
                            offset=64 + (count * dtype + 7) // 8 * 8)
    return tokens.astype(np.int64), offsets.astype(np.int64)


class LM(nn.Module):
    def __init__(self, vocab, d_model, layers, heads, context):
        super().__init__()
        self.emb = nn.Embedding(vocab, d_model)
        nn.init.normal_(self.emb.weight, std=0.02)
        self.pos = nn.Embedding(context, d_model)
        layer = nn.TransformerEncoderLayer(d_model, heads, 4 * d_model, 0.0, batch_first=True,
                                           norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x):  # (B, T) -> (B, T, V)
        t = x.shape[1]
        h = self.emb(x) + self.pos(torch.arange(t))
        mask = torch.triu(torch.full((t, t), float('-inf')), 1)
        return self.norm(self.blocks(h, mask=mask)) @ self.emb.weight.T


def main():
    p = argparse.ArgumentParser()
    p.add_argument('corpus')
    p.add_argument('--stream', default='text')
    p.add_argument('--steps', type=int, default=3000)
    p.add_argument('--batch', type=int, default=32)
    p.add_argument('--context', type=int, default=64)
    p.add_argument('--d-model', type=int, default=128)
    p.add_argument('--layers', type=int, default=3)
    p.add_argument('--lr', type=float, default=3e-3)
    p.add_argument('--tasks', default='sblimp/text,ssc/text,tsc/text')
    p.add_argument('--pairs', type=int, default=400, help='pairs scored per task')
    p.add_argument('--threads', type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    vocab = json.load(open(f'{a.corpus}/vocab.json'))
    tokens, _ = load_shard(f'{a.corpus}/train/{a.stream}.bin')
    max_len = 512
    model = LM(vocab['vocab_size'], a.d_model, a.layers, 4, max_len)
    opt = torch.optim.AdamW(model.parameters(), a.lr, weight_decay=0.1)
    start = time.time()
    for step in range(a.steps):
        ix = rng.integers(0, len(tokens) - a.context - 1, a.batch)
        x = torch.tensor(np.stack([tokens[i:i + a.context] for i in ix]))
        y = torch.tensor(np.stack([tokens[i + 1:i + a.context + 1] for i in ix]))
        lr = a.lr * min(1.0, (step + 1) / 100) * (0.1 + 0.45 * (1 + np.cos(np.pi * step / a.steps)))
        for g in opt.param_groups:
            g['lr'] = lr
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.5)
        opt.step()
        if step % 500 == 0 or step == a.steps - 1:
            print(f'step {step} loss {loss.item():.3f} ({time.time() - start:.0f} s)', flush=True)
    model.eval()
    tokens_seen = a.steps * a.batch * a.context
    print(f'trained on {tokens_seen / 1e6:.2f}M tokens of train/{a.stream}')
    for task in a.tasks.split(','):
        toks, off = load_shard(f'{a.corpus}/eval/{task.replace("/", "_")}.bin')
        n = min(a.pairs, (len(off) - 1) // 3)
        right = 0.0
        for i in range(n):
            prefix, pos, neg = (toks[off[3 * i + k]:off[3 * i + k + 1]] for k in range(3))
            scores = []
            for cont in (pos, neg):
                seq = torch.tensor([[vocab['bos']] + prefix.tolist() + cont.tolist()])[:, -max_len:]
                with torch.no_grad():
                    logp = F.log_softmax(model(seq[:, :-1]), -1)[0, -len(cont):]
                scores.append(logp.gather(1, seq[0, -len(cont):, None]).mean().item())
            right += 1.0 if scores[0] > scores[1] else (0.5 if scores[0] == scores[1] else 0.0)
        print(f'{task}: {right / n:.3f} ({n} pairs)')


if __name__ == '__main__':
    main()
