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
import os
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_lm import TransformerLM  # noqa: E402  (needs the path above)


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
    model = TransformerLM({
        'vocab_size': args.vocab, 'context_length': args.context, 'd_model': args.d_model, 'num_layers': args.layers,
        'num_heads': args.heads, 'd_ff': args.d_ff, 'norm_eps': 1e-5, 'rope_theta': 10000.0,
    })
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
