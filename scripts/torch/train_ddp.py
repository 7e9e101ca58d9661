#!/usr/bin/env python3
"""Train an lmpipe model on several processes, GPUs or machines with PyTorch DDP.

lmpipe (tfjs/WebGPU) trains on one device. For more, hand over to PyTorch:
lmpipe's token files are nanoGPT's train.bin (raw little-endian uint16 ids,
uint32 when the .json sidecar says so) and its checkpoints load with
load_lmpipe.py. This script starts from an lmpipe checkpoint (`train --out
RUN` for a few steps makes one, or any checkpoint directory), trains it with
DistributedDataParallel and writes an lmpipe checkpoint back, which lmpipe's
eval and generate read (`--checkpoint OUT`).

    # one machine, 8 GPUs (NCCL), or 2 CPU processes (gloo):
    torchrun --standalone --nproc_per_node 8 scripts/torch/train_ddp.py \
        --init out/run --data out/data/train.bin --out out/run-ddp --steps 5000 --batch-size 32 --lr 3e-4
    # several machines: the same command on each, with
    #   --nnodes 4 --node_rank $RANK --rdzv_backend c10d --rdzv_endpoint HOST:29500
    # (Slurm: srun torchrun ... with --node_rank $SLURM_NODEID)

Each rank draws its own random windows (seed + rank), gradients are averaged
by DDP, clipped, and AdamW (betas 0.9/0.95) with linear warmup and cosine
decay updates the weights; rank 0 prints one JSON line per step and writes the
checkpoint. For models that do not fit one GPU, wrap the model with
torch.distributed.fsdp.FullyShardedDataParallel instead of DDP (and gather a
full state dict on rank 0 before save_lmpipe).
"""
import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel as DDP

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load_lmpipe import load_lmpipe, save_lmpipe  # noqa: E402


def token_file(path):
    """The ids of an lmpipe token file as a read-only memmap (dtype from the .json sidecar, else uint16)."""
    dtype = np.uint16
    sidecar = path + '.json'
    if os.path.exists(sidecar):
        with open(sidecar, encoding='utf-8') as f:
            dtype = {'uint16': np.uint16, 'uint32': np.uint32}[json.load(f).get('dtype', 'uint16')]
    return np.memmap(path, dtype=np.dtype(dtype).newbyteorder('<'), mode='r')


def get_batch(data, batch, context, gen, device):
    """(inputs, targets) of `batch` random windows of `context` tokens (CS336 get_batch)."""
    starts = torch.randint(0, len(data) - context, (batch,), generator=gen)
    rows = np.stack([data[s:s + context + 1].astype(np.int64) for s in starts.tolist()])
    x = torch.from_numpy(rows[:, :-1]).to(device)
    y = torch.from_numpy(rows[:, 1:]).to(device)
    return x, y


def lr_at(step, args):
    """Linear warmup, then cosine decay to lr_min at the last step."""
    if step < args.warmup_steps:
        return args.lr * (step + 1) / args.warmup_steps
    progress = (step - args.warmup_steps) / max(1, args.steps - args.warmup_steps)
    return args.lr_min + 0.5 * (args.lr - args.lr_min) * (1 + math.cos(math.pi * min(1.0, progress)))


def main():
    ap = argparse.ArgumentParser(description='Train an lmpipe checkpoint with PyTorch DDP (run under torchrun).')
    ap.add_argument('--init', required=True, help='lmpipe checkpoint directory to start from')
    ap.add_argument('--data', required=True, help='lmpipe token file (nanoGPT train.bin layout)')
    ap.add_argument('--out', required=True, help='checkpoint directory to write (config.json + model.safetensors)')
    ap.add_argument('--steps', type=int, default=1000)
    ap.add_argument('--batch-size', type=int, default=16, help='windows per rank and step')
    ap.add_argument('--lr', type=float, default=3e-4)
    ap.add_argument('--lr-min', type=float, default=3e-5)
    ap.add_argument('--warmup-steps', type=int, default=0)
    ap.add_argument('--weight-decay', type=float, default=0.1)
    ap.add_argument('--clip', type=float, default=1.0)
    ap.add_argument('--seed', type=int, default=0)
    args = ap.parse_args()

    cuda = torch.cuda.is_available()
    dist.init_process_group('nccl' if cuda else 'gloo')
    rank, world = dist.get_rank(), dist.get_world_size()
    local = int(os.environ.get('LOCAL_RANK', '0'))
    device = torch.device(f'cuda:{local}') if cuda else torch.device('cpu')
    if cuda:
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // int(os.environ.get('LOCAL_WORLD_SIZE', '1'))))

    torch.manual_seed(args.seed)  # same initial weights on every rank (they come from --init anyway)
    model, config = load_lmpipe(args.init, device=device)
    model.train()
    ddp = DDP(model, device_ids=[local] if cuda else None)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), eps=1e-8, weight_decay=args.weight_decay)
    data = token_file(args.data)
    if len(data) <= config['context_length']:
        raise SystemExit(f'{args.data}: {len(data)} tokens, fewer than one window of {config["context_length"] + 1}')
    gen = torch.Generator().manual_seed(args.seed * 1000003 + rank)

    t0 = time.time()
    for step in range(args.steps):
        for group in opt.param_groups:
            group['lr'] = lr_at(step, args)
        x, y = get_batch(data, args.batch_size, config['context_length'], gen, device)
        logits = ddp(x)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()  # DDP averages the gradients over the ranks here
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        mean_loss = loss.detach().clone()
        dist.all_reduce(mean_loss)
        if rank == 0:
            print(json.dumps({
                'step': step + 1, 'loss': mean_loss.item() / world, 'grad_norm': float(norm), 'lr': lr_at(step, args),
                'tokens': (step + 1) * world * args.batch_size * config['context_length'], 'elapsed_s': round(time.time() - t0, 3),
            }), flush=True)
    if rank == 0:
        save_lmpipe(model, config, args.out)
        print(json.dumps({'ok': True, 'out': args.out, 'world_size': world, 'steps': args.steps, 'backend': dist.get_backend()}), flush=True)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == '__main__':
    main()
