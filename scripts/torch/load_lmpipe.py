#!/usr/bin/env python3
"""Load an lmpipe checkpoint directory into PyTorch.

An lmpipe checkpoint (`train --out RUN` writes one to RUN/ and RUN/best/) is
`config.json` (the model config) plus `model.safetensors` (float32 tensors
under the CS336 state-dict names). This file is a small PyTorch
`BasicsTransformerLM`-style model with those names and every lmpipe
architecture switch (position rope|learned|none, ffn swiglu|gelu|silu,
norm pre|post|none, parallel blocks, tied embeddings), so

    model, config = load_lmpipe("out/run")          # a torch.nn.Module, eval mode
    logits = model(torch.tensor([[1, 2, 3]]))       # (batch, seq, vocab)

gives lmpipe's logits (test/pytorch-bridge.test.ts checks them within 1e-4).
From there the model trains like any nn.Module: DDP/FSDP under torchrun, on
lmpipe token files (raw little-endian uint16 ids = nanoGPT's train.bin).
`save_lmpipe(model, config, dir)` writes a checkpoint lmpipe loads back
(`eval`, `generate --checkpoint dir`).

Command line (prints one JSON line per checkpoint: the shape and the logits, row-major):

    python3 scripts/torch/load_lmpipe.py out/run --ids '[[1, 2, 3]]'
    echo '[[1, 2, 3]]' | python3 scripts/torch/load_lmpipe.py out/run --ids -
    python3 scripts/torch/load_lmpipe.py out/run --ids '[[1, 2, 3]]' --save out/run-copy

safetensors: read with the `safetensors` package when it is installed, else
parsed here (8-byte little-endian header length, a JSON header, then the raw
little-endian tensor data). Needs only torch (Debian: python3-torch).
"""
import argparse
import json
import math
import os
import shutil
import struct
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

ARCHITECTURE_DEFAULTS = {
    'rope_theta': 10000.0, 'norm_eps': 1e-5, 'position': 'rope', 'ffn': 'swiglu',
    'norm': 'pre', 'parallel': False, 'tie_embeddings': False, 'dropout': 0.0,
}

# safetensors dtype name -> torch dtype (what lmpipe reads: F32, F16, BF16, F64, I32, I64).
_DTYPES = {
    'F32': torch.float32, 'F16': torch.float16, 'BF16': torch.bfloat16, 'F64': torch.float64,
    'I32': torch.int32, 'I64': torch.int64, 'I16': torch.int16, 'I8': torch.int8, 'U8': torch.uint8,
}


def read_safetensors(path):
    """{name: tensor} of a safetensors file (and its __metadata__)."""
    try:
        from safetensors.torch import load_file  # optional
        from safetensors import safe_open
        with safe_open(path, framework='pt') as f:
            meta = f.metadata() or {}
        return load_file(path), meta
    except ImportError:
        pass
    with open(path, 'rb') as f:
        blob = f.read()
    if len(blob) < 8:
        raise ValueError(f'{path}: too short for a safetensors file')
    (n,) = struct.unpack('<Q', blob[:8])
    if 8 + n > len(blob):
        raise ValueError(f'{path}: header length {n} runs past the end of the file ({len(blob)} bytes)')
    header = json.loads(blob[8:8 + n].decode('utf-8'))
    meta = header.pop('__metadata__', {}) or {}
    data = memoryview(blob)[8 + n:]
    out = {}
    for name, info in header.items():
        dtype = _DTYPES.get(info['dtype'])
        if dtype is None:
            raise ValueError(f'{path}: tensor {name} has dtype {info["dtype"]}, not one this reader knows')
        begin, end = info['data_offsets']
        shape = info['shape']
        count = math.prod(shape)
        item = torch.tensor([], dtype=dtype).element_size()
        if end - begin != count * item or end > len(data):
            raise ValueError(f'{path}: tensor {name} has {end - begin} bytes, shape {shape} needs {count * item}')
        t = torch.frombuffer(bytearray(data[begin:end]), dtype=dtype) if count > 0 else torch.empty(0, dtype=dtype)
        if sys.byteorder != 'little' and item > 1:
            t = t.view(torch.uint8).view(-1, item).flip(1).reshape(-1).view(dtype)
        out[name] = t.reshape(shape)
    return out, meta


def write_safetensors(path, tensors, metadata=None):
    """Writes {name: float32/int32 tensor} as safetensors (data 8-byte aligned), atomically."""
    names = sorted(tensors)
    header, offset, parts = {}, 0, []
    for name in names:
        t = tensors[name].detach().cpu().contiguous()
        code = {torch.float32: 'F32', torch.int32: 'I32'}.get(t.dtype)
        if code is None:
            t, code = t.float(), 'F32'
        raw = t.numpy().astype(t.numpy().dtype.newbyteorder('<')).tobytes()
        header[name] = {'dtype': code, 'shape': list(t.shape), 'data_offsets': [offset, offset + len(raw)]}
        parts.append(raw)
        offset += len(raw)
    if metadata:
        header['__metadata__'] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * ((8 - (8 + len(text)) % 8) % 8)
    tmp = f'{path}.tmp-{os.getpid()}'
    with open(tmp, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for raw in parts:
            f.write(raw)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


class RMSNorm(nn.Module):
    """x / sqrt(mean(x², last axis) + eps) · weight."""

    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(d_head, context, theta):
    """cos, sin (context, d_head / 2) of the rotary embedding (angles in float64, as lmpipe)."""
    inv = theta ** (-torch.arange(0, d_head, 2, dtype=torch.float64) / d_head)
    ang = torch.arange(context, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()


def apply_rope(x, cos, sin):
    """Rotates interleaved pairs (x[2i], x[2i+1]) of x (..., T, d_head) by position × frequency i."""
    x0, x1 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x0 * cos - x1 * sin, x0 * sin + x1 * cos), dim=-1).flatten(-2)


class CausalSelfAttention(nn.Module):
    """Multi-head causal self-attention; q/k/v/output projections (d, d), heads stacked by rows."""

    def __init__(self, d, heads, dropout):
        super().__init__()
        self.heads = heads
        self.dropout = dropout
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.output_proj = nn.Linear(d, d, bias=False)

    def forward(self, x, rope):
        b, t, d = x.shape
        h = self.heads

        def split(y):
            return y.view(b, t, h, d // h).transpose(1, 2)

        q, k, v = split(self.q_proj(x)), split(self.k_proj(x)), split(self.v_proj(x))
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d // h)
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool, device=x.device), diagonal=1)
        probs = torch.softmax(scores.masked_fill(mask, float('-inf')), dim=-1)
        probs = F.dropout(probs, self.dropout, self.training)
        return self.output_proj((probs @ v).transpose(1, 2).reshape(b, t, d))


class FeedForward(nn.Module):
    """swiglu: w2(silu(w1 x) ⊙ w3 x); gelu: w2(gelu(w1 x)) (exact erf); silu: w2(silu(w1 x))."""

    def __init__(self, d, d_ff, kind):
        super().__init__()
        self.kind = kind
        self.w1 = nn.Linear(d, d_ff, bias=False)
        self.w2 = nn.Linear(d_ff, d, bias=False)
        if kind == 'swiglu':
            self.w3 = nn.Linear(d, d_ff, bias=False)

    def forward(self, x):
        h = self.w1(x)
        if self.kind == 'swiglu':
            return self.w2(F.silu(h) * self.w3(x))
        return self.w2(F.gelu(h) if self.kind == 'gelu' else F.silu(h))


class Block(nn.Module):
    """lmpipe's block arrangements: pre-norm, post-norm, no norm, each sequential or parallel."""

    def __init__(self, c):
        super().__init__()
        d = c['d_model']
        self.norm, self.parallel, self.dropout = c['norm'], c['parallel'], c['dropout']
        if self.norm != 'none':
            self.ln1 = RMSNorm(d, c['norm_eps'])
        self.attn = CausalSelfAttention(d, c['num_heads'], c['dropout'])
        if self.norm != 'none' and not self.parallel:
            self.ln2 = RMSNorm(d, c['norm_eps'])
        self.ffn = FeedForward(d, c['d_ff'], c['ffn'])

    def _drop(self, y):
        return F.dropout(y, self.dropout, self.training)

    def forward(self, x, rope):
        if self.parallel:
            h = self.ln1(x) if self.norm == 'pre' else x
            y = x + self._drop(self.attn(h, rope)) + self._drop(self.ffn(h))
            return self.ln1(y) if self.norm == 'post' else y
        if self.norm == 'pre':
            h = x + self._drop(self.attn(self.ln1(x), rope))
            return h + self._drop(self.ffn(self.ln2(h)))
        h = x + self._drop(self.attn(x, rope))
        if self.norm == 'post':
            h = self.ln1(h)
        y = h + self._drop(self.ffn(h))
        return self.ln2(y) if self.norm == 'post' else y


class TransformerLM(nn.Module):
    """The CS336 Transformer LM (BasicsTransformerLM) with lmpipe's config keys and state-dict names."""

    def __init__(self, config):
        super().__init__()
        c = resolve_config(config)
        self.config = c
        d, v, n = c['d_model'], c['vocab_size'], c['context_length']
        self.token_embeddings = nn.Embedding(v, d)
        if c['position'] == 'learned':
            self.position_embeddings = nn.Embedding(n, d)
        self.layers = nn.ModuleList([Block(c) for _ in range(c['num_layers'])])
        if c['norm'] == 'pre':
            self.ln_final = RMSNorm(d, c['norm_eps'])
        if not c['tie_embeddings']:
            self.lm_head = nn.Linear(d, v, bias=False)
        if c['position'] == 'rope':
            cos, sin = rope_tables(d // c['num_heads'], n, float(c['rope_theta']))
            self.register_buffer('rope_cos', cos, persistent=False)
            self.register_buffer('rope_sin', sin, persistent=False)

    def forward(self, ids):
        """Logits (batch, seq, vocab) of token ids (batch, seq), seq ≤ context_length."""
        c = self.config
        t = ids.shape[1]
        if t > c['context_length']:
            raise ValueError(f'sequence of {t} tokens exceeds context_length {c["context_length"]}')
        x = self.token_embeddings(ids)
        if c['position'] == 'learned':
            x = x + self.position_embeddings.weight[:t]
        x = F.dropout(x, c['dropout'], self.training)
        rope = (self.rope_cos[:t], self.rope_sin[:t]) if c['position'] == 'rope' else None
        for block in self.layers:
            x = block(x, rope)
        if c['norm'] == 'pre':
            x = self.ln_final(x)
        head = self.token_embeddings.weight if c['tie_embeddings'] else self.lm_head.weight
        return x @ head.t()


def resolve_config(raw):
    """lmpipe's config.json with the architecture defaults filled in (d_ff as lmpipe's default rule)."""
    c = {**ARCHITECTURE_DEFAULTS, **raw}
    for key in ('vocab_size', 'context_length', 'd_model', 'num_layers', 'num_heads'):
        if key not in c:
            raise ValueError(f'config has no {key}')
    if 'd_ff' not in c or c['d_ff'] is None:
        d = c['d_model']
        c['d_ff'] = math.ceil(8 * d / 3 / 64) * 64 if c['ffn'] == 'swiglu' else 4 * d
    for key, allowed in (('position', ('rope', 'learned', 'none')), ('ffn', ('swiglu', 'gelu', 'silu')), ('norm', ('pre', 'post', 'none'))):
        if c[key] not in allowed:
            raise ValueError(f'config {key} is {c[key]!r}, expected one of {allowed}')
    if c['d_model'] % c['num_heads'] != 0:
        raise ValueError(f'd_model {c["d_model"]} is not divisible by num_heads {c["num_heads"]}')
    return c


def load_lmpipe(directory, dtype=torch.float32, device='cpu'):
    """(model in eval mode, resolved config) of an lmpipe checkpoint directory."""
    with open(os.path.join(directory, 'config.json'), encoding='utf-8') as f:
        config = resolve_config(json.load(f))
    tensors, _ = read_safetensors(os.path.join(directory, 'model.safetensors'))
    model = TransformerLM(config)
    state = {k: v.to(torch.float32) for k, v in tensors.items()}
    expected = set(model.state_dict().keys())
    missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or extra:
        raise ValueError(f'{directory}: weights do not match config.json: missing {missing[:3]}, unexpected {extra[:3]}')
    for name, param in model.state_dict().items():
        if tuple(state[name].shape) != tuple(param.shape):
            raise ValueError(f'{directory}: tensor {name} has shape {list(state[name].shape)}, expected {list(param.shape)}')
    model.load_state_dict(state, strict=True)
    return model.to(device=device, dtype=dtype).eval(), config


def save_lmpipe(model, config, directory):
    """Writes config.json + model.safetensors (float32, CS336 names), a checkpoint lmpipe loads.

    As lmpipe does: into a temporary directory beside `directory`, renamed into place (a reader
    sees the old checkpoint or the new one, never a mix).
    """
    directory = os.path.abspath(directory)
    parent, name = os.path.split(directory)
    os.makedirs(parent, exist_ok=True)
    tmp = os.path.join(parent, f'.{name}.tmp-{os.getpid()}')
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    state = {k: v.detach().to('cpu', torch.float32) for k, v in model.state_dict().items()}
    write_safetensors(os.path.join(tmp, 'model.safetensors'), state, {'format': 'pt', 'producer': 'lmpipe-torch-bridge'})
    with open(os.path.join(tmp, 'config.json'), 'w', encoding='utf-8') as f:
        f.write(json.dumps(config, indent=2) + '\n')
        f.flush()
        os.fsync(f.fileno())
    old = None
    if os.path.exists(directory):
        old = os.path.join(parent, f'.{name}.old-{os.getpid()}')
        os.rename(directory, old)
    os.rename(tmp, directory)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description='Load lmpipe checkpoints in PyTorch and print their logits as JSON (one line per checkpoint).')
    ap.add_argument('checkpoint', nargs='+', help='lmpipe checkpoint directory (config.json + model.safetensors)')
    ap.add_argument('--ids', required=True, help='token ids as JSON: [[...], ...] (batch, seq) or [...] (one row); - reads stdin')
    ap.add_argument('--float64', action='store_true', help='compute in float64 (default float32, as lmpipe)')
    ap.add_argument('--save', metavar='DIR', help='write the loaded model back as an lmpipe checkpoint (one checkpoint only)')
    args = ap.parse_args(argv)
    if args.save and len(args.checkpoint) != 1:
        ap.error('--save takes one checkpoint')
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    ids = json.loads(sys.stdin.read() if args.ids == '-' else args.ids)
    if ids and not isinstance(ids[0], list):
        ids = [ids]
    ids = torch.tensor(ids, dtype=torch.long)
    dtype = torch.float64 if args.float64 else torch.float32
    for directory in args.checkpoint:
        model, config = load_lmpipe(directory, dtype=dtype)
        with torch.no_grad():
            logits = model(ids)
        if args.save:
            save_lmpipe(model, config, args.save)
        json.dump({
            'checkpoint': directory,
            'torch': torch.__version__,
            'parameters': sum(p.numel() for p in model.parameters()),
            'shape': list(logits.shape),
            'logits': logits.reshape(-1).tolist(),
        }, sys.stdout)
        sys.stdout.write('\n')


if __name__ == '__main__':
    main()
