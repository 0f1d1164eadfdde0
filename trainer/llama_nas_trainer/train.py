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
from .hf_io import (DTYPE_NAMES, HFFormatError, atomic_write_json, copy_tokenizer_files, load_model, read_config,
                    save_model)
from .lease import Lease, LeaseBusy, describe
from .model import LlamaConfig, LlamaForCausalLM
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


def build(cfg: TrainConfig) -> Setup:
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    else:
        torch.set_num_threads(max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
    torch.set_flush_denormal(True)  # denormal floats slow CPU kernels by orders of magnitude
    device = resolve_device(cfg.device)
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
    try:
        model.to(device)
    except RuntimeError as e:
        raise classify_runtime_error(e) from None
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


def save_checkpoint(out: str, state: Dict[str, Any], step: int, keep: int) -> str:
    d = checkpoint_dir(out)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, f"step-{step:08d}.pt")
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


def rng_state(device: torch.device) -> Dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "python": random.getstate(), "numpy": np.random.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: Dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
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

        signal.signal(signal.SIGTERM, handler)
        signal.signal(signal.SIGINT, handler)
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


def run_training(cfg: TrainConfig, out: str, resume: bool, emit: Callable[[Dict[str, Any]], None] = emit_stdout,
                 stop: Optional[StopFlag] = None, stop_after_step: Optional[int] = None) -> Dict[str, Any]:
    """Trains and writes the HF folder to `out`; returns the result (also written to out/train_result.json).

    `stop_after_step` (tests) behaves like a SIGTERM arriving during that step.
    """
    stop = stop or StopFlag()
    os.makedirs(out, exist_ok=True)
    with OutputLock(out):
        return _run_locked(cfg, out, resume, emit, stop, stop_after_step)


def _run_locked(cfg: TrainConfig, out: str, resume: bool, emit: Callable[[Dict[str, Any]], None], stop: StopFlag,
                stop_after_step: Optional[int]) -> Dict[str, Any]:
    result_path = os.path.join(out, RESULT_FILE)
    fingerprint = cfg.fingerprint()
    if os.path.exists(result_path):
        with open(result_path, encoding="utf-8") as f:
            done = json.load(f)
        if done.get("fingerprint") == fingerprint:
            emit(done)
            return done
        if not resume:
            raise TrainerError("bad_config", f"{out}: holds a finished run of a different config; choose an empty folder")
        os.unlink(result_path)
    existing = list_checkpoints(out)
    if existing and not resume:
        raise TrainerError("bad_config", f"{out}: holds checkpoints (step {existing[-1][0]}); pass --resume to continue, or choose an empty folder")

    s = build(cfg)
    model, device = s.model, s.device
    mcfg = model.config
    optimizer = torch.optim.AdamW(param_groups(model, cfg.weight_decay), lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps)
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
    resumed_from = None
    if resume and existing:
        resumed_from = existing[-1][1]
        try:
            ck = torch.load(resumed_from, map_location="cpu")  # RNG states must stay CPU tensors
        except Exception as e:  # a damaged file: checkpoints are written atomically, so this is rare
            raise TrainerError("bad_data", f"{resumed_from}: cannot read the checkpoint ({e})") from None
        if ck.get("fingerprint") != fingerprint:
            raise TrainerError("bad_config", f"{resumed_from}: written by a different config (fingerprint {ck.get('fingerprint')}, now {fingerprint}); use a new --out")
        model.load_state_dict(ck["model"])
        optimizer.load_state_dict(ck["optimizer"])
        scheduler.load_state_dict(ck["scheduler"])
        scaler.load_state_dict(ck["scaler"])
        set_rng_state(ck["rng"], device)
        step = ck["step"]

    emit({"type": "start", "mode": cfg.mode, "total_steps": total, "step": step, "resumed_from": resumed_from,
          "items": s.n_items, "parameters": sum(p.numel() for p in model.parameters()), "device": str(device),
          "threads": torch.get_num_threads(), "fingerprint": fingerprint})

    def state(completed: int) -> Dict[str, Any]:
        return {"step": completed, "micro_batch": completed * cfg.grad_accum, "model": model.state_dict(),
                "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict(),
                "rng": rng_state(device), "fingerprint": fingerprint, "mode": cfg.mode}

    def checkpoint(completed: int) -> str:
        path = save_checkpoint(out, state(completed), completed, cfg.keep_checkpoints)
        emit({"type": "checkpoint", "step": completed, "path": path})
        return path

    model.train()
    last_loss = float("nan")
    window_tokens, window_start = 0, time.perf_counter()
    loss_acc = torch.zeros((), device=device)
    last_checkpoint = resumed_from
    try:
        while step < total:
            if stop.requested():
                raise Interrupted(checkpoint(step) if last_checkpoint is None or step > _step_of(last_checkpoint) else last_checkpoint, step)
            sub = sample_subnet(cfg, mcfg, step)
            layers, widths = sub if sub is not None else (None, None)
            for micro in range(cfg.grad_accum):
                ids, labels, n_tokens = batches.get(step * cfg.grad_accum + micro)
                with autocast():
                    loss = model.loss(ids, labels, layers, widths) / cfg.grad_accum
                scaler.scale(loss).backward()
                loss_acc += loss.detach()
                window_tokens += n_tokens
            if cfg.grad_clip is not None:
                scaler.unscale_(optimizer)
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            scaler.step(optimizer)
            scaler.update()
            lr = optimizer.param_groups[0]["lr"]
            scheduler.step()
            optimizer.zero_grad(set_to_none=True)
            step += 1
            if step % cfg.log_every == 0 or step == total:
                last_loss = loss_acc.item() / (step % cfg.log_every or cfg.log_every)
                if not math.isfinite(last_loss):
                    raise TrainerError("bad_config", f"loss is {last_loss} at step {step}: training diverged (lower lr, or use float32)")
                now = time.perf_counter()
                event = {"type": "step", "step": step, "total_steps": total, "loss": round(last_loss, 6), "lr": lr,
                         "tokens_per_s": round(window_tokens / max(now - window_start, 1e-9), 1),
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
    save_model(model.to("cpu"), out, dtype=s.save_dtype)
    if s.tokenizer_dir is not None:
        copy_tokenizer_files(s.tokenizer_dir, out)
    result = {"type": "done", "out": os.path.abspath(out), "steps": step,
              "loss": last_loss if math.isfinite(last_loss) else None, "fingerprint": fingerprint,
              "mode": cfg.mode, "checkpoint": final_ck}
    atomic_write_json(result_path, result)
    emit(result)
    return result


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
        try:
            cfg = load_config(args.config, args.mode)
        except ConfigError as e:
            raise TrainerError("bad_config", str(e)) from None
        run_training(cfg, args.out, args.resume, stop=stop)
        return EXIT_CODES["done"]
    except Interrupted as e:
        emit_stdout({"type": "interrupted", "step": e.step, "checkpoint": e.checkpoint,
                     "message": f"stopped by signal at step {e.step}; resume with --resume"})
        return EXIT_CODES["interrupted"]
    except TrainerError as e:
        emit_stdout({"type": e.kind, "message": str(e)})
        return EXIT_CODES.get(e.kind, 1)
    except (RuntimeError, MemoryError) as e:
        err = classify_runtime_error(e)
        emit_stdout({"type": err.kind, "message": str(err)})
        return EXIT_CODES.get(err.kind, 1)
    except Exception as e:  # report, never die silently: the caller reads the last line
        emit_stdout({"type": "internal", "message": f"{type(e).__name__}: {e}"})
        return EXIT_CODES["internal"]


if __name__ == "__main__":
    sys.exit(main())
