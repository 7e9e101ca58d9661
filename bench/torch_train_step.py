"""PyTorch reference for bench/train-step.ts: full training steps of the same
Transformer LM (pre-norm RMSNorm, interleaved RoPE, causal attention,
SwiGLU, untied LM head, CS336 2025 architecture) with mean cross-entropy,
gradient clipping by global norm and AdamW, on the CPU.

Run with Debian's Python, which has torch (the pyenv python3 does not):
  /usr/bin/python3 bench/torch_train_step.py --vocab 10000 --context 256 \
      --d-model 256 --layers 4 --heads 8 --d-ff 683 --batch 16 --steps 3
Prints human-readable lines on stderr and one JSON object on stdout.
"""
import argparse
import json
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class RMSNorm(nn.Module):
    def __init__(self, d: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(d_head: int, context: int, theta: float):
    inv = theta ** (-torch.arange(0, d_head, 2, dtype=torch.float64) / d_head)
    ang = torch.arange(context, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    # Interleaved pairs (x[2i], x[2i+1]) rotated by the angle of position × frequency i.
    x0 = x[..., 0::2]
    x1 = x[..., 1::2]
    out = torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1)
    return out.flatten(-2)


class Block(nn.Module):
    def __init__(self, d: int, heads: int, d_ff: int):
        super().__init__()
        self.heads = heads
        self.ln1 = RMSNorm(d)
        self.ln2 = RMSNorm(d)
        self.q = nn.Linear(d, d, bias=False)
        self.k = nn.Linear(d, d, bias=False)
        self.v = nn.Linear(d, d, bias=False)
        self.o = nn.Linear(d, d, bias=False)
        self.w1 = nn.Linear(d, d_ff, bias=False)
        self.w2 = nn.Linear(d_ff, d, bias=False)
        self.w3 = nn.Linear(d, d_ff, bias=False)

    def attention(self, x, cos, sin, mask):
        b, t, d = x.shape
        h = self.heads

        def split(y):
            return y.view(b, t, h, d // h).transpose(1, 2)

        q = apply_rope(split(self.q(x)), cos, sin)
        k = apply_rope(split(self.k(x)), cos, sin)
        v = split(self.v(x))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d // h)
        scores = scores.masked_fill(mask, float('-inf'))
        out = torch.softmax(scores, dim=-1) @ v
        return self.o(out.transpose(1, 2).reshape(b, t, d))

    def forward(self, x, cos, sin, mask):
        x = x + self.attention(self.ln1(x), cos, sin, mask)
        h = self.ln2(x)
        return x + self.w2(F.silu(self.w1(h)) * self.w3(h))


class LM(nn.Module):
    def __init__(self, vocab: int, context: int, d: int, layers: int, heads: int, d_ff: int, theta: float = 10000.0):
        super().__init__()
        self.emb = nn.Embedding(vocab, d)
        self.blocks = nn.ModuleList([Block(d, heads, d_ff) for _ in range(layers)])
        self.ln_final = RMSNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        cos, sin = rope_tables(d // heads, context, theta)
        self.register_buffer('cos', cos, persistent=False)
        self.register_buffer('sin', sin, persistent=False)

    def forward(self, ids):
        t = ids.shape[1]
        x = self.emb(ids)
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        cos, sin = self.cos[:t], self.sin[:t]
        for blk in self.blocks:
            x = blk(x, cos, sin, mask)
        return self.head(self.ln_final(x))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument('--vocab', type=int, default=10000)
    ap.add_argument('--context', type=int, default=256)
    ap.add_argument('--d-model', type=int, default=256)
    ap.add_argument('--layers', type=int, default=4)
    ap.add_argument('--heads', type=int, default=8)
    ap.add_argument('--d-ff', type=int, default=683)
    ap.add_argument('--batch', type=int, default=16)
    ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--threads', type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = LM(args.vocab, args.context, args.d_model, args.layers, args.heads, args.d_ff)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    gen = torch.Generator().manual_seed(1)

    def step() -> float:
        x = torch.randint(0, args.vocab, (args.batch, args.context), generator=gen)
        y = torch.randint(0, args.vocab, (args.batch, args.context), generator=gen)
        opt.zero_grad(set_to_none=True)
        logits = model(x)
        loss = F.cross_entropy(logits.view(-1, args.vocab), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return float(loss)

    t0 = time.perf_counter()
    step()  # warm-up: allocator, thread pool
    warm = time.perf_counter() - t0
    times = []
    loss = float('nan')
    for _ in range(args.steps):
        t0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t0)
    step_s = sorted(times)[len(times) // 2]
    tokens = args.batch * args.context
    print(f'torch {torch.__version__}: {step_s:.2f} s/step (median of {len(times)}, warm-up {warm:.2f} s), '
          f'{tokens / step_s:.0f} tokens/s, loss {loss:.3f}', file=sys.stderr)
    print(json.dumps({
        'system': 'pytorch', 'torch': torch.__version__, 'threads': torch.get_num_threads(),
        'step_s': step_s, 'best_step_s': min(times), 'step_times_s': times, 'warmup_s': warm, 'tokens_per_s': tokens / step_s,
        'loss': loss, 'parameters': sum(p.numel() for p in model.parameters()),
    }))


if __name__ == '__main__':
    main()
