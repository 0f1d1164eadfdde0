"""Several processes under torchrun (DDP over gloo on the CPU): the same weights as one process, exact resume
after a rank is SIGKILLed, and the pieces of the FSDP path that can be checked without CUDA."""

import json
import os
import signal
import subprocess
import sys

import pytest
import torch

from fixtures import architecture, write_config, write_world
from llama_nas_trainer.config import ConfigError, parse_config
from llama_nas_trainer.distributed import (World, choose_strategy, estimate_memory, fsdp_unavailable_reason,
                                           fsdp_units, wrap_decoder_layers, world_from_env, DistributedSetupError)
from llama_nas_trainer.hf_io import load_state_dict
from llama_nas_trainer.model import LlamaConfig, LlamaDecoderLayer, LlamaForCausalLM, parameter_count
from llama_nas_trainer.train import TrainerError, list_checkpoints, run_training

TRAINER_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
ENV = dict(os.environ, PYTHONPATH=TRAINER_DIR, OMP_NUM_THREADS="1")
for _k in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
    ENV.pop(_k, None)


def torchrun(config, out, *extra, nproc=2):
    # llama_nas_trainer.launch is torchrun (python -m torch.distributed.run) with a Python 3.11 fix for torch 1.13
    args = [sys.executable, "-m", "llama_nas_trainer.launch", "--standalone", f"--nproc_per_node={nproc}",
            "--max_restarts=0", "-m", "llama_nas_trainer.train", "--config", str(config), "--out", str(out), *extra]
    return subprocess.Popen(args, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def events(stdout):
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dist")
    return write_world(str(tmp)) | {"tmp": tmp}


def elastic_pretrain(w, **kw):
    """Elastic pretraining (a search space: odd steps train sub-networks, so DDP sees unused layers), a global
    batch of 4 micro-batches of 4 rows: one process accumulates 4, each of 2 ranks accumulates 2."""
    raw = {"mode": "pretrain", "architecture": architecture(w["vocab"]), "tokenizer": w["tokenizer"],
           "data": w["corpus"], "lr": 3e-3, "batch_size": 4, "grad_accum": 4, "seq_len": 16, "max_steps": 8,
           "search_space": {"layers": [2, 3, 4], "intermediate": [16, 32, 64]}, "checkpoint_every": 2,
           "threads": 1, "seed": 3, "schedule": "constant"}
    raw.update(kw)
    return raw


def assert_same_weights(a_dir, b_dir, atol):
    a, b = load_state_dict(str(a_dir)), load_state_dict(str(b_dir))
    assert set(a) == set(b)
    worst = max((a[k] - b[k]).abs().max().item() for k in a)
    print(f"largest weight difference {a_dir.name} vs {b_dir.name}: {worst:.3g}")
    assert worst <= atol, f"largest weight difference {worst:.3g} > {atol}"
    return worst


@pytest.fixture(scope="module")
def single_run(world):
    """The reference: one process, same config (so the same global batch)."""
    out = world["tmp"] / "single"
    seen = []
    run_training(parse_config(elastic_pretrain(world)), str(out), False, emit=seen.append, world=World())
    return out, seen


def test_two_ddp_processes_give_the_weights_of_one(world, single_run, tmp_path):
    ref_out, ref_events = single_run
    # with activation checkpointing under DDP (the reference runs without): the same gradients either way
    config = write_config(str(tmp_path / "c.json"), **elastic_pretrain(world, activation_checkpointing=True))
    p = torchrun(config, tmp_path / "ddp")
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err[-3000:]
    ev = events(out)
    assert [e["type"] for e in ev[:2]] == ["memory", "start"]
    start = ev[1]
    assert start["world_size"] == 2 and start["strategy"] == "ddp"
    # one protocol stream (rank 0's), not one per rank
    assert [e["type"] for e in ev].count("start") == 1 and ev[-1]["type"] == "done"
    memory = next(e for e in ev if e["type"] == "memory")
    assert memory["strategy"] == "ddp" and memory["fits"] is True and memory["optimizer"] == 8 * start["parameters"]
    steps = [e for e in ev if e["type"] == "step"]
    ref_steps = [e for e in ref_events if e["type"] == "step"]
    # the same sub-network at every step, and the same loss over the same global batch
    assert [e["subnet"] for e in steps] == [e["subnet"] for e in ref_steps]
    assert any(e["subnet"] is not None and e["subnet"]["layers"] < 4 for e in steps)
    for a, b in zip(steps, ref_steps):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
    assert_same_weights(ref_out, tmp_path / "ddp", atol=1e-5)


def worker_pids(torchrun_pid):
    """{rank: pid} of torchrun's worker processes (its children, RANK from their environment)."""
    found = {}
    for task in os.listdir(f"/proc/{torchrun_pid}/task"):
        with open(f"/proc/{torchrun_pid}/task/{task}/children") as f:
            for pid in f.read().split():
                with open(f"/proc/{pid}/environ", "rb") as env:
                    for item in env.read().split(b"\0"):
                        if item.startswith(b"RANK="):
                            found[int(item[5:])] = int(pid)
    return found


def test_sigkill_of_one_rank_then_resume_gives_the_uninterrupted_weights(world, tmp_path):
    # long enough that the kill lands mid-run even on a loaded machine
    raw = elastic_pretrain(world, max_steps=100, checkpoint_every=4)
    ref = tmp_path / "straight"
    run_training(parse_config(raw), str(ref), False, emit=lambda e: None, world=World())
    config = write_config(str(tmp_path / "c.json"), **raw)
    out = tmp_path / "killed"
    p = torchrun(config, out)
    killed_after = None
    for line in p.stdout:
        e = json.loads(line) if line.startswith("{") else {}
        if e.get("type") == "checkpoint":
            ranks = worker_pids(p.pid)
            assert set(ranks) == {0, 1}, ranks
            os.kill(ranks[1], signal.SIGKILL)
            killed_after = e["step"]
            break
    rest, err = p.communicate(timeout=180)
    assert killed_after is not None, err[-3000:]
    # the job fails as a whole: torchrun reports the dead worker and stops rank 0
    assert p.returncode != 0
    assert not (out / "train_result.json").exists()
    assert list_checkpoints(str(out)), "the checkpoint seen before the kill is on disk"

    again = torchrun(config, out, "--resume")
    stdout, err = again.communicate(timeout=300)
    assert again.returncode == 0, err[-3000:]
    ev = events(stdout)
    assert ev[1]["type"] == "start" and ev[1]["step"] >= killed_after and ev[1]["resumed_from"].endswith(".pt")
    assert ev[-1]["type"] == "done" and ev[-1]["steps"] == 100
    assert_same_weights(ref, out, atol=1e-4)


def test_partial_checkpoint_of_a_killed_save_is_never_resumed(world, tmp_path, monkeypatch):
    """A rank dying while it writes a checkpoint leaves only a temporary file; resume takes the last complete one."""
    import llama_nas_trainer.train as train

    raw = elastic_pretrain(world, max_steps=6, checkpoint_every=2)
    cfg = parse_config(raw)
    real_save = torch.save
    calls = []

    def dying_save(obj, f, *a, **kw):
        calls.append(1)
        if len(calls) == 2:  # the step-4 checkpoint: half a file, then the process "dies"
            f.write(b"PK\x03\x04 half a zip")
            raise KeyboardInterrupt("killed mid-save")
        return real_save(obj, f, *a, **kw)

    monkeypatch.setattr(train.torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        run_training(cfg, str(tmp_path / "out"), False, emit=lambda e: None, world=World())
    monkeypatch.setattr(train.torch, "save", real_save)
    ck = tmp_path / "out" / "checkpoints"
    assert sorted(os.listdir(ck)) == sorted(["latest.json", "step-00000002.pt", next(f for f in os.listdir(ck) if f.endswith(".tmp"))])
    seen = []
    run_training(cfg, str(tmp_path / "out"), True, emit=seen.append, world=World())
    assert seen[1]["type"] == "start" and seen[1]["step"] == 2
    assert not [f for f in os.listdir(ck) if f.endswith(".tmp")]
    straight = tmp_path / "straight"
    run_training(cfg, str(straight), False, emit=lambda e: None, world=World())
    assert_same_weights(straight, tmp_path / "out", atol=1e-6)


def test_grad_accum_must_split_over_the_ranks(world, tmp_path):
    # checked by each rank before the process group forms (so no torchrun is needed to see it)
    with pytest.raises(TrainerError) as e:
        run_training(parse_config(elastic_pretrain(world, grad_accum=3)), str(tmp_path / "out"), False,
                     emit=lambda e: None, world=World(0, 2, 0, 2))
    assert e.value.kind == "bad_config"
    assert "grad_accum: 3" in str(e.value) and "multiple of 2" in str(e.value)


def test_checkpoints_load_with_weights_only_where_torch_reads_floats(world, single_run):
    out, _ = single_run
    path = list_checkpoints(str(out))[-1][1]
    ck = torch.load(path, map_location="cpu")
    # only tensors and plain values: what torch >= 2.6 loads by default (weights_only=True)
    def plain(v):
        if isinstance(v, (torch.Tensor, int, float, str, bool, type(None))):
            return True
        if isinstance(v, (list, tuple)):
            return all(plain(x) for x in v)
        if isinstance(v, dict):
            return all(isinstance(k, (str, int)) and plain(x) for k, x in v.items())
        return False
    assert plain(ck)
    from llama_nas_trainer.hf_io import torch_load_kwargs

    if torch_load_kwargs():
        torch.load(path, map_location="cpu", weights_only=True)
    else:
        print(f"torch {torch.__version__}: its weights_only unpickler cannot read Python floats; "
              "checkpoints load with the full unpickler here (weights_only=True on torch >= 2.0)")


# ---------------------------------------------------------------------------------------------- strategy, FSDP


def test_world_from_torchrun_environment():
    assert world_from_env({}) == World()
    w = world_from_env({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "4"})
    assert (w.rank, w.world_size, w.local_rank, w.local_world_size, w.is_main) == (3, 8, 1, 4, False)
    with pytest.raises(DistributedSetupError, match="RANK 8 is outside WORLD_SIZE 8"):
        world_from_env({"RANK": "8", "WORLD_SIZE": "8"})
    with pytest.raises(DistributedSetupError, match="WORLD_SIZE='two'"):
        world_from_env({"WORLD_SIZE": "two"})


def test_strategy_choice_and_fsdp_on_the_cpu_is_refused_clearly():
    cpu, two = torch.device("cpu"), World(0, 2, 0, 2)
    assert choose_strategy("auto", World(), cpu, 10, 100) == "single"
    assert choose_strategy("auto", two, cpu, 10, 100) == "ddp"
    # auto falls back to DDP when FSDP cannot run here, even if DDP does not fit (the memory check then says so)
    assert choose_strategy("auto", two, cpu, 1000, 100) == "ddp"
    with pytest.raises(DistributedSetupError, match='"fsdp" shards the model across CUDA devices.*use "ddp"'):
        choose_strategy("fsdp", two, cpu, 10, 100)
    with pytest.raises(DistributedSetupError, match='"single" runs one process'):
        choose_strategy("single", two, cpu, 10, 100)
    assert fsdp_unavailable_reason(cpu) is not None


def test_fsdp_on_the_cpu_is_a_config_error_naming_the_way_out(world, tmp_path):
    for rank in (0, 1):  # every rank refuses alike, before the process group forms
        with pytest.raises(TrainerError) as e:
            run_training(parse_config(elastic_pretrain(world, strategy="fsdp")), str(tmp_path / "out"), False,
                         emit=lambda e: None, world=World(rank, 2, rank, 2))
        assert e.value.kind == "bad_config" and 'strategy "fsdp"' in str(e.value) and 'use "ddp"' in str(e.value)


def test_fsdp_wraps_each_decoder_layer():
    cfg = LlamaConfig.from_dict(architecture(40))
    model = LlamaForCausalLM(cfg)
    assert fsdp_units(model) == [f"model.layers.{i}" for i in range(4)]
    assert wrap_decoder_layers(model, True, 0) is True  # recursion into children is always allowed
    assert wrap_decoder_layers(model.model.layers[0], False, 0) is True
    assert wrap_decoder_layers(model.model.embed_tokens, False, 0) is False
    assert isinstance(model.model.layers[0], LlamaDecoderLayer)


def test_memory_estimate_of_llama2_7b():
    cfg = LlamaConfig.from_dict({"vocab_size": 32000, "hidden_size": 4096, "intermediate_size": 11008,
                                 "num_hidden_layers": 32, "num_attention_heads": 32})
    n = parameter_count(cfg)
    assert n == 6_738_415_616
    ddp = estimate_memory(cfg, n, "ddp", 8, "bfloat16", 4, 512, False)
    assert ddp["weights"] + ddp["gradients"] + ddp["optimizer"] == 16 * n  # ~107.8 GB: no 80 GB GPU
    fsdp = estimate_memory(cfg, n, "fsdp", 8, "bfloat16", 4, 512, False)
    assert fsdp["weights"] + fsdp["gradients"] + fsdp["optimizer"] == 16 * n // 8
    assert fsdp["gathered"] > 0 and fsdp["total"] < 80e9 < ddp["total"]
    ckpt = estimate_memory(cfg, n, "fsdp", 8, "bfloat16", 4, 512, True)
    assert ckpt["activations_per_token"] < fsdp["activations_per_token"] / 5
    sixteen = estimate_memory(cfg, n, "fsdp", 16, "bfloat16", 4, 512, True)
    assert sixteen["optimizer"] == 8 * n // 16


def test_memory_check_refuses_what_cannot_fit(world, tmp_path):
    big = architecture(world["vocab"]) | {"hidden_size": 4096, "intermediate_size": 11008, "num_hidden_layers": 64,
                                          "num_attention_heads": 32, "num_key_value_heads": 32}
    raw = elastic_pretrain(world, architecture=big, search_space=None, max_steps=1)
    seen = []

    with pytest.raises(TrainerError) as e:
        # the estimate comes from the config: the 13e9-parameter model is never allocated
        run_training(parse_config(raw), str(tmp_path / "out"), False, emit=seen.append, world=World())
    assert e.value.kind == "out_of_memory" and "memory estimate" in str(e.value) and "host memory" in str(e.value)
    assert [x["type"] for x in seen] == ["memory"]  # refused before any model is built
    assert seen[0]["fits"] is False and seen[0]["total"] > seen[0]["capacity"]


def test_launch_fields_are_checked_and_do_not_change_the_fingerprint(world):
    base = parse_config(elastic_pretrain(world))
    spread = parse_config(elastic_pretrain(world, nproc_per_node=8, nnodes=2, rdzv_endpoint="node0:29500",
                                           rdzv_id="job-1", strategy="fsdp", activation_checkpointing=True))
    assert spread.fingerprint() == base.fingerprint()
    with pytest.raises(ConfigError, match="rdzv_endpoint: required with nnodes 2"):
        parse_config(elastic_pretrain(world, nnodes=2))
    with pytest.raises(ConfigError, match="rdzv_endpoint: expected"):
        parse_config(elastic_pretrain(world, nnodes=2, rdzv_endpoint="node0"))
    with pytest.raises(ConfigError, match="strategy: expected one of auto, single, ddp, fsdp"):
        parse_config(elastic_pretrain(world, strategy="zero3"))
    with pytest.raises(ConfigError, match="node_rank: 2 is outside 0..1"):
        parse_config(elastic_pretrain(world, nnodes=2, node_rank=2, rdzv_endpoint="h:1"))


def test_activation_checkpointing_gives_the_same_gradients():
    cfg = LlamaConfig.from_dict(architecture(40))
    torch.manual_seed(0)
    a = LlamaForCausalLM(cfg)
    a.init_weights(0.02, torch.Generator().manual_seed(0))
    b = LlamaForCausalLM(cfg)
    b.load_state_dict(a.state_dict())
    b.gradient_checkpointing = True
    ids = torch.randint(0, 40, (2, 12), generator=torch.Generator().manual_seed(1))
    for m in (a, b):
        m.train()
        m.loss(ids, ids, 3, [16, 64, 32]).backward()
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        if p.grad is None:
            assert q.grad is None, name
        else:
            assert torch.allclose(p.grad, q.grad, atol=1e-6, rtol=0), name
