"""The training configuration (JSON), validated with errors that name the field.

The zod schema in src/trainer/config.ts describes the same object; keep the two in step.
Relative paths are resolved against the folder of the config file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional

MODES = ("pretrain", "instatune")
SCHEDULES = ("cosine", "linear", "constant")
DTYPES = ("float32", "bfloat16", "float16")
LOSS_ON = ("response", "all")
DATA_FORMATS = ("text", "jsonl", "alpaca", "tokens")
STRATEGIES = ("auto", "single", "ddp", "fsdp")
# Read by the launcher (src/trainer/process.ts builds the torchrun command from them); the trainer only checks them.
LAUNCH_FIELDS = ("nproc_per_node", "nnodes", "node_rank", "rdzv_endpoint", "rdzv_id")

ALPACA_PROMPT_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n"
)
ALPACA_PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:\n"
)


_ENDPOINT_RE = re.compile(r"[A-Za-z0-9_.\-\[\]:]+:\d{1,5}")
_RDZV_ID_RE = re.compile(r"[A-Za-z0-9_.\-]+")


class ConfigError(ValueError):
    """A bad training configuration: the message names the field."""


@dataclass
class SearchSpace:
    layers: List[int]
    intermediate: List[int]


@dataclass
class TrainConfig:
    mode: str
    data: str
    data_format: str
    model: Optional[str] = None
    architecture: Optional[Dict[str, Any]] = None
    tokenizer: Optional[str] = None
    search_space: Optional[SearchSpace] = None
    epochs: float = 1.0
    max_steps: Optional[int] = None
    lr: float = 1e-5
    schedule: str = "cosine"
    warmup_steps: int = 0
    min_lr_ratio: float = 0.0
    weight_decay: float = 0.0
    betas: List[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8
    grad_clip: Optional[float] = 1.0
    batch_size: int = 8
    grad_accum: int = 1
    seq_len: int = 512
    seed: int = 0
    dtype: str = "float32"
    device: str = "auto"
    threads: Optional[int] = None
    init_std: float = 0.02
    loss_on: str = "response"
    prompt_template: Dict[str, str] = field(
        default_factory=lambda: {"with_input": ALPACA_PROMPT_WITH_INPUT, "no_input": ALPACA_PROMPT_NO_INPUT}
    )
    add_bos: Optional[bool] = None
    add_eos: bool = True
    checkpoint_every: int = 100
    keep_checkpoints: int = 2
    log_every: int = 1
    save_dtype: Optional[str] = None
    strategy: str = "auto"
    activation_checkpointing: bool = False
    memory_check: bool = True
    nproc_per_node: int = 1
    nnodes: int = 1
    node_rank: Optional[int] = None
    rdzv_endpoint: Optional[str] = None
    rdzv_id: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    def fingerprint(self) -> str:
        """A hash of everything that determines the result (a resumed run must match it)."""
        d = self.to_dict()
        # How the run is spread over processes does not change its result (N ranks give one process's weights).
        for k in ("checkpoint_every", "keep_checkpoints", "log_every", "threads", "device", "strategy",
                  "activation_checkpointing", "memory_check", *LAUNCH_FIELDS):
            d.pop(k, None)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode("utf-8")).hexdigest()[:16]


FIELDS = {
    "mode", "model", "architecture", "tokenizer", "data", "search_space", "epochs", "max_steps", "lr", "schedule",
    "warmup_steps", "min_lr_ratio", "weight_decay", "betas", "eps", "grad_clip", "batch_size", "grad_accum", "seq_len",
    "seed", "dtype", "device", "threads", "init_std", "loss_on", "prompt_template", "add_bos", "add_eos",
    "checkpoint_every", "keep_checkpoints", "log_every", "save_dtype", "$schema", "description",
    "strategy", "activation_checkpointing", "memory_check", *LAUNCH_FIELDS,
}


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _int(d: Dict[str, Any], key: str, default: Optional[int], lo: int = 0, nullable: bool = False) -> Optional[int]:
    v = d.get(key, default)
    if v is None and (nullable or default is None):
        return None
    if not _is_int(v) or v < lo:
        raise ConfigError(f"{key}: expected an integer >= {lo}, got {json.dumps(v)}")
    return v


def _num(d: Dict[str, Any], key: str, default: Optional[float], lo: float = 0.0, hi: float = float("inf"),
         exclusive_lo: bool = False) -> Optional[float]:
    v = d.get(key, default)
    if v is None:
        return None
    if not _is_num(v) or v < lo or v > hi or (exclusive_lo and v == lo):
        rng = f"> {lo}" if exclusive_lo else f">= {lo}"
        raise ConfigError(f"{key}: expected a number {rng}{'' if hi == float('inf') else f' and <= {hi}'}, got {json.dumps(v)}")
    return float(v)


def _choice(d: Dict[str, Any], key: str, default: Optional[str], options) -> Optional[str]:
    v = d.get(key, default)
    if v is None and default is None:
        return None
    if v not in options:
        raise ConfigError(f"{key}: expected one of {', '.join(options)}, got {json.dumps(v)}")
    return v


def _path(d: Dict[str, Any], key: str, base: str) -> Optional[str]:
    v = d.get(key)
    if v is None:
        return None
    if not isinstance(v, str) or not v:
        raise ConfigError(f"{key}: expected a path string, got {json.dumps(v)}")
    return v if os.path.isabs(v) else os.path.normpath(os.path.join(base, v))


def _int_list(v: Any, key: str) -> List[int]:
    if not isinstance(v, list) or not v or not all(_is_int(x) and x >= 1 for x in v):
        raise ConfigError(f"{key}: expected a non-empty list of positive integers, got {json.dumps(v)}")
    return sorted(set(v))


def parse_config(raw: Any, base_dir: str = ".", mode: Optional[str] = None) -> TrainConfig:
    """Validates a parsed JSON config; `mode` (from the command line) overrides or must agree with the file's."""
    if not isinstance(raw, dict):
        raise ConfigError("config: expected a JSON object")
    unknown = sorted(set(raw) - FIELDS)
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown field (known: {', '.join(sorted(FIELDS - {'$schema'}))})")
    file_mode = raw.get("mode")
    if mode is not None and file_mode is not None and file_mode != mode:
        raise ConfigError(f"mode: the config says {json.dumps(file_mode)} but --mode is {json.dumps(mode)}")
    d = dict(raw)
    d["mode"] = mode or file_mode
    cfg_mode = _choice(d, "mode", None, MODES)
    if cfg_mode is None:
        raise ConfigError(f"mode: required, one of {', '.join(MODES)}")

    data_spec = d.get("data")
    if isinstance(data_spec, str):
        data_spec = {"path": data_spec}
    if not isinstance(data_spec, dict) or not isinstance(data_spec.get("path"), str):
        raise ConfigError('data: expected a path string or {"path": ..., "format": ...}')
    extra = sorted(set(data_spec) - {"path", "format"})
    if extra:
        raise ConfigError(f"data.{extra[0]}: unknown field")
    data_path = _path(data_spec, "path", base_dir)
    default_format = "alpaca" if cfg_mode == "instatune" else ("jsonl" if data_path.endswith(".jsonl") else "text")
    fmt = data_spec.get("format", default_format)
    if fmt not in DATA_FORMATS:
        raise ConfigError(f"data.format: expected one of {', '.join(DATA_FORMATS)}, got {json.dumps(fmt)}")
    if cfg_mode == "instatune" and fmt not in ("alpaca", "tokens"):
        raise ConfigError(f'data.format: instatune reads "alpaca" (or pre-tokenized "tokens"), got {json.dumps(fmt)}')
    if cfg_mode == "pretrain" and fmt == "alpaca":
        raise ConfigError('data.format: pretrain reads "text", "jsonl" or "tokens", not "alpaca"')

    model = _path(d, "model", base_dir)
    arch = d.get("architecture")
    if arch is not None and not isinstance(arch, dict):
        raise ConfigError("architecture: expected an object of LlamaConfig fields")
    if model is None and arch is None:
        raise ConfigError("model: required (an HF folder), or architecture (LlamaConfig fields) to pretrain from scratch")
    if model is not None and arch is not None:
        raise ConfigError("architecture: give either model (an HF folder) or architecture, not both")
    if cfg_mode == "instatune" and model is None:
        raise ConfigError("model: instatune fine-tunes a pre-trained HF folder; set model")
    tokenizer = _path(d, "tokenizer", base_dir)
    if model is None and tokenizer is None and fmt != "tokens":
        raise ConfigError("tokenizer: required when pretraining from an architecture (a folder or tokenizer.json)")

    space = d.get("search_space")
    search_space = None
    if space is not None:
        if not isinstance(space, dict) or set(space) - {"layers", "intermediate"}:
            raise ConfigError('search_space: expected {"layers": [...], "intermediate": [...]}')
        search_space = SearchSpace(_int_list(space.get("layers"), "search_space.layers"),
                                   _int_list(space.get("intermediate"), "search_space.intermediate"))
    elif cfg_mode == "instatune":
        raise ConfigError('search_space: required for instatune ({"layers": [...], "intermediate": [...]})')

    betas = d.get("betas", [0.9, 0.999])
    if not isinstance(betas, list) or len(betas) != 2 or not all(_is_num(b) and 0 <= b < 1 for b in betas):
        raise ConfigError(f"betas: expected two numbers in [0, 1), got {json.dumps(betas)}")
    template = d.get("prompt_template", None)
    if template is None:
        template = {"with_input": ALPACA_PROMPT_WITH_INPUT, "no_input": ALPACA_PROMPT_NO_INPUT}
    if (not isinstance(template, dict) or set(template) != {"with_input", "no_input"}
            or not all(isinstance(v, str) for v in template.values())):
        raise ConfigError('prompt_template: expected {"with_input": "...{instruction}...{input}...", "no_input": "...{instruction}..."}')
    for k in ("add_bos", "add_eos", "activation_checkpointing", "memory_check"):
        if k in d and d[k] is not None and not isinstance(d[k], bool):
            raise ConfigError(f"{k}: expected true or false, got {json.dumps(d[k])}")
    device = d.get("device", "auto")
    if not isinstance(device, str) or not (device in ("auto", "cpu", "cuda", "mps") or device.startswith("cuda:")):
        raise ConfigError(f'device: expected "auto", "cpu", "cuda", "cuda:N" or "mps", got {json.dumps(device)}')
    grad_clip = d.get("grad_clip", 1.0)
    if grad_clip is not None and (not _is_num(grad_clip) or grad_clip <= 0):
        raise ConfigError(f"grad_clip: expected a positive number or null, got {json.dumps(grad_clip)}")
    nnodes = _int(d, "nnodes", 1, 1)
    node_rank = _int(d, "node_rank", None, 0, nullable=True)
    if node_rank is not None and node_rank >= nnodes:
        raise ConfigError(f"node_rank: {node_rank} is outside 0..{nnodes - 1} (nnodes {nnodes})")
    rdzv_endpoint = d.get("rdzv_endpoint")
    if rdzv_endpoint is not None and (not isinstance(rdzv_endpoint, str) or not _ENDPOINT_RE.fullmatch(rdzv_endpoint)):
        raise ConfigError(f'rdzv_endpoint: expected "host:port", got {json.dumps(rdzv_endpoint)}')
    if nnodes > 1 and rdzv_endpoint is None:
        raise ConfigError(f'rdzv_endpoint: required with nnodes {nnodes} ("host:port" of the rendezvous, reachable from every node)')
    rdzv_id = d.get("rdzv_id")
    if rdzv_id is not None and (not isinstance(rdzv_id, str) or not _RDZV_ID_RE.fullmatch(rdzv_id)):
        raise ConfigError(f"rdzv_id: expected letters, digits, '.', '_' or '-', got {json.dumps(rdzv_id)}")
    epochs = _num(d, "epochs", 1.0, 0.0, exclusive_lo=True)
    max_steps = _int(d, "max_steps", None, 1, nullable=True)

    cfg = TrainConfig(
        mode=cfg_mode,
        data=data_path,
        data_format=fmt,
        model=model,
        architecture=arch,
        tokenizer=tokenizer,
        search_space=search_space,
        epochs=epochs,
        max_steps=max_steps,
        lr=_num(d, "lr", 1e-5, 0.0, exclusive_lo=True),
        schedule=_choice(d, "schedule", "cosine", SCHEDULES),
        warmup_steps=_int(d, "warmup_steps", 0),
        min_lr_ratio=_num(d, "min_lr_ratio", 0.0, 0.0, 1.0),
        weight_decay=_num(d, "weight_decay", 0.0),
        betas=[float(b) for b in betas],
        eps=_num(d, "eps", 1e-8, 0.0, exclusive_lo=True),
        grad_clip=None if grad_clip is None else float(grad_clip),
        batch_size=_int(d, "batch_size", 8, 1),
        grad_accum=_int(d, "grad_accum", 1, 1),
        seq_len=_int(d, "seq_len", 512, 2),
        seed=_int(d, "seed", 0),
        dtype=_choice(d, "dtype", "float32", DTYPES),
        device=device,
        threads=_int(d, "threads", None, 1, nullable=True),
        init_std=_num(d, "init_std", 0.02, 0.0, exclusive_lo=True),
        loss_on=_choice(d, "loss_on", "response", LOSS_ON),
        prompt_template=dict(template),
        add_bos=d.get("add_bos"),
        add_eos=d.get("add_eos", True) if d.get("add_eos") is not None else True,
        checkpoint_every=_int(d, "checkpoint_every", 100, 1),
        keep_checkpoints=_int(d, "keep_checkpoints", 2, 1),
        log_every=_int(d, "log_every", 1, 1),
        save_dtype=_choice(d, "save_dtype", None, DTYPES) if d.get("save_dtype") is not None else None,
        strategy=_choice(d, "strategy", "auto", STRATEGIES),
        activation_checkpointing=bool(d.get("activation_checkpointing") or False),
        memory_check=d.get("memory_check", True) is not False,
        nproc_per_node=_int(d, "nproc_per_node", 1, 1),
        nnodes=nnodes,
        node_rank=node_rank,
        rdzv_endpoint=rdzv_endpoint,
        rdzv_id=rdzv_id,
    )
    return cfg


def load_config(path: str, mode: Optional[str] = None) -> TrainConfig:
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: line {e.lineno}: not valid JSON ({e.msg})") from None
    try:
        return parse_config(raw, os.path.dirname(os.path.abspath(path)), mode)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from None
