"""PyTorch reference for bench/train-step.ts: full training steps of the same
Transformer LM (pre-norm RMSNorm, interleaved RoPE, causal attention,
SwiGLU, untied LM head, CS336 2025 architecture) with mean cross-entropy,
gradient clipping by global norm and AdamW, on the CPU.

Run with Debian's Python, which has torch (the pyenv python3 does not):
  /usr/bin/python3 bench/torch_train_step.py --vocab 10000 --context 256 \
      --d-model 256 --layers 4 --heads 8 --d-ff 683 --batch 16 --steps 3
Prints human-readable lines on stderr and one JSON object on stdout.

--precision bf16 runs the forward pass under torch.autocast('cpu',
dtype=torch.bfloat16) (bf16 matmuls through oneDNN, fp32 weights and AdamW;
the logits are cast to fp32 for the cross-entropy); --precision both trains
an fp32 and an autocast model from the same initial weights, alternating
their steps, and reports both ("runs"), so that both see the same machine
load. The JSON's top-level fields are those of the first run.
"""
import argparse
import json
import os
import sys
import tempfile
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
    ap.add_argument('--precision', choices=['fp32', 'bf16', 'both'], default='fp32')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    precisions = ['fp32', 'bf16'] if args.precision == 'both' else [args.precision]
    config = {
        'vocab_size': args.vocab, 'context_length': args.context, 'd_model': args.d_model, 'num_layers': args.layers,
        'num_heads': args.heads, 'd_ff': args.d_ff, 'norm_eps': 1e-5, 'rope_theta': 10000.0,
    }
    runs = []
    for p in precisions:
        torch.manual_seed(0)  # the same initial weights and batches for every precision
        model = TransformerLM(config)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
        runs.append({'precision': p, 'model': model, 'opt': opt, 'gen': torch.Generator().manual_seed(1), 'times': []})

    def step(r) -> float:
        x = torch.randint(0, args.vocab, (args.batch, args.context), generator=r['gen'])
        y = torch.randint(0, args.vocab, (args.batch, args.context), generator=r['gen'])
        r['opt'].zero_grad(set_to_none=True)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=r['precision'] == 'bf16'):
            logits = r['model'](x)
        loss = F.cross_entropy(logits.float().view(-1, args.vocab), y.view(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(r['model'].parameters(), 1.0)
        r['opt'].step()
        return float(loss)

    failed = []
    for r in runs:
        t0 = time.perf_counter()
        try:
            step(r)  # warm-up: allocator, thread pool, oneDNN primitives
        except RuntimeError as e:  # e.g. oneDNN without bf16 kernels under ONEDNN_MAX_CPU_ISA=AVX2
            if r['precision'] == 'fp32':
                raise
            msg = str(e).splitlines()[0]
            print(f'torch {torch.__version__} bf16 autocast: failed ({msg})', file=sys.stderr)
            failed.append({'system': 'pytorch', 'torch': torch.__version__, 'precision': r['precision'], 'error': msg})
        r['warm'] = time.perf_counter() - t0
        r['loss'] = float('nan')
    runs = [r for r in runs if not any(f['precision'] == r['precision'] for f in failed)]
    for _ in range(args.steps):
        for r in runs:  # alternating: each precision sees the same load
            t0 = time.perf_counter()
            r['loss'] = step(r)
            r['times'].append(time.perf_counter() - t0)
    tokens = args.batch * args.context
    out = []
    for r in runs:
        times = r['times']
        step_s = sorted(times)[len(times) // 2]
        label = '' if r['precision'] == 'fp32' else ' bf16 autocast'
        print(f'torch {torch.__version__}{label}: {step_s:.2f} s/step (median of {len(times)}, warm-up {r["warm"]:.2f} s), '
              f'{tokens / step_s:.0f} tokens/s, loss {r["loss"]:.3f}', file=sys.stderr)
        out.append({
            'system': 'pytorch', 'torch': torch.__version__, 'precision': r['precision'], 'threads': torch.get_num_threads(),
            'step_s': step_s, 'best_step_s': min(times), 'step_times_s': times, 'warmup_s': r['warm'],
            'tokens_per_s': tokens / step_s, 'loss': r['loss'], 'parameters': sum(p.numel() for p in r['model'].parameters()),
        })
    bf16 = [r for r in runs if r['precision'] == 'bf16']
    impls = onednn_impls(lambda: step(bf16[0])) if bf16 else []
    if impls:
        print(f'torch bf16 autocast: oneDNN primitives {", ".join(impls)}', file=sys.stderr)
    print(json.dumps({**out[0], 'runs': out, 'failed': failed, 'onednn_impls': impls}))


def onednn_impls(fn) -> list:
    """The oneDNN primitives (kind:implementation, e.g. matmul:brg:avx512_core_bf16) that fn runs,
    from oneDNN's verbose lines, which it writes to fd 1 (captured here, not printed)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode='w+b') as f:
        os.dup2(f.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(torch.backends.mkldnn.VERBOSE_ON):
                fn()
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        f.seek(0)
        lines = f.read().decode('utf8', 'replace').splitlines()
    found = set()
    for line in lines:
        parts = line.split(',')
        if len(parts) > 5 and parts[0] in ('onednn_verbose', 'dnnl_verbose') and parts[1] == 'exec':
            found.add(f'{parts[3]}:{parts[4]}')
    return sorted(found)


if __name__ == '__main__':
    main()
