#!/usr/bin/env python3
"""PyTorch eager reference for `sims bench train`: the same Llama-style decoder as
trainer/model.h (RMSNorm in fp32, rotate-half RoPE, causal attention, SwiGLU, tied or untied
head), the same init, AdamW groups, clip and batch, trained on random tokens; prints one JSON
line {"name": "pytorch-eager", "tokens_per_sec": ..., ...}.

Run by `sims bench train` with the interpreter of --python (default: /usr/bin/python3 when it
has Debian's python3-torch, which is the same LibTorch 1.13 and system BLAS the C++ worker
links, so the comparison isolates the Python overhead; else python3). Not a dependency of sims
or of its tests.

  python3 bench/train_reference.py --layers 2 --d-model 64 --heads 4 --d-ff 176 --vocab 1024 \
      --batch 8 --context 128 --threads 1
"""
import argparse
import ctypes
import contextlib
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, dim, eps=1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(dim))
        self.eps = eps

    def forward(self, x):
        xf = x.float()
        xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * xf.to(x.dtype)


def rope_tables(T, hs, theta, device):
    inv_freq = 1.0 / theta ** (torch.arange(0, hs, 2, dtype=torch.float64) / hs)
    freqs = torch.outer(torch.arange(T, dtype=torch.float64), inv_freq)
    emb = torch.cat([freqs, freqs], -1)
    return emb.cos().float().to(device), emb.sin().float().to(device)


def apply_rope(x, cos, sin):
    half = x.shape[-1] // 2
    rotated = torch.cat([-x[..., half:], x[..., :half]], -1)
    return x * cos + rotated * sin


def causal_attention(q, k, v):
    if hasattr(F, "scaled_dot_product_attention"):  # PyTorch >= 2.0, as the C++ 2.x build
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    T = q.shape[2]
    att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    mask = torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1)
    att = att.masked_fill(mask, float("-inf")).softmax(-1)
    return att @ v


class Attention(nn.Module):
    def __init__(self, c, nh, nkv, bias):
        super().__init__()
        self.nh, self.nkv, self.hs = nh, nkv, c // nh
        self.q_proj = nn.Linear(c, c, bias=bias)
        self.k_proj = nn.Linear(c, nkv * self.hs, bias=bias)
        self.v_proj = nn.Linear(c, nkv * self.hs, bias=bias)
        self.o_proj = nn.Linear(c, c, bias=False)

    def forward(self, x, cos, sin):
        B, T, C = x.shape
        q = self.q_proj(x).view(B, T, self.nh, self.hs).transpose(1, 2)
        k = self.k_proj(x).view(B, T, self.nkv, self.hs).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.nkv, self.hs).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if self.nkv != self.nh:
            k = k.repeat_interleave(self.nh // self.nkv, 1)
            v = v.repeat_interleave(self.nh // self.nkv, 1)
        y = causal_attention(q, k, v).transpose(1, 2).contiguous().view(B, T, C)
        return self.o_proj(y)


class Layer(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.input_layernorm = RMSNorm(a.d_model)
        self.self_attn = Attention(a.d_model, a.heads, a.kv_heads or a.heads, a.qkv_bias)
        self.post_attention_layernorm = RMSNorm(a.d_model)
        self.gate_proj = nn.Linear(a.d_model, a.d_ff, bias=False)
        self.up_proj = nn.Linear(a.d_model, a.d_ff, bias=False)
        self.down_proj = nn.Linear(a.d_ff, a.d_model, bias=False)

    def forward(self, x, cos, sin):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin)
        h = self.post_attention_layernorm(x)
        return x + self.down_proj(F.silu(self.gate_proj(h)) * self.up_proj(h))


class Decoder(nn.Module):
    def __init__(self, a):
        super().__init__()
        self.a = a
        self.embed_tokens = nn.Embedding(a.vocab, a.d_model)
        self.layers = nn.ModuleList([Layer(a) for _ in range(a.layers)])
        self.norm = RMSNorm(a.d_model)
        self.lm_head = None if a.tied else nn.Linear(a.d_model, a.vocab, bias=False)
        self.rope = None
        std, residual_std = 0.02, 0.02 / math.sqrt(2 * a.layers)
        for name, p in self.named_parameters():
            if name.endswith("norm.weight"):
                nn.init.ones_(p)
            elif name.endswith(".bias"):
                nn.init.zeros_(p)
            elif name.endswith("o_proj.weight") or name.endswith("down_proj.weight"):
                nn.init.normal_(p, 0.0, residual_std)
            else:
                nn.init.normal_(p, 0.0, std)

    def forward(self, tokens):
        T = tokens.shape[1]
        if self.rope is None or self.rope[0].shape[0] < T:
            self.rope = rope_tables(T, self.a.d_model // self.a.heads, 10000.0, tokens.device)
        cos, sin = self.rope[0][:T], self.rope[1][:T]
        x = self.embed_tokens(tokens)
        for layer in self.layers:
            x = layer(x, cos, sin)
        x = self.norm(x)
        w = self.embed_tokens.weight if self.lm_head is None else self.lm_head.weight
        return F.linear(x, w)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--layers", type=int, required=True)
    p.add_argument("--d-model", type=int, required=True)
    p.add_argument("--heads", type=int, required=True)
    p.add_argument("--kv-heads", type=int, default=0)
    p.add_argument("--d-ff", type=int, required=True)
    p.add_argument("--vocab", type=int, required=True)
    p.add_argument("--untied", dest="tied", action="store_false")
    p.add_argument("--qkv-bias", action="store_true")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--context", type=int, default=128)
    p.add_argument("--warmup-steps", type=int, default=3)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--min-seconds", type=float, default=2.0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--device", default="cpu")
    a = p.parse_args()

    torch.set_num_threads(a.threads)
    try:  # as trainer::SetComputeThreads: OpenBLAS's own pool (Debian's torch, system BLAS)
        ctypes.CDLL(None).openblas_set_num_threads(a.threads)
    except AttributeError:
        pass
    device = torch.device("cuda" if a.device == "cuda" or
                          (a.device == "auto" and torch.cuda.is_available()) else "cpu")
    torch.manual_seed(1)
    model = Decoder(a).to(device)
    decay = [p for n, p in model.named_parameters() if p.dim() == 2 and n != "embed_tokens.weight"]
    no_decay = [p for n, p in model.named_parameters() if not (p.dim() == 2 and n != "embed_tokens.weight")]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.1},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=5e-4, betas=(0.9, 0.95), eps=1e-8)
    torch.manual_seed(0)
    batch = torch.randint(0, a.vocab, (a.batch, a.context + 1), device=device)
    params = list(model.parameters())
    # bf16 autocast on CUDA only; a CPU-only torch 1.13 refuses even a disabled CUDA autocast.
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if device.type == "cuda" \
        else contextlib.nullcontext

    def step():
        for g in opt.param_groups:
            g["lr"] = 5e-4
        opt.zero_grad(set_to_none=True)
        with autocast():
            logits = model(batch[:, :-1])
            loss = F.cross_entropy(logits.float().reshape(-1, logits.shape[-1]),
                                   batch[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 0.5)
        opt.step()
        return loss.item()

    for _ in range(a.warmup_steps):
        step()
    steps, start, cpu_start = 0, time.perf_counter(), time.process_time()
    while steps < a.steps or time.perf_counter() - start < a.min_seconds:
        step()
        steps += 1
    seconds = time.perf_counter() - start
    cpu_seconds = time.process_time() - cpu_start
    print(json.dumps({"name": "pytorch-eager", "torch": torch.__version__,
                      "blas": "mkl" if torch.backends.mkl.is_available() else "system",
                      "device": device.type, "threads": a.threads, "steps": steps,
                      "seconds": seconds,
                      "tokens_per_sec": steps * a.batch * a.context / seconds,
                      "tokens_per_cpu_sec": steps * a.batch * a.context / cpu_seconds}))


if __name__ == "__main__":
    main()
