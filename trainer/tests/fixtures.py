"""A tiny world for trainer tests: a word-level tokenizer, a corpus, Alpaca data and a base model."""

import json
import os
import random

from llama_nas_trainer.config import ALPACA_PROMPT_NO_INPUT, ALPACA_PROMPT_WITH_INPUT
from llama_nas_trainer.tokenizer import _WHITESPACE_RE

NAMES = ["ann", "bob", "cid", "dee", "eve", "fay", "gus", "hal"]
CITIES = ["paris", "rome", "oslo", "lima"]
PETS = ["cat", "dog", "owl", "eel"]
SPECIALS = ["<pad>", "<unk>", "<s>", "</s>"]


def facts(seed=0):
    rng = random.Random(seed)
    return {n: (rng.choice(CITIES), rng.choice(PETS)) for n in NAMES}


def corpus_lines(seed=0, repeat=6):
    lines = []
    f = facts(seed)
    for _ in range(repeat):
        for n, (c, p) in f.items():
            lines.append(f"{n} lives in {c} . {n} has a {p} .")
    return lines


def alpaca_records(seed=0):
    f = facts(seed)
    recs = []
    for n, (c, p) in f.items():
        recs.append({"instruction": f"Where does {n} live ?", "input": "", "output": f"{n} lives in {c} ."})
        recs.append({"instruction": "Name the pet .", "input": f"{n}", "output": f"a {p}"})
    return recs


def write_tokenizer(folder):
    words = set()
    for text in corpus_lines() + [ALPACA_PROMPT_WITH_INPUT, ALPACA_PROMPT_NO_INPUT] + [
        " ".join(r.values()) for r in alpaca_records()
    ]:
        words.update(_WHITESPACE_RE.findall(text))
    vocab = {t: i for i, t in enumerate(SPECIALS)}
    for w in sorted(words):
        vocab.setdefault(w, len(vocab))
    spec = {
        "version": "1.0",
        "added_tokens": [{"id": i, "content": t, "special": True, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False} for i, t in enumerate(SPECIALS)],
        "normalizer": None,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": None,
        "decoder": None,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"},
    }
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "tokenizer.json"), "w") as f:
        json.dump(spec, f)
    with open(os.path.join(folder, "tokenizer_config.json"), "w") as f:
        json.dump({"bos_token": "<s>", "eos_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>"}, f)
    return len(vocab)


def architecture(vocab, layers=4, hidden=32, intermediate=64):
    return {"vocab_size": vocab, "hidden_size": hidden, "intermediate_size": intermediate, "num_hidden_layers": layers,
            "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 128,
            "bos_token_id": 2, "eos_token_id": 3, "pad_token_id": 0, "tie_word_embeddings": False}


def write_world(tmp):
    """tokenizer/, corpus.txt, alpaca.json and pretrain.json in `tmp`; returns the paths."""
    tok = os.path.join(tmp, "tokenizer")
    vocab = write_tokenizer(tok)
    corpus = os.path.join(tmp, "corpus.txt")
    with open(corpus, "w") as f:
        f.write("\n".join(corpus_lines()) + "\n")
    alpaca = os.path.join(tmp, "alpaca.json")
    with open(alpaca, "w") as f:
        json.dump(alpaca_records(), f, indent=2)
    return {"tokenizer": tok, "corpus": corpus, "alpaca": alpaca, "vocab": vocab}


def write_config(path, **cfg):
    with open(path, "w") as f:
        json.dump(cfg, f, indent=2)
    return path


REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Optional test-only packages (safetensors, transformers and what they import, none pulling a torch), which
# scripts/provision.sh installs here with pip --target: on sys.path after the system's own packages.
PYDEPS = os.environ.get("LLAMA_NAS_PYDEPS") or os.path.join(
    os.environ.get("LLAMA_NAS_HOME") or os.path.join(REPO, ".llama-nas"), "pydeps")


def optional_pydeps():
    import sys

    if os.path.isdir(PYDEPS) and PYDEPS not in sys.path:
        sys.path.append(PYDEPS)
    return PYDEPS
