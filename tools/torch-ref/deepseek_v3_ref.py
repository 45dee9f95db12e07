#!/usr/bin/env python3
"""
An independent float64 reference of DeepseekV3ForCausalLM (Kimi K2, DeepSeek-V3, Moonlight).

Written from /work/shared/K2-FACTS.md and the semantics of DeepSeek-V3's official
inference/model.py and HF's modeling_deepseek.py, sharing no code with Karakoram, so that the
TypeScript model can be checked against it (packages/train/test/parity.test.ts).

Everything is computed in float64 from the checkpoint's stored values (F32, BF16, F16, F64 are
widened exactly), as a plain function of a name -> tensor dict, so train_step_ref.py can take
autograd gradients of the same code.

Semantics (HF config keys):
  - MLA: q = q_b_proj(RMSNorm(q_a_proj(x))) or q_proj(x); [c_kv | k_rope] = kv_a_proj_with_mqa(x);
    [k_nope | v] per head = kv_b_proj(RMSNorm(c_kv)); k_rope is one head shared by all heads.
  - RoPE rotates ADJACENT pairs (x[2i], x[2i+1]) (official layout; HF permutes to the same thing).
  - YaRN when rope_scaling is a yarn block (HF rule: whenever it is set): interpolated frequencies,
    cos/sin times mscale(factor, mscale) / mscale(factor, mscale_all_dim), softmax scale times
    mscale(factor, mscale_all_dim)^2 when mscale_all_dim is non-zero.
  - Causal full attention, softmax over keys.
  - MoE from first_k_dense_replace on (and i % moe_layer_freq == 0): sigmoid/softmax scores,
    selection on scores + e_score_correction_bias (noaux_tc), group-limited: group score = sum of
    the top-2 biased scores (noaux_tc) or max (group_limited_greedy), keep topk_group groups,
    masked experts get -inf, top-k; weights = unbiased scores of the chosen experts, divided by
    their sum (+1e-20) when norm_topk_prob and k > 1, times routed_scaling_factor; plus shared
    experts (SwiGLU of width n_shared_experts * moe_intermediate_size).

CLI:
  python3 deepseek_v3_ref.py logits --model DIR --tokens FILE --out FILE
    tokens: a JSON array of equal-length token-id arrays; out: {"logits": [b][t][v]}
    (the formats of `karakoram logits`).
"""
import argparse
import json
import math
import os
import struct
import sys

import torch

F64 = torch.float64

# safetensors dtype -> (torch dtype, bytes per element)
_ST_DTYPES = {
    'F64': (torch.float64, 8),
    'F32': (torch.float32, 4),
    'F16': (torch.float16, 2),
    'BF16': (torch.bfloat16, 2),
    'I64': (torch.int64, 8),
    'I32': (torch.int32, 4),
    'I16': (torch.int16, 2),
    'I8': (torch.int8, 1),
    'U8': (torch.uint8, 1),
    'BOOL': (torch.bool, 1),
}


# ---------------------------------------------------------------------------------------------
# safetensors (parsed here, not with the safetensors package, so only torch is needed)
# ---------------------------------------------------------------------------------------------

def read_safetensors(path):
    """All tensors of one .safetensors file as a name -> tensor dict (stored dtype kept)."""
    if sys.byteorder != 'little':
        raise SystemExit('safetensors data is little-endian; this reader assumes a little-endian host')
    with open(path, 'rb') as f:
        blob = f.read()
    (n,) = struct.unpack('<Q', blob[:8])
    header = json.loads(blob[8:8 + n].decode('utf-8'))
    base = 8 + n
    out = {}
    for name, info in header.items():
        if name == '__metadata__':
            continue
        dt = info['dtype']
        if dt not in _ST_DTYPES:
            raise SystemExit(f'{path}: tensor {name} has dtype {dt}, which this reference does not read')
        tdtype, size = _ST_DTYPES[dt]
        shape = list(info['shape'])
        start, end = info['data_offsets']
        count = math.prod(shape)
        if end - start != count * size:
            raise SystemExit(f'{path}: tensor {name}: {end - start} bytes for shape {shape} of {dt}')
        if count == 0:
            out[name] = torch.zeros(shape, dtype=tdtype)
            continue
        # bytearray: a writable copy, so frombuffer does not alias the immutable file bytes.
        buf = bytearray(blob[base + start:base + end])
        out[name] = torch.frombuffer(buf, dtype=tdtype).reshape(shape).clone()
    return out


def write_safetensors(path, tensors, dtype='F32'):
    """Writes float tensors as F32 or F64 (sorted names, 8-byte aligned header, HF-compatible)."""
    if dtype not in ('F32', 'F64'):
        raise ValueError(f'write_safetensors writes F32 or F64, not {dtype}')
    header = {'__metadata__': {'format': 'pt'}}
    chunks = []
    off = 0
    for name in sorted(tensors):
        t = tensors[name].detach().to(F64).contiguous()
        vals = t.flatten().tolist()
        b = struct.pack(f'<{len(vals)}{"d" if dtype == "F64" else "f"}', *vals)
        header[name] = {'dtype': dtype, 'shape': list(t.shape), 'data_offsets': [off, off + len(b)]}
        chunks.append(b)
        off += len(b)
    h = json.dumps(header, separators=(',', ':')).encode('utf-8')
    h += b' ' * ((8 - len(h) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(h)))
        f.write(h)
        for c in chunks:
            f.write(c)


def load_checkpoint(model_dir):
    """(config dict, name -> float64 tensor) from an HF checkpoint directory (single file or shards)."""
    with open(os.path.join(model_dir, 'config.json'), encoding='utf-8') as f:
        config = json.load(f)
    index = os.path.join(model_dir, 'model.safetensors.index.json')
    if os.path.exists(index):
        with open(index, encoding='utf-8') as f:
            files = sorted(set(json.load(f)['weight_map'].values()))
    else:
        files = ['model.safetensors']
    raw = {}
    for fn in files:
        raw.update(read_safetensors(os.path.join(model_dir, fn)))
    if any(n.endswith('_scale_inv') for n in raw):
        raise SystemExit('FP8 block-scaled checkpoints are not supported by this reference')
    n_layers = config['num_hidden_layers']
    weights = {}
    for name, t in raw.items():
        parts = name.split('.')
        # MTP layers (index >= num_hidden_layers, e.g. DeepSeek-V3's layer 61) are not part of the model.
        if len(parts) > 2 and parts[0] == 'model' and parts[1] == 'layers' and int(parts[2]) >= n_layers:
            continue
        weights[name] = t.to(F64) if t.is_floating_point() else t
    return config, weights


# ---------------------------------------------------------------------------------------------
# the model, as functions of (config, weights)
# ---------------------------------------------------------------------------------------------

def cfg_get(c, key, default):
    v = c.get(key, default)
    return default if v is None and default is not None else v


def rms_norm(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(dim=-1, keepdim=True) + eps) * w


def linear(x, w):
    return x @ w.t()


def swiglu_mlp(x, W, prefix):
    g = linear(x, W[prefix + '.gate_proj.weight'])
    u = linear(x, W[prefix + '.up_proj.weight'])
    return linear(torch.nn.functional.silu(g) * u, W[prefix + '.down_proj.weight'])


def yarn_mscale(scale, mscale=1.0):
    return 1.0 if scale <= 1 else 0.1 * mscale * math.log(scale) + 1.0


def _rope_kind(rs):
    kind = rs.get('rope_type') or rs.get('type') or 'yarn'
    if kind not in ('yarn', 'linear'):
        raise SystemExit(f'rope_scaling type {kind!r} is not supported')
    return kind


def rope_inv_freq(dim, base, rs):
    """The dim/2 inverse frequencies in float64 (K2-FACTS § MLA, YaRN)."""
    freq = [base ** (-2.0 * i / dim) for i in range(dim // 2)]
    if rs is None:
        return freq
    factor = rs['factor']
    if _rope_kind(rs) == 'linear':
        return [f / factor for f in freq]
    orig = rs['original_max_position_embeddings']
    beta_fast = rs.get('beta_fast', 32)
    beta_slow = rs.get('beta_slow', 1)

    def corr(rot):
        return dim * math.log(orig / (2 * math.pi * rot)) / (2 * math.log(base))

    low = max(math.floor(corr(beta_fast)), 0)
    high = min(math.ceil(corr(beta_slow)), dim - 1)
    if low == high:
        high += 0.001
    out = []
    for i, f in enumerate(freq):
        ramp = min(1.0, max(0.0, (i - low) / (high - low)))
        out.append(f / factor * ramp + f * (1 - ramp))
    return out


def rope_tables(config, T, offset=0):
    """cos, sin [T, d/2] for positions offset..offset+T-1 (magnitude correction included)."""
    d = config['qk_rope_head_dim']
    rs = config.get('rope_scaling')
    inv = torch.tensor(rope_inv_freq(d, config.get('rope_theta', 10000), rs), dtype=F64)
    mag = 1.0
    if rs is not None and _rope_kind(rs) == 'yarn':
        mag = yarn_mscale(rs['factor'], rs.get('mscale', 1)) / yarn_mscale(rs['factor'], rs.get('mscale_all_dim', 0))
    ang = torch.arange(offset, offset + T, dtype=F64)[:, None] * inv[None, :]
    return torch.cos(ang) * mag, torch.sin(ang) * mag


def apply_rope(x, cos, sin):
    """Rotates adjacent pairs of x [..., T, d] by (cos, sin) [T, d/2]."""
    shp = x.shape
    xp = x.reshape(*shp[:-1], shp[-1] // 2, 2)
    a, b = xp[..., 0], xp[..., 1]
    return torch.stack((a * cos - b * sin, a * sin + b * cos), dim=-1).reshape(shp)


def softmax_scale(config):
    qk = config['qk_nope_head_dim'] + config['qk_rope_head_dim']
    s = qk ** -0.5
    rs = config.get('rope_scaling')
    if rs is not None and _rope_kind(rs) == 'yarn' and rs.get('mscale_all_dim', 0):
        m = yarn_mscale(rs['factor'], rs['mscale_all_dim'])
        s = s * m * m
    return s


def mla(x, W, p, config, cos, sin, stats=None):
    """Full (non-absorbed) causal MLA for x [B, T, D]; records S_max per head into stats[p]."""
    B, T, _ = x.shape
    H = config['num_attention_heads']
    nope, rope, vd = config['qk_nope_head_dim'], config['qk_rope_head_dim'], config['v_head_dim']
    r = config['kv_lora_rank']
    eps = cfg_get(config, 'rms_norm_eps', 1e-6)
    if config.get('q_lora_rank') is None:
        q = linear(x, W[p + '.q_proj.weight'])
    else:
        q = linear(rms_norm(linear(x, W[p + '.q_a_proj.weight']), W[p + '.q_a_layernorm.weight'], eps), W[p + '.q_b_proj.weight'])
    q = q.view(B, T, H, nope + rope).transpose(1, 2)  # [B, H, T, nope+rope]
    q_nope, q_rope = q[..., :nope], apply_rope(q[..., nope:], cos, sin)
    kv_a = linear(x, W[p + '.kv_a_proj_with_mqa.weight'])
    c_kv, k_rope = kv_a[..., :r], apply_rope(kv_a[..., r:], cos, sin)  # k_rope [B, T, rope], one shared head
    kv = linear(rms_norm(c_kv, W[p + '.kv_a_layernorm.weight'], eps), W[p + '.kv_b_proj.weight'])
    kv = kv.view(B, T, H, nope + vd).transpose(1, 2)
    k_nope, v = kv[..., :nope], kv[..., nope:]
    scores = (q_nope @ k_nope.transpose(-1, -2) + q_rope @ k_rope[:, None].transpose(-1, -2)) * softmax_scale(config)
    visible = torch.ones(T, T, dtype=torch.bool).tril()
    scores = scores.masked_fill(~visible, float('-inf'))
    if stats is not None:
        # S_max^h: max over the batch and the unmasked (causal) pairs, softmax scale included.
        stats.setdefault('max_logits', {})[p] = scores.detach().amax(dim=(0, 2, 3))
    o = torch.softmax(scores, dim=-1) @ v  # [B, H, T, v]
    return linear(o.transpose(1, 2).reshape(B, T, H * vd), W[p + '.o_proj.weight'])


def route(x, W, p, config):
    """Router for x [N, D]: (unbiased scores [N, E], chosen experts [N, K], weights [N, K])."""
    N = x.shape[0]
    E = config['n_routed_experts']
    K = config['num_experts_per_tok']
    logits = linear(x, W[p + '.gate.weight'])
    func = cfg_get(config, 'scoring_func', 'softmax')
    scores = torch.sigmoid(logits) if func == 'sigmoid' else torch.softmax(logits, dim=-1)
    method = cfg_get(config, 'topk_method', 'greedy')
    choice = scores.detach()
    bias = W.get(p + '.gate.e_score_correction_bias')
    if method == 'noaux_tc' and bias is not None:
        choice = choice + bias.detach()  # the bias only steers selection
    G = cfg_get(config, 'n_group', 1)
    if G > 1 and method != 'greedy':
        per = E // G
        grouped = choice.view(N, G, per)
        if method == 'noaux_tc':
            gscore = grouped.topk(min(2, per), dim=-1).values.sum(dim=-1)
        else:
            gscore = grouped.amax(dim=-1)
        kept = gscore.topk(cfg_get(config, 'topk_group', 1), dim=-1).indices
        gmask = torch.zeros(N, G, dtype=torch.bool).scatter(1, kept, True)
        choice = choice.masked_fill(~gmask.repeat_interleave(per, dim=1), float('-inf'))
    idx = choice.topk(K, dim=-1).indices
    w = scores.gather(1, idx)
    if cfg_get(config, 'norm_topk_prob', False) and K > 1:
        w = w / (w.sum(dim=-1, keepdim=True) + 1e-20)
    w = w * cfg_get(config, 'routed_scaling_factor', 1.0)
    return scores, idx, w


def moe(x, W, p, config, stats=None):
    """x [B, T, D] -> ([B, T, D], seq-wise balance loss or None)."""
    B, T, D = x.shape
    E = config['n_routed_experts']
    K = config['num_experts_per_tok']
    flat = x.reshape(B * T, D)
    scores, idx, w = route(flat, W, p, config)
    y = torch.zeros_like(flat)
    for e in range(E):
        rows, slot = torch.where(idx == e)
        if rows.numel() == 0:
            continue
        y = y.index_add(0, rows, swiglu_mlp(flat[rows], W, f'{p}.experts.{e}') * w[rows, slot, None])
    if cfg_get(config, 'n_shared_experts', 0):
        y = y + swiglu_mlp(flat, W, p + '.shared_experts')
    load = torch.bincount(idx.flatten(), minlength=E)
    if stats is not None:
        stats.setdefault('load', {})[p] = load
    aux = None
    alpha = cfg_get(config, 'aux_loss_alpha', 0.0)
    if stats is not None and stats.get('want_aux') and alpha > 0:
        # DeepSeek-V3's sequence-wise balance loss: alpha * mean_b sum_i f_{b,i} P_{b,i},
        # f = E/(K*T) * (tokens of row b choosing i), P = mean_t s_{t,i} / sum_j s_{t,j}.
        s = scores.view(B, T, E)
        P = (s / s.sum(dim=-1, keepdim=True)).mean(dim=1)
        counts = torch.zeros(B, E, dtype=F64)
        counts.index_put_((torch.arange(B)[:, None].expand(B, T * K).reshape(-1), idx.view(B, T * K).reshape(-1)),
                          torch.ones(B * T * K, dtype=F64), accumulate=True)
        f = counts * (E / (K * T))
        aux = alpha * (f * P).sum(dim=-1).mean()
    return y.view(B, T, D), aux


def is_moe_layer(config, i):
    n = config.get('n_routed_experts')
    return bool(n) and i >= cfg_get(config, 'first_k_dense_replace', 0) and i % cfg_get(config, 'moe_layer_freq', 1) == 0


def forward(config, W, ids, stats=None):
    """ids: LongTensor [B, T] -> (logits [B, T, V] float64, summed balance loss or None)."""
    if config.get('tie_word_embeddings'):
        raise SystemExit('tie_word_embeddings = true is not supported')
    B, T = ids.shape
    eps = cfg_get(config, 'rms_norm_eps', 1e-6)
    cos, sin = rope_tables(config, T)
    h = W['model.embed_tokens.weight'][ids]
    aux_total = None
    for i in range(config['num_hidden_layers']):
        p = f'model.layers.{i}'
        h = h + mla(rms_norm(h, W[p + '.input_layernorm.weight'], eps), W, p + '.self_attn', config, cos, sin, stats)
        x = rms_norm(h, W[p + '.post_attention_layernorm.weight'], eps)
        if is_moe_layer(config, i):
            out, aux = moe(x, W, p + '.mlp', config, stats)
            if aux is not None:
                aux_total = aux if aux_total is None else aux_total + aux
        else:
            out = swiglu_mlp(x, W, p + '.mlp')
        h = h + out
    logits = linear(rms_norm(h, W['model.norm.weight'], eps), W['lm_head.weight'])
    return logits, aux_total


def read_token_rows(path, vocab):
    with open(path, encoding='utf-8') as f:
        rows = json.load(f)
    if not isinstance(rows, list) or not rows or not all(isinstance(r, list) for r in rows):
        raise SystemExit(f'{path}: expected a non-empty JSON array of token-id arrays')
    T = len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != T or T == 0:
            raise SystemExit(f'{path}: sequence {i} has {len(r)} tokens, sequence 0 has {T}')
        for j, t in enumerate(r):
            if not isinstance(t, int) or not 0 <= t < vocab:
                raise SystemExit(f'{path}: sequence {i}, position {j}: {t!r} is not a token id in [0, {vocab})')
    return torch.tensor(rows, dtype=torch.long)


def main(argv=None):
    ap = argparse.ArgumentParser(description='float64 reference of DeepseekV3ForCausalLM')
    sub = ap.add_subparsers(dest='cmd', required=True)
    lg = sub.add_parser('logits', help='logits for every position of equal-length token sequences')
    lg.add_argument('--model', required=True, help='HF checkpoint directory (config.json + safetensors)')
    lg.add_argument('--tokens', required=True, help='JSON array of equal-length token-id arrays')
    lg.add_argument('--out', required=True, help='output JSON {"logits": [b][t][v]}')
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # tiny models; other processes share the cores
    config, W = load_checkpoint(args.model)
    ids = read_token_rows(args.tokens, config['vocab_size'])
    with torch.no_grad():
        logits, _ = forward(config, W, ids)
    with open(args.out, 'w', encoding='utf-8') as f:
        json.dump({'logits': logits.tolist()}, f)


if __name__ == '__main__':
    main()
