#!/usr/bin/env python3
"""
Training steps of a DeepseekV3ForCausalLM checkpoint in float64 (one per given batch, the
optimizer state carried over), with the formulas of /work/shared/K2-FACTS.md, in the order
Karakoram's Trainer applies them (packages/train/src/trainer.ts, run.ts). Each step:

  1. forward on the batch (deepseek_v3_ref.forward): loss = mean next-token cross-entropy over
     every position (targets given explicitly, not shifted here), plus the MoE sequence-wise
     balance loss when aux_loss_alpha > 0 (Karakoram's loss() default); the same pass records
     S_max^h per MLA layer and head and the tokens per expert;
  2. autograd gradients of every trained tensor (parameters no path reaches get zeros, as
     Karakoram's valueAndGrads gives); optional global-norm clipping (--clip-norm, 0 = off);
  3. optimizer (Moonlight-form Muon + AdamW, state starting at zero; a single step cannot tell
     Nesterov or the momentum apart, since NS5 is scale-invariant, so test with two):
     Muon for every 2-D tensor except model.embed_tokens.weight and lm_head.weight (the router's
     gate.weight included: Karakoram gives it role 'matrix'):
       M = mu*M + G; G' = G + mu*M (Nesterov) or M; O = NS5(G');
       W = W*(1 - lr*wd) - lr*0.2*sqrt(max(rows, cols))*O
     NS5: X = G' (transposed if rows > cols); X = X/(||X||_F + 1e-7); 5 times A = X X^T,
       X = a X + (b A + c A A) X with (3.4445, -4.7750, 2.0315); transposed back.
     AdamW for the rest (norm gains, embeddings, lm_head), t = 1, 2, ...:
       m = b1*m + (1-b1)*G; v = b2*v + (1-b2)*G^2; W *= 1 - lr*wd;
       W -= lr * (m/(eps + sqrt(v))) * sqrt(1 - b2^t)/(1 - b1^t)
     e_score_correction_bias is not trained by gradient;
  4. QK-Clip (inside MuonClip.step, after the update): for every MLA layer and head with
     S_max^h > tau: gamma = tau/S_max^h; the head's q_nope rows of q_b_proj (or q_proj) and k_nope
     rows of kv_b_proj times sqrt(gamma), its q_rope rows times gamma, nothing else;
  5. aux-loss-free router bias (the Trainer's afterUpdate hook): bias += u*sign(mean_load - load),
     load = tokens per expert in this step's forward.

CLI:
  python3 train_step_ref.py --model DIR --batch FILE --out FILE [--lr 0.02 --wd 0.1 --momentum 0.95
    --no-nesterov --ns-steps 5 --betas 0.9 0.95 --eps 1e-8 --muon-scale 0.2 --tau 100
    --no-clip --router-bias-rate 0.001 --clip-norm 0] [--out-checkpoint DIR]
  batch: JSON {"inputs": [[...]], "targets": [[...]]} (equal-length rows), or
    {"steps": [{"inputs", "targets"}, ...]} for several steps.
  out: JSON with the last step's {"loss", "ce", "aux", "grad_norm", "max_logits": {layer: [per head]},
       "clipped": [{"layer", "head", "max_logit", "gamma"}], "load": {moe: [per expert]},
       "routes": {name: "muon" | "adamw" | "none"}, "state": {name: {"shape", "data"}}} with the
       updated float64 state dict (every tensor of the checkpoint), and "steps": every step's
       info (without the state).
  --out-checkpoint: also an HF checkpoint directory (config.json + F32 model.safetensors).
"""
import argparse
import json
import math
import os
import sys

import torch

# No __pycache__ next to the sources (the repository does not ignore it).
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import deepseek_v3_ref as ref  # noqa: E402

F64 = torch.float64
NS5 = (3.4445, -4.7750, 2.0315)
NON_MUON = ('model.embed_tokens.weight', 'lm_head.weight')


def is_buffer(name):
    return name.endswith('.e_score_correction_bias')


def route_of(name, t):
    if is_buffer(name):
        return 'none'
    if t.dim() >= 2 and name not in NON_MUON:
        return 'muon'
    return 'adamw'


def newton_schulz5(G, steps):
    a, b, c = NS5
    X = G
    tall = X.shape[-2] > X.shape[-1]
    if tall:
        X = X.transpose(-1, -2)
    X = X / (torch.linalg.norm(X, dim=(-2, -1), keepdim=True) + 1e-7)  # per matrix
    for _ in range(steps):
        A = X @ X.transpose(-1, -2)
        X = a * X + (b * A + c * A @ A) @ X
    return X.transpose(-1, -2) if tall else X


def qk_clip_rows(config, layer, head):
    """(sqrt(gamma) row ranges, gamma row ranges) as (weight name, start, end)."""
    nope, rope, vd = config['qk_nope_head_dim'], config['qk_rope_head_dim'], config['v_head_dim']
    qname = f'{layer}.q_proj.weight' if config.get('q_lora_rank') is None else f'{layer}.q_b_proj.weight'
    qh, kvh = nope + rope, nope + vd
    sqrt_rows = [(qname, head * qh, head * qh + nope), (f'{layer}.kv_b_proj.weight', head * kvh, head * kvh + nope)]
    gamma_rows = [(qname, head * qh + nope, (head + 1) * qh)]
    return sqrt_rows, gamma_rows


def train_step(config, W, inputs, targets, a, opt):
    """One step from weights W and optimizer state opt (updated in place); returns (info, new W)."""
    names = list(W)
    trained = [n for n in names if not is_buffer(n)]
    params = {n: W[n].clone().requires_grad_(True) for n in trained}
    Wf = dict(W)
    Wf.update(params)
    stats = {'want_aux': True}
    logits, aux = ref.forward(config, Wf, inputs, stats)
    V = logits.shape[-1]
    ce = torch.nn.functional.cross_entropy(logits.reshape(-1, V), targets.reshape(-1), reduction='mean')
    loss = ce + aux if aux is not None else ce
    grads = torch.autograd.grad(loss, [params[n] for n in trained], allow_unused=True)
    grads = {n: (g if g is not None else torch.zeros_like(W[n])) for n, g in zip(trained, grads)}
    grad_norm = math.sqrt(sum(float((g * g).sum()) for g in grads.values()))
    if a.clip_norm > 0 and grad_norm > a.clip_norm:
        s = a.clip_norm / grad_norm
        grads = {n: g * s for n, g in grads.items()}

    new = {n: t.detach().clone() for n, t in W.items()}
    lr, wd, mu = a.lr, a.wd, a.momentum
    b1, b2 = a.betas
    routes = {}
    with torch.no_grad():
        for n in trained:
            G, Wt = grads[n], W[n]
            routes[n] = route_of(n, Wt)
            if routes[n] == 'muon':
                M = mu * opt.get(n + '.momentum_buffer', torch.zeros_like(G)) + G
                opt[n + '.momentum_buffer'] = M
                Geff = G + mu * M if a.nesterov else M
                O = newton_schulz5(Geff, a.ns_steps)
                rows, cols = Wt.shape[-2], Wt.shape[-1]
                new[n] = Wt * (1 - lr * wd) - lr * a.muon_scale * math.sqrt(max(rows, cols)) * O
            else:
                t = opt.get(n + '.step', 0) + 1
                m = b1 * opt.get(n + '.exp_avg', torch.zeros_like(G)) + (1 - b1) * G
                v = b2 * opt.get(n + '.exp_avg_sq', torch.zeros_like(G)) + (1 - b2) * G * G
                opt[n + '.step'], opt[n + '.exp_avg'], opt[n + '.exp_avg_sq'] = t, m, v
                step = lr * math.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                new[n] = Wt * (1 - lr * wd) - step * (m / (a.eps + torch.sqrt(v)))
        for n in names:
            if is_buffer(n):
                routes[n] = 'none'

        clipped = []
        for layer, smax in stats.get('max_logits', {}).items():
            for h, s in enumerate(smax.tolist()):
                if not (s > a.tau):
                    continue
                gamma = a.tau / s
                clipped.append({'layer': layer, 'head': h, 'max_logit': s, 'gamma': gamma})
                if not a.clip:
                    continue
                sq, gm = qk_clip_rows(config, layer, h)
                for wn, s0, s1 in sq:
                    new[wn][s0:s1] *= math.sqrt(gamma)
                for wn, s0, s1 in gm:
                    new[wn][s0:s1] *= gamma

        if a.router_bias_rate > 0:
            for moe, load in stats.get('load', {}).items():
                bn = f'{moe}.gate.e_score_correction_bias'
                if bn in new:
                    l = load.to(F64)
                    new[bn] = new[bn] + a.router_bias_rate * torch.sign(l.mean() - l)

    return {
        'loss': float(loss),
        'ce': float(ce),
        'aux': None if aux is None else float(aux),
        'grad_norm': grad_norm,
        'max_logits': {k: v.tolist() for k, v in stats.get('max_logits', {}).items()},
        'clipped': clipped,
        'load': {k: v.tolist() for k, v in stats.get('load', {}).items()},
        'routes': routes,
    }, new


def read_batches(path, vocab):
    """[(inputs, targets)] from {"inputs", "targets"} (one step) or {"steps": [{...}, ...]}."""
    with open(path, encoding='utf-8') as f:
        b = json.load(f)
    steps = b['steps'] if isinstance(b, dict) and 'steps' in b else [b]
    return [_one_batch(path, s, vocab) for s in steps]


def _one_batch(path, b, vocab):
    inp, tgt = b.get('inputs'), b.get('targets')
    if not isinstance(inp, list) or not isinstance(tgt, list) or len(inp) != len(tgt) or not inp:
        raise SystemExit(f'{path}: expected {{"inputs": [[...]], "targets": [[...]]}} with the same number of rows')
    T = len(inp[0])
    for rows in (inp, tgt):
        for i, r in enumerate(rows):
            if len(r) != T:
                raise SystemExit(f'{path}: row {i} has {len(r)} tokens, row 0 has {T}')
            if any((not isinstance(t, int)) or t < 0 or t >= vocab for t in r):
                raise SystemExit(f'{path}: row {i} holds a value that is not a token id in [0, {vocab})')
    return torch.tensor(inp, dtype=torch.long), torch.tensor(tgt, dtype=torch.long)


def main(argv=None):
    ap = argparse.ArgumentParser(description='one float64 MuonClip training step of a DeepseekV3ForCausalLM checkpoint')
    ap.add_argument('--model', required=True)
    ap.add_argument('--batch', required=True)
    ap.add_argument('--out', required=True)
    ap.add_argument('--out-checkpoint')
    ap.add_argument('--lr', type=float, default=0.02)
    ap.add_argument('--wd', type=float, default=0.1)
    ap.add_argument('--momentum', type=float, default=0.95)
    ap.add_argument('--no-nesterov', dest='nesterov', action='store_false')
    ap.add_argument('--ns-steps', type=int, default=5)
    ap.add_argument('--betas', type=float, nargs=2, default=(0.9, 0.95))
    ap.add_argument('--eps', type=float, default=1e-8)
    ap.add_argument('--muon-scale', type=float, default=0.2)
    ap.add_argument('--tau', type=float, default=100.0)
    ap.add_argument('--no-clip', dest='clip', action='store_false', help='log S_max only, never scale')
    ap.add_argument('--router-bias-rate', type=float, default=0.001)
    ap.add_argument('--clip-norm', type=float, default=0.0)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    config, W = ref.load_checkpoint(a.model)
    opt = {}
    steps = []
    for inputs, targets in read_batches(a.batch, config['vocab_size']):
        info, W = train_step(config, W, inputs, targets, a, opt)
        steps.append(info)
    info = dict(steps[-1], steps=steps)
    info['state'] = {n: {'shape': list(t.shape), 'data': t.flatten().tolist()} for n, t in W.items()}
    with open(a.out, 'w', encoding='utf-8') as f:
        json.dump(info, f)
    if a.out_checkpoint:
        os.makedirs(a.out_checkpoint, exist_ok=True)
        cfg = dict(config, torch_dtype='float32')
        with open(os.path.join(a.out_checkpoint, 'config.json'), 'w', encoding='utf-8') as f:
            json.dump(cfg, f, indent=2)
        ref.write_safetensors(os.path.join(a.out_checkpoint, 'model.safetensors'), W, 'F32')


if __name__ == '__main__':
    main()
