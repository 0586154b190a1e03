"""Is the text embedding the UNet's cross-attention sees dominated by padding? (DESIGN §7 clue.)

    python experiments/scripts/erase_text_embeddings.py DIR     # DIR: a base's pipeline/ or a CLIPModel/CLIPTextModel dir

For "a triangle" against "", other shapes "a <shape>", and "a <colour> <shape>" prompts, on the token
sequence the pipeline feeds the UNet (padded with EOS to model_max_length):
    cos_flat       cosine of the flattened [L, D] embeddings (what DESIGN §7 quotes)
    cos_content    the same over the content positions only (BOS .. first EOS of the longer prompt)
    cos_padding    the same over the positions after it (padding)
    padding_norm_share   share of the squared norm in padding positions
and the same cosines after subtracting the mean embedding over all these prompts (per position), which
removes the component every prompt shares (LayerNorm bias, position embedding) and shows whether the
prompts still differ.
Prints one JSON object.
"""

import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F


def load(path: Path):
    from transformers import CLIPModel, CLIPTextModel, CLIPTokenizer

    if (path / "text_encoder").is_dir():
        return CLIPTextModel.from_pretrained(path / "text_encoder"), CLIPTokenizer.from_pretrained(path / "tokenizer")
    model = CLIPModel.from_pretrained(path)
    from erasure.worlds.toy.clip import text_encoder_from_clip

    if (path / "vocab.json").is_file():
        return text_encoder_from_clip(model), CLIPTokenizer.from_pretrained(path)
    import tempfile

    from erasure.worlds.toy.tokenizer import build_tokenizer  # a bare CLIPModel dir (the build's stage cache)

    return text_encoder_from_clip(model), build_tokenizer(tempfile.mkdtemp())


@torch.no_grad()
def main() -> None:
    from erasure.worlds.toy.vocab import COLOURS, SHAPES

    torch.set_num_threads(1)
    te, tok = load(Path(sys.argv[1]))
    prompts = ["a triangle", ""] + [f"a {s}" for s in SHAPES if s != "triangle"] + \
        [f"a {c} {s}" for c in COLOURS for s in SHAPES]
    ids = tok(prompts, padding="max_length", max_length=tok.model_max_length, truncation=True, return_tensors="pt").input_ids
    h = te(ids).last_hidden_state  # [P, L, D]
    first_eos = (ids == tok.eos_token_id).int().argmax(-1)

    def cos(a, b, mask):
        return float(F.cosine_similarity((a * mask[:, None]).flatten(), (b * mask[:, None]).flatten(), dim=0))

    L = ids.shape[1]
    pos = torch.arange(L)
    rows = {}
    for i, p in enumerate(prompts[1:], start=1):
        cut = int(max(first_eos[0], first_eos[i]))
        content, padding = (pos <= cut).float(), (pos > cut).float()
        rows[p or '""'] = dict(cos_flat=cos(h[0], h[i], torch.ones(L)), cos_content=cos(h[0], h[i], content),
                               cos_padding=cos(h[0], h[i], padding))
    hc = h - h.mean(0, keepdim=True)
    for i, p in enumerate(prompts[1:], start=1):
        cut = int(max(first_eos[0], first_eos[i]))
        content, padding = (pos <= cut).float(), (pos > cut).float()
        rows[p or '""'].update(cos_flat_centered=cos(hc[0], hc[i], torch.ones(L)),
                               cos_content_centered=cos(hc[0], hc[i], content),
                               cos_padding_centered=cos(hc[0], hc[i], padding))
    pad0 = pos > first_eos[0]
    share = float(h[0][pad0].square().sum() / h[0].square().sum())
    groups = {
        "empty": ['""'],
        "other_shapes": [f"a {s}" for s in SHAPES if s != "triangle"],
        "colour_triangle": [f"a {c} triangle" for c in COLOURS],
        "colour_other_shape": [f"a {c} {s}" for c in COLOURS for s in SHAPES if s != "triangle"],
    }
    summary = {g: {k: round(sum(rows[p][k] for p in ps) / len(ps), 4) for k in rows['""']}
               for g, ps in groups.items()}
    print(json.dumps({"source": sys.argv[1], "model_max_length": L, "padding_positions_of_a_triangle": int(pad0.sum()),
                      "padding_norm_share_a_triangle": round(share, 4), "vs_a_triangle": summary}))


if __name__ == "__main__":
    main()
