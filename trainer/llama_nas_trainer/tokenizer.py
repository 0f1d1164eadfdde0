"""Loads a Hugging Face tokenizer.json.

WordLevel models with a Whitespace / WhitespaceSplit pre-tokenizer (and Lowercase / NFC/NFD/NFKC/NFKD
normalizers, added tokens) are implemented here, with the `tokenizers` library's semantics. Other
model types (BPE, Unigram, WordPiece) use the `tokenizers` package when it is importable; otherwise
loading fails with a message saying what is supported (pre-tokenized data needs no tokenizer).
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from typing import Any, Dict, List, Optional

# The `tokenizers` Whitespace pre-tokenizer: \w+|[^\w\s]+
_WHITESPACE_RE = re.compile(r"\w+|[^\w\s]+")


class TokenizerError(ValueError):
    pass


def _normalizer(spec: Optional[Dict[str, Any]], where: str):
    if spec is None:
        return lambda s: s
    t = spec.get("type")
    if t == "Lowercase":
        return lambda s: s.lower()
    if t in ("NFC", "NFD", "NFKC", "NFKD"):
        return lambda s, form=t: unicodedata.normalize(form, s)
    if t == "Strip":
        left, right = spec.get("strip_left", True), spec.get("strip_right", True)
        return lambda s: (s.lstrip() if left else s) if not right else (s.strip() if left else s.rstrip())
    if t == "Sequence":
        parts = [_normalizer(n, where) for n in spec.get("normalizers", [])]

        def run(s: str) -> str:
            for p in parts:
                s = p(s)
            return s

        return run
    raise TokenizerError(f"{where}: normalizer {t} is not supported (supported: Lowercase, NFC/NFD/NFKC/NFKD, Strip, Sequence)")


def _pre_tokenizer(spec: Optional[Dict[str, Any]], where: str):
    if spec is None:
        return lambda s: [s] if s else []
    t = spec.get("type")
    if t == "Whitespace":
        return lambda s: _WHITESPACE_RE.findall(s)
    if t == "WhitespaceSplit":
        return lambda s: s.split()
    if t == "Sequence":
        parts = [_pre_tokenizer(p, where) for p in spec.get("pretokenizers", [])]

        def run(s: str) -> List[str]:
            pieces = [s]
            for p in parts:
                pieces = [q for piece in pieces for q in p(piece)]
            return pieces

        return run
    raise TokenizerError(f"{where}: pre_tokenizer {t} is not supported for WordLevel (supported: Whitespace, WhitespaceSplit)")


class WordLevelTokenizer:
    def __init__(self, spec: Dict[str, Any], where: str) -> None:
        model = spec["model"]
        vocab = model.get("vocab")
        if not isinstance(vocab, dict):
            raise TokenizerError(f"{where}: model.vocab is not an object")
        self.vocab: Dict[str, int] = {str(k): int(v) for k, v in vocab.items()}
        self.unk_token: Optional[str] = model.get("unk_token")
        self.normalize = _normalizer(spec.get("normalizer"), where)
        self.pre_tokenize = _pre_tokenizer(spec.get("pre_tokenizer"), where)
        self.added: Dict[str, int] = {}
        for tok in spec.get("added_tokens") or []:
            self.added[tok["content"]] = int(tok["id"])
            self.vocab.setdefault(tok["content"], int(tok["id"]))
        self.id_to_token = {v: k for k, v in self.vocab.items()}
        self.vocab_size = max(self.vocab.values()) + 1 if self.vocab else 0
        self._added_re = (re.compile("|".join(re.escape(t) for t in sorted(self.added, key=len, reverse=True)))
                          if self.added else None)

    def token_id(self, token: str) -> Optional[int]:
        return self.vocab.get(token)

    def _encode_plain(self, text: str) -> List[int]:
        ids = []
        for word in self.pre_tokenize(self.normalize(text)):
            i = self.vocab.get(word)
            if i is None:
                if self.unk_token is None or self.unk_token not in self.vocab:
                    raise TokenizerError(f'word "{word}" is not in the vocabulary and the tokenizer has no unk_token')
                i = self.vocab[self.unk_token]
            ids.append(i)
        return ids

    def encode(self, text: str) -> List[int]:
        if self._added_re is None:
            return self._encode_plain(text)
        ids: List[int] = []
        pos = 0
        for m in self._added_re.finditer(text):
            ids += self._encode_plain(text[pos:m.start()])
            ids.append(self.added[m.group(0)])
            pos = m.end()
        return ids + self._encode_plain(text[pos:])


class LibraryTokenizer:
    """Any tokenizer.json, through the `tokenizers` package."""

    def __init__(self, path: str) -> None:
        from tokenizers import Tokenizer  # type: ignore

        self.tok = Tokenizer.from_file(path)
        self.vocab_size = self.tok.get_vocab_size(with_added_tokens=True)

    def token_id(self, token: str) -> Optional[int]:
        return self.tok.token_to_id(token)

    def encode(self, text: str) -> List[int]:
        return list(self.tok.encode(text, add_special_tokens=False).ids)


class Tokenizer:
    """Text to ids, with the model's BOS/EOS ids."""

    def __init__(self, impl, bos_id: Optional[int], eos_id: Optional[int]) -> None:
        self.impl = impl
        self.bos_id = bos_id
        self.eos_id = eos_id
        self.vocab_size = impl.vocab_size

    def encode(self, text: str) -> List[int]:
        return self.impl.encode(text)


def _special(cfg: Dict[str, Any], key: str) -> Optional[str]:
    v = cfg.get(key)
    if isinstance(v, dict):
        v = v.get("content")
    return v if isinstance(v, str) else None


def find_tokenizer_json(path: str) -> str:
    p = os.path.join(path, "tokenizer.json") if os.path.isdir(path) else path
    if not os.path.exists(p):
        raise TokenizerError(f"{p}: no tokenizer.json")
    return p


def load_tokenizer(path: str, model_config: Optional[Dict[str, Any]] = None) -> Tokenizer:
    """`path`: a folder with tokenizer.json (and optionally tokenizer_config.json) or the file itself.
    BOS/EOS ids come from the model's config.json, else from tokenizer_config.json's bos_token/eos_token."""
    tj = find_tokenizer_json(path)
    try:
        with open(tj, encoding="utf-8") as f:
            spec = json.load(f)
    except json.JSONDecodeError as e:
        raise TokenizerError(f"{tj}: line {e.lineno}: not valid JSON ({e.msg})") from None
    kind = (spec.get("model") or {}).get("type")
    if kind is None and isinstance((spec.get("model") or {}).get("vocab"), dict) and "merges" not in spec["model"]:
        kind = "WordLevel"
    if kind == "WordLevel":
        impl = WordLevelTokenizer(spec, tj)
    else:
        try:
            impl = LibraryTokenizer(tj)
        except ImportError:
            raise TokenizerError(
                f"{tj}: tokenizer model {kind} needs the `tokenizers` Python package, which is not installed; "
                "built in: WordLevel with a Whitespace/WhitespaceSplit pre-tokenizer. "
                'Install `tokenizers` or give pre-tokenized data (data.format "tokens").'
            ) from None
    tk_cfg: Dict[str, Any] = {}
    tk_cfg_path = os.path.join(os.path.dirname(tj), "tokenizer_config.json")
    if os.path.exists(tk_cfg_path):
        with open(tk_cfg_path, encoding="utf-8") as f:
            tk_cfg = json.load(f)
    ids: List[Optional[int]] = []
    for key in ("bos", "eos"):
        v = (model_config or {}).get(f"{key}_token_id")
        if isinstance(v, list):
            v = v[0] if v else None
        if v is None:
            name = _special(tk_cfg, f"{key}_token")
            v = impl.token_id(name) if name is not None else None
        ids.append(v)
    return Tokenizer(impl, ids[0], ids[1])

