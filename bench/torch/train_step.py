#!/usr/bin/python3
"""One K2 training step in PyTorch float32 on the CPU: the peer of bench/train-step.mjs.

An independent implementation of the same model and step (DeepSeek-V3 architecture as Kimi K2
uses it, the issue's small config), written from K2-FACTS.md, not from Karakoram's code:

- MLA training path: q = q_b(RMSNorm(q_a(x))), [c_kv | k_rope] = kv_a(x), [k_nope | v] =
  kv_b(RMSNorm(c_kv)), RoPE on adjacent pairs, causal softmax attention, o_proj; the per-head max
  logit is recorded (no grad) for QK-Clip, as Karakoram's trainer does.
- MoE: sigmoid router, noaux_tc selection on scores + bias (n_group 1), weights normalised and
  scaled by routed_scaling_factor, token dispatch by sorting (token, slot) pairs by expert and
  running each expert on its rows with index_select / index_add_ (DeepSeek's reference does the
  same per expert), plus one shared expert. SwiGLU experts, RMSNorm, cross-entropy.
- MuonClip step: Muon (Nesterov momentum 0.95, NS5 in f32, 0.2*sqrt(max(rows, cols)) scale,
  decoupled weight decay) on every 2-D weight except embed_tokens and lm_head, AdamW
  (0.9, 0.95, eps 1e-8) for the rest, then per-head QK-Clip at tau.

The FLOPs match Karakoram's step; the numbers are not meant to be bit-identical (different init).
Timing: warm-up steps, then timed steps; forward, backward and optimizer are timed apart.
Prints a table, or with --json one JSON line last (what train-step.mjs reads).
"""
import argparse
import json
import math
import os
import statistics
import time

import torch
import torch.nn.functional as F

CONFIG = dict(
    vocab=4096, hidden=256, layers=4, first_dense=1, inter=768, experts=16, moe_inter=128, topk=2,
    shared=1, scaling=2.5, heads=4, q_lora=128, kv_lora=64, nope=32, rope=16, v=32,
    theta=10000.0, eps=1e-6, std=0.02,
)


def blas_library():
    """The BLAS torch really calls: Debian's torch links libblas.so.3 (BLAS_INFO=generic), an
    alternative that points at the reference BLAS, OpenBLAS or BLIS; read the loaded mapping."""
    torch.mm(torch.ones(64, 64), torch.ones(64, 64))
    try:
        with open('/proc/self/maps') as f:
            libs = {line.split()[-1] for line in f if 'blas' in line.lower() and '/' in line}
        real = sorted({os.path.realpath(p) for p in libs})
        names = [p for p in real if 'openblas' in p] or [p for p in real if 'blis' in p] or real
        if not names:
            return 'unknown'
        p = names[0]
        if 'openblas' in p:
            return 'OpenBLAS (' + p.split('/')[-2] + ')'
        if 'blis' in p:
            return 'BLIS'
        if '/blas/' in p:
            return 'reference BLAS (install libopenblas0-pthread)'
        return p
    except OSError:
        return 'unknown'


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


class Linear(torch.nn.Module):
    def __init__(self, inp, out, std):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(out, inp) * std)

    def forward(self, x):
        return F.linear(x, self.weight)


class Norm(torch.nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return rms_norm(x, self.weight, self.eps)


class Mlp(torch.nn.Module):
    def __init__(self, hidden, inter, std):
        super().__init__()
        self.gate_proj = Linear(hidden, inter, std)
        self.up_proj = Linear(hidden, inter, std)
        self.down_proj = Linear(inter, hidden, std)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


def rope_tables(T, d, theta):
    inv = theta ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    ang = torch.arange(T, dtype=torch.float64)[:, None] * inv[None, :]
    return torch.cos(ang).float(), torch.sin(ang).float()  # [T, d/2]


def apply_rope(x, cos, sin):
    """Adjacent pairs (x[2i], x[2i+1]), the official DeepSeek-V3 layout."""
    xe, xo = x[..., 0::2], x[..., 1::2]
    return torch.stack((xe * cos - xo * sin, xo * cos + xe * sin), dim=-1).flatten(-2)


class MLA(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        H, std = c['heads'], c['std']
        self.c = c
        self.q_a_proj = Linear(c['hidden'], c['q_lora'], std)
        self.q_a_layernorm = Norm(c['q_lora'], c['eps'])
        self.q_b_proj = Linear(c['q_lora'], H * (c['nope'] + c['rope']), std)
        self.kv_a_proj_with_mqa = Linear(c['hidden'], c['kv_lora'] + c['rope'], std)
        self.kv_a_layernorm = Norm(c['kv_lora'], c['eps'])
        self.kv_b_proj = Linear(c['kv_lora'], H * (c['nope'] + c['v']), std)
        self.o_proj = Linear(H * c['v'], c['hidden'], std)
        self.scale = (c['nope'] + c['rope']) ** -0.5
        self.max_logits = None

    def forward(self, x, cos, sin, mask):
        c = self.c
        B, T, _ = x.shape
        H, nope, rope, vd = c['heads'], c['nope'], c['rope'], c['v']
        q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x))).view(B, T, H, nope + rope).transpose(1, 2)
        q_nope, q_rope = q.split([nope, rope], -1)
        q_rope = apply_rope(q_rope, cos, sin)
        ckv, k_rope = self.kv_a_proj_with_mqa(x).split([c['kv_lora'], rope], -1)
        k_rope = apply_rope(k_rope.unsqueeze(1), cos, sin)  # [B, 1, T, rope], shared by the heads
        kv = self.kv_b_proj(self.kv_a_layernorm(ckv)).view(B, T, H, nope + vd).transpose(1, 2)
        k_nope, v = kv.split([nope, vd], -1)
        qf = torch.cat([q_nope, q_rope], -1)
        kf = torch.cat([k_nope, k_rope.expand(B, H, T, rope)], -1)
        scores = torch.matmul(qf, kf.transpose(-1, -2)) * self.scale + mask
        with torch.no_grad():
            self.max_logits = scores.amax(dim=(0, 2, 3))
        p = torch.softmax(scores, dim=-1)
        out = torch.matmul(p, v).transpose(1, 2).reshape(B, T, H * vd)
        return self.o_proj(out)


class MoE(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.gate = Linear(c['hidden'], c['experts'], c['std'])
        self.register_buffer('e_score_correction_bias', torch.zeros(c['experts']))
        self.experts = torch.nn.ModuleList([Mlp(c['hidden'], c['moe_inter'], c['std']) for _ in range(c['experts'])])
        self.shared_experts = Mlp(c['hidden'], c['shared'] * c['moe_inter'], c['std'])

    def forward(self, x):
        c = self.c
        shape = x.shape
        x = x.reshape(-1, shape[-1])
        N, K = x.shape[0], c['topk']
        scores = torch.sigmoid(self.gate(x))
        idx = torch.topk(scores.detach() + self.e_score_correction_bias, K, dim=-1).indices
        w = scores.gather(1, idx)
        w = w / (w.sum(-1, keepdim=True) + 1e-20) * c['scaling']
        flat = idx.reshape(-1)
        order = torch.argsort(flat, stable=True)
        counts = torch.bincount(flat, minlength=c['experts']).tolist()
        tokens = order // K
        ws = w.reshape(-1)[order]
        y = torch.zeros_like(x)
        off = 0
        for e, n in enumerate(counts):
            if n == 0:
                continue
            tok = tokens[off:off + n]
            ye = self.experts[e](x.index_select(0, tok)) * ws[off:off + n, None]
            y = y.index_add(0, tok, ye)
            off += n
        return (y + self.shared_experts(x)).view(shape)


class Layer(torch.nn.Module):
    def __init__(self, c, i):
        super().__init__()
        self.input_layernorm = Norm(c['hidden'], c['eps'])
        self.self_attn = MLA(c)
        self.post_attention_layernorm = Norm(c['hidden'], c['eps'])
        self.mlp = Mlp(c['hidden'], c['inter'], c['std']) if i < c['first_dense'] else MoE(c)

    def forward(self, h, cos, sin, mask):
        h = h + self.self_attn(self.input_layernorm(h), cos, sin, mask)
        return h + self.mlp(self.post_attention_layernorm(h))


class Model(torch.nn.Module):
    def __init__(self, c):
        super().__init__()
        self.c = c
        self.embed_tokens = torch.nn.Parameter(torch.randn(c['vocab'], c['hidden']) * c['std'])
        self.layers = torch.nn.ModuleList([Layer(c, i) for i in range(c['layers'])])
        self.norm = Norm(c['hidden'], c['eps'])
        self.lm_head = Linear(c['hidden'], c['vocab'], c['std'])

    def loss(self, ids, targets):
        c = self.c
        T = ids.shape[1]
        cos, sin = rope_tables(T, c['rope'], c['theta'])
        mask = torch.full((T, T), -1e9).triu(1)
        h = F.embedding(ids, self.embed_tokens)
        for layer in self.layers:
            h = layer(h, cos, sin, mask)
        logits = self.lm_head(self.norm(h))
        return F.cross_entropy(logits.reshape(-1, c['vocab']), targets.reshape(-1))


def ns5(G, steps=5):
    a, b, c = 3.4445, -4.7750, 2.0315
    X = G
    tall = X.shape[0] > X.shape[1]
    if tall:
        X = X.T
    X = X / (X.norm() + 1e-7)
    for _ in range(steps):
        A = X @ X.T
        B = b * A + c * (A @ A)
        X = a * X + B @ X
    return X.T if tall else X


class MuonClip:
    """Muon (Moonlight form) on 2-D weights except embeddings and lm_head, AdamW on the rest,
    then QK-Clip on every MLA layer whose per-head max logit exceeds tau."""

    def __init__(self, model, lr, wd, tau, mu=0.95, betas=(0.9, 0.95), eps=1e-8):
        self.model, self.lr, self.wd, self.tau, self.mu, self.betas, self.eps = model, lr, wd, tau, mu, betas, eps
        self.muon, self.adam = [], []
        for name, p in model.named_parameters():
            (self.muon if p.ndim == 2 and name not in ('embed_tokens', 'lm_head.weight') else self.adam).append(p)
        self.state = {p: torch.zeros_like(p) for p in self.muon}
        self.adam_state = {p: (torch.zeros_like(p), torch.zeros_like(p)) for p in self.adam}
        self.t = 0

    @torch.no_grad()
    def step(self):
        lr, wd = self.lr, self.wd
        for p in self.model.parameters():
            # An expert no token chose has no gradient; Karakoram gives it zeros and still steps.
            if p.grad is None:
                p.grad = torch.zeros_like(p)
        for p in self.muon:
            m = self.state[p]
            m.mul_(self.mu).add_(p.grad)
            g = p.grad + self.mu * m
            o = ns5(g)
            p.mul_(1 - lr * wd).add_(o, alpha=-lr * 0.2 * math.sqrt(max(p.shape)))
        self.t += 1
        b1, b2 = self.betas
        size = lr * math.sqrt(1 - b2 ** self.t) / (1 - b1 ** self.t)
        for p in self.adam:
            m, v = self.adam_state[p]
            m.mul_(b1).add_(p.grad, alpha=1 - b1)
            v.mul_(b2).addcmul_(p.grad, p.grad, value=1 - b2)
            p.mul_(1 - lr * wd).addcdiv_(m, v.sqrt().add_(self.eps), value=-size)
        c = self.model.c
        qh, kvh = c['nope'] + c['rope'], c['nope'] + c['v']
        for layer in self.model.layers:
            attn = layer.self_attn
            for h, s in enumerate(attn.max_logits.tolist()):
                if s <= self.tau:
                    continue
                g = self.tau / s
                wq, wkv = attn.q_b_proj.weight, attn.kv_b_proj.weight
                wq[h * qh:h * qh + c['nope']] *= math.sqrt(g)
                wq[h * qh + c['nope']:(h + 1) * qh] *= g
                wkv[h * kvh:h * kvh + c['nope']] *= math.sqrt(g)


def tokens(n, seed, vocab):
    """The xorshift stream train-step.mjs uses, so both sides see the same batch."""
    out, s = [], seed or 1
    for _ in range(n):
        s ^= (s << 13) & 0xFFFFFFFF
        s ^= s >> 17
        s ^= (s << 5) & 0xFFFFFFFF
        out.append(s % vocab)
    return torch.tensor(out, dtype=torch.long)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--warmup', type=int, default=2)
    ap.add_argument('--steps', type=int, default=5)
    ap.add_argument('--batch', type=int, default=8)
    ap.add_argument('--seq', type=int, default=256)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--json', action='store_true')
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(1)
    c = CONFIG
    model = Model(c)
    opt = MuonClip(model, lr=0.02, wd=0.1, tau=100.0)
    B, T = args.batch, args.seq
    ids = tokens(B * (T + 1), 7, c['vocab']).view(B, T + 1)
    inputs, targets = ids[:, :-1].contiguous(), ids[:, 1:].contiguous()
    blas = blas_library()
    rows = []
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        loss = model.loss(inputs, targets)
        t1 = time.perf_counter()
        model.zero_grad(set_to_none=True)
        loss.backward()
        lv = loss.item()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        r = dict(forward=(t1 - t0) * 1e3, backward=(t2 - t1) * 1e3, optimizer=(t3 - t2) * 1e3, total=(t3 - t0) * 1e3)
        if i >= args.warmup:
            rows.append(r)
        print(f"{'warm-up' if i < args.warmup else 'step   '} {i + 1:2d}: {r['total']:6.0f} ms  loss {lv:.4f}", flush=True)
    best = min(r['total'] for r in rows)
    med = statistics.median(r['total'] for r in rows)
    res = dict(
        version=torch.__version__, blas=blas, threads=torch.get_num_threads(),
        tokensPerSecond=B * T / (best / 1e3), medianTokensPerSecond=B * T / (med / 1e3),
        forward=statistics.median(r['forward'] for r in rows), backward=statistics.median(r['backward'] for r in rows),
        optimizer=statistics.median(r['optimizer'] for r in rows), total=med,
    )
    if args.json:
        print(json.dumps(res))
    else:
        print(f"pytorch {res['version']} ({blas}, {res['threads']} threads): {res['tokensPerSecond']:.0f} tokens/s best, "
              f"{res['medianTokensPerSecond']:.0f} median; fwd {res['forward']:.0f} ms, bwd {res['backward']:.0f} ms, opt {res['optimizer']:.0f} ms")


if __name__ == '__main__':
    main()
