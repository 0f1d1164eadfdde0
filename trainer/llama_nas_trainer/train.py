"""The trainer: pretraining and InstaTune elastic fine-tuning, with checkpoint/resume and JSON-lines progress.

    python3 -m llama_nas_trainer.train --mode pretrain|instatune --config CFG.json --out DIR [--resume]

See trainer/README.md for the configuration, the progress protocol and the exit codes.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import math
import os
import random
import re
import signal
import sys
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from .config import ConfigError, TrainConfig, load_config
from .data import DataError, Example, collate, load_instatune_examples, load_pretrain_rows
from .distributed import (SINGLE, DistributedSetupError, World, all_reduce_sum, any_rank, barrier,
                          broadcast_from_main, choose_strategy, describe_estimate, destroy_process_group,
                          device_capacity, device_for_rank, estimate_memory, fsdp_supports_orig_params,
                          init_process_group, world_from_env, wrap)
from .hf_io import (DTYPE_NAMES, HFFormatError, atomic_write_json, copy_tokenizer_files, load_model, read_config,
                    save_state_dict, torch_load_kwargs)
from .lease import Lease, LeaseBusy, describe
from .model import LlamaConfig, LlamaForCausalLM, parameter_count
from .tokenizer import Tokenizer, TokenizerError, find_tokenizer_json, load_tokenizer

EXIT_CODES = {"done": 0, "internal": 1, "bad_config": 2, "bad_data": 3, "out_of_memory": 4, "device_failure": 5,
              "busy": 6, "interrupted": 75}
RESULT_FILE = "train_result.json"
CHECKPOINT_DIR = "checkpoints"


class TrainerError(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


class Interrupted(Exception):
    def __init__(self, checkpoint: Optional[str], step: int) -> None:
        super().__init__(f"interrupted at step {step}")
        self.checkpoint = checkpoint
        self.step = step


def emit_stdout(event: Dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


# ---------------------------------------------------------------------------------------------- setup


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise TrainerError("device_failure", f'device "{name}" requested but CUDA is not available to this torch')
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise TrainerError("device_failure", f'device "{name}": only {torch.cuda.device_count()} CUDA device(s)')
        return dev
    if name == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise TrainerError("device_failure", 'device "mps" requested but MPS is not available')
    return torch.device(name)


def sample_subnet(cfg: TrainConfig, mcfg: LlamaConfig, step: int) -> Optional[Tuple[int, List[int]]]:
    """The network trained at `step`: None (the full super-network) or (L, widths).

    Elastic training alternates: even steps the full network, odd steps a sub-network with L uniform
    over the layer options and each active layer's width uniform over the width options. The choice
    is a pure function of (seed, step), so a resumed run samples exactly what the first run would.
    """
    space = cfg.search_space
    if space is None or step % 2 == 0:
        return None
    rng = random.Random(cfg.seed * 1_000_003 + step)
    layers = rng.choice(space.layers)
    return layers, [rng.choice(space.intermediate) for _ in range(layers)]


def lr_lambda(cfg: TrainConfig, total_steps: int) -> Callable[[int], float]:
    def f(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / (cfg.warmup_steps + 1)
        if cfg.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - cfg.warmup_steps) / max(1, total_steps - cfg.warmup_steps))
        decay = 0.5 * (1.0 + math.cos(math.pi * progress)) if cfg.schedule == "cosine" else 1.0 - progress
        return cfg.min_lr_ratio + (1.0 - cfg.min_lr_ratio) * decay

    return f


@dataclass
class Setup:
    cfg: TrainConfig
    model: LlamaForCausalLM
    tokenizer: Optional[Tokenizer]
    tokenizer_dir: Optional[str]
    device: torch.device
    rows: Optional[torch.Tensor]  # pretrain
    examples: Optional[List[Example]]  # instatune
    pad_id: int
    save_dtype: torch.dtype

    @property
    def n_items(self) -> int:
        return len(self.rows) if self.rows is not None else len(self.examples)

    @property
    def batches_per_epoch(self) -> int:
        return max(1, math.ceil(self.n_items / self.cfg.batch_size))

    @property
    def total_steps(self) -> int:
        if self.cfg.max_steps is not None:
            return self.cfg.max_steps
        return max(1, math.ceil(self.cfg.epochs * self.batches_per_epoch / self.cfg.grad_accum))


def default_threads(world: World) -> int:
    """All the cores this process may use, shared evenly by the ranks on this host."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // max(1, world.local_world_size))


def build(cfg: TrainConfig, world: World = SINGLE) -> Setup:
    """The model (on the CPU: the strategy places it), tokenizer and data."""
    torch.set_num_threads(cfg.threads if cfg.threads is not None else default_threads(world))
    torch.set_flush_denormal(True)  # denormal floats slow CPU kernels by orders of magnitude
    try:
        device = resolve_device(device_for_rank(cfg.device, world))
    except DistributedSetupError as e:
        raise TrainerError("bad_config", str(e)) from None
    if device.type == "cpu" and cfg.dtype == "float16":
        raise TrainerError("bad_config", 'dtype: "float16" autocast needs a GPU; use "float32" or "bfloat16" on the CPU')
    torch.manual_seed(cfg.seed)
    random.seed(cfg.seed)
    np.random.seed(cfg.seed % (2**32))
    try:
        if cfg.model is not None:
            model = load_model(cfg.model, dtype=torch.float32)
            model_cfg_dict = json.load(open(os.path.join(cfg.model, "config.json"), encoding="utf-8"))
            default_save = read_config(cfg.model).torch_dtype
        else:
            mcfg = LlamaConfig.from_dict(cfg.architecture)
            model = LlamaForCausalLM(mcfg)
            model.init_weights(cfg.init_std, torch.Generator().manual_seed(cfg.seed))
            model_cfg_dict = dict(cfg.architecture)
            default_save = mcfg.torch_dtype
    except (HFFormatError, ValueError, TypeError) as e:
        where = "model" if cfg.model is not None else "architecture"
        raise TrainerError("bad_config", f"{where}: {e}") from None
    mcfg = model.config

    tokenizer = None
    tokenizer_dir = None
    tok_source = cfg.tokenizer or cfg.model
    if tok_source is not None:
        try:
            tj = find_tokenizer_json(tok_source)
            tokenizer_dir = os.path.dirname(tj)
            tokenizer = load_tokenizer(tj, model_cfg_dict)
        except TokenizerError as e:
            if cfg.data_format != "tokens" or cfg.tokenizer is not None:
                raise TrainerError("bad_config", f"tokenizer: {e}") from None
    if tokenizer is not None and tokenizer.vocab_size > mcfg.vocab_size:
        raise TrainerError("bad_config", f"tokenizer: {tokenizer.vocab_size} tokens, more than the model's vocab_size {mcfg.vocab_size}")
    if tokenizer is not None:
        mcfg.bos_token_id = mcfg.bos_token_id if mcfg.bos_token_id is not None else tokenizer.bos_id
        mcfg.eos_token_id = mcfg.eos_token_id if mcfg.eos_token_id is not None else tokenizer.eos_id

    if cfg.search_space is not None:
        too_deep = [n for n in cfg.search_space.layers if n > mcfg.num_hidden_layers]
        too_wide = [w for w in cfg.search_space.intermediate if w > mcfg.intermediate_size]
        if too_deep:
            raise TrainerError("bad_config", f"search_space.layers: {too_deep[0]} exceeds the model's {mcfg.num_hidden_layers} layers")
        if too_wide:
            raise TrainerError("bad_config", f"search_space.intermediate: {too_wide[0]} exceeds the model's intermediate_size {mcfg.intermediate_size}")

    try:
        if cfg.mode == "pretrain":
            rows, examples = load_pretrain_rows(cfg, tokenizer, mcfg.vocab_size), None
        else:
            rows, examples = None, load_instatune_examples(cfg, tokenizer, mcfg.vocab_size)
    except DataError as e:
        raise TrainerError("bad_data", str(e)) from None
    pad_id = mcfg.pad_token_id if mcfg.pad_token_id is not None else (tokenizer.eos_id if tokenizer and tokenizer.eos_id is not None else 0)
    save_dtype = DTYPE_NAMES.get(cfg.save_dtype or default_save or "float32", torch.float32)
    model.gradient_checkpointing = cfg.activation_checkpointing
    return Setup(cfg, model, tokenizer, tokenizer_dir, device, rows, examples, pad_id, save_dtype)


def classify_runtime_error(e: BaseException) -> TrainerError:
    msg = str(e)
    if isinstance(e, MemoryError) or "out of memory" in msg.lower() or type(e).__name__ == "OutOfMemoryError":
        return TrainerError("out_of_memory", f"out of memory: {msg.splitlines()[0] if msg else type(e).__name__} "
                                             "(lower batch_size and raise grad_accum, or lower seq_len)")
    if any(s in msg for s in ("CUDA error", "CUBLAS", "cuDNN", "device-side assert", "NCCL", "HIP error")):
        return TrainerError("device_failure", f"device failure: {msg.splitlines()[0]}")
    return TrainerError("internal", f"{type(e).__name__}: {msg}")


# ---------------------------------------------------------------------------------------------- batches


class Batches:
    """Micro-batch m of the whole run: epoch m // per_epoch, in an order shuffled per epoch from the seed."""

    def __init__(self, s: Setup) -> None:
        self.s = s
        self._epoch = -1
        self._perm: Optional[torch.Tensor] = None

    def order(self, epoch: int) -> torch.Tensor:
        if epoch != self._epoch:
            g = torch.Generator().manual_seed(self.s.cfg.seed * 7919 + epoch)
            self._perm = torch.randperm(self.s.n_items, generator=g)
            self._epoch = epoch
        return self._perm

    def get(self, m: int) -> Tuple[torch.Tensor, torch.Tensor, int]:
        """(input_ids, labels, real tokens) on the device."""
        per = self.s.batches_per_epoch
        epoch, i = divmod(m, per)
        bs = self.s.cfg.batch_size
        idx = self.order(epoch)[i * bs:(i + 1) * bs]
        if self.s.rows is not None:
            ids = self.s.rows[idx]
            labels = ids
            n = ids.numel()
        else:
            exs = [self.s.examples[j] for j in idx.tolist()]
            ids, labels = collate(exs, self.s.pad_id)
            n = sum(len(e.ids) for e in exs)
        dev = self.s.device
        if dev.type != "cpu":
            ids, labels = ids.to(dev, non_blocking=True), labels.to(dev, non_blocking=True)
        return ids, labels, n


# ---------------------------------------------------------------------------------------------- checkpoints


def checkpoint_dir(out: str) -> str:
    return os.path.join(out, CHECKPOINT_DIR)


def list_checkpoints(out: str) -> List[Tuple[int, str]]:
    found = []
    for p in glob.glob(os.path.join(checkpoint_dir(out), "step-*.pt")):
        m = re.fullmatch(r"step-(\d+)\.pt", os.path.basename(p))
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def checkpoint_path(out: str, step: int) -> str:
    return os.path.join(checkpoint_dir(out), f"step-{step:08d}.pt")


def save_checkpoint(out: str, state: Dict[str, Any], step: int, keep: int) -> str:
    """Written by one process (rank 0) to a temporary file, fsynced, then renamed: a process killed while
    writing leaves only a `.step-*.tmp` file, which list_checkpoints never returns."""
    d = checkpoint_dir(out)
    os.makedirs(d, exist_ok=True)
    path = checkpoint_path(out, step)
    tmp = os.path.join(d, f".step-{step:08d}.pt.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        torch.save(state, f)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    atomic_write_json(os.path.join(d, "latest.json"), {"step": step, "path": path})
    for _, old in list_checkpoints(out)[:-keep]:
        os.unlink(old)
    return path


def remove_partial_checkpoints(out: str) -> None:
    """Temporary files of saves that a killed process never finished."""
    for p in glob.glob(os.path.join(checkpoint_dir(out), ".step-*.tmp")):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(p)


def load_checkpoint(path: str) -> Dict[str, Any]:
    """A checkpoint, with torch.load's weights_only unpickler where this torch can read our files with it
    (they hold only tensors and plain Python values), and memory-mapped where supported (every rank reads it)."""
    import inspect

    kwargs: Dict[str, Any] = dict(torch_load_kwargs())
    if "mmap" in inspect.signature(torch.load).parameters:
        kwargs["mmap"] = True
    try:
        return torch.load(path, map_location="cpu", **kwargs)  # RNG states must stay CPU tensors
    except Exception as e:  # a damaged file: checkpoints are written atomically, so this is rare
        raise TrainerError("bad_data", f"{path}: cannot read the checkpoint ({type(e).__name__}: {e})") from None


def rng_state(device: torch.device) -> Dict[str, Any]:
    """RNG states as tensors and plain values only (loadable with weights_only=True)."""
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": [name, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss), float(cached)]}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: Dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    keys = keys.numpy() if isinstance(keys, torch.Tensor) else keys
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), int(pos), int(has_gauss), float(cached)))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


# ---------------------------------------------------------------------------------------------- the loop


class StopFlag:
    """Set by SIGTERM/SIGINT, or when the parent process dies (the worker that ran us was killed):
    the loop checkpoints at the end of the current step and exits, so no orphan keeps writing."""

    def __init__(self) -> None:
        self.signal: Optional[int] = None
        self.parent: Optional[int] = None

    def install(self) -> None:
        def handler(signum, _frame):
            self.signal = signum

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, handler)
            # restart interrupted system calls: a signal landing inside a gloo/NCCL collective's socket read
            # must not fail the collective (the flag is read at the end of the step)
            signal.siginterrupt(signum, False)
        self.parent = os.getppid()
        if sys.platform.startswith("linux"):
            try:
                import ctypes

                PR_SET_PDEATHSIG = 1
                ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
            except (OSError, AttributeError):
                pass  # the getppid() check below still notices

    def requested(self) -> bool:
        if self.signal is None and self.parent is not None and os.getppid() != self.parent:
            self.signal = signal.SIGHUP
        return self.signal is not None


class OutputLock:
    """A lease on OUT/.trainer.lock (lease.py): two trainers, on any hosts sharing the volume, never write
    the same folder at once. A killed trainer's lease expires once silent for its TTL."""

    def __init__(self, out: str, wait_s: float = 120.0) -> None:
        self.path = os.path.join(out, ".trainer.lock")
        self.wait_s = wait_s
        self.lease = Lease(self.path, on_lost=lambda p: print(f"llama-nas-trainer: lost the lease {p}", file=sys.stderr))

    def __enter__(self) -> "OutputLock":
        try:
            self.lease.acquire(self.wait_s)
            return self
        except LeaseBusy as e:
            raise TrainerError("busy", f"{os.path.dirname(self.path)}: another trainer is writing to this folder "
                                       f"({describe(e.holder)})") from None

    def __exit__(self, *_exc) -> None:
        self.lease.release()


def param_groups(model: LlamaForCausalLM, weight_decay: float):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def named_param_groups(module: torch.nn.Module, weight_decay: float):
    """param_groups by name (FSDP's parameters are flat shards, their dims say nothing): norms get no decay."""
    decay = [p for n, p in module.named_parameters() if not n.endswith("norm.weight")]
    no_decay = [p for n, p in module.named_parameters() if n.endswith("norm.weight")]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def on_main(world: World, fn: Callable[[], Any]) -> Any:
    """Runs `fn` on rank 0 and gives every rank its value, or raises its TrainerError on every rank."""
    if not world.distributed:
        return fn()
    outcome: Any = None
    if world.is_main:
        try:
            outcome = ("ok", fn())
        except TrainerError as e:
            outcome = ("error", e.kind, str(e))
    outcome = broadcast_from_main(world, outcome)
    if outcome[0] == "error":
        raise TrainerError(outcome[1], outcome[2])
    return outcome[1]


def run_training(cfg: TrainConfig, out: str, resume: bool, emit: Callable[[Dict[str, Any]], None] = emit_stdout,
                 stop: Optional[StopFlag] = None, stop_after_step: Optional[int] = None,
                 world: Optional[World] = None) -> Dict[str, Any]:
    """Trains and writes the HF folder to `out`; returns the result (also written to out/train_result.json).

    Under torchrun (WORLD_SIZE > 1) every rank calls this; rank 0 holds the output lock, writes the
    checkpoints and the final folder, and is the only one that emits. `stop_after_step` (tests) behaves
    like a SIGTERM arriving during that step.
    """
    stop = stop or StopFlag()
    if world is None:
        try:
            world = world_from_env()
        except DistributedSetupError as e:
            raise TrainerError("bad_config", str(e)) from None
    device = check_launch(cfg, world)
    os.makedirs(out, exist_ok=True)
    if not world.distributed:
        with OutputLock(out):
            return _run_locked(cfg, out, resume, emit, stop, stop_after_step, world)
    init_process_group(world, device)
    held: List[OutputLock] = []

    def acquire() -> None:  # rank 0 holds the folder's lock for the whole job; the others learn if it got it
        held.append(OutputLock(out).__enter__())

    try:
        on_main(world, acquire)
        return _run_locked(cfg, out, resume, emit, stop, stop_after_step, world)
    finally:
        for lock in held:
            lock.__exit__()
        destroy_process_group()


def check_launch(cfg: TrainConfig, world: World) -> torch.device:
    """What every rank can tell alone, before the process group forms: this rank's device, a grad_accum that
    splits over the ranks, a strategy this torch and device can run. Returns the device."""
    try:
        device = resolve_device(device_for_rank(cfg.device, world))
        if cfg.strategy != "auto":
            choose_strategy(cfg.strategy, world, device, 0, None)
    except DistributedSetupError as e:
        raise TrainerError("bad_config", f"{e}") from None
    n = world.world_size
    if cfg.grad_accum % n:
        raise TrainerError("bad_config", f"grad_accum: {cfg.grad_accum} micro-batches per step do not split over {n} processes; "
                                         f"use a multiple of {n} (the global batch is batch_size x grad_accum = "
                                         f"{cfg.batch_size} x {cfg.grad_accum}, each process runs grad_accum / {n})")
    return device


def _prepare_output(cfg: TrainConfig, out: str, resume: bool, fingerprint: str) -> Dict[str, Any]:
    """What the run does with `out` (decided by rank 0): return a recorded result, or train (from a checkpoint)."""
    result_path = os.path.join(out, RESULT_FILE)
    if os.path.exists(result_path):
        with open(result_path, encoding="utf-8") as f:
            done = json.load(f)
        if done.get("fingerprint") == fingerprint:
            return {"done": done}
        if not resume:
            raise TrainerError("bad_config", f"{out}: holds a finished run of a different config; choose an empty folder")
        os.unlink(result_path)
    remove_partial_checkpoints(out)
    existing = list_checkpoints(out)
    if existing and not resume:
        raise TrainerError("bad_config", f"{out}: holds checkpoints (step {existing[-1][0]}); pass --resume to continue, or choose an empty folder")
    return {"resume_from": existing[-1][1] if resume and existing else None}


def _run_locked(cfg: TrainConfig, out: str, resume: bool, emit: Callable[[Dict[str, Any]], None], stop: StopFlag,
                stop_after_step: Optional[int], world: World = SINGLE) -> Dict[str, Any]:
    result_path = os.path.join(out, RESULT_FILE)
    fingerprint = cfg.fingerprint()
    decision = on_main(world, lambda: _prepare_output(cfg, out, resume, fingerprint))
    if "done" in decision:
        emit(decision["done"])
        return decision["done"]
    n = world.world_size

    # The memory estimate comes from the config alone, before the model is allocated.
    try:
        mcfg0 = read_config(cfg.model) if cfg.model is not None else LlamaConfig.from_dict(cfg.architecture)
        device = resolve_device(device_for_rank(cfg.device, world))
    except (HFFormatError, ValueError, TypeError) as e:
        where = "model" if cfg.model is not None else "architecture"
        raise TrainerError("bad_config", f"{where}: {e}") from None
    except DistributedSetupError as e:
        raise TrainerError("bad_config", str(e)) from None
    n_params = parameter_count(mcfg0)
    capacity = device_capacity(device, world)

    def estimate(strategy: str) -> Dict[str, Any]:
        return estimate_memory(mcfg0, n_params, strategy, n, cfg.dtype, cfg.batch_size, cfg.seq_len,
                               cfg.activation_checkpointing)

    try:
        strategy = choose_strategy(cfg.strategy, world, device, estimate("ddp")["total"],
                                   capacity["bytes"] if capacity else None)
    except DistributedSetupError as e:
        raise TrainerError("bad_config", str(e)) from None
    if strategy == "fsdp" and cfg.weight_decay > 0 and not fsdp_supports_orig_params():
        raise TrainerError("bad_config", f"weight_decay: FSDP in torch {torch.__version__} flattens norms and matrices together, "
                                         "so norms cannot be exempt from decay; set weight_decay 0 or use torch >= 2.0")
    memory = estimate(strategy)
    fits = capacity is None or memory["total"] <= capacity["bytes"]
    memory_event = {"type": "memory", **memory, "capacity": capacity["bytes"] if capacity else None,
                    "capacity_of": capacity["what"] if capacity else None, "fits": fits}
    if cfg.memory_check and not fits:
        emit(memory_event)
        raise TrainerError("out_of_memory", f"memory estimate: {describe_estimate(memory)}; more than the "
                                            f"{capacity['what']}. Use more devices with strategy \"fsdp\", "
                                            "activation_checkpointing, or a smaller batch_size (and a larger "
                                            "grad_accum); memory_check false runs anyway")

    s = build(cfg, world)  # a bad model folder, tokenizer or data fails here, before any progress line
    model = s.model
    mcfg = model.config
    emit(memory_event)

    resumed_from = decision["resume_from"]
    ck = None
    if resumed_from is not None:
        ck = load_checkpoint(resumed_from)
        if ck.get("fingerprint") != fingerprint:
            raise TrainerError("bad_config", f"{resumed_from}: written by a different config (fingerprint {ck.get('fingerprint')}, now {fingerprint}); use a new --out")
        fmt = ck.get("optimizer_format", "torch")
        if fmt != ("fsdp" if strategy == "fsdp" else "torch"):
            raise TrainerError("bad_config", f"{resumed_from}: its optimizer state was saved by strategy "
                                             f"{'fsdp' if fmt == 'fsdp' else 'single/ddp'}; resume with the same strategy (now {strategy})")
        model.load_state_dict(ck["model"])

    try:
        if strategy != "fsdp":
            model.to(device)
        wrapped = wrap(model, strategy, device, elastic=cfg.search_space is not None, bf16=cfg.dtype == "bfloat16",
                       checkpointing=cfg.activation_checkpointing)
    except RuntimeError as e:
        raise classify_runtime_error(e) from None
    groups = named_param_groups(wrapped, cfg.weight_decay) if strategy == "fsdp" else param_groups(model, cfg.weight_decay)
    optimizer = torch.optim.AdamW(groups, lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)
    total = s.total_steps
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, total))
    amp_dtype = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}[cfg.dtype]
    scaler = torch.cuda.amp.GradScaler(enabled=amp_dtype == torch.float16 and device.type == "cuda")
    batches = Batches(s)

    def autocast():
        if amp_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=device.type, dtype=amp_dtype)

    step = 0
    if ck is not None:
        if strategy == "fsdp":
            optimizer.load_state_dict(_fsdp_optimizer_to_load(wrapped, optimizer, ck["optimizer"]))
        else:
            optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        scaler.load_state_dict(ck["scaler"])
        set_rng_state(ck["rng"], device)
        step = ck["step"]
        del ck

    emit({"type": "start", "mode": cfg.mode, "total_steps": total, "step": step, "resumed_from": resumed_from,
          "items": s.n_items, "parameters": n_params, "device": str(device),
          "threads": torch.get_num_threads(), "fingerprint": fingerprint, "world_size": n, "strategy": strategy})

    def state(completed: int) -> Optional[Dict[str, Any]]:
        """The checkpoint (on rank 0; None elsewhere). With FSDP every rank takes part in gathering it."""
        if strategy == "fsdp":
            model_sd, optim_sd = _fsdp_full_state(wrapped, optimizer)
        else:
            model_sd, optim_sd = (model.state_dict(), optimizer.state_dict()) if world.is_main else (None, None)
        if not world.is_main:
            return None
        return {"step": completed, "micro_batch": completed * cfg.grad_accum, "model": model_sd,
                "optimizer": optim_sd, "optimizer_format": "fsdp" if strategy == "fsdp" else "torch",
                "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(), "rng": rng_state(device),
                "fingerprint": fingerprint, "mode": cfg.mode, "world_size": n, "strategy": strategy}

    def checkpoint(completed: int) -> str:
        st = state(completed)
        path = checkpoint_path(out, completed)
        if world.is_main:
            save_checkpoint(out, st, completed, cfg.keep_checkpoints)
            emit({"type": "checkpoint", "step": completed, "path": path})
        # no rank moves on (or exits) before the file is complete: a rank that exits early makes torchrun stop the rest
        barrier(world)
        return path

    wrapped.train()
    local_accum = cfg.grad_accum // n
    mine = list(range(world.rank, cfg.grad_accum, n))  # this rank's micro-batches of each step
    last_loss = float("nan")
    window_tokens, window_start = 0, time.perf_counter()
    loss_acc = torch.zeros((), device=device)
    last_checkpoint = resumed_from
    params = list(model.parameters())
    try:
        while step < total:
            if any_rank(world, stop.requested(), device):
                raise Interrupted(checkpoint(step) if last_checkpoint is None or step > _step_of(last_checkpoint) else last_checkpoint, step)
            sub = sample_subnet(cfg, mcfg, step)  # the same on every rank: a function of (seed, step)
            layers, widths = sub if sub is not None else (None, None)
            for k, j in enumerate(mine):
                ids, labels, n_tokens = batches.get(step * cfg.grad_accum + j)
                sync = k == local_accum - 1
                ctx = wrapped.no_sync() if strategy == "ddp" and not sync else contextlib.nullcontext()
                with ctx:
                    with autocast():
                        loss = wrapped(ids, labels, layers, widths)
                    scaler.scale(loss / local_accum).backward()
                loss_acc += loss.detach() / cfg.grad_accum
                window_tokens += n_tokens
            if cfg.grad_clip is not None:
                scaler.unscale_(optimizer)
                if strategy == "fsdp":
                    wrapped.clip_grad_norm_(cfg.grad_clip)
                else:
                    torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step % cfg.log_every == 0 or step == total:
                if world.distributed:
                    stats = all_reduce_sum(world, torch.stack([loss_acc.float(), torch.tensor(float(window_tokens), device=device)]))
                    loss_sum, tokens = stats[0].item(), int(stats[1].item())
                else:
                    loss_sum, tokens = loss_acc.item(), window_tokens
                last_loss = loss_sum / (step % cfg.log_every or cfg.log_every)
                if not math.isfinite(last_loss):
                    raise TrainerError("bad_config", f"loss is {last_loss} at step {step}: training diverged (lower lr, or use float32)")
                now = time.perf_counter()
                event = {"type": "step", "step": step, "total_steps": total, "loss": round(last_loss, 6), "lr": lr,
                         "tokens_per_s": round(tokens / max(now - window_start, 1e-9), 1),
                         "epoch": round(step * cfg.grad_accum / s.batches_per_epoch, 4)}
                if cfg.search_space is not None:
                    event["subnet"] = None if sub is None else {"layers": layers, "intermediate": widths}
                emit(event)
                loss_acc.zero_()
                window_tokens, window_start = 0, time.perf_counter()
            if stop_after_step is not None and step >= stop_after_step:
                stop.signal = signal.SIGTERM
            if step % cfg.checkpoint_every == 0 and step < total:
                last_checkpoint = checkpoint(step)
    except (RuntimeError, MemoryError) as e:
        raise classify_runtime_error(e) from None

    final_ck = checkpoint(step) if last_checkpoint is None or _step_of(last_checkpoint) != step else last_checkpoint
    if strategy == "fsdp":
        weights, _ = _fsdp_full_state(wrapped, None)
    else:
        weights = {k: v.to("cpu") for k, v in model.state_dict().items()} if world.is_main else None
    result = {"type": "done", "out": os.path.abspath(out), "steps": step,
              "loss": last_loss if math.isfinite(last_loss) else None, "fingerprint": fingerprint,
              "mode": cfg.mode, "checkpoint": final_ck}
    if world.is_main:
        save_state_dict(out, weights, mcfg, dtype=s.save_dtype)
        if s.tokenizer_dir is not None:
            copy_tokenizer_files(s.tokenizer_dir, out)
        atomic_write_json(result_path, result)
        emit(result)
    barrier(world)
    return result


# ---------------------------------------------------------------------------------------------- FSDP state
# Checkpoints of an FSDP run hold the full (unsharded) state, gathered to rank 0's CPU and written by it as
# one file, like DDP's: a rank killed mid-save leaves no partial set. torch 2.x and 1.13 name the calls
# differently; these pick what the installed torch has.


def _strip_root(sd: Dict[str, Any]) -> Dict[str, Any]:
    return {k[len("lm."):] if k.startswith("lm.") else k: v for k, v in sd.items()}


def _fsdp_full_state(wrapped: torch.nn.Module, optimizer: Optional[torch.optim.Optimizer]):
    from torch.distributed.fsdp import FullStateDictConfig, StateDictType
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    model_cfg = FullStateDictConfig(offload_to_cpu=True, rank0_only=True)
    optim_sd = None
    if hasattr(FSDP, "optim_state_dict"):  # torch >= 2.0
        from torch.distributed.fsdp import FullOptimStateDictConfig

        with FSDP.state_dict_type(wrapped, StateDictType.FULL_STATE_DICT, model_cfg,
                                  FullOptimStateDictConfig(offload_to_cpu=True, rank0_only=True)):
            model_sd = wrapped.state_dict()
            if optimizer is not None:
                optim_sd = FSDP.optim_state_dict(wrapped, optimizer)
    else:  # torch 1.13
        with FSDP.state_dict_type(wrapped, StateDictType.FULL_STATE_DICT, model_cfg):
            model_sd = wrapped.state_dict()
        if optimizer is not None:
            optim_sd = FSDP.full_optim_state_dict(wrapped, optimizer, rank0_only=True)
    return _strip_root(model_sd), optim_sd


def _fsdp_optimizer_to_load(wrapped: torch.nn.Module, optimizer: torch.optim.Optimizer, full: Dict[str, Any]):
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    if hasattr(FSDP, "optim_state_dict_to_load"):  # torch >= 2.0 (keywords: the argument order changed in 2.1)
        from torch.distributed.fsdp import FullOptimStateDictConfig, FullStateDictConfig, StateDictType

        with FSDP.state_dict_type(wrapped, StateDictType.FULL_STATE_DICT, FullStateDictConfig(offload_to_cpu=True),
                                  FullOptimStateDictConfig(offload_to_cpu=True)):
            return FSDP.optim_state_dict_to_load(model=wrapped, optim=optimizer, optim_state_dict=full)
    return FSDP.shard_full_optim_state_dict(full, wrapped)


def _step_of(path: str) -> int:
    m = re.search(r"step-(\d+)\.pt$", path)
    return int(m.group(1)) if m else -1


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m llama_nas_trainer.train", description="LLaMA-NAS trainer")
    ap.add_argument("--mode", choices=("pretrain", "instatune"), default=None, help="default: the config's mode")
    ap.add_argument("--config", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    args = ap.parse_args(argv)
    stop = StopFlag()
    stop.install()
    try:
        world = world_from_env()
    except DistributedSetupError as e:
        emit_stdout({"type": "bad_config", "message": str(e)})
        return EXIT_CODES["bad_config"]

    def report(event: Dict[str, Any]) -> None:
        # Only rank 0 speaks the protocol on stdout; the other ranks' failures go to stderr (torchrun shows them).
        if world.is_main:
            emit_stdout(event)
        elif event["type"] not in ("interrupted",):
            sys.stderr.write(f"[rank {world.rank}] {event['type']}: {event.get('message', '')}\n")

    try:
        try:
            cfg = load_config(args.config, args.mode)
        except ConfigError as e:
            raise TrainerError("bad_config", str(e)) from None
        run_training(cfg, args.out, args.resume, emit=emit_stdout if world.is_main else (lambda _e: None), stop=stop,
                     world=world)
        return EXIT_CODES["done"]
    except Interrupted as e:
        report({"type": "interrupted", "step": e.step, "checkpoint": e.checkpoint,
                "message": f"stopped by signal at step {e.step}; resume with --resume"})
        return EXIT_CODES["interrupted"]
    except TrainerError as e:
        report({"type": e.kind, "message": str(e)})
        return EXIT_CODES.get(e.kind, 1)
    except (RuntimeError, MemoryError) as e:
        err = classify_runtime_error(e)
        report({"type": err.kind, "message": str(err)})
        return EXIT_CODES.get(err.kind, 1)
    except Exception as e:  # report, never die silently: the caller reads the last line
        report({"type": "internal", "message": f"{type(e).__name__}: {e}"})
        return EXIT_CODES["internal"]


if __name__ == "__main__":
    sys.exit(main())
