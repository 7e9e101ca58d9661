"""The PyTorch Transformer LM of the bench scripts (torch_train_step.py,
train_parity.py): the CS336 2025 architecture (pre-norm RMSNorm, interleaved
RoPE, causal attention, SwiGLU, untied LM head) with the state-dict names of
lmpipe checkpoints. The scripts import it after putting their own directory
on sys.path, so they run from any working directory. It is leaner than the
bridge's model (no dropout or ablation switches), as the PyTorch code a user
would time against lmpipe; the pieces that are the same math come from the
bridge.
"""
import math
import os
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

# RMSNorm and the rotary tables are the PyTorch bridge's (scripts/torch/load_lmpipe.py):
# one definition of each, so the bench peer and the checkpoint loader cannot drift apart.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'scripts', 'torch'))
from load_lmpipe import RMSNorm, apply_rope, rope_tables  # noqa: E402  (needs the path above)


class Attention(nn.Module):
    """Multi-head causal self-attention with RoPE on q and k."""

    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, d, bias=False)
        self.v_proj = nn.Linear(d, d, bias=False)
        self.output_proj = nn.Linear(d, d, bias=False)

    def forward(self, x, cos, sin, mask):
        b, t, d = x.shape
        h = self.heads

        def split(y):
            return y.view(b, t, h, d // h).transpose(1, 2)

        q = apply_rope(split(self.q_proj(x)), cos, sin)
        k = apply_rope(split(self.k_proj(x)), cos, sin)
        v = split(self.v_proj(x))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(d // h)
        scores = scores.masked_fill(mask, float('-inf'))
        out = torch.softmax(scores, dim=-1) @ v
        return self.output_proj(out.transpose(1, 2).reshape(b, t, d))


class SwiGLU(nn.Module):
    """w2(silu(w1 x) ⊙ w3 x)."""

    def __init__(self, d, d_ff):
        super().__init__()
        self.w1 = nn.Linear(d, d_ff, bias=False)
        self.w2 = nn.Linear(d_ff, d, bias=False)
        self.w3 = nn.Linear(d, d_ff, bias=False)

    def forward(self, x):
        return self.w2(F.silu(self.w1(x)) * self.w3(x))


class Block(nn.Module):
    """Pre-norm Transformer block: x + attn(ln1 x), then + ffn(ln2 x)."""

    def __init__(self, d, heads, d_ff, eps):
        super().__init__()
        self.ln1 = RMSNorm(d, eps)
        self.attn = Attention(d, heads)
        self.ln2 = RMSNorm(d, eps)
        self.ffn = SwiGLU(d, d_ff)

    def forward(self, x, cos, sin, mask):
        x = x + self.attn(self.ln1(x), cos, sin, mask)
        return x + self.ffn(self.ln2(x))


class TransformerLM(nn.Module):
    """The CS336 2025 model with its state-dict names (those of lmpipe checkpoints)."""

    def __init__(self, c):
        super().__init__()
        d = c['d_model']
        self.token_embeddings = nn.Embedding(c['vocab_size'], d)
        self.layers = nn.ModuleList([Block(d, c['num_heads'], c['d_ff'], c['norm_eps']) for _ in range(c['num_layers'])])
        self.ln_final = RMSNorm(d, c['norm_eps'])
        self.lm_head = nn.Linear(d, c['vocab_size'], bias=False)
        cos, sin = rope_tables(d // c['num_heads'], c['context_length'], float(c['rope_theta']))
        self.register_buffer('cos', cos, persistent=False)
        self.register_buffer('sin', sin, persistent=False)

    def forward(self, ids):
        t = ids.shape[1]
        x = self.token_embeddings(ids)
        mask = torch.triu(torch.ones(t, t, dtype=torch.bool), diagonal=1)
        cos, sin = self.cos[:t], self.sin[:t]
        for blk in self.layers:
            x = blk(x, cos, sin, mask)
        return self.lm_head(self.ln_final(x))
