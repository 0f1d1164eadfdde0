"""The PyTorch scoring server: one super-network loaded once, sub-networks scored in place.

    python3 -m llama_nas_trainer.scoring --model DIR [--device cuda:0] [--dtype bfloat16] [--threads N]

The TypeScript side (src/eval/torch-backend.ts) drives it over stdin/stdout with length-prefixed
binary frames (docs in trainer/README.md, "Scoring server"). Each frame is

    uint32 LE total length | uint32 LE header length | UTF-8 JSON header | binary body

A request's header names the op; its body carries the rows as int32 arrays (tokens, positions,
segments, targets of every row concatenated, then the parents of the rows that have them). A
reply's header says ``ok`` (or an ``error`` with a ``type``), its body the float32 results.

A sub-network is the first ``layers`` layers and the first ``intermediate[i]`` MLP channels of
layer i, used as views of the loaded weights: opening one copies nothing (a quantized one keeps
its own int8 codes, which closing frees). Only the positions that have a target go through the
final norm, the output projection and the log-softmax.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import struct
import sys
import time
import traceback
from typing import BinaryIO, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from .hf_io import HFFormatError, load_model, parse_dtype
from .model import LlamaForCausalLM, check_subnet, packed_attention_mask, rotary_attention
from .quant import QuantizedLinear, Scheme, scheme_of

PROTOCOL_VERSION = 1
# Rows of hidden states per output-projection chunk: bounds the [rows, vocab] float32 logits.
HEAD_CHUNK = 2048
LINEARS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class ScoringError(Exception):
    """A failure reported to the client: ``type`` is bad_request | bad_checkpoint | out_of_memory | device_failure | internal."""

    def __init__(self, type_: str, message: str) -> None:
        super().__init__(message)
        self.type = type_


def is_oom(err: BaseException) -> bool:
    oom_cls = getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_cls is not None and isinstance(err, oom_cls):
        return True
    return isinstance(err, RuntimeError) and "out of memory" in str(err).lower()


# ---------------------------------------------------------------- frames


def read_exact(f: BinaryIO, n: int) -> Optional[bytes]:
    chunks = []
    while n > 0:
        b = f.read(n)
        if not b:
            return None
        chunks.append(b)
        n -= len(b)
    return b"".join(chunks)


def read_frame(f: BinaryIO) -> Optional[Tuple[dict, bytes]]:
    head = read_exact(f, 4)
    if head is None:
        return None
    (total,) = struct.unpack("<I", head)
    data = read_exact(f, total)
    if data is None or len(data) < 4:
        return None
    (hlen,) = struct.unpack_from("<I", data, 0)
    header = json.loads(data[4 : 4 + hlen].decode("utf-8"))
    return header, data[4 + hlen :]


def write_frame(f: BinaryIO, header: dict, body: bytes = b"") -> None:
    h = json.dumps(header).encode("utf-8")
    f.write(struct.pack("<II", 4 + len(h) + len(body), len(h)))
    f.write(h)
    f.write(body)
    f.flush()


# ---------------------------------------------------------------- rows


class Rows:
    """Packed rows decoded from a score request."""

    def __init__(self, header: dict, body: bytes, vocab: int, max_len: int) -> None:
        lengths = [int(n) for n in header["lengths"]]
        parent_counts = [int(n) for n in header.get("parent_counts", [0] * len(lengths))]
        if len(parent_counts) != len(lengths):
            raise ScoringError("bad_request", "parent_counts and lengths differ in length")
        total = sum(lengths)
        need = 4 * (4 * total + sum(parent_counts))
        if len(body) != need:
            raise ScoringError("bad_request", f"score body has {len(body)} bytes, the header implies {need}")
        arr = np.frombuffer(body, dtype="<i4")
        self.lengths = lengths
        self.tokens = arr[0:total]
        self.positions = arr[total : 2 * total]
        self.segments = arr[2 * total : 3 * total]
        self.targets = arr[3 * total : 4 * total]
        rest = arr[4 * total :]
        self.offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        self.parents: List[Optional[np.ndarray]] = []
        at = 0
        for c in parent_counts:
            self.parents.append(rest[at : at + c] if c > 0 else None)
            at += c
        for r, n in enumerate(lengths):
            if n <= 0 or n > max_len:
                raise ScoringError("bad_request", f"row {r}: {n} tokens (the model takes 1..{max_len})")
        if total and (self.tokens.min() < 0 or self.tokens.max() >= vocab):
            raise ScoringError("bad_request", f"a token id is outside 0..{vocab - 1}")
        if total and (self.targets.min() < -1 or self.targets.max() >= vocab):
            raise ScoringError("bad_request", f"a target is outside -1..{vocab - 1}")

    def row(self, r: int, field: np.ndarray) -> np.ndarray:
        return field[self.offsets[r] : self.offsets[r + 1]]


def plan_batches(lengths: Sequence[int], budget: int) -> List[List[int]]:
    """Rows longest first, grouped so that rows x padded length stays within the token budget."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: List[List[int]] = []
    width = 0
    for i in order:
        if batches and (len(batches[-1]) + 1) * width <= budget:
            batches[-1].append(i)
        else:
            batches.append([i])
            width = lengths[i]
    return batches


# ---------------------------------------------------------------- the sub-network forward


class Subnet:
    """A sub-network of the loaded model: weight views, or int8/int4 codes of those views."""

    def __init__(self, model: LlamaForCausalLM, layers: int, widths: List[int], scheme: Optional[Scheme]) -> None:
        self.model = model
        self.layers = layers
        self.widths = widths
        self.scheme = scheme
        self.quantized: List[Dict[str, QuantizedLinear]] = []
        if scheme is not None:
            with torch.no_grad():
                for i in range(layers):
                    self.quantized.append({name: QuantizedLinear(self.view(i, name), scheme) for name in LINEARS})

    @property
    def dynamic(self) -> bool:
        """Whether activations are quantized at run time as the ONNX kernel does (quant.py); else weight-only."""
        return self.scheme is not None and self.scheme.activations

    def view(self, i: int, name: str) -> torch.Tensor:
        layer = self.model.model.layers[i]
        k = self.widths[i]
        if name in ("gate_proj", "up_proj"):
            return getattr(layer.mlp, name).weight[:k]
        if name == "down_proj":
            return layer.mlp.down_proj.weight[:, :k]
        return getattr(layer.self_attn, name).weight

    def linear(self, i: int, name: str, x: torch.Tensor, valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        if self.scheme is None:
            return F.linear(x, self.view(i, name))
        return self.quantized[i][name].apply(x, self.dynamic, valid)

    def hidden(self, ids: torch.Tensor, pos: torch.Tensor, allowed: torch.Tensor, valid: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Hidden states [B, T, H] before the final norm, as LlamaForCausalLM.hidden_states computes them.

        ``valid`` [B, T] marks real (not padding) tokens: int8 activations are ranged per row over
        those (see quant.py), so a row scores the same whatever rows share its batch."""
        m = self.model.model
        x = m.embed_tokens(ids)
        dtype = x.dtype
        cos, sin = m.rotary_emb(pos, dtype)
        neg = torch.tensor(torch.finfo(dtype).min, dtype=dtype, device=x.device)
        mask = torch.where(allowed, torch.zeros((), dtype=dtype, device=x.device), neg)[:, None]
        for i in range(self.layers):
            layer = m.layers[i]
            attn = layer.self_attn
            h = layer.input_layernorm(x)
            o = rotary_attention(
                self.linear(i, "q_proj", h, valid),
                self.linear(i, "k_proj", h, valid),
                self.linear(i, "v_proj", h, valid),
                cos,
                sin,
                mask,
                attn.n_heads,
                attn.n_kv,
                attn.head_dim,
            )
            x = x + self.linear(i, "o_proj", o, valid)
            h = layer.post_attention_layernorm(x)
            gate = self.linear(i, "gate_proj", h, valid)
            up = self.linear(i, "up_proj", h, valid)
            x = x + self.linear(i, "down_proj", F.silu(gate) * up, valid)
        return x

    def target_logprobs(self, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """log p(target) at the given hidden states [N, H] (final norm, output projection, log-softmax)."""
        w = self.model.output_weight()
        out = []
        for s in range(0, hidden.shape[0], HEAD_CHUNK):
            h = self.model.model.norm(hidden[s : s + HEAD_CHUNK])
            logits = F.linear(h, w).float()
            t = targets[s : s + HEAD_CHUNK]
            out.append(logits.gather(1, t[:, None])[:, 0] - torch.logsumexp(logits, dim=1))
        return torch.cat(out) if out else hidden.new_zeros(0, dtype=torch.float32)

    def nbytes(self) -> int:
        return sum(q.nbytes() for layer in self.quantized for q in layer.values())


# ---------------------------------------------------------------- the server


def rss_kb() -> Tuple[int, int]:
    """VmRSS and VmHWM (peak) of this process in KiB, from /proc/self/status (getrusage elsewhere)."""
    try:
        with open("/proc/self/status") as f:
            fields = dict(line.split(":", 1) for line in f if ":" in line)
        return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])
    except (OSError, KeyError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak, peak


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu} ({torch.get_num_threads()} threads)"


def default_budget(device: torch.device) -> int:
    """Start of the token-budget search: all free memory spent on activations (the OOM halving finds the fit)."""
    if device.type != "cuda":
        return 4096
    free, _ = torch.cuda.mem_get_info(device)
    return int(max(1024, min(1 << 20, free // (64 * 1024))))


class Server:
    def __init__(self, model_dir: str, device: str, dtype: str, budget: Optional[int]) -> None:
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise ScoringError("device_failure", f"device {device}: CUDA is not available to torch {torch.__version__}")
        self.dtype = parse_dtype(dtype)
        started = time.perf_counter()
        try:
            model = load_model(model_dir, dtype=self.dtype, device=str(self.device))
        except (HFFormatError, ValueError, OSError, KeyError) as err:
            raise ScoringError("bad_checkpoint", f"{model_dir}: {err}") from err
        except RuntimeError as err:
            if is_oom(err):
                raise ScoringError("out_of_memory", f"{model_dir} does not fit on {device}: {err}") from err
            raise
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self.model = model
        self.cfg = model.config
        self.loads = 1
        self.load_seconds = time.perf_counter() - started
        self.budget = budget if budget is not None else default_budget(self.device)
        self.auto_budget = budget is None
        self.subnets: Dict[int, Subnet] = {}
        self.next_id = 1
        self.opened = 0
        self.scored_rows = 0
        self.scored_tokens = 0
        self.halvings = 0

    def ready(self) -> dict:
        cfg = self.cfg
        return {
            "ok": True,
            "protocol": PROTOCOL_VERSION,
            "device": str(self.device),
            "device_name": device_name(self.device),
            "dtype": str(self.dtype).replace("torch.", ""),
            "torch": torch.__version__,
            "sdpa": hasattr(F, "scaled_dot_product_attention"),
            "vocab_size": cfg.vocab_size,
            "num_layers": cfg.num_hidden_layers,
            "intermediate_size": cfg.intermediate_size,
            "max_length": cfg.max_position_embeddings,
            "budget": self.budget,
            "load_seconds": self.load_seconds,
        }

    def stats(self) -> dict:
        rss, hwm = rss_kb()
        out = {
            "ok": True,
            "loads": self.loads,
            "open_subnets": len(self.subnets),
            "opened": self.opened,
            "rss_kb": rss,
            "peak_rss_kb": hwm,
            "parameter_bytes": sum(p.numel() * p.element_size() for p in self.model.parameters()),
            "quantized_bytes": sum(s.nbytes() for s in self.subnets.values()),
            "budget": self.budget,
            "halvings": self.halvings,
            "scored_rows": self.scored_rows,
            "scored_tokens": self.scored_tokens,
        }
        if self.device.type == "cuda":
            out["cuda_allocated"] = torch.cuda.memory_allocated(self.device)
            out["cuda_peak"] = torch.cuda.max_memory_allocated(self.device)
        return out

    def open(self, h: dict) -> dict:
        try:
            layers, widths = check_subnet(self.cfg, h.get("layers"), h.get("intermediate"))
            scheme = scheme_of(h.get("quant") or "none", h.get("block_size"))
        except ValueError as err:
            raise ScoringError("bad_request", str(err)) from err
        with torch.no_grad():
            subnet = self.guard(lambda: Subnet(self.model, layers, widths, scheme))
        sid = self.next_id
        self.next_id += 1
        self.subnets[sid] = subnet
        self.opened += 1
        return {"ok": True, "id": sid, "layers": layers, "intermediate": widths, "quant": scheme.tag if scheme else "none"}

    def close(self, h: dict) -> dict:
        self.subnets.pop(int(h["id"]), None)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        return {"ok": True}

    def subnet(self, h: dict) -> Subnet:
        sid = int(h.get("id", -1))
        if sid not in self.subnets:
            raise ScoringError("bad_request", f"no open sub-network {sid}")
        return self.subnets[sid]

    def guard(self, fn):
        """Runs fn, turning device errors into ScoringErrors."""
        try:
            return fn()
        except ScoringError:
            raise
        except RuntimeError as err:
            if is_oom(err):
                raise ScoringError("out_of_memory", str(err)) from err
            if self.device.type == "cuda" and ("CUDA" in str(err) or "cuda" in str(err)):
                raise ScoringError("device_failure", str(err)) from err
            raise

    def score(self, h: dict, body: bytes) -> bytes:
        subnet = self.subnet(h)
        rows = Rows(h, body, self.cfg.vocab_size, self.cfg.max_position_embeddings)
        out = np.full(int(rows.offsets[-1]), np.nan, dtype="<f4")
        # per-tensor int8 activations (DynamicQuantizeMatMul): one row per forward, as the ONNX
        # runtime runs them. The range is per row anyway, but on a real model (SmolLM2) the float
        # rounding differences of another batch shape (~1e-5) flip activation codes and move scores
        # by up to 0.4; a batch of one makes a row's scores independent of its batch and budget.
        per_row = subnet.dynamic and subnet.scheme is not None and subnet.scheme.kind == "per_column"
        pending = plan_batches(rows.lengths, 0 if per_row else self.budget)
        while pending:
            batch = pending.pop(0)
            try:
                with torch.no_grad():
                    self.score_batch(subnet, rows, batch, out)
            except RuntimeError as err:
                if not is_oom(err):
                    raise
                if self.device.type == "cuda":
                    torch.cuda.empty_cache()
                if len(batch) == 1:
                    raise ScoringError(
                        "out_of_memory",
                        f"out of memory scoring one row of {rows.lengths[batch[0]]} tokens on {self.device}: {err}",
                    ) from err
                # halve the budget for the rest of the process, and retry this batch in halves
                self.budget = max(1, self.budget // 2)
                self.halvings += 1
                half = len(batch) // 2
                pending[:0] = [batch[:half], batch[half:]]
        self.scored_rows += len(rows.lengths)
        self.scored_tokens += int(rows.offsets[-1])
        return out.tobytes()

    def score_batch(self, subnet: Subnet, rows: Rows, batch: List[int], out: np.ndarray) -> None:
        t = max(rows.lengths[r] for r in batch)
        b = len(batch)
        ids = np.zeros((b, t), dtype=np.int64)
        pos = np.zeros((b, t), dtype=np.int64)
        seg = np.zeros((b, t), dtype=np.int64)
        tgt = np.full((b, t), -1, dtype=np.int64)
        for j, r in enumerate(batch):
            n = rows.lengths[r]
            ids[j, :n] = rows.row(r, rows.tokens)
            pos[j, :n] = rows.row(r, rows.positions)
            seg[j, :n] = rows.row(r, rows.segments)
            tgt[j, :n] = rows.row(r, rows.targets)
        lengths = torch.tensor([rows.lengths[r] for r in batch])
        parents = [rows.parents[r] for r in batch]
        allowed = packed_attention_mask(torch.from_numpy(seg), lengths, [None if p is None else p.tolist() for p in parents])
        dev = self.device
        valid = (torch.arange(t)[None] < lengths[:, None]).to(dev)
        hidden = subnet.hidden(torch.from_numpy(ids).to(dev), torch.from_numpy(pos).to(dev), allowed.to(dev), valid)
        tgt_t = torch.from_numpy(tgt).to(dev)
        where = (tgt_t >= 0).nonzero(as_tuple=False)  # [N, 2] (row, position)
        lp = subnet.target_logprobs(hidden[where[:, 0], where[:, 1]], tgt_t[where[:, 0], where[:, 1]])
        lp = lp.cpu().numpy()
        where = where.cpu().numpy()
        starts = np.array([rows.offsets[r] for r in batch], dtype=np.int64)
        out[starts[where[:, 0]] + where[:, 1]] = lp

    def throughput(self, h: dict) -> dict:
        """Tokens/s of a sub-network with its own contiguous weights (copied for the timing, then freed)."""
        layers, widths = check_subnet(self.cfg, h.get("layers"), h.get("intermediate"))
        scheme = scheme_of(h.get("quant") or "none", h.get("block_size"))
        batch, length = int(h.get("batch", 8)), int(h.get("length", 128))
        warmup, repeats = int(h.get("warmup", 2)), int(h.get("repeats", 5))
        if not 1 <= length <= self.cfg.max_position_embeddings:
            raise ScoringError("bad_request", f"length {length} is outside 1..{self.cfg.max_position_embeddings}")
        gen = torch.Generator().manual_seed(int(h.get("seed", 0)))
        ids = torch.randint(0, self.cfg.vocab_size, (batch, length), generator=gen)
        with torch.no_grad():
            subnet = self.guard(lambda: ContiguousSubnet(self.model, layers, widths, scheme))
            dev = self.device
            ids_d = ids.to(dev)
            pos = torch.arange(length, device=dev)[None].expand(batch, length)
            allowed = torch.ones(length, length, dtype=torch.bool, device=dev).tril()[None].expand(batch, length, length)
            tgt = ids_d.roll(-1, dims=1).reshape(-1)

            def run() -> None:
                hidden = subnet.hidden(ids_d, pos, allowed)
                subnet.target_logprobs(hidden.reshape(batch * length, -1), tgt)
                if dev.type == "cuda":
                    torch.cuda.synchronize(dev)

            for _ in range(warmup):
                self.guard(run)
            runs = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                self.guard(run)
                runs.append(time.perf_counter() - t0)
        del subnet
        if dev.type == "cuda":
            torch.cuda.empty_cache()
        med = float(np.median(runs))
        return {
            "ok": True,
            "tokens_per_s": batch * length / med,
            "median_s": med,
            "runs": runs,
            "batch": batch,
            "length": length,
            "device": str(self.device),
            "device_name": device_name(self.device),
            "dtype": str(self.dtype).replace("torch.", ""),
            "quant": scheme.tag if scheme else "none",
            "threads": torch.get_num_threads(),
        }

    def naive(self, h: dict, body: bytes) -> bytes:
        """The per-request loop of lm-evaluation-harness's HF backend: one causal forward per row,
        full-vocabulary logits at every position, log-softmax over all of them (for the bench)."""
        rows = Rows(h, body, self.cfg.vocab_size, self.cfg.max_position_embeddings)
        n_layers, widths = check_subnet(self.cfg, h.get("layers"), h.get("intermediate"))
        out = np.full(int(rows.offsets[-1]), np.nan, dtype="<f4")
        with torch.no_grad():
            for r in range(len(rows.lengths)):
                ids = torch.from_numpy(rows.row(r, rows.tokens).astype(np.int64))[None].to(self.device)
                logits = self.model(ids, n_layers, widths)
                logp = F.log_softmax(logits.float(), dim=-1)[0]
                tg = torch.from_numpy(rows.row(r, rows.targets).astype(np.int64)).to(self.device)
                vals = logp.gather(1, tg.clamp(min=0)[:, None])[:, 0].cpu().numpy()
                vals[rows.row(r, rows.targets) < 0] = np.nan
                out[rows.offsets[r] : rows.offsets[r + 1]] = vals
        return out.tobytes()

    def handle(self, h: dict, body: bytes) -> Tuple[dict, bytes]:
        op = h.get("op")
        if op == "open":
            return self.open(h), b""
        if op == "score":
            res = self.guard(lambda: self.score(h, body))
            return {"ok": True, "values": len(res) // 4}, res
        if op == "naive":
            res = self.guard(lambda: self.naive(h, body))
            return {"ok": True, "values": len(res) // 4}, res
        if op == "close":
            return self.close(h), b""
        if op == "stats":
            return self.stats(), b""
        if op == "throughput":
            return self.throughput(h), b""
        raise ScoringError("bad_request", f'unknown op "{op}"')


class ContiguousSubnet(Subnet):
    """A sub-network with its own contiguous copies of the weights: what a deployed model runs (for timing)."""

    def __init__(self, model: LlamaForCausalLM, layers: int, widths: List[int], scheme: Optional[Scheme]) -> None:
        super().__init__(model, layers, widths, scheme)
        self.copies = [{name: super(ContiguousSubnet, self).view(i, name).contiguous().clone() for name in LINEARS} for i in range(layers)]

    def view(self, i: int, name: str) -> torch.Tensor:
        return self.copies[i][name] if hasattr(self, "copies") else super().view(i, name)


def error_header(err: BaseException) -> dict:
    if isinstance(err, ScoringError):
        return {"ok": False, "error": {"type": err.type, "message": str(err)}}
    if isinstance(err, RuntimeError) and is_oom(err):
        return {"ok": False, "error": {"type": "out_of_memory", "message": str(err)}}
    return {"ok": False, "error": {"type": "internal", "message": f"{type(err).__name__}: {err}", "traceback": traceback.format_exc()[-4000:]}}


def serve(server_factory, stdin: BinaryIO, stdout: BinaryIO) -> int:
    try:
        server = server_factory()
    except BaseException as err:  # the first frame says why the server cannot start
        write_frame(stdout, error_header(err))
        return 2 if isinstance(err, ScoringError) and err.type == "bad_checkpoint" else 1
    write_frame(stdout, server.ready())
    while True:
        frame = read_frame(stdin)
        if frame is None:
            return 0
        header, body = frame
        if header.get("op") == "shutdown":
            write_frame(stdout, {"ok": True})
            return 0
        try:
            reply, data = server.handle(header, body)
        except BaseException as err:  # reported, the server keeps serving
            reply, data = error_header(err), b""
            if isinstance(err, (KeyboardInterrupt, SystemExit)):
                raise
        reply["seq"] = header.get("seq")
        write_frame(stdout, reply, data)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m llama_nas_trainer.scoring", description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="Hugging Face LLaMA folder (config.json + safetensors)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--dtype", default="float32", choices=["float32", "float16", "bfloat16"])
    ap.add_argument("--threads", type=int, default=None, help="CPU intra-op threads (default: torch's)")
    ap.add_argument("--budget", type=int, default=None, help="token budget per batch (default: found for the device)")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    # stdout carries frames: whatever a library prints goes to stderr instead
    frames_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    frames_in = os.fdopen(os.dup(0), "rb")
    return serve(lambda: Server(args.model, args.device, args.dtype, args.budget), frames_in, frames_out)


if __name__ == "__main__":
    sys.exit(main())
