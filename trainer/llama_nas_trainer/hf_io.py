"""Hugging Face model folders: config.json, model.safetensors (or sharded), tokenizer files.

model.safetensors: the `safetensors` library writes and reads it where it is importable; otherwise the
format is written and read here directly: 8-byte little-endian header length N, N bytes of compact JSON
``{"__metadata__": {...}, name: {dtype, shape, data_offsets}}`` padded with spaces to a multiple of 8, then
the raw little-endian tensor bytes. Both write the same bytes: tensors ordered as the library orders
them (by dtype: I64, F64, F32, I32, BF16, F16, I16, I8, U8, BOOL; then by name), header entries in that order (tested in test_hf_io.py).
"""

from __future__ import annotations

import json
import os
import shutil
import struct
import tempfile
from typing import Dict, Iterable, Optional, Tuple

import numpy as np
import torch

from .model import LlamaConfig, LlamaForCausalLM

DTYPES: Dict[str, torch.dtype] = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16, "F64": torch.float64,
                                  "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
                                  "U8": torch.uint8, "BOOL": torch.bool}
CODES: Dict[torch.dtype, str] = {v: k for k, v in DTYPES.items()}
NUMPY_OF: Dict[str, np.dtype] = {"F32": np.dtype("<f4"), "F16": np.dtype("<f2"), "BF16": np.dtype("<i2"), "F64": np.dtype("<f8"),
                                 "I64": np.dtype("<i8"), "I32": np.dtype("<i4"), "I16": np.dtype("<i2"), "I8": np.dtype("i1"),
                                 "U8": np.dtype("u1"), "BOOL": np.dtype("?")}
DTYPE_NAMES: Dict[str, torch.dtype] = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}

TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "tokenizer.model",
                   "generation_config.json", "vocab.json", "merges.txt")


def _safetensors_library():
    """safetensors.torch when the library is importable (and LLAMA_NAS_SAFETENSORS_LIBRARY is not 0), else None."""
    if os.environ.get("LLAMA_NAS_SAFETENSORS_LIBRARY", "1") == "0":
        return None
    try:
        import safetensors.torch as st  # type: ignore
    except ImportError:
        return None
    return st


def safetensors_backend() -> str:
    return "library" if _safetensors_library() is not None else "builtin"


_UMASK = os.umask(0)
os.umask(_UMASK)


class HFFormatError(ValueError):
    pass


_WEIGHTS_ONLY: Optional[bool] = None


def torch_load_kwargs() -> Dict[str, bool]:
    """weights_only=True where this torch's restricted unpickler reads what the trainer saves (tensors, ints,
    floats, strings, lists, tuples, dicts): torch >= 2.0 (and 2.6 makes it the default). torch 1.13 has the
    flag but its unpickler rejects Python floats, so there the files (our own) load with the full unpickler."""
    global _WEIGHTS_ONLY
    if _WEIGHTS_ONLY is None:
        import inspect
        import io

        _WEIGHTS_ONLY = False
        if "weights_only" in inspect.signature(torch.load).parameters:
            buf = io.BytesIO()
            torch.save({"f": 0.5, "t": torch.zeros(1), "l": [1, (2, None, True)], "s": "x"}, buf)
            buf.seek(0)
            try:
                torch.load(buf, weights_only=True)
                _WEIGHTS_ONLY = True
            except Exception:
                pass
    return {"weights_only": True} if _WEIGHTS_ONLY else {}


def parse_dtype(name: str) -> torch.dtype:
    if name not in DTYPE_NAMES:
        raise ValueError(f'dtype "{name}" is not one of {", ".join(DTYPE_NAMES)}')
    return DTYPE_NAMES[name]


def atomic_write_bytes(path: str, chunks: Iterable[bytes]) -> None:
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix="." + os.path.basename(path) + ".")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)
        with os.fdopen(fd, "wb") as f:
            for c in chunks:
                f.write(c)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str, obj) -> None:
    atomic_write_bytes(path, [json.dumps(obj, indent=2).encode("utf-8") + b"\n"])


def _tensor_bytes(t: torch.Tensor) -> bytes:
    t = t.detach().to("cpu").contiguous()
    arr = t.view(torch.int16).numpy() if t.dtype == torch.bfloat16 else t.numpy()
    return arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()


def _tensor_order(tensors: Dict[str, torch.Tensor]) -> list:
    """The safetensors library's order (its dtype enum, descending; then the name)."""
    rank = {"I64": 0, "F64": 1, "F32": 2, "I32": 3, "BF16": 4, "F16": 5, "I16": 6, "I8": 7, "U8": 8, "BOOL": 9}
    return sorted(tensors, key=lambda n: (rank.get(CODES.get(tensors[n].dtype, ""), 99), n))


def save_safetensors(path: str, tensors: Dict[str, torch.Tensor], metadata: Optional[Dict[str, str]] = None) -> None:
    for name, t in tensors.items():
        if t.dtype not in CODES:
            raise HFFormatError(f"{path}: tensor {name} has unsupported dtype {t.dtype}")
    meta = {k: str(v) for k, v in metadata.items()} if metadata else None
    lib = _safetensors_library()
    if lib is not None:
        cpu = {k: v.detach().to("cpu").contiguous() for k, v in tensors.items()}
        atomic_write_bytes(path, [lib.save(cpu, metadata=meta)])
        return
    header: Dict[str, object] = {}
    if meta:
        header["__metadata__"] = meta
    offset = 0
    blobs = []
    for name in _tensor_order(tensors):
        t = tensors[name]
        data = _tensor_bytes(t)
        header[name] = {"dtype": CODES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * ((8 - len(raw) % 8) % 8)  # data starts 8-byte aligned
    atomic_write_bytes(path, [struct.pack("<Q", len(raw)), raw, *blobs])


def read_safetensors_header(path: str) -> Tuple[Dict[str, dict], int]:
    """The header (tensor entries and __metadata__) and the byte offset where data starts."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        first = f.read(8)
        if len(first) < 8:
            raise HFFormatError(f"{path}: too short for a safetensors file")
        (n,) = struct.unpack("<Q", first)
        if n > size - 8:
            raise HFFormatError(f"{path}: header length {n} exceeds the file size {size}")
        try:
            header = json.loads(f.read(n).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise HFFormatError(f"{path}: safetensors header is not valid JSON ({e})") from None
    return header, 8 + n


def load_safetensors(path: str, device: str = "cpu") -> Dict[str, torch.Tensor]:
    lib = _safetensors_library()
    if lib is not None:
        try:
            return lib.load_file(path, device=device)
        except Exception as e:  # SafetensorError and friends: a damaged or foreign file
            raise HFFormatError(f"{path}: not a valid safetensors file ({e})") from None
    header, start = read_safetensors_header(path)
    out: Dict[str, torch.Tensor] = {}
    data = np.memmap(path, dtype=np.uint8, mode="r")
    for name, info in header.items():
        if name == "__metadata__":
            continue
        code = info.get("dtype")
        if code not in DTYPES:
            raise HFFormatError(f"{path}: tensor {name} has unsupported dtype {code}")
        b, e = info["data_offsets"]
        shape = tuple(info["shape"])
        npdt = NUMPY_OF[code]
        count = int(np.prod(shape)) if shape else 1
        if e - b != count * npdt.itemsize or start + e > len(data):
            raise HFFormatError(f"{path}: tensor {name} has data_offsets {b}..{e} that do not fit its shape {list(shape)}")
        arr = np.frombuffer(data, dtype=npdt, count=count, offset=start + b).reshape(shape)
        t = torch.from_numpy(arr.astype(npdt.newbyteorder("="), copy=True))
        if code == "BF16":
            t = t.view(torch.int16).view(torch.bfloat16)
        out[name] = t.to(device)
    return out


def load_state_dict(folder: str) -> Dict[str, torch.Tensor]:
    """Weights of an HF folder: model.safetensors, a sharded safetensors index, or pytorch_model.bin."""
    single = os.path.join(folder, "model.safetensors")
    index = os.path.join(folder, "model.safetensors.index.json")
    if os.path.exists(single):
        return load_safetensors(single)
    if os.path.exists(index):
        with open(index, encoding="utf-8") as f:
            weight_map = json.load(f).get("weight_map")
        if not isinstance(weight_map, dict):
            raise HFFormatError(f"{index}: no weight_map")
        out: Dict[str, torch.Tensor] = {}
        for shard in sorted(set(weight_map.values())):
            part = load_safetensors(os.path.join(folder, shard))
            out.update({k: v for k, v in part.items() if weight_map.get(k) == shard})
        return out
    binary = os.path.join(folder, "pytorch_model.bin")
    if os.path.exists(binary):
        return torch.load(binary, map_location="cpu", **torch_load_kwargs())
    raise HFFormatError(f"{folder}: no model.safetensors, model.safetensors.index.json or pytorch_model.bin")


def read_config(folder: str) -> LlamaConfig:
    path = os.path.join(folder, "config.json")
    if not os.path.exists(path):
        raise HFFormatError(f"{folder}: no config.json")
    with open(path, encoding="utf-8") as f:
        try:
            d = json.load(f)
        except json.JSONDecodeError as e:
            raise HFFormatError(f"{path}: not valid JSON ({e})") from None
    if d.get("model_type", "llama") != "llama":
        raise HFFormatError(f'{path}: model_type "{d.get("model_type")}" is not "llama"')
    try:
        return LlamaConfig.from_dict(d)
    except (TypeError, ValueError) as e:
        raise HFFormatError(f"{path}: {e}") from None


def load_model(folder: str, dtype: Optional[torch.dtype] = None, device: str = "cpu") -> LlamaForCausalLM:
    """Builds the model from config.json and loads its weights; shapes and names must match exactly."""
    cfg = read_config(folder)
    model = LlamaForCausalLM(cfg)
    sd = load_state_dict(folder)
    expected = model.state_dict()
    missing = sorted(set(expected) - set(sd))
    # HF checkpoints with tied embeddings sometimes still store lm_head.weight: ignore it.
    unexpected = sorted(k for k in set(sd) - set(expected) if not (cfg.tie_word_embeddings and k == "lm_head.weight"))
    if missing or unexpected:
        raise HFFormatError(f"{folder}: weights do not match config.json (missing {missing[:5]}, unexpected {unexpected[:5]})")
    for k, v in expected.items():
        if tuple(sd[k].shape) != tuple(v.shape):
            raise HFFormatError(f"{folder}: {k} has shape {list(sd[k].shape)}, config.json implies {list(v.shape)}")
    target = dtype if dtype is not None else DTYPE_NAMES.get(cfg.torch_dtype, torch.float32)
    model.load_state_dict({k: sd[k].to(target) for k in expected})
    return model.to(device=device, dtype=target)


def save_model(model: LlamaForCausalLM, folder: str, dtype: Optional[torch.dtype] = None,
               tokenizer_from: Optional[str] = None) -> None:
    """Writes config.json and model.safetensors (each atomically), and copies tokenizer files."""
    save_state_dict(folder, model.state_dict(), model.config, dtype, tokenizer_from)


def save_state_dict(folder: str, sd: Dict[str, torch.Tensor], config: LlamaConfig, dtype: Optional[torch.dtype] = None,
                    tokenizer_from: Optional[str] = None) -> None:
    """save_model from a state dict (e.g. gathered from FSDP shards on rank 0)."""
    os.makedirs(folder, exist_ok=True)
    target = dtype if dtype is not None else next(iter(sd.values())).dtype
    tensors = {k: v.detach().to(target) for k, v in sd.items()}
    save_safetensors(os.path.join(folder, "model.safetensors"), tensors, {"format": "pt"})
    cfg = config.to_dict()
    cfg["torch_dtype"] = {v: k for k, v in DTYPE_NAMES.items()}[target]
    atomic_write_json(os.path.join(folder, "config.json"), cfg)
    if tokenizer_from:
        copy_tokenizer_files(tokenizer_from, folder)


def copy_tokenizer_files(src: str, dst: str) -> None:
    if os.path.abspath(src) == os.path.abspath(dst):
        return
    for name in TOKENIZER_FILES:
        p = os.path.join(src, name)
        if os.path.exists(p):
            fd, tmp = tempfile.mkstemp(dir=dst, prefix="." + name + ".")
            os.close(fd)
            shutil.copyfile(p, tmp)
            os.chmod(tmp, 0o666 & ~_UMASK)
            os.replace(tmp, os.path.join(dst, name))
