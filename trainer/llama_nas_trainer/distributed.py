"""Training on several processes under torchrun: the world, the strategy (single / DDP / FSDP) and the memory estimate.

The trainer is started once per device by `torchrun` (`python -m torch.distributed.run`), which sets RANK,
WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT. Without them it is one process.

Strategies:
  single  one process, the plain module
  ddp     DistributedDataParallel: every rank holds the whole model, gradients are averaged (gloo on the CPU,
          NCCL on CUDA)
  fsdp    FullyShardedDataParallel, FULL_SHARD, one unit per decoder layer, bf16 mixed precision when dtype is
          bfloat16: weights, gradients and AdamW state are split across the ranks (CUDA only)
  auto    single for one process; otherwise ddp when its memory estimate fits a device, else fsdp

What keeps N ranks equal to one process (trainer/README.md, "Several processes"): every rank trains the same
sub-network at step s (sample_subnet is a function of (seed, s)); the grad_accum micro-batches of a step are
dealt to the ranks in turn (rank r takes micro-batches r, r + N, ...), so the step sees exactly the
micro-batches one process would; each rank divides its loss by grad_accum / N and DDP averages over N ranks,
which gives the single process's mean over the grad_accum micro-batches.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

import torch
import torch.distributed as dist
from torch import nn

from .model import LlamaConfig, LlamaDecoderLayer, LlamaForCausalLM

STRATEGIES = ("auto", "single", "ddp", "fsdp")


class DistributedSetupError(ValueError):
    """A launch or strategy problem; the message says what to change."""


@dataclass(frozen=True)
class World:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    local_world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


SINGLE = World()


def world_from_env(env: Optional[Dict[str, str]] = None) -> World:
    """The process's place in the job, from torchrun's environment variables (one process without them)."""
    env = os.environ if env is None else env

    def read(name: str, default: int) -> int:
        raw = env.get(name)
        if raw is None or raw == "":
            return default
        try:
            v = int(raw)
        except ValueError:
            raise DistributedSetupError(f"environment variable {name}={raw!r} is not an integer") from None
        if v < 0:
            raise DistributedSetupError(f"environment variable {name}={raw!r} is negative")
        return v

    world_size = read("WORLD_SIZE", 1)
    rank = read("RANK", 0)
    local_rank = read("LOCAL_RANK", rank)
    local_world = read("LOCAL_WORLD_SIZE", world_size)
    if world_size < 1 or rank >= world_size:
        raise DistributedSetupError(f"RANK {rank} is outside WORLD_SIZE {world_size}")
    if local_rank >= local_world:
        raise DistributedSetupError(f"LOCAL_RANK {local_rank} is outside LOCAL_WORLD_SIZE {local_world}")
    return World(rank, world_size, local_rank, local_world)


def device_for_rank(requested: str, world: World) -> str:
    """The device name of this rank: with several processes on CUDA, each takes cuda:LOCAL_RANK."""
    if not world.distributed:
        return requested
    wants_cuda = requested.startswith("cuda") or (requested == "auto" and torch.cuda.is_available())
    if wants_cuda:
        if requested.startswith("cuda:"):
            raise DistributedSetupError(f'device "{requested}": with several processes each rank uses cuda:LOCAL_RANK; set "cuda" or "auto"')
        return f"cuda:{world.local_rank}"
    return "cpu" if requested == "auto" else requested


def init_process_group(world: World, device: torch.device, timeout_s: float = 1800.0) -> None:
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend=backend, rank=world.rank, world_size=world.world_size,
                            timeout=datetime.timedelta(seconds=timeout_s))


def destroy_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


# ---------------------------------------------------------------------------------------------- collectives


def all_reduce_sum(world: World, t: torch.Tensor) -> torch.Tensor:
    if world.distributed:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def any_rank(world: World, flag: bool, device: torch.device) -> bool:
    """True on every rank when it is true on one: ranks stop at the same step, or the collectives would hang."""
    if not world.distributed:
        return flag
    t = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


def broadcast_from_main(world: World, obj: Any) -> Any:
    """Rank 0's `obj` on every rank (small picklable values: decisions, paths)."""
    if not world.distributed:
        return obj
    box = [obj if world.is_main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(world: World) -> None:
    if world.distributed:
        dist.barrier()


# ---------------------------------------------------------------------------------------------- strategies


def fsdp_unavailable_reason(device: torch.device) -> Optional[str]:
    """None when FSDP can run here, else why not (shown to the user as a config error)."""
    if device.type != "cuda":
        return (f'strategy "fsdp" shards the model across CUDA devices; this run is on {device.type} '
                f'(use "ddp" on the CPU)')
    try:
        import torch.distributed.fsdp  # noqa: F401
    except Exception as e:  # Debian's torch 1.13 on Python 3.11 fails inside its import
        return f"strategy \"fsdp\": torch {torch.__version__} cannot import torch.distributed.fsdp ({type(e).__name__}: {e})"
    return None


def fsdp_supports_orig_params() -> bool:
    """torch >= 2.0's use_orig_params: the optimizer sees the model's own parameters (decay groups possible)."""
    import inspect

    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP

    return "use_orig_params" in inspect.signature(FSDP.__init__).parameters


def wrap_decoder_layers(module: nn.Module, recurse: bool, *_args: Any, **_kwargs: Any) -> bool:
    """FSDP auto-wrap policy (the callable form both torch 1.13 and 2.x accept): one FSDP unit per decoder
    layer, the embeddings, final norm and lm_head in the root unit. A sub-network that skips a layer skips
    its unit: its all-gather and reduce-scatter do not run that step (on every rank alike)."""
    if recurse:
        return True
    return isinstance(module, LlamaDecoderLayer)


def fsdp_units(model: nn.Module) -> List[str]:
    """The names of the modules wrap_decoder_layers makes FSDP units (besides the root)."""
    return [name for name, m in model.named_modules() if name and wrap_decoder_layers(m, False)]


class LossModule(nn.Module):
    """The causal-LM loss as a module's forward, so that DDP's and FSDP's forward hooks see it."""

    def __init__(self, lm: LlamaForCausalLM) -> None:
        super().__init__()
        self.lm = lm

    def forward(self, input_ids: torch.Tensor, labels: torch.Tensor, layers: Optional[int],
                intermediate: Optional[List[int]]) -> torch.Tensor:
        return self.lm.loss(input_ids, labels, layers, intermediate)


def wrap(model: LlamaForCausalLM, strategy: str, device: torch.device, elastic: bool, bf16: bool,
         checkpointing: bool = False) -> nn.Module:
    """The module the loop calls: LossModule(model), wrapped for the strategy.

    Activation checkpointing: for single and DDP the model's own switch (model.gradient_checkpointing);
    for FSDP torch's checkpoint wrapper goes inside each decoder layer's FSDP unit instead (the layout
    FSDP supports: the unit's all-gather happens outside the recomputed region)."""
    loss_module = LossModule(model)
    if strategy == "single":
        return loss_module
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel as DDP

        # A sub-network leaves later layers without gradients: DDP must look for unused parameters (a
        # parameter unused on every rank keeps grad None, so AdamW skips it as one process would).
        return DDP(loss_module, device_ids=[device.index] if device.type == "cuda" else None,
                   find_unused_parameters=elastic, gradient_as_bucket_view=True)
    # fsdp
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
    from torch.distributed.fsdp import MixedPrecision, ShardingStrategy

    kwargs: Dict[str, Any] = {"auto_wrap_policy": wrap_decoder_layers, "sharding_strategy": ShardingStrategy.FULL_SHARD,
                              "device_id": device, "sync_module_states": True}
    if bf16:
        # reductions in float32; buffers (the rotary inv_freq) stay float32 for exact positions
        kwargs["mixed_precision"] = MixedPrecision(param_dtype=torch.bfloat16, reduce_dtype=torch.float32,
                                                   buffer_dtype=torch.float32)
    if fsdp_supports_orig_params():
        kwargs["use_orig_params"] = True
    sharded = FSDP(loss_module, **kwargs)
    if checkpointing:
        import functools

        from torch.distributed.algorithms._checkpoint.checkpoint_wrapper import (CheckpointImpl,
                                                                                 apply_activation_checkpointing,
                                                                                 checkpoint_wrapper)

        model.gradient_checkpointing = False
        apply_activation_checkpointing(
            sharded, checkpoint_wrapper_fn=functools.partial(checkpoint_wrapper, checkpoint_impl=CheckpointImpl.NO_REENTRANT),
            check_fn=lambda m: isinstance(m, LlamaDecoderLayer))
    return sharded


def choose_strategy(requested: str, world: World, device: torch.device, ddp_bytes: int, capacity: Optional[int]) -> str:
    """The strategy to run: `requested`, or for "auto" the cheapest that fits (see the module docstring)."""
    if requested == "single" and world.distributed:
        raise DistributedSetupError(f'strategy "single" runs one process, but WORLD_SIZE is {world.world_size}; use "ddp", "fsdp" or "auto"')
    if requested == "fsdp" and not world.distributed:
        raise DistributedSetupError('strategy "fsdp" shards over several processes; launch with nproc_per_node >= 2')
    if requested == "fsdp":
        reason = fsdp_unavailable_reason(device)
        if reason:
            raise DistributedSetupError(reason)
        return "fsdp"
    if requested == "ddp":
        return "ddp" if world.distributed else "single"
    if requested == "single":
        return "single"
    if not world.distributed:
        return "single"
    if capacity is not None and ddp_bytes > capacity and fsdp_unavailable_reason(device) is None:
        return "fsdp"
    return "ddp"


# ---------------------------------------------------------------------------------------------- memory

GIB = 1024 ** 3


def activation_bytes_per_token(cfg: LlamaConfig, seq_len: int, compute_bytes: int, checkpointing: bool) -> int:
    """Bytes autograd keeps per token of a micro-batch for the backward pass (an estimate, not a measure).

    Per decoder layer: the tensors saved by the ops of one layer, about 10 hidden-sized (norm inputs and
    outputs, q, k, v, rotary outputs, attention output, residuals) and 4 intermediate-sized (gate, up, SiLU,
    product) activations in the compute dtype, plus the attention scores and probabilities, heads x seq_len
    float32 values each. With activation checkpointing only each layer's input is kept, and one layer's
    activations are rebuilt at a time. The output: logits in the compute dtype and in float32 for the loss.
    """
    h, i, a = cfg.hidden_size, cfg.intermediate_size, cfg.num_attention_heads
    per_layer = compute_bytes * (10 * h + 4 * i) + 2 * 4 * a * seq_len
    output = cfg.vocab_size * (compute_bytes + 4 + 4)  # logits, their float32 copy, and its gradient
    if checkpointing:
        return cfg.num_hidden_layers * compute_bytes * h + per_layer + output
    return cfg.num_hidden_layers * per_layer + output


def estimate_memory(cfg: LlamaConfig, parameters: int, strategy: str, world_size: int, dtype: str,
                    micro_batch: int, seq_len: int, checkpointing: bool) -> Dict[str, Any]:
    """Bytes one rank needs: weights, gradients, AdamW state and activations of one micro-batch.

    Full fine-tuning with AdamW keeps float32 master weights (4 bytes/param), float32 gradients (4) and two
    float32 moments (8): 16 bytes per parameter. DDP keeps all of it on every rank; FSDP full shard divides
    it by the world size and adds the bf16 (or fp32) copy of the largest units being gathered (two decoder
    layers: the one computing and the one prefetched).
    """
    compute_bytes = 4 if dtype == "float32" else 2
    shard = world_size if strategy == "fsdp" else 1
    weights = 4 * parameters // shard
    grads = 4 * parameters // shard
    optimizer = 8 * parameters // shard
    gathered = 0
    if strategy == "fsdp":
        h, hd = cfg.hidden_size, cfg.head_dim
        layer = h * (cfg.num_attention_heads + cfg.num_key_value_heads) * hd * 2 + 3 * h * cfg.intermediate_size
        gathered = 2 * layer * compute_bytes + cfg.vocab_size * h * compute_bytes * (1 if cfg.tie_word_embeddings else 2)
    per_token = activation_bytes_per_token(cfg, seq_len, compute_bytes, checkpointing)
    activations = per_token * micro_batch * seq_len
    total = weights + grads + optimizer + gathered + activations
    return {"strategy": strategy, "world_size": world_size, "parameters": parameters, "weights": weights,
            "gradients": grads, "optimizer": optimizer, "gathered": gathered,
            "activations_per_token": per_token, "activations": activations, "total": total}


def _meminfo_available() -> Optional[int]:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def device_capacity(device: torch.device, world: World) -> Optional[Dict[str, Any]]:
    """The memory one rank may use: free memory of its CUDA device, or its share of the host's available RAM
    (the local ranks of a CPU job share it). None when it cannot be told (e.g. MPS)."""
    if device.type == "cuda":
        free, total = torch.cuda.mem_get_info(device)
        return {"bytes": int(free), "what": f"free memory of {device} ({free / GIB:.1f} of {total / GIB:.1f} GiB)"}
    if device.type == "cpu":
        avail = _meminfo_available()
        if avail is None:
            return None
        share = avail // max(1, world.local_world_size)
        who = f" / {world.local_world_size} local ranks" if world.local_world_size > 1 else ""
        return {"bytes": int(share), "what": f"available host memory ({avail / GIB:.1f} GiB{who})"}
    return None


def describe_estimate(est: Dict[str, Any]) -> str:
    g = lambda b: f"{b / GIB:.2f} GiB"  # noqa: E731
    parts = [f"weights {g(est['weights'])}", f"gradients {g(est['gradients'])}", f"AdamW state {g(est['optimizer'])}"]
    if est["gathered"]:
        parts.append(f"gathered units {g(est['gathered'])}")
    parts.append(f"activations {g(est['activations'])} ({est['activations_per_token'] / 1024:.1f} KiB/token)")
    return f"{est['strategy']} on {est['world_size']} rank(s): {g(est['total'])} per rank = " + " + ".join(parts)
