"""Tokens/s of the elastic trainer against a plain PyTorch training loop over the same model and batches.

    python3 -m llama_nas_trainer.bench [--steps N] [--batch-size B] [--seq-len T] [--architecture JSON] [--json]

Three runs, each timed after one warm-up step, interleaved over --rounds rounds (best kept):
  plain          a minimal loop: forward, cross-entropy, backward, clip, AdamW step (full network)
  trainer_full   the trainer (run_training) with no search space: every step the full network
  trainer_elastic the trainer alternating the full network and sampled sub-networks (InstaTune)
The ratio that measures the trainer's overhead is trainer_full / plain; trainer_elastic is faster
than plain because half its steps run smaller sub-networks.

With --processes 1,2 (the default) it then runs the trainer as a job of 1 and of 2 processes (the second
under torchrun, DDP over gloo on the CPU) on the same global batch (grad_accum 2: one process accumulates
two micro-batches, each of two processes runs one), each process with cores / processes threads, plus one
process with one thread (the control: what each rank has), and prints their tokens/s side by side (steps
after the first, from rank 0's progress lines; start-up not counted).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List

import torch

from .config import parse_config
from .model import LlamaConfig, LlamaForCausalLM
from .train import param_groups, run_training

# The embedded world's default scale (a 16-layer small model on a 2-core CPU).
EMBEDDED_DEFAULT = {"vocab_size": 512, "hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 16,
                    "num_attention_heads": 4, "num_key_value_heads": 4, "max_position_embeddings": 256}


def plain_loop(arch: Dict[str, Any], rows: torch.Tensor, steps: int, batch: int, lr: float, seed: int) -> float:
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig.from_dict(arch))
    model.init_weights(0.02, torch.Generator().manual_seed(seed))
    model.train()
    opt = torch.optim.AdamW(param_groups(model, 0.0), lr=lr)
    start = 0.0
    for step in range(steps + 1):
        if step == 1:
            start = time.perf_counter()
        ids = rows[(step * batch) % len(rows):][:batch]
        logits = model(ids)
        loss = torch.nn.functional.cross_entropy(logits[:, :-1].reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
    return steps * batch * rows.shape[1] / (time.perf_counter() - start)


def trainer_run(arch: Dict[str, Any], data: str, steps: int, batch: int, seq_len: int, lr: float, seed: int,
                elastic: bool, out: str) -> float:
    raw: Dict[str, Any] = {"mode": "pretrain", "architecture": arch, "data": {"path": data, "format": "tokens"},
                           "max_steps": steps + 1, "batch_size": batch, "seq_len": seq_len, "lr": lr, "seed": seed,
                           "schedule": "constant", "checkpoint_every": 10**9, "add_eos": False,
                           "threads": torch.get_num_threads()}
    n = arch["num_hidden_layers"]
    w = arch["intermediate_size"]
    if elastic:
        raw["search_space"] = {"layers": sorted({max(1, n // 2), max(1, 3 * n // 4), n}), "intermediate": sorted({w // 2, w})}
    times: List[float] = []
    tokens: List[float] = []

    def emit(e: Dict[str, Any]) -> None:
        if e["type"] == "step":
            times.append(time.perf_counter())
            tokens.append(batch * seq_len)

    run_training(parse_config(raw), out, False, emit=emit)
    return sum(tokens[1:]) / (times[-1] - times[0])


def job_tokens_per_s(arch: Dict[str, Any], data: str, steps: int, batch: int, seq_len: int, lr: float, seed: int,
                     processes: int, threads: int, out: str) -> float:
    """Tokens/s of a training job of `processes` processes (a subprocess: torchrun for more than one)."""
    raw = {"mode": "pretrain", "architecture": arch, "data": {"path": data, "format": "tokens"},
           "max_steps": steps + 1, "batch_size": batch, "grad_accum": 2, "seq_len": seq_len, "lr": lr, "seed": seed,
           "schedule": "constant", "checkpoint_every": 10**9, "add_eos": False,
           "threads": threads, "device": "cpu", "strategy": "auto"}
    config = out + ".json"
    with open(config, "w", encoding="utf-8") as f:
        json.dump(raw, f)
    train = ["-m", "llama_nas_trainer.train", "--config", config, "--out", out]
    launch = ["-m", "llama_nas_trainer.launch", "--standalone", f"--nproc_per_node={processes}", "--max_restarts=0"]
    args = [sys.executable, *(launch if processes > 1 else []), *train]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (os.path.dirname(os.path.dirname(os.path.abspath(__file__))), env.get("PYTHONPATH")) if p)
    env["OMP_NUM_THREADS"] = str(raw["threads"])
    p = subprocess.run(args, env=env, capture_output=True, text=True, timeout=1800)
    events = [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]
    if p.returncode != 0 or not events or events[-1].get("type") != "done":
        raise RuntimeError(f"{processes}-process job failed ({p.returncode}): {(events[-1] if events else p.stderr[-2000:])}")
    steps_ev = [e for e in events if e["type"] == "step"][1:]  # the first step warms up
    tokens = 2 * batch * seq_len
    return len(steps_ev) * tokens / sum(tokens / e["tokens_per_s"] for e in steps_ev)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python3 -m llama_nas_trainer.bench", description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best of each run is reported")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--seq-len", type=int, default=64)
    ap.add_argument("--architecture", default=None, help="JSON LlamaConfig fields (default: the embedded default)")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--processes", default="1,2", help="job sizes to compare side by side (\"\" to skip)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads or (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1))
    torch.set_flush_denormal(True)
    arch = json.loads(args.architecture) if args.architecture else dict(EMBEDDED_DEFAULT)
    g = torch.Generator().manual_seed(0)
    n_rows = args.batch_size * (args.steps + 1)
    rows = torch.randint(0, arch["vocab_size"], (n_rows, args.seq_len), generator=g)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "tokens.jsonl")
        with open(data, "w", encoding="utf-8") as f:
            for r in rows.tolist():
                f.write(json.dumps({"input_ids": r}) + "\n")
        lr = 1e-4
        best = {"plain": 0.0, "full": 0.0, "elastic": 0.0}
        # Rounds interleave the three runs and each keeps its best: on a shared machine, other
        # processes slow whichever run they overlap, and the best round is the least disturbed.
        for r in range(args.rounds):
            best["plain"] = max(best["plain"], plain_loop(arch, rows, args.steps, args.batch_size, lr, 0))
            best["full"] = max(best["full"], trainer_run(arch, data, args.steps, args.batch_size, args.seq_len, lr, 0,
                                                         False, os.path.join(tmp, f"full-{r}")))
            best["elastic"] = max(best["elastic"], trainer_run(arch, data, args.steps, args.batch_size, args.seq_len, lr,
                                                               0, True, os.path.join(tmp, f"elastic-{r}")))
        plain, full, elastic = best["plain"], best["full"], best["elastic"]
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        # (processes, threads per process): each size with cores / processes threads, and one process with
        # one thread as the control (what each rank of the 2-process job has)
        jobs: Dict[Any, float] = {}
        sizes = [int(x) for x in args.processes.split(",") if x.strip()]
        shapes = [(n, max(1, cores // n)) for n in sizes]
        if shapes and (1, 1) not in shapes:
            shapes.insert(1, (1, 1))
        for r in range(args.rounds if sizes else 0):
            for n, t in shapes:
                tps = job_tokens_per_s(arch, data, args.steps, args.batch_size, args.seq_len, lr, 0, n, t,
                                       os.path.join(tmp, f"job-{n}x{t}-{r}"))
                jobs[(n, t)] = max(jobs.get((n, t), 0.0), tps)
    result = {"architecture": arch, "steps": args.steps, "rounds": args.rounds, "batch_size": args.batch_size,
              "seq_len": args.seq_len,
              "threads": torch.get_num_threads(), "plain_tokens_per_s": round(plain, 1),
              "trainer_full_tokens_per_s": round(full, 1), "trainer_elastic_tokens_per_s": round(elastic, 1),
              "trainer_full_vs_plain": round(full / plain, 3), "trainer_elastic_vs_plain": round(elastic / plain, 3),
              "cores": cores, "jobs": [{"processes": n, "threads_per_process": t, "tokens_per_s": round(v, 1)}
                                       for (n, t), v in jobs.items()]}
    if args.json:
        print(json.dumps(result))
    else:
        print(f"model: {arch['num_hidden_layers']} layers, hidden {arch['hidden_size']}, intermediate "
              f"{arch['intermediate_size']}; batch {args.batch_size} x {args.seq_len}; {result['threads']} threads; "
              f"best of {args.rounds} rounds of {args.steps} steps")
        print(f"plain loop              {plain:10.1f} tokens/s")
        print(f"trainer, full network   {full:10.1f} tokens/s  ({full / plain:.1%} of plain)")
        print(f"trainer, elastic        {elastic:10.1f} tokens/s  ({elastic / plain:.1%} of plain)")
        if jobs:
            print(f"training jobs, global batch 2 x {args.batch_size} x {args.seq_len} per step, {cores} cores "
                  "(several processes: torchrun, DDP over gloo):")
            base = next(iter(jobs.values()))
            for (n, t), v in jobs.items():
                print(f"  {n} process{'es' if n > 1 else '  '} x {t} thread{'s' if t > 1 else ' '}"
                      f"  {v:10.1f} tokens/s  ({v / base:.2f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
