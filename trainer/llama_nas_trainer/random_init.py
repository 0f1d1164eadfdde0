"""Writes an HF folder with randomly initialised weights.

    python3 -m llama_nas_trainer.random_init --config CFG.json --out DIR --seed S [--std 0.02]
        [--dtype float32|float16|bfloat16] [--tokenizer FOLDER]

CFG.json holds LlamaConfig fields (vocab_size, hidden_size, intermediate_size, num_hidden_layers,
num_attention_heads, ...). Prints {"out": DIR, "parameters": N} as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import sys

import torch

from .hf_io import DTYPE_NAMES, copy_tokenizer_files, parse_dtype, save_model
from .model import LlamaConfig, LlamaForCausalLM


def random_model(cfg: LlamaConfig, seed: int, std: float = 0.02) -> LlamaForCausalLM:
    model = LlamaForCausalLM(cfg)
    model.init_weights(std, torch.Generator().manual_seed(seed))
    return model


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m llama_nas_trainer.random_init", description=__doc__.split("\n")[0])
    ap.add_argument("--config", required=True, help="JSON file with LlamaConfig fields")
    ap.add_argument("--out", required=True, help="output folder (config.json, model.safetensors)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--std", type=float, default=0.02, help="standard deviation of the normal init")
    ap.add_argument("--dtype", choices=sorted(DTYPE_NAMES), default=None, help="default: the config's torch_dtype, else float32")
    ap.add_argument("--tokenizer", default=None, help="folder whose tokenizer files are copied into --out")
    args = ap.parse_args(argv)
    with open(args.config, encoding="utf-8") as f:
        raw = json.load(f)
    try:
        cfg = LlamaConfig.from_dict(raw)
    except (TypeError, ValueError) as e:
        print(f"{args.config}: {e}", file=sys.stderr)
        return 2
    dtype = parse_dtype(args.dtype or cfg.torch_dtype or "float32")
    model = random_model(cfg, args.seed, args.std)
    save_model(model, args.out, dtype=dtype)
    if args.tokenizer:
        copy_tokenizer_files(args.tokenizer, args.out)
    print(json.dumps({"out": args.out, "parameters": sum(p.numel() for p in model.parameters())}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
