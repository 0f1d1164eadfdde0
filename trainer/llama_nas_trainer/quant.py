"""Weight quantization with the codes and scales the ONNX export writes (src/model/quantize.ts).

- Per column ("int8": weight-only, DequantizeLinear + MatMul, qmax 127; "int8-dq":
  DynamicQuantizeMatMul, qmax 63, uint8 activations): one float32 scale per output channel,
  scale = absmax / qmax, codes = clamp(round_half_up(w / scale), -qmax, qmax).
- Block-wise ("int4": weight-only, MatMulNBits accuracy level 0; "int8-a8", "int4-a8": level 4,
  int8 activations): a weight [N, K] is cut along K into blocks;
  scale = absmax / (2^(bits-1) - 1), codes = clamp(round_half_up(w / scale) + 2^(bits-1), 0, 2^bits - 1).

The arithmetic is done in float64 from the float32 weights, as JavaScript does (its numbers are
doubles; Math.fround rounds the scale to float32; Math.round rounds halves up), so the codes are
the same bit for bit. Codes are kept unpacked (one byte each) and dequantized on the fly.
Weight-only modes then compute in float, as the exported model does; the others also quantize
each linear layer's input at run time, emulating the ONNX kernel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F

INT8_DQ_QMAX = 63
INT8_WEIGHT_ONLY_QMAX = 127
INT4_DEFAULT_BLOCK = 32
INT8_A8_DEFAULT_BLOCK = 128
BLOCK_SIZES = (16, 32, 64, 128, 256)
MODES = ("none", "int8", "int4", "int8-dq", "int8-a8", "int4-a8")


@dataclass(frozen=True)
class Scheme:
    kind: str  # "per_column" | "blockwise"
    bits: int
    block_size: int = 0
    qmax: int = 0
    # whether the kernel quantizes its activations at run time too (not weight-only)
    activations: bool = False

    @property
    def tag(self) -> str:
        """The export's quantTag: dl8c127, nb4b32a0, dq8c63 ..."""
        if self.kind == "per_column":
            return f"{'dq' if self.activations else 'dl'}8c{self.qmax}"
        return f"nb{self.bits}b{self.block_size}a{4 if self.activations else 0}"


def scheme_of(mode: str, block_size: Optional[int] = None) -> Optional[Scheme]:
    if mode not in MODES:
        raise ValueError(f'quantization "{mode}" is not one of {", ".join(MODES)}')
    if mode == "none":
        return None
    if mode in ("int8", "int8-dq"):
        if block_size is not None:
            raise ValueError(f"a block size applies to block-wise modes (int4, int8-a8, int4-a8), not {mode} (per column)")
        if mode == "int8":
            return Scheme("per_column", 8, qmax=INT8_WEIGHT_ONLY_QMAX)
        return Scheme("per_column", 8, qmax=INT8_DQ_QMAX, activations=True)
    bits = 4 if mode.startswith("int4") else 8
    bs = block_size if block_size is not None else (INT4_DEFAULT_BLOCK if bits == 4 else INT8_A8_DEFAULT_BLOCK)
    if bs not in BLOCK_SIZES:
        raise ValueError(f"block size {bs} is not one of {', '.join(map(str, BLOCK_SIZES))}")
    return Scheme("blockwise", bits, block_size=bs, activations=mode.endswith("-a8"))


def _round_half_up(x: torch.Tensor) -> torch.Tensor:
    return torch.floor(x + 0.5)


class QuantizedLinear:
    """Codes and scales of one [N, K] weight; ``weight(dtype)`` dequantizes it."""

    def __init__(self, w: torch.Tensor, scheme: Scheme) -> None:
        self.scheme = scheme
        self.n, self.k = w.shape
        w64 = w.detach().float().double()  # the float32 values the export reads, in double
        if scheme.kind == "per_column":
            absmax = w64.abs().amax(dim=1)
            scale = (absmax / scheme.qmax).float()
            s64 = scale.double()[:, None]
            codes = torch.where(s64 > 0, _round_half_up(w64 / torch.where(s64 > 0, s64, torch.ones_like(s64))), torch.zeros_like(w64))
            self.codes = codes.clamp(-scheme.qmax, scheme.qmax).to(torch.int8)
            self.scales = scale  # [N]
        else:
            bs = scheme.block_size
            blocks = -(-self.k // bs)
            padded = torch.zeros(self.n, blocks * bs, dtype=torch.float64, device=w.device)
            padded[:, : self.k] = w64
            pb = padded.view(self.n, blocks, bs)
            zero = 1 << (scheme.bits - 1)
            scale = (pb.abs().amax(dim=2) / (zero - 1)).float()  # [N, blocks]
            s64 = scale.double()[:, :, None]
            q = _round_half_up(pb / torch.where(s64 > 0, s64, torch.ones_like(s64))) + zero
            q = torch.where(s64 > 0, q, torch.full_like(q, zero))
            self.codes = q.clamp(0, (1 << scheme.bits) - 1).to(torch.uint8).view(self.n, blocks * bs)
            self.scales = scale
            self.blocks = blocks

    def weight(self, dtype: torch.dtype) -> torch.Tensor:
        """The float weight [N, K] the codes stand for (float32 arithmetic, then cast)."""
        if self.scheme.kind == "per_column":
            return (self.codes.float() * self.scales[:, None]).to(dtype)
        zero = 1 << (self.scheme.bits - 1)
        bs = self.scheme.block_size
        w = (self.codes.view(self.n, self.blocks, bs).float() - zero) * self.scales[:, :, None]
        return w.view(self.n, self.blocks * bs)[:, : self.k].to(dtype)

    def apply(self, x: torch.Tensor, dynamic: bool, valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        """x @ W^T with the dequantized weight; ``dynamic`` also quantizes x as the ONNX kernel does.

        ``valid`` (bool [B, T] for x [B, T, K]) marks the real tokens of each row; the per-tensor
        int8 range is taken over those only (padding excluded)."""
        if not dynamic:
            return F.linear(x, self.weight(x.dtype))
        if self.scheme.kind == "per_column":
            return self._dynamic_per_row(x, valid)
        return self._dynamic_blockwise(x)

    def _dynamic_per_row(self, x: torch.Tensor, valid: Optional[torch.Tensor]) -> torch.Tensor:
        """DynamicQuantizeMatMul on each row alone: x [B, T, K] to uint8 with one scale and zero point
        per batch row, over that row's real tokens (a 2-D x [T, K] is one row). The ONNX runtime
        runs these sessions one row per call (src/model/runtime.ts), so the kernel's range over the
        whole input tensor is that row's range; the scores then do not depend on the batching.
        MLAS: range widened to include 0, scale = range / 255, zero point rounded half to even,
        codes round(x / scale) + zp clamped to 0..255, integer products, times a_scale * b_scale."""
        xf = x.float()
        if valid is None:
            lo_in, hi_in = xf, xf
        else:
            real = valid.to(xf.device)[..., None]
            lo_in = torch.where(real, xf, torch.full_like(xf, float("inf")))
            hi_in = torch.where(real, xf, torch.full_like(xf, float("-inf")))
        lo = torch.clamp(lo_in.amin(dim=(-2, -1), keepdim=True), max=0.0)
        hi = torch.clamp(hi_in.amax(dim=(-2, -1), keepdim=True), min=0.0)
        scale = torch.where(hi > lo, (hi - lo) / 255.0, torch.ones_like(hi))
        zp = torch.round(torch.clamp(0.0 - lo / scale, 0.0, 255.0))
        q = torch.maximum(torch.minimum(torch.round(xf / scale), 255.0 - zp), -zp)  # code - zp
        # codes and centred activation codes (|q| <= 255) are exact in bfloat16 too: on a bfloat16
        # model the integer products run on its own matmul (float32 accumulation), else in float32
        mm = torch.bfloat16 if x.dtype == torch.bfloat16 else torch.float32
        acc = F.linear(q.to(mm), self.codes.to(mm)).float()
        return (acc * (scale * self.scales)).to(x.dtype)

    def _dynamic_blockwise(self, x: torch.Tensor) -> torch.Tensor:
        """MatMulNBits accuracy_level 4: each row of x to int8 per block of K (scale = absmax / 127).

        Matches ONNX Runtime on small shapes (K <= 48) only; at SmolLM2's K = 576 / 1536 the MLAS
        kernel quantizes differently (not identified; src/eval/README.md has the measurement)."""
        bs = self.scheme.block_size
        xf = x.float()
        shape = xf.shape
        rows = xf.reshape(-1, shape[-1])
        padded = F.pad(rows, (0, self.blocks * bs - self.k)).view(rows.shape[0], self.blocks, bs)
        scale = padded.abs().amax(dim=2, keepdim=True) / 127.0
        recip = torch.where(scale > 0, 1.0 / torch.where(scale > 0, scale, torch.ones_like(scale)), torch.zeros_like(scale))
        q = torch.clamp(torch.round(padded * recip), -127.0, 127.0) * scale
        xq = q.view(rows.shape[0], self.blocks * bs)[:, : self.k].reshape(shape)
        return F.linear(xq.to(x.dtype), self.weight(x.dtype))

    def nbytes(self) -> int:
        return self.codes.numel() * self.codes.element_size() + self.scales.numel() * 4
