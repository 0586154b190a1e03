"""Where does SDD's interference come from? Compare a trained run with its base, prompt by prompt.

    nice -n 10 python experiments/scripts/erase_interference.py --base erasure/worlds/toy/assets/base \
        --run-dir /tmp/erase-exp/models/sdd-triangle --step 300

For each prompt "a <colour> <shape>" (and "a triangle", "a <shape>"), on shared latents z_t (the base's own
DDIM latents for that prompt, CFG 5, at 5 noise levels):
    drift      ‖ε_new(z, c) − ε_base(z, c)‖² / ‖ε_base(z, c) − ε_base(z, ∅)‖²   (how much of the prompt's
               conditional signal the run changed)
    cos_flat   cosine of the prompt's flattened text embedding (what cross-attention sees) with "a triangle"
    cos_pool   the same on the pooled embedding
    cos_empty  flattened cosine with "" (the SDD target)
and, for the base's attn2 layers, the share of attention mass on padding positions (after EOS).
Prints one JSON object.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


@torch.no_grad()
def embed(pipe, texts):
    ids = pipe.tokenizer(texts, padding="max_length", max_length=pipe.tokenizer.model_max_length,
                         truncation=True, return_tensors="pt").input_ids
    out = pipe.text_encoder(ids)
    return out.last_hidden_state, out.pooler_output, ids


@torch.no_grad()
def latents_for(pipe, cond, uncond, n, seed, levels):
    """The base's own DDIM latents (CFG 5) for one prompt, at several grid indices."""
    from erasure.methods.zt_sampler import ddim_scheduler, sample_zt

    sched = ddim_scheduler(dict(pipe.scheduler.config), 25)
    zs = []
    for k, index in enumerate(levels):
        z, t = sample_zt(pipe.unet, sched, cond, uncond, index=index, guidance=5.0, batch_size=n,
                         generator=torch.Generator().manual_seed(seed + k))
        zs.append((z, t))
    return zs


class PaddingShare:
    """A hook on attn2 processors recording attention mass on positions after the first EOS."""

    def __init__(self, unet, pad_mask):
        self.pad_mask, self.shares = pad_mask, []
        for name, module in unet.named_modules():
            if name.endswith("attn2"):
                module.register_forward_hook(self.hook, with_kwargs=True)

    def hook(self, module, args, kwargs, output):
        hidden = args[0] if args else kwargs["hidden_states"]
        context = kwargs.get("encoder_hidden_states")
        if context is None:
            return
        q = module.head_to_batch_dim(module.to_q(hidden))
        k = module.head_to_batch_dim(module.to_k(context))
        probs = module.get_attention_scores(q, k, None)  # [B*H, Nq, L]
        self.shares.append(float((probs * self.pad_mask.to(probs)).sum(-1).mean()))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", required=True)
    ap.add_argument("--run-dir", required=True)
    ap.add_argument("--step", type=int, required=True)
    ap.add_argument("--which", default="default")
    ap.add_argument("--n", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    from erasure.checkpoints import load_method_pipeline
    from erasure.models import load_base_pipeline
    from erasure.runtime import set_threads
    from erasure.worlds.toy.vocab import COLOURS, SHAPES

    set_threads(args.threads)
    base_dir = Path(args.base).resolve()
    base = load_base_pipeline(str(base_dir / "pipeline"))
    new = load_method_pipeline(str(base_dir / "pipeline"), args.run_dir, args.step, args.which)
    prompts = ["a triangle"] + [f"a {s}" for s in SHAPES if s != "triangle"] + \
        [f"a {c} {s}" for c in COLOURS for s in SHAPES]
    flat, pooled, ids = embed(base, prompts + [""])
    flat_n = F.normalize(flat.flatten(1), dim=-1)
    pool_n = F.normalize(pooled, dim=-1)
    uncond = flat[-1:]
    levels = [2, 7, 12, 17, 22]  # Algorithm-1 indices on a 25-step grid: from nearly clean to noisy

    rows = []
    for i, p in enumerate(prompts):
        cond = flat[i : i + 1]
        num = den = 0.0
        for z, t in latents_for(base, cond, uncond, args.n, 1234 + 10 * i, levels):
            n = z.shape[0]
            e_b_c = base.unet(z, t, encoder_hidden_states=cond.expand(n, -1, -1)).sample
            e_b_0 = base.unet(z, t, encoder_hidden_states=uncond.expand(n, -1, -1)).sample
            e_n_c = new.unet(z, t, encoder_hidden_states=cond.expand(n, -1, -1)).sample
            num += float((e_n_c - e_b_c).square().sum())
            den += float((e_b_c - e_b_0).square().sum())
        rows.append(dict(prompt=p, drift=num / den, cos_flat=float(flat_n[i] @ flat_n[0]),
                         cos_pool=float(pool_n[i] @ pool_n[0]), cos_empty=float(flat_n[i] @ flat_n[-1])))

    # attention mass on padding positions (everything after the first EOS) in the base
    eos = base.tokenizer.eos_token_id
    first_eos = (ids == eos).int().argmax(-1)
    positions = torch.arange(ids.shape[1])
    pad = positions[None, :] > first_eos[:, None]  # [P, L]
    shares = {}
    for i in (0, 5, len(prompts) - 1):
        hook = PaddingShare(base.unet, pad[i].float())
        z = torch.randn(2, 4, 8, 8, generator=torch.Generator().manual_seed(0))
        base.unet(z, 500, encoder_hidden_states=flat[i : i + 1].expand(2, -1, -1))
        shares[prompts[i]] = {"padding_positions": int(pad[i].sum()), "of": int(ids.shape[1]),
                              "attention_mass_on_padding": round(float(np.mean(hook.shares)), 3)}
        for m in base.unet.modules():
            m._forward_hooks.clear()

    d = np.array([r["drift"] for r in rows[1:]])
    res = {
        "run_dir": args.run_dir, "step": args.step, "which": args.which,
        "drift_target": rows[0]["drift"],
        "drift_by_prompt": {r["prompt"]: round(r["drift"], 3) for r in rows},
        "drift_triangle_prompts": float(np.mean([r["drift"] for r in rows if "triangle" in r["prompt"]])),
        "drift_other_shapes": float(np.mean([r["drift"] for r in rows if "triangle" not in r["prompt"]])),
        "corr_drift_cos_flat": float(np.corrcoef(d, [r["cos_flat"] for r in rows[1:]])[0, 1]),
        "corr_drift_cos_pool": float(np.corrcoef(d, [r["cos_pool"] for r in rows[1:]])[0, 1]),
        "cos_flat_to_target_mean": float(np.mean([r["cos_flat"] for r in rows[1:]])),
        "cos_pool_to_target_mean": float(np.mean([r["cos_pool"] for r in rows[1:]])),
        "cos_flat_to_empty_mean": float(np.mean([r["cos_empty"] for r in rows])),
        "padding": shares,
    }
    print(json.dumps(res))


if __name__ == "__main__":
    main()
