"""PyTorch side of bench/train-parity.ts: trains the same Transformer LM as an
lmpipe run, from the same initial weights, on the same batches, with the
same hyperparameters, in float32 on the CPU, and logs metrics.jsonl in
lmpipe's format so both runs can be compared and plotted.

Everything is taken from files lmpipe wrote; nothing is re-derived:
  --config   the run's train-config.json (model keys, lr schedule, AdamW,
             clipping, eval settings, token files)
  --init     the step-0 model.safetensors written by the trainer
  --batches  the window starts of every step (bench/train-parity.ts replays
             the trainer's seeded batch sampler to write them)

The optimizer is the CS336 handout's AdamW (moments, bias-corrected step,
THEN decoupled decay θ ← θ − lr·λ·θ); torch.optim.AdamW decays first, so it
is written out here. Schedule: the handout's cosine with linear warmup,
evaluated at the 0-based iteration. Clipping: torch.nn.utils.clip_grad_norm_.

Run with Debian's Python, which has torch (the pyenv python3 does not):
  /usr/bin/python3 bench/train_parity.py --config RUN/train-config.json \
      --init INIT/model.safetensors --batches batches.json --out out/parity/pytorch \
      [--compare RUN ...]
Prints human-readable lines on stderr and one JSON object on stdout.
"""
import argparse
import contextlib
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_lm import TransformerLM  # noqa: E402  (needs the path above)

SAFETENSORS_DTYPES = {'F32': np.float32, 'F64': np.float64, 'F16': np.float16}


def read_safetensors(path):
    """name -> float32 numpy array (safetensors: u64 header size, JSON header, raw little-endian data)."""
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        dtype = SAFETENSORS_DTYPES.get(info['dtype'])
        if dtype is None:
            raise SystemExit(f'{path}: tensor {name} has dtype {info["dtype"]}; expected a float type')
        start, end = info['data_offsets']
        arr = np.frombuffer(raw[base + start:base + end], dtype=np.dtype(dtype).newbyteorder('<'))
        out[name] = arr.reshape(info['shape']).astype(np.float32)
    return out


def read_tokens(path):
    """A token file as int64 ids (dtype from the .json sidecar, uint16 without one)."""
    dtype = np.uint16
    side = path + '.json'
    if os.path.exists(side):
        with open(side) as f:
            if json.load(f).get('dtype') == 'uint32':
                dtype = np.uint32
    return np.fromfile(path, dtype=np.dtype(dtype).newbyteorder('<')).astype(np.int64)


def check_architecture(c):
    """This script implements the CS336 default architecture only."""
    want = {'position': 'rope', 'ffn': 'swiglu', 'norm': 'pre', 'parallel': False, 'tie_embeddings': False, 'dropout': 0}
    bad = {k: c.get(k) for k, v in want.items() if c.get(k, v) != v}
    if bad:
        raise SystemExit(f'train_parity.py supports the default architecture only ({want}); the config has {bad}')


class HandoutAdamW:
    """AdamW in the CS336 handout's order: m, v, bias-corrected step, then decoupled decay."""

    def __init__(self, params, betas, eps, weight_decay):
        self.params = list(params)
        self.b1, self.b2 = betas
        self.eps = eps
        self.wd = weight_decay
        self.t = 0
        self.m = [torch.zeros_like(p) for p in self.params]
        self.v = [torch.zeros_like(p) for p in self.params]

    @torch.no_grad()
    def step(self, lr):
        self.t += 1
        alpha = lr * math.sqrt(1 - self.b2 ** self.t) / (1 - self.b1 ** self.t)
        for p, m, v in zip(self.params, self.m, self.v):
            if p.grad is None:
                continue
            g = p.grad
            m.mul_(self.b1).add_(g, alpha=1 - self.b1)
            v.mul_(self.b2).addcmul_(g, g, value=1 - self.b2)
            p.addcdiv_(m, v.sqrt().add_(self.eps), value=-alpha)
            p.mul_(1 - lr * self.wd)


class TorchAdamW:
    """torch.optim.AdamW (decoupled decay BEFORE the moment step) behind HandoutAdamW's step(lr)."""

    def __init__(self, params, betas, eps, weight_decay):
        self.opt = torch.optim.AdamW(params, lr=0.0, betas=tuple(betas), eps=eps, weight_decay=weight_decay)

    def step(self, lr):
        for group in self.opt.param_groups:
            group['lr'] = lr
        self.opt.step()


def cosine_lr(it, max_lr, min_lr, warmup, cycle):
    """get_lr_cosine_schedule of the handout (it is 0-based)."""
    if it < warmup:
        return it / warmup * max_lr
    if it <= cycle:
        if cycle == warmup:
            return max_lr
        return min_lr + 0.5 * (1 + math.cos((it - warmup) / (cycle - warmup) * math.pi)) * (max_lr - min_lr)
    return min_lr


def windows(tokens, starts, t):
    """x, y (B, T) int64 tensors for windows of T+1 tokens at `starts`."""
    idx = np.asarray(starts, dtype=np.int64)[:, None] + np.arange(t + 1, dtype=np.int64)[None, :]
    w = torch.from_numpy(tokens[idx])
    return w[:, :-1].contiguous(), w[:, 1:].contiguous()


@torch.no_grad()
def autocast(precision):
    """bf16: torch.autocast on the CPU (matmuls in bf16, losses in fp32), the peer of lmpipe's --precision bf16."""
    return torch.autocast('cpu', dtype=torch.bfloat16) if precision == 'bf16' else contextlib.nullcontext()


def evaluate(model, tokens, batch_size, t, max_batches, precision='fp32'):
    """Mean loss over the first max_batches·B non-overlapping windows (start i·(T+1)), as lmpipe's evaluate."""
    n = min(len(tokens) // (t + 1), max_batches * batch_size)
    total, count = 0.0, 0
    for lo in range(0, n, batch_size):
        starts = [i * (t + 1) for i in range(lo, min(lo + batch_size, n))]
        x, y = windows(tokens, starts, t)
        with autocast(precision):
            logits = model(x)
            total += float(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))) * y.numel()
        count += y.numel()
    return total / count


def compare_weights(model, run_dir):
    """Per-tensor max |Δ| of the final weights against an lmpipe run, relative to max |w|."""
    theirs = read_safetensors(os.path.join(run_dir, 'model.safetensors'))
    worst_name, worst = None, 0.0
    for name, p in model.state_dict().items():
        a = p.detach().numpy()
        b = theirs[name]
        rel = float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(a))), 1e-30))
        if rel >= worst:
            worst_name, worst = name, rel
    return {'run': run_dir, 'max_rel_weight_diff': worst, 'tensor': worst_name}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--config', required=True, help="the lmpipe run's train-config.json")
    ap.add_argument('--init', required=True, help='initial weights (model.safetensors of the step-0 checkpoint)')
    ap.add_argument('--batches', required=True, help='JSON with "starts": one list of window starts per step')
    ap.add_argument('--out', required=True, help='directory for metrics.jsonl')
    ap.add_argument('--compare', action='append', default=[], help='lmpipe run directory whose final weights to compare')
    ap.add_argument('--optimizer', choices=['handout', 'torch'], default='handout',
                    help='handout: the CS336 AdamW (decay after the step, as lmpipe); torch: torch.optim.AdamW (decay first), to measure the difference')
    ap.add_argument('--threads', type=int, default=1, help='torch threads (1: two would oversubscribe a loaded 2-core machine)')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    with open(args.config) as f:
        cfg = json.load(f)
    mc = cfg['model']
    check_architecture(mc)
    with open(args.batches) as f:
        batches = json.load(f)
    steps = cfg['max_steps']
    starts = batches['starts']
    if len(starts) < steps:
        raise SystemExit(f'{args.batches} has {len(starts)} batches; the config runs {steps} steps')
    t = mc['context_length']
    bsz = cfg['batch_size']
    precision = cfg.get('precision', 'fp32')
    if precision not in ('fp32', 'bf16'):
        raise SystemExit(f'{args.config}: precision {precision!r}: give fp32 or bf16 (the run resolved, not auto)')

    model = TransformerLM(mc)
    init = read_safetensors(args.init)
    sd = model.state_dict()
    if set(init) != set(sd):
        raise SystemExit(f'{args.init}: tensors {sorted(set(init) ^ set(sd))[:4]} differ from the model\'s parameters')
    model.load_state_dict({k: torch.from_numpy(v.copy()) for k, v in init.items()})

    train = read_tokens(cfg['train_data'])
    val = read_tokens(cfg['val_data']) if cfg.get('val_data') else None
    if args.optimizer == 'handout':
        opt = HandoutAdamW(model.parameters(), cfg['betas'], 1e-8, cfg['weight_decay'])
    else:
        opt = TorchAdamW(model.parameters(), cfg['betas'], 1e-8, cfg['weight_decay'])
    clip = cfg['grad_clip']

    os.makedirs(args.out, exist_ok=True)
    metrics_path = os.path.join(args.out, 'metrics.jsonl')
    tokens_per_step = bsz * t
    start = time.perf_counter()
    with open(metrics_path, 'w') as log:
        for step in range(1, steps + 1):
            lr = cosine_lr(step - 1, cfg['lr'], cfg['min_lr'], cfg['warmup_steps'], steps)
            x, y = windows(train, starts[step - 1], t)
            t0 = time.perf_counter()
            for p in model.parameters():
                p.grad = None
            with autocast(precision):
                logits = model(x)
                loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip if clip > 0 else float('inf'))
            opt.step(lr)
            dt = time.perf_counter() - t0
            rec = {'step': step, 'tokens': step * tokens_per_step, 'lr': lr, 'loss': float(loss), 'grad_norm': float(norm),
                   'tokens_per_s': tokens_per_step / max(dt, 1e-9), 'elapsed_s': time.perf_counter() - start}
            if val is not None and (step % cfg['eval_interval'] == 0 or step == steps):
                rec['val_loss'] = evaluate(model, val, bsz, t, cfg['eval_batches'], precision)
            log.write(json.dumps(rec) + '\n')
            if step == 1 or step % 50 == 0 or step == steps:
                print(f'pytorch step {step}: loss {rec["loss"]:.4f}' + (f' val {rec["val_loss"]:.4f}' if 'val_loss' in rec else ''), file=sys.stderr)
    elapsed = time.perf_counter() - start
    weights = [compare_weights(model, d) for d in args.compare]
    for w in weights:
        print(f'final weights vs {w["run"]}: max relative difference {w["max_rel_weight_diff"]:.2e} ({w["tensor"]})', file=sys.stderr)
    print(json.dumps({'system': 'pytorch', 'torch': torch.__version__, 'precision': precision, 'optimizer': args.optimizer, 'threads': torch.get_num_threads(), 'steps': steps,
                      'metrics': metrics_path, 'elapsed_s': elapsed, 'tokens_per_s': steps * tokens_per_step / elapsed,
                      'final_loss': float(loss), 'weights': weights}))


if __name__ == '__main__':
    main()
