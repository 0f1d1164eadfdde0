"""Reference logits of a sub-network, for checking other runtimes (the ONNX export) against.

    python3 -m llama_nas_trainer.reference --model DIR [--subnet '{"layers":L,"intermediate":[...]}']
        --tokens '[[1,2,3],[4,5]]'

Prints {"logits": [[[...vocab floats...] per position] per row]} as one JSON line; computed in float32
(weights upcast). Rows may differ in length: each row is run on its own.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from .hf_io import load_model


def reference_logits(model, tokens, layers=None, intermediate=None):
    out = []
    with torch.no_grad():
        for row in tokens:
            ids = torch.tensor([row], dtype=torch.long)
            out.append(model(ids, layers, intermediate)[0].float().tolist())
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m llama_nas_trainer.reference", description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="HF folder")
    ap.add_argument("--subnet", default=None, help='JSON {"layers": L, "intermediate": [k_0, ...]}; default the full network')
    ap.add_argument("--tokens", required=True, help="JSON list of token-id rows, or @FILE to read it from a file")
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))
    tokens_text = open(args.tokens[1:], encoding="utf-8").read() if args.tokens.startswith("@") else args.tokens
    tokens = json.loads(tokens_text)
    if not isinstance(tokens, list) or not all(isinstance(r, list) and r and all(isinstance(t, int) for t in r) for r in tokens):
        print("--tokens must be a JSON list of non-empty lists of integers", file=sys.stderr)
        return 2
    subnet = json.loads(args.subnet) if args.subnet else {}
    model = load_model(args.model, dtype=torch.float32)
    vocab = model.config.vocab_size
    bad = [t for r in tokens for t in r if not 0 <= t < vocab]
    if bad:
        print(f"--tokens: id {bad[0]} is outside 0..{vocab - 1}", file=sys.stderr)
        return 2
    try:
        logits = reference_logits(model, tokens, subnet.get("layers"), subnet.get("intermediate"))
    except ValueError as e:
        print(str(e), file=sys.stderr)
        return 2
    sys.stdout.write(json.dumps({"logits": logits}) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
