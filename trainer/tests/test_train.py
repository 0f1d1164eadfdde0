import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from fixtures import architecture, write_config, write_world
from llama_nas_trainer.config import parse_config
from llama_nas_trainer.data import collate, load_instatune_examples
from llama_nas_trainer.hf_io import load_model, load_state_dict
from llama_nas_trainer.tokenizer import load_tokenizer
from llama_nas_trainer.train import EXIT_CODES, run_training

TRAINER_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ENV = dict(os.environ, PYTHONPATH=TRAINER_DIR)


def quiet(_event):
    pass


def trainer_cli(config, out, *extra, mode=None):
    args = [sys.executable, "-m", "llama_nas_trainer.train", "--config", str(config), "--out", str(out), *extra]
    if mode:
        args += ["--mode", mode]
    return subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def events(stdout):
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("world")
    w = write_world(str(tmp))
    w["tmp"] = tmp
    cfg = parse_config({"mode": "pretrain", "architecture": architecture(w["vocab"]), "tokenizer": w["tokenizer"],
                        "data": w["corpus"], "lr": 3e-3, "batch_size": 8, "seq_len": 16, "epochs": 6,
                        "checkpoint_every": 1000, "seed": 1})
    w["base"] = str(tmp / "base")
    w["pretrain_result"] = run_training(cfg, w["base"], False, emit=quiet)
    return w


def instatune_raw(w, **kw):
    raw = {"mode": "instatune", "model": w["base"], "data": w["alpaca"], "lr": 2e-3, "batch_size": 4, "seq_len": 64,
           "epochs": 4, "search_space": {"layers": [2, 3, 4], "intermediate": [16, 32, 64]}, "checkpoint_every": 3,
           "seed": 5, "warmup_steps": 1}
    raw.update(kw)
    return raw


def test_pretrain_writes_hf_folder_and_learns(world):
    base = world["base"]
    assert sorted(f for f in os.listdir(base) if not f.startswith(".")) == [
        "checkpoints", "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "train_result.json"]
    cfg = json.load(open(os.path.join(base, "config.json")))
    assert cfg["num_hidden_layers"] == 4 and cfg["torch_dtype"] == "float32"
    # the loss of a 40-word vocabulary starts near ln(40) = 3.7; the corpus is very regular
    assert world["pretrain_result"]["loss"] < 2.5
    model = load_model(base)
    assert set(model.state_dict()) == set(load_state_dict(base))


def mean_loss(model, examples, subnet):
    ids, labels = collate(examples, 0)
    with torch.no_grad():
        return model.loss(ids, labels, *subnet).item()


def test_instatune_alternates_and_improves_a_sampled_subnet(world, tmp_path):
    cfg = parse_config(instatune_raw(world))
    seen = []
    result = run_training(cfg, str(tmp_path / "tuned"), False, emit=seen.append)
    steps = [e for e in seen if e["type"] == "step"]
    assert len(steps) == result["steps"] == 16
    # odd steps (1-based) train the full network, even ones a sampled sub-network
    assert all(e["subnet"] is None for e in steps[0::2])
    subnets = [e["subnet"] for e in steps[1::2]]
    assert all(s is not None and s["layers"] in (2, 3, 4) and len(s["intermediate"]) == s["layers"] for s in subnets)
    assert len({json.dumps(s) for s in subnets}) > 1
    tok = load_tokenizer(world["base"], json.load(open(os.path.join(world["base"], "config.json"))))
    examples = load_instatune_examples(cfg, tok, 10_000)
    base, tuned = load_model(world["base"]), load_model(str(tmp_path / "tuned"))
    sub = subnets[0]
    before = mean_loss(base, examples, (sub["layers"], sub["intermediate"]))
    after = mean_loss(tuned, examples, (sub["layers"], sub["intermediate"]))
    assert after < before - 0.1, (before, after)
    # every weight may change, including rows only the full network uses
    changed = [k for k, v in tuned.state_dict().items() if not torch.equal(v, base.state_dict()[k])]
    assert "model.layers.3.mlp.gate_proj.weight" in changed and "lm_head.weight" in changed


def test_resume_after_in_process_stop_equals_uninterrupted(world, tmp_path):
    cfg = parse_config(instatune_raw(world, epochs=2, checkpoint_every=100))
    run_training(cfg, str(tmp_path / "straight"), False, emit=quiet)
    from llama_nas_trainer.train import Interrupted

    with pytest.raises(Interrupted) as stopped:
        run_training(cfg, str(tmp_path / "split"), False, emit=quiet, stop_after_step=3)
    assert stopped.value.step == 3 and stopped.value.checkpoint.endswith("step-00000003.pt")
    seen = []
    run_training(cfg, str(tmp_path / "split"), True, emit=seen.append)
    # the memory estimate comes first, then the start of training
    assert [e["type"] for e in seen[:2]] == ["memory", "start"] and seen[1]["step"] == 3
    a, b = load_state_dict(str(tmp_path / "straight")), load_state_dict(str(tmp_path / "split"))
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=0), k


def test_kill_and_resume_gives_the_same_weights(world, tmp_path):
    """SIGKILL the trainer process right after its first checkpoint; --resume finishes with the same weights."""
    # long enough that the kill lands mid-run even when this process is scheduled late
    config = write_config(str(tmp_path / "tune.json"), **instatune_raw(world, epochs=6, checkpoint_every=2))
    straight = trainer_cli(config, tmp_path / "straight")
    out, err = straight.communicate(timeout=300)
    assert straight.returncode == 0, err
    assert events(out)[-1]["type"] == "done"

    killed = trainer_cli(config, tmp_path / "killed")
    for line in killed.stdout:
        if json.loads(line)["type"] == "checkpoint":
            killed.send_signal(signal.SIGKILL)
            break
    killed.wait(timeout=60)
    assert killed.returncode == -signal.SIGKILL
    assert not os.path.exists(tmp_path / "killed" / "train_result.json")

    refused = trainer_cli(config, tmp_path / "killed")
    out, _ = refused.communicate(timeout=300)
    assert refused.returncode == EXIT_CODES["bad_config"]
    ev = events(out)
    # without --resume an existing checkpoint is refused, not overwritten
    assert ev[-1]["type"] == "bad_config" and "--resume" in ev[-1]["message"]
    again = trainer_cli(config, tmp_path / "killed", "--resume")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    ev = events(out)
    assert [e["type"] for e in ev[:2]] == ["memory", "start"]
    assert ev[1]["step"] >= 2 and ev[1]["resumed_from"].endswith(".pt")
    assert ev[-1]["type"] == "done"
    a, b = load_state_dict(str(tmp_path / "straight")), load_state_dict(str(tmp_path / "killed"))
    for k in a:
        assert torch.allclose(a[k], b[k], atol=1e-6, rtol=0), k


def test_sigterm_checkpoints_and_exits_resumable(world, tmp_path):
    config = write_config(str(tmp_path / "tune.json"), **instatune_raw(world, epochs=10, checkpoint_every=100))
    p = trainer_cli(config, tmp_path / "out")
    for line in p.stdout:
        if json.loads(line)["type"] == "step":
            p.send_signal(signal.SIGTERM)
            break
    rest = p.stdout.read()
    p.wait(timeout=60)
    assert p.returncode == EXIT_CODES["interrupted"]
    last = events(rest)[-1]
    assert last["type"] == "interrupted" and os.path.exists(last["checkpoint"])
    # finishing later is idempotent: a second finished run returns the recorded result at once
    p = trainer_cli(config, tmp_path / "out", "--resume")
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0 and events(out)[-1]["type"] == "done"
    p = trainer_cli(config, tmp_path / "out", "--resume")
    out, _ = p.communicate(timeout=300)
    assert p.returncode == 0 and [e["type"] for e in events(out)] == ["done"]


@pytest.mark.parametrize("content,line", [
    ('[\n  {"instruction": "a", "input": "", "output": "b"},\n  {"instruction": "c", "input": ""}\n]\n', 3),
    ('[\n  {"instruction": "a", "input": "", "output": "b"},\n  {"instruction": "c" "output": "d"}\n]\n', 3),
    ('[\n  {"instruction": "a", "input": "", "output": "b"},\n\n  {"instruction": "c", "input": 7, "output": "d"}\n]\n', 4),
    ('{"instruction": "a", "output": "b"}\n{"instruction": "a", "output": "b"\n', 2),
])
def test_malformed_alpaca_fails_at_once_naming_the_line(world, tmp_path, content, line):
    data = tmp_path / "bad.json"
    data.write_text(content)
    config = write_config(str(tmp_path / "tune.json"), **instatune_raw(world, data=str(data)))
    p = trainer_cli(config, tmp_path / "out")
    out, _ = p.communicate(timeout=120)
    ev = events(out)
    assert p.returncode == EXIT_CODES["bad_data"]
    assert [e["type"] for e in ev] == ["bad_data"]
    assert f"bad.json:{line}:" in ev[-1]["message"]


def test_malformed_corpus_names_the_line(world, tmp_path):
    data = tmp_path / "corpus.jsonl"
    data.write_text('{"text": "ann lives in rome ."}\n{"txt": "bob"}\n')
    raw = {"mode": "pretrain", "architecture": architecture(world["vocab"]), "tokenizer": world["tokenizer"],
           "data": str(data), "seq_len": 4}
    p = trainer_cli(write_config(str(tmp_path / "c.json"), **raw), tmp_path / "out")
    out, _ = p.communicate(timeout=120)
    assert p.returncode == EXIT_CODES["bad_data"]
    assert "corpus.jsonl:2:" in events(out)[-1]["message"]


def test_bad_config_names_the_field(world, tmp_path):
    raw = instatune_raw(world, batch_size=0)
    p = trainer_cli(write_config(str(tmp_path / "c.json"), **raw), tmp_path / "out")
    out, _ = p.communicate(timeout=120)
    assert p.returncode == EXIT_CODES["bad_config"]
    assert events(out)[-1]["type"] == "bad_config" and "batch_size" in events(out)[-1]["message"]
    raw = instatune_raw(world, search_space={"layers": [2, 9], "intermediate": [16]})
    p = trainer_cli(write_config(str(tmp_path / "c.json"), **raw), tmp_path / "out")
    out, _ = p.communicate(timeout=120)
    assert p.returncode == EXIT_CODES["bad_config"] and "search_space.layers: 9" in events(out)[-1]["message"]


def test_bf16_autocast_grad_accum_and_elastic_pretraining(world, tmp_path):
    """bfloat16 autocast on the CPU, gradient accumulation, logging every 2 steps, a search space in pretrain."""
    raw = {"mode": "pretrain", "architecture": architecture(world["vocab"]), "tokenizer": world["tokenizer"],
           "data": world["corpus"], "lr": 3e-3, "batch_size": 4, "grad_accum": 2, "seq_len": 16, "max_steps": 4,
           "log_every": 2, "dtype": "bfloat16", "save_dtype": "bfloat16",
           "search_space": {"layers": [2, 4], "intermediate": [32, 64]}}
    seen = []
    result = run_training(parse_config(raw), str(tmp_path / "out"), False, emit=seen.append)
    steps = [e for e in seen if e["type"] == "step"]
    assert [e["step"] for e in steps] == [2, 4] and result["steps"] == 4
    assert steps[0]["subnet"] is not None  # step 2 (index 1) trained a sub-network
    cfg = json.load(open(tmp_path / "out" / "config.json"))
    assert cfg["torch_dtype"] == "bfloat16"
    assert next(load_model(str(tmp_path / "out")).parameters()).dtype == torch.bfloat16
