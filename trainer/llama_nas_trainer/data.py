"""Training data: a pretraining corpus packed into fixed-length rows, or Alpaca examples for InstaTune.

Every problem is reported as a DataError whose message names the file and line.

Pretraining (data.format):
  text   one document per line (empty lines skipped)
  jsonl  one {"text": "..."} object per line
  tokens one {"input_ids": [...]} object per line (pre-tokenized; no tokenizer needed)
Documents are tokenized as [BOS] ids [EOS], concatenated and cut into rows of seq_len tokens (the
last partial row is dropped).

InstaTune:
  alpaca a JSON array of {"instruction", "input" (optional), "output"} objects (or one such object
         per line, JSONL); the prompt is the Alpaca template, the response is "output" + EOS.
  tokens one {"prompt_ids": [...], "response_ids": [...]} object per line
Examples longer than seq_len are truncated from the end. With loss_on "response" (the default, as
in Stanford Alpaca's training code) prompt tokens are masked out of the loss; with "all" every
token after the first counts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterator, List, Optional, Tuple

import torch

from .config import TrainConfig
from .tokenizer import Tokenizer, TokenizerError

IGNORE = -100


class DataError(ValueError):
    pass


def _lines(path: str) -> Iterator[Tuple[int, str]]:
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    with f:
        for n, raw in enumerate(f, 1):
            try:
                yield n, raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{n}: not valid UTF-8 ({e.reason} at byte {e.start})") from None


def _check_ids(ids: Any, path: str, line: int, key: str, vocab: int) -> List[int]:
    if not isinstance(ids, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in ids):
        raise DataError(f"{path}:{line}: {key} must be a list of integers")
    bad = [t for t in ids if not 0 <= t < vocab]
    if bad:
        raise DataError(f"{path}:{line}: {key} has token id {bad[0]} outside the vocabulary 0..{vocab - 1}")
    return ids


def _encode(tok: Optional[Tokenizer], text: str, path: str, line: int) -> List[int]:
    if tok is None:
        raise DataError(f"{path}: text data needs a tokenizer (set tokenizer, or give data.format \"tokens\")")
    try:
        return tok.encode(text)
    except TokenizerError as e:
        raise DataError(f"{path}:{line}: {e}") from None


def _json_line(text: str, path: str, line: int) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}:{line}: not valid JSON ({e.msg} at column {e.colno})") from None


def load_pretrain_rows(cfg: TrainConfig, tok: Optional[Tokenizer], vocab: int) -> torch.Tensor:
    """The corpus as a LongTensor [rows, seq_len]."""
    path = cfg.data
    add_bos = cfg.add_bos if cfg.add_bos is not None else (tok is not None and tok.bos_id is not None)
    stream: List[int] = []
    docs = 0
    for n, text in _lines(path):
        if not text.strip():
            continue
        if cfg.data_format == "text":
            ids = _encode(tok, text, path, n)
        elif cfg.data_format == "jsonl":
            obj = _json_line(text, path, n)
            if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                raise DataError(f'{path}:{n}: expected an object with a "text" string')
            ids = _encode(tok, obj["text"], path, n)
        else:
            obj = _json_line(text, path, n)
            if not isinstance(obj, dict) or "input_ids" not in obj:
                raise DataError(f'{path}:{n}: expected an object with "input_ids"')
            ids = _check_ids(obj["input_ids"], path, n, "input_ids", vocab)
        bad = [t for t in ids if not 0 <= t < vocab]
        if bad:
            raise DataError(f"{path}:{n}: token id {bad[0]} is outside the model's vocabulary 0..{vocab - 1}")
        if add_bos and tok is not None and tok.bos_id is not None:
            stream.append(tok.bos_id)
        stream.extend(ids)
        if cfg.add_eos and tok is not None and tok.eos_id is not None:
            stream.append(tok.eos_id)
        docs += 1
    rows = len(stream) // cfg.seq_len
    if rows == 0:
        raise DataError(f"{path}: {docs} documents give {len(stream)} tokens, fewer than one row of seq_len {cfg.seq_len}")
    return torch.tensor(stream[: rows * cfg.seq_len], dtype=torch.long).view(rows, cfg.seq_len)


@dataclass
class Example:
    ids: List[int]
    labels: List[int]


def _alpaca_records(path: str) -> Iterator[Tuple[int, Any]]:
    """(line, record) for a JSON array of objects or for JSONL; JSON errors name the line."""
    try:
        raw = open(path, "rb").read()
    except FileNotFoundError:
        raise DataError(f"{path}: no such file") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataError(f"{path}:{line}: not valid UTF-8 ({e.reason})") from None
    stripped = text.lstrip()
    if not stripped.startswith("["):
        for n, line in enumerate(text.splitlines(), 1):
            if line.strip():
                yield n, _json_line(line, path, n)
        return
    dec = json.JSONDecoder()
    pos = text.index("[") + 1

    def line_of(i: int) -> int:
        return text.count("\n", 0, i) + 1

    def skip_ws(i: int) -> int:
        while i < len(text) and text[i] in " \t\r\n":
            i += 1
        return i

    pos = skip_ws(pos)
    if pos < len(text) and text[pos] == "]":
        return
    while True:
        pos = skip_ws(pos)
        start = pos
        try:
            obj, pos = dec.raw_decode(text, pos)
        except json.JSONDecodeError as e:
            raise DataError(f"{path}:{e.lineno}: not valid JSON ({e.msg} at column {e.colno})") from None
        yield line_of(start), obj
        pos = skip_ws(pos)
        if pos >= len(text):
            raise DataError(f"{path}:{line_of(pos)}: the JSON array is not closed")
        if text[pos] == "]":
            rest = text[pos + 1:].strip()
            if rest:
                raise DataError(f"{path}:{line_of(pos + 1 + text[pos + 1:].index(rest[0]))}: unexpected text after the JSON array")
            return
        if text[pos] != ",":
            raise DataError(f"{path}:{line_of(pos)}: expected ',' or ']' between records")
        pos += 1


def load_instatune_examples(cfg: TrainConfig, tok: Optional[Tokenizer], vocab: int) -> List[Example]:
    path = cfg.data
    add_bos = cfg.add_bos if cfg.add_bos is not None else (tok is not None and tok.bos_id is not None)
    bos = [tok.bos_id] if add_bos and tok is not None and tok.bos_id is not None else []
    eos = [tok.eos_id] if cfg.add_eos and tok is not None and tok.eos_id is not None else []
    examples: List[Example] = []
    if cfg.data_format == "tokens":
        records = ((n, _json_line(t, path, n)) for n, t in _lines(path) if t.strip())
    else:
        records = _alpaca_records(path)
    for n, rec in records:
        if not isinstance(rec, dict):
            raise DataError(f"{path}:{n}: expected an object, got {type(rec).__name__}")
        if cfg.data_format == "tokens":
            prompt = _check_ids(rec.get("prompt_ids"), path, n, "prompt_ids", vocab)
            response = _check_ids(rec.get("response_ids"), path, n, "response_ids", vocab)
        else:
            for key in ("instruction", "output"):
                if not isinstance(rec.get(key), str):
                    raise DataError(f'{path}:{n}: record has no "{key}" string')
            inp = rec.get("input", "")
            if not isinstance(inp, str):
                raise DataError(f'{path}:{n}: "input" must be a string')
            extra = sorted(set(rec) - {"instruction", "input", "output"})
            if extra:
                raise DataError(f'{path}:{n}: unknown field "{extra[0]}" (Alpaca records have instruction, input, output)')
            template = cfg.prompt_template["with_input" if inp.strip() else "no_input"]
            try:
                prompt_text = template.format(instruction=rec["instruction"], input=inp)
            except (KeyError, IndexError) as e:
                raise DataError(f"prompt_template: unknown placeholder {e}") from None
            prompt = _encode(tok, prompt_text, path, n)
            response = _encode(tok, rec["output"], path, n)
        ids = (bos + prompt + response + eos)[: cfg.seq_len]
        n_prompt = len(bos) + len(prompt)
        labels = list(ids) if cfg.loss_on == "all" else [IGNORE] * min(n_prompt, len(ids)) + ids[n_prompt:]
        bad = [t for t in ids if not 0 <= t < vocab]
        if bad:
            raise DataError(f"{path}:{n}: token id {bad[0]} is outside the model's vocabulary 0..{vocab - 1}")
        if len(ids) < 2 or all(label == IGNORE for label in labels[1:]):
            raise DataError(f"{path}:{n}: no response tokens left to learn from (empty output, or the prompt fills seq_len {cfg.seq_len})")
        examples.append(Example(ids, labels))
    if not examples:
        raise DataError(f"{path}: no examples")
    return examples


def collate(examples: List[Example], pad_id: int) -> Tuple[torch.Tensor, torch.Tensor]:
    """Right-pads to the longest example: with a causal mask, padding after a sequence cannot affect it."""
    t = max(len(e.ids) for e in examples)
    ids = torch.full((len(examples), t), pad_id, dtype=torch.long)
    labels = torch.full((len(examples), t), IGNORE, dtype=torch.long)
    for i, e in enumerate(examples):
        ids[i, : len(e.ids)] = torch.tensor(e.ids)
        labels[i, : len(e.labels)] = torch.tensor(e.labels)
    return ids, labels
