"""A LLaMA decoder in PyTorch with Hugging Face parameter names and shapes, and an elastic forward.

The module tree mirrors ``transformers.LlamaForCausalLM`` so that ``state_dict()`` keys are the HF
names (``model.layers.3.mlp.gate_proj.weight`` ...). Linear weights keep the HF ``[out, in]`` layout.

Elastic forward: a sub-network keeps the first ``layers`` decoder layers and, in layer i, the first
``intermediate[i]`` MLP channels (first k rows of gate_proj/up_proj, first k columns of down_proj).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn


@dataclass
class LlamaConfig:
    """The fields of HF's LlamaConfig this model uses (config.json names)."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: Optional[int] = None
    head_dim: Optional[int] = None
    max_position_embeddings: int = 2048
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    tie_word_embeddings: bool = False
    hidden_act: str = "silu"
    attention_bias: bool = False
    mlp_bias: bool = False
    bos_token_id: Optional[int] = None
    eos_token_id: Optional[Any] = None
    pad_token_id: Optional[int] = None
    torch_dtype: str = "float32"
    rope_scaling: Optional[Dict[str, Any]] = None
    # Fields we do not interpret are kept so that a read/write round trip preserves them.
    extra: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.num_key_value_heads is None:
            self.num_key_value_heads = self.num_attention_heads
        if self.head_dim is None:
            if self.hidden_size % self.num_attention_heads != 0:
                raise ValueError(
                    f"config.json: hidden_size {self.hidden_size} is not divisible by "
                    f"num_attention_heads {self.num_attention_heads} (set head_dim)"
                )
            self.head_dim = self.hidden_size // self.num_attention_heads
        if self.num_attention_heads % self.num_key_value_heads != 0:
            raise ValueError(
                f"config.json: num_attention_heads {self.num_attention_heads} is not a multiple of "
                f"num_key_value_heads {self.num_key_value_heads}"
            )
        if self.hidden_act != "silu":
            raise ValueError(f'config.json: hidden_act "{self.hidden_act}" is not supported (only "silu")')
        if self.rope_scaling not in (None, {}) and self.rope_scaling.get("rope_type", self.rope_scaling.get("type")) != "default":
            raise ValueError(f"config.json: rope_scaling {self.rope_scaling} is not supported (only the default rotary)")
        if self.attention_bias or self.mlp_bias:
            raise ValueError("config.json: attention_bias / mlp_bias are not supported")

    @classmethod
    def from_dict(cls, d: Dict[str, Any]) -> "LlamaConfig":
        known = {f.name for f in fields(cls)} - {"extra"}
        missing = [k for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads") if k not in d]
        if missing:
            raise ValueError(f"config.json: missing field(s) {', '.join(missing)}")
        kwargs = {k: v for k, v in d.items() if k in known}
        extra = {k: v for k, v in d.items() if k not in known}
        return cls(**kwargs, extra=extra)

    def to_dict(self) -> Dict[str, Any]:
        d = asdict(self)
        extra = d.pop("extra")
        out: Dict[str, Any] = {"architectures": ["LlamaForCausalLM"], "model_type": "llama"}
        out.update(extra)
        out.update(d)
        out["architectures"] = ["LlamaForCausalLM"]
        out["model_type"] = "llama"
        return out


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # As HF: normalise in float32, cast back, then scale.
        dtype = x.dtype
        h = x.float()
        h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * h.to(dtype)


class RotaryEmbedding(nn.Module):
    """HF LlamaRotaryEmbedding (default rope): inv_freq = 1 / theta^(arange(0, d, 2) / d)."""

    def __init__(self, head_dim: int, theta: float) -> None:
        super().__init__()
        inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, position_ids: torch.Tensor, dtype: torch.dtype):
        # position_ids [B, T] -> cos, sin [B, T, head_dim], computed in float32 as HF does.
        freqs = position_ids.float()[:, :, None] * self.inv_freq[None, None, :].float()
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(dtype), emb.sin().to(dtype)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    # x [B, H, T, D]; cos/sin [B, T, D]
    return x * cos[:, None] + rotate_half(x) * sin[:, None]


HAS_SDPA = hasattr(F, "scaled_dot_product_attention")


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor, use_sdpa: Optional[bool] = None) -> torch.Tensor:
    """softmax(q k^T / sqrt(d) + mask) v for q, k, v [B, H, T, D] and an additive mask [B|1, 1, T, T].

    torch >= 2.0: ``scaled_dot_product_attention`` (fused kernels on CUDA); torch 1.13: the plain
    formula, softmax in float32. Every query must see at least one key (the mask is finite).
    """
    if use_sdpa if use_sdpa is not None else HAS_SDPA:
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask.to(q.dtype))
    scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(q.shape[-1]))
    scores = scores + mask
    probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
    return torch.matmul(probs, v)


def packed_attention_mask(segments: torch.Tensor, lengths: torch.Tensor, parents: Optional[List[Optional[Sequence[int]]]] = None) -> torch.Tensor:
    """The boolean [B, T, T] mask (True = may attend) of packed rows padded at the end.

    Token i of a row sees token j iff j <= i and segments[j] is segments[i] or one of its
    ancestors: ``parents[r][s]`` is the parent segment of s in row r (-1 for the root 0); without
    parents every segment other than 0 is a child of 0. A padding token (i >= lengths[r]) sees
    only itself. As ``packBatch`` in src/model/runtime.ts builds it for the ONNX graph.
    """
    b, t = segments.shape
    device = segments.device
    idx = torch.arange(t, device=device)
    causal = idx[None, :] <= idx[:, None]
    out = torch.zeros(b, t, t, dtype=torch.bool, device=device)
    for r in range(b):
        n = int(lengths[r])
        seg = segments[r, :n].long()
        n_seg = int(seg.max()) + 1 if n > 0 else 1
        par = parents[r] if parents is not None else None
        if par is None:
            # root 0 and its children
            anc = torch.eye(n_seg, dtype=torch.bool, device=device)
            anc[:, 0] = True
        else:
            anc = ancestor_matrix(par, max(n_seg, len(par))).to(device)
        out[r, :n, :n] = anc[seg[:, None], seg[None, :]] & causal[:n, :n]
    pad = idx[None, :] >= lengths.to(device)[:, None]  # [B, T]
    out |= (pad[:, :, None] & torch.eye(t, dtype=torch.bool, device=device)[None])
    return out


def ancestor_matrix(parents: Sequence[int], size: int) -> torch.Tensor:
    """anc[s, a] = True iff a is s or an ancestor of s (parents[0] = -1; parents[s] < s)."""
    anc = torch.zeros(size, size, dtype=torch.bool)
    for s in range(size):
        if s > 0 and s < len(parents):
            anc[s] = anc[int(parents[s])]
        anc[s, s] = True
    return anc


def rotary_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    cos: torch.Tensor,
    sin: torch.Tensor,
    mask: torch.Tensor,
    n_heads: int,
    n_kv: int,
    head_dim: int,
) -> torch.Tensor:
    """Grouped-query attention of projected q [B, T, n_heads*head_dim] and k, v [B, T, n_kv*head_dim]:
    rotary positions on q and k, the key/value heads repeated to n_heads; [B, T, n_heads*head_dim]."""
    b, t, _ = q.shape
    q = q.view(b, t, n_heads, head_dim).transpose(1, 2)
    k = k.view(b, t, n_kv, head_dim).transpose(1, 2)
    v = v.view(b, t, n_kv, head_dim).transpose(1, 2)
    q = apply_rotary(q, cos, sin)
    k = apply_rotary(k, cos, sin)
    if n_kv != n_heads:
        rep = n_heads // n_kv
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
    return attend(q, k, v, mask).transpose(1, 2).reshape(b, t, n_heads * head_dim)


class LlamaAttention(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.n_heads = cfg.num_attention_heads
        self.n_kv = cfg.num_key_value_heads
        self.head_dim = cfg.head_dim
        self.q_proj = nn.Linear(cfg.hidden_size, self.n_heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.hidden_size, self.n_kv * self.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.hidden_size, self.n_kv * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.n_heads * self.head_dim, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        out = rotary_attention(
            self.q_proj(x), self.k_proj(x), self.v_proj(x), cos, sin, mask, self.n_heads, self.n_kv, self.head_dim
        )
        return self.o_proj(out)


class LlamaMLP(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.intermediate_size = cfg.intermediate_size
        self.gate_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.up_proj = nn.Linear(cfg.hidden_size, cfg.intermediate_size, bias=False)
        self.down_proj = nn.Linear(cfg.intermediate_size, cfg.hidden_size, bias=False)

    def forward(self, x: torch.Tensor, width: Optional[int] = None) -> torch.Tensor:
        if width is None or width == self.intermediate_size:
            return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
        gate = F.linear(x, self.gate_proj.weight[:width])
        up = F.linear(x, self.up_proj.weight[:width])
        return F.linear(F.silu(gate) * up, self.down_proj.weight[:, :width])


class LlamaDecoderLayer(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.self_attn = LlamaAttention(cfg)
        self.mlp = LlamaMLP(cfg)
        self.input_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)

    def forward(self, x, cos, sin, mask, width: Optional[int] = None):
        x = x + self.self_attn(self.input_layernorm(x), cos, sin, mask)
        return x + self.mlp(self.post_attention_layernorm(x), width)


class LlamaModel(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
        self.layers = nn.ModuleList([LlamaDecoderLayer(cfg) for _ in range(cfg.num_hidden_layers)])
        self.norm = RMSNorm(cfg.hidden_size, cfg.rms_norm_eps)
        self.rotary_emb = RotaryEmbedding(cfg.head_dim, cfg.rope_theta)


def check_subnet(cfg: LlamaConfig, layers: Optional[int], intermediate: Optional[Sequence[int]]) -> tuple:
    """Normalises a sub-network spec to (L, [k_0..k_{L-1}]), with errors that name the problem."""
    n = cfg.num_hidden_layers if layers is None else int(layers)
    if not 1 <= n <= cfg.num_hidden_layers:
        raise ValueError(f"subnet: layers {n} is outside 1..{cfg.num_hidden_layers}")
    if intermediate is None:
        widths = [cfg.intermediate_size] * n
    else:
        widths = [int(w) for w in intermediate]
        if len(widths) < n:
            raise ValueError(f"subnet: intermediate has {len(widths)} entries, fewer than layers {n}")
        widths = widths[:n]
        for i, w in enumerate(widths):
            if not 1 <= w <= cfg.intermediate_size:
                raise ValueError(f"subnet: intermediate[{i}] = {w} is outside 1..{cfg.intermediate_size}")
    return n, widths


class LlamaForCausalLM(nn.Module):
    def __init__(self, cfg: LlamaConfig) -> None:
        super().__init__()
        self.config = cfg
        # Activation checkpointing (the trainer's option): keep only each layer's input, recompute the rest in backward.
        self.gradient_checkpointing = False
        self.model = LlamaModel(cfg)
        if not cfg.tie_word_embeddings:
            self.lm_head = nn.Linear(cfg.hidden_size, cfg.vocab_size, bias=False)

    def output_weight(self) -> torch.Tensor:
        return self.model.embed_tokens.weight if self.config.tie_word_embeddings else self.lm_head.weight

    def init_weights(self, std: float = 0.02, generator: Optional[torch.Generator] = None) -> None:
        """HF's init: normal(0, std) for linear and embedding weights, ones for norms."""
        with torch.no_grad():
            for name, p in self.named_parameters():
                if name.endswith("layernorm.weight") or name == "model.norm.weight":
                    p.fill_(1.0)
                else:
                    p.normal_(0.0, std, generator=generator)

    def hidden_states(
        self,
        input_ids: torch.Tensor,
        layers: Optional[int] = None,
        intermediate: Optional[Sequence[int]] = None,
        position_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        n, widths = check_subnet(self.config, layers, intermediate)
        b, t = input_ids.shape
        x = self.model.embed_tokens(input_ids)
        if position_ids is None:
            position_ids = torch.arange(t, device=input_ids.device).unsqueeze(0).expand(b, t)
        cos, sin = self.model.rotary_emb(position_ids, x.dtype)
        mask = self._additive_mask(b, t, attention_mask, x)
        recompute = self.gradient_checkpointing and self.training and torch.is_grad_enabled()
        for i in range(n):
            if recompute:  # non-reentrant: works under DDP/FSDP and with inputs that need no grad
                x = torch.utils.checkpoint.checkpoint(self.model.layers[i], x, cos, sin, mask, widths[i], use_reentrant=False)
            else:
                x = self.model.layers[i](x, cos, sin, mask, widths[i])
        return self.model.norm(x)

    @staticmethod
    def _additive_mask(b: int, t: int, attention_mask: Optional[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        """Causal mask, optionally intersected with a boolean [B, T, T] mask (True = may attend)."""
        neg = torch.finfo(x.dtype).min
        if attention_mask is None:
            causal = torch.full((t, t), neg, dtype=x.dtype, device=x.device).triu(1)
            return causal[None, None]
        allowed = attention_mask.to(torch.bool) & torch.ones(t, t, dtype=torch.bool, device=x.device).tril()
        zeros = torch.zeros((), dtype=x.dtype, device=x.device)
        return torch.where(allowed, zeros, torch.tensor(neg, dtype=x.dtype, device=x.device))[:, None]

    def forward(
        self,
        input_ids: torch.Tensor,
        layers: Optional[int] = None,
        intermediate: Optional[Sequence[int]] = None,
        position_ids: Optional[torch.Tensor] = None,
        attention_mask: Optional[torch.Tensor] = None,
    ) -> torch.Tensor:
        """Logits [B, T, vocab] of the sub-network (first `layers` layers, first `intermediate[i]` channels)."""
        h = self.hidden_states(input_ids, layers, intermediate, position_ids, attention_mask)
        return F.linear(h, self.output_weight())

    def loss(
        self,
        input_ids: torch.Tensor,
        labels: torch.Tensor,
        layers: Optional[int] = None,
        intermediate: Optional[Sequence[int]] = None,
    ) -> torch.Tensor:
        """Mean causal-LM cross-entropy: position i predicts labels[i + 1]; label -100 is ignored."""
        logits = self.forward(input_ids, layers, intermediate)
        # Shift the labels rather than the logits: no copy of the [B, T, vocab] tensor.
        targets = F.pad(labels[:, 1:], (0, 1), value=-100)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), ignore_index=-100)


def parameter_count(cfg: LlamaConfig, layers: Optional[int] = None, intermediate: Optional[List[int]] = None) -> int:
    n, widths = check_subnet(cfg, layers, intermediate)
    h, hd = cfg.hidden_size, cfg.head_dim
    attn = h * cfg.num_attention_heads * hd * 2 + h * cfg.num_key_value_heads * hd * 2
    total = cfg.vocab_size * h * (1 if cfg.tie_word_embeddings else 2) + h
    for w in widths:
        total += attn + 3 * h * w + 2 * h
    return total
