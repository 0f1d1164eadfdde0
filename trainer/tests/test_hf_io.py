"""model.safetensors through the safetensors library (where importable) and through the built-in writer and
reader: the same bytes and the same tensors either way."""

import pytest
import torch

from fixtures import architecture, optional_pydeps
from llama_nas_trainer import hf_io
from llama_nas_trainer.model import LlamaConfig, LlamaForCausalLM

where = optional_pydeps()


def mixed_tensors():
    g = torch.Generator().manual_seed(0)
    return {"b.weight": torch.randn(3, 5, generator=g), "a.weight": torch.randn(4, generator=g).to(torch.bfloat16),
            "ids": torch.arange(7), "half": torch.randn(2, 2, generator=g).half(), "i32": torch.tensor([1, 2], dtype=torch.int32),
            "mask": torch.tensor([True, False]), "u8": torch.tensor([3], dtype=torch.uint8), "f64": torch.randn(3, generator=g).double(),
            "i8": torch.tensor([-1], dtype=torch.int8), "i16": torch.tensor([7], dtype=torch.int16), "scalar": torch.tensor(2.5)}


def test_builtin_round_trip_without_the_library(tmp_path, monkeypatch):
    monkeypatch.setenv("LLAMA_NAS_SAFETENSORS_LIBRARY", "0")
    assert hf_io.safetensors_backend() == "builtin"
    t = mixed_tensors()
    hf_io.save_safetensors(str(tmp_path / "x.safetensors"), t, {"format": "pt"})
    back = hf_io.load_safetensors(str(tmp_path / "x.safetensors"))
    assert set(back) == set(t) and all(back[k].dtype == t[k].dtype and torch.equal(back[k], t[k]) for k in t)


def test_library_and_builtin_write_the_same_bytes_and_read_the_same_tensors(tmp_path, monkeypatch):
    try:
        import safetensors.torch  # noqa: F401
    except ImportError as e:
        pytest.skip(f"the safetensors library is not importable ({e}); scripts/provision.sh installs it into {where}")
    assert hf_io.safetensors_backend() == "library"
    t = mixed_tensors()
    model = LlamaForCausalLM(LlamaConfig.from_dict(architecture(40)))
    model.init_weights(0.02, torch.Generator().manual_seed(0))
    for name, tensors in (("mixed", t), ("model", {k: v.to(torch.bfloat16) for k, v in model.state_dict().items()})):
        hf_io.save_safetensors(str(tmp_path / f"{name}-lib.safetensors"), tensors, {"format": "pt"})
        with monkeypatch.context() as m:
            m.setenv("LLAMA_NAS_SAFETENSORS_LIBRARY", "0")
            hf_io.save_safetensors(str(tmp_path / f"{name}-own.safetensors"), tensors, {"format": "pt"})
            own_read = hf_io.load_safetensors(str(tmp_path / f"{name}-lib.safetensors"))
        lib_bytes = (tmp_path / f"{name}-lib.safetensors").read_bytes()
        assert lib_bytes == (tmp_path / f"{name}-own.safetensors").read_bytes(), name
        lib_read = hf_io.load_safetensors(str(tmp_path / f"{name}-own.safetensors"))
        for k in tensors:
            assert lib_read[k].dtype == own_read[k].dtype == tensors[k].dtype
            assert torch.equal(lib_read[k], tensors[k]) and torch.equal(own_read[k], tensors[k]), k


def test_a_damaged_file_is_a_format_error_either_way(tmp_path, monkeypatch):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    for flag in ("1", "0"):
        monkeypatch.setenv("LLAMA_NAS_SAFETENSORS_LIBRARY", flag)
        with pytest.raises(hf_io.HFFormatError, match="bad.safetensors"):
            hf_io.load_safetensors(str(bad))
