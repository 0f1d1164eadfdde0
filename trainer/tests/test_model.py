import json
import math
import os
import subprocess
import sys

import pytest
import torch

from llama_nas_trainer.hf_io import load_model, load_safetensors, read_safetensors_header, save_model, save_safetensors
from llama_nas_trainer.model import LlamaConfig, LlamaForCausalLM, parameter_count

TRAINER_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def tiny_config(**kw):
    base = dict(vocab_size=40, hidden_size=32, intermediate_size=48, num_hidden_layers=3, num_attention_heads=4,
                num_key_value_heads=2)
    base.update(kw)
    return LlamaConfig.from_dict(base)


def make_model(seed=0, **kw):
    m = LlamaForCausalLM(tiny_config(**kw))
    m.init_weights(0.1, torch.Generator().manual_seed(seed))
    return m


def naive_logits(sd, cfg, ids, layers, widths):
    """An independent, loop-based reading of the LLaMA forward (per head, per position, explicit rotation)."""
    h_dim, nh, nkv = cfg.head_dim, cfg.num_attention_heads, cfg.num_key_value_heads
    t = len(ids)

    def rms(x, w):
        return w * (x / torch.sqrt((x * x).mean(-1, keepdim=True) + cfg.rms_norm_eps))

    def rotate(v, pos):
        out = v.clone()
        half = h_dim // 2
        for i in range(half):
            ang = pos / (cfg.rope_theta ** (2 * i / h_dim))
            c, s = math.cos(ang), math.sin(ang)
            out[i] = v[i] * c - v[i + half] * s
            out[i + half] = v[i + half] * c + v[i] * s
        return out

    x = sd["model.embed_tokens.weight"][ids].double()
    for li in range(layers):
        p = f"model.layers.{li}."
        a = rms(x, sd[p + "input_layernorm.weight"].double())
        q = a @ sd[p + "self_attn.q_proj.weight"].double().T
        k = a @ sd[p + "self_attn.k_proj.weight"].double().T
        v = a @ sd[p + "self_attn.v_proj.weight"].double().T
        out = torch.zeros(t, nh * h_dim, dtype=torch.float64)
        for hh in range(nh):
            kh = hh // (nh // nkv)
            qs = [rotate(q[i, hh * h_dim:(hh + 1) * h_dim], i) for i in range(t)]
            ks = [rotate(k[j, kh * h_dim:(kh + 1) * h_dim], j) for j in range(t)]
            for i in range(t):
                scores = torch.tensor([float(qs[i] @ ks[j]) / math.sqrt(h_dim) for j in range(i + 1)], dtype=torch.float64)
                w = torch.softmax(scores, 0)
                out[i, hh * h_dim:(hh + 1) * h_dim] = sum(w[j] * v[j, kh * h_dim:(kh + 1) * h_dim] for j in range(i + 1))
        x = x + out @ sd[p + "self_attn.o_proj.weight"].double().T
        m = rms(x, sd[p + "post_attention_layernorm.weight"].double())
        kk = widths[li]
        g = m @ sd[p + "mlp.gate_proj.weight"].double()[:kk].T
        u = m @ sd[p + "mlp.up_proj.weight"].double()[:kk].T
        x = x + (torch.nn.functional.silu(g) * u) @ sd[p + "mlp.down_proj.weight"].double()[:, :kk].T
    x = rms(x, sd["model.norm.weight"].double())
    head = sd["model.embed_tokens.weight"] if cfg.tie_word_embeddings else sd["lm_head.weight"]
    return x @ head.double().T


def test_hf_names_and_shapes():
    m = make_model()
    shapes = {k: list(v.shape) for k, v in m.state_dict().items()}
    assert shapes["model.embed_tokens.weight"] == [40, 32]
    assert shapes["model.layers.0.self_attn.q_proj.weight"] == [32, 32]
    assert shapes["model.layers.0.self_attn.k_proj.weight"] == [16, 32]
    assert shapes["model.layers.0.self_attn.v_proj.weight"] == [16, 32]
    assert shapes["model.layers.0.self_attn.o_proj.weight"] == [32, 32]
    assert shapes["model.layers.2.mlp.gate_proj.weight"] == [48, 32]
    assert shapes["model.layers.2.mlp.up_proj.weight"] == [48, 32]
    assert shapes["model.layers.2.mlp.down_proj.weight"] == [32, 48]
    assert shapes["model.layers.1.input_layernorm.weight"] == [32]
    assert shapes["model.layers.1.post_attention_layernorm.weight"] == [32]
    assert shapes["model.norm.weight"] == [32]
    assert shapes["lm_head.weight"] == [40, 32]
    assert len(shapes) == 1 + 3 * 9 + 1 + 1
    assert sum(p.numel() for p in m.parameters()) == parameter_count(m.config)
    tied = make_model(tie_word_embeddings=True)
    assert "lm_head.weight" not in tied.state_dict()


@pytest.mark.parametrize("tied", [False, True])
def test_elastic_forward_matches_naive(tied):
    m = make_model(seed=3, tie_word_embeddings=tied)
    ids = [5, 17, 2, 39, 8]
    sd = m.state_dict()
    for layers, widths in [(3, [48, 48, 48]), (2, [16, 48]), (1, [7])]:
        got = m(torch.tensor([ids]), layers, widths)[0].double()
        want = naive_logits(sd, m.config, ids, layers, widths)
        assert torch.allclose(got, want, atol=1e-5), (layers, widths, (got - want).abs().max())


def test_subnet_differs_and_validates():
    m = make_model(seed=4)
    ids = torch.tensor([[1, 2, 3]])
    full = m(ids)
    assert not torch.allclose(full, m(ids, 2, [48, 48]))
    assert not torch.allclose(full, m(ids, 3, [48, 48, 24]))
    with pytest.raises(ValueError, match="layers 4"):
        m(ids, 4)
    with pytest.raises(ValueError, match=r"intermediate\[1\]"):
        m(ids, 2, [48, 49])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_safetensors_round_trip(tmp_path, dtype):
    m = make_model(seed=5)
    save_model(m, str(tmp_path), dtype=dtype)
    header, start = read_safetensors_header(str(tmp_path / "model.safetensors"))
    assert start % 8 == 0
    assert header["model.layers.0.mlp.down_proj.weight"]["shape"] == [32, 48]
    assert header["model.layers.0.mlp.down_proj.weight"]["dtype"] == {torch.float32: "F32", torch.float16: "F16", torch.bfloat16: "BF16"}[dtype]
    loaded = load_model(str(tmp_path))
    assert next(loaded.parameters()).dtype == dtype
    for k, v in m.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v.to(dtype)), k
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["model_type"] == "llama" and cfg["torch_dtype"] == str(dtype).split(".")[1]


def test_safetensors_bf16_bits_and_sharded(tmp_path):
    t = torch.tensor([1.0, -2.5, 3.140625], dtype=torch.bfloat16)
    save_safetensors(str(tmp_path / "a.safetensors"), {"x": t, "y": torch.arange(6, dtype=torch.float32).view(2, 3)})
    raw = (tmp_path / "a.safetensors").read_bytes()
    header, start = read_safetensors_header(str(tmp_path / "a.safetensors"))
    b, _ = header["x"]["data_offsets"]
    # bf16 is the top half of the float32 bit pattern: 1.0 = 0x3F80
    assert raw[start + b:start + b + 2] == bytes([0x80, 0x3F])
    back = load_safetensors(str(tmp_path / "a.safetensors"))
    assert torch.equal(back["x"], t) and back["y"].tolist() == [[0, 1, 2], [3, 4, 5]]

    m = make_model(seed=6)
    sd = m.state_dict()
    names = sorted(sd)
    folder = tmp_path / "sharded"
    folder.mkdir()
    half = len(names) // 2
    save_safetensors(str(folder / "model-00001-of-00002.safetensors"), {k: sd[k] for k in names[:half]})
    save_safetensors(str(folder / "model-00002-of-00002.safetensors"), {k: sd[k] for k in names[half:]})
    weight_map = {k: ("model-00001-of-00002.safetensors" if i < half else "model-00002-of-00002.safetensors") for i, k in enumerate(names)}
    (folder / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
    (folder / "config.json").write_text(json.dumps(m.config.to_dict()))
    loaded = load_model(str(folder))
    ids = torch.tensor([[1, 2, 3]])
    assert torch.equal(loaded(ids), m(ids))


def test_random_init_and_reference_cli(tmp_path):
    cfg = {"vocab_size": 30, "hidden_size": 16, "intermediate_size": 24, "num_hidden_layers": 2, "num_attention_heads": 2}
    (tmp_path / "cfg.json").write_text(json.dumps(cfg))
    env = dict(os.environ, PYTHONPATH=TRAINER_DIR)
    out = tmp_path / "model"
    r = subprocess.run([sys.executable, "-m", "llama_nas_trainer.random_init", "--config", str(tmp_path / "cfg.json"),
                        "--out", str(out), "--seed", "7"], env=env, capture_output=True, text=True, check=True)
    assert json.loads(r.stdout)["parameters"] == parameter_count(LlamaConfig.from_dict(cfg))
    std = load_safetensors(str(out / "model.safetensors"))["model.layers.0.mlp.up_proj.weight"].std().item()
    assert 0.015 < std < 0.025
    r = subprocess.run([sys.executable, "-m", "llama_nas_trainer.reference", "--model", str(out), "--subnet",
                        '{"layers":1,"intermediate":[12]}', "--tokens", "[[1,2,3],[4,5]]"],
                       env=env, capture_output=True, text=True, check=True)
    logits = json.loads(r.stdout)["logits"]
    assert [len(r) for r in logits] == [3, 2] and len(logits[0][0]) == 30
    m = load_model(str(out))
    want = m(torch.tensor([[1, 2, 3]]), 1, [12])[0]
    assert torch.allclose(torch.tensor(logits[0]), want, atol=1e-6)


def test_loss_is_shifted_cross_entropy_ignoring_masked_labels():
    m = make_model(seed=8)
    ids = torch.tensor([[1, 5, 9, 2, 7], [3, 3, 4, 0, 0]])
    labels = ids.clone()
    labels[1, 3:] = -100
    labels[0, 1] = -100
    logits = m(ids)
    logp = torch.log_softmax(logits.double(), -1)
    terms = [-logp[b, i, labels[b, i + 1]] for b in range(2) for i in range(4) if labels[b, i + 1] != -100]
    want = torch.stack(terms).mean()
    assert torch.allclose(m.loss(ids, labels).double(), want, atol=1e-6)
