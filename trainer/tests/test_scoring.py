"""The scoring server: packed rows against plain causal forwards, quantization codes, the frame protocol, OOM halving."""

import io
import struct

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from llama_nas_trainer import scoring
from llama_nas_trainer.hf_io import save_model
from llama_nas_trainer.model import LlamaConfig, LlamaForCausalLM, attend, packed_attention_mask
from llama_nas_trainer.quant import QuantizedLinear, scheme_of


def tiny(seed=0, **over):
    cfg = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=48, num_hidden_layers=3,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, **over)
    m = LlamaForCausalLM(cfg)
    m.init_weights(std=0.2, generator=torch.Generator().manual_seed(seed))
    return m.eval()


def causal_logprobs(model, tokens, layers, widths):
    """log p(tokens[i+1] | tokens[:i+1]) from the training forward (full logits)."""
    with torch.no_grad():
        logits = model(torch.tensor([tokens]), layers, widths)[0]
    lp = F.log_softmax(logits.float(), dim=-1)
    return np.array([lp[i, tokens[i + 1]].item() for i in range(len(tokens) - 1)])


def encode_rows(rows):
    lengths = [len(r["tokens"]) for r in rows]
    body = b"".join(np.asarray(sum((r[f] for r in rows), []), dtype="<i4").tobytes()
                    for f in ("tokens", "positions", "segments", "targets"))
    body += b"".join(np.asarray(r["parents"], dtype="<i4").tobytes() for r in rows if r.get("parents"))
    header = {"op": "score", "lengths": lengths, "parent_counts": [len(r.get("parents") or []) for r in rows]}
    return header, body


class FakeServer(scoring.Server):
    """A Server around an in-memory model (no checkpoint folder)."""

    def __init__(self, model, budget=4096):  # noqa: D401 - test helper
        self.device = torch.device("cpu")
        self.dtype = torch.float32
        self.model = model
        self.cfg = model.config
        self.loads, self.load_seconds = 1, 0.0
        self.budget, self.auto_budget = budget, False
        self.subnets, self.next_id, self.opened = {}, 1, 0
        self.scored_rows = self.scored_tokens = self.halvings = 0


def score(server, rows, sid):
    header, body = encode_rows(rows)
    header["id"] = sid
    flat = np.frombuffer(server.score(header, body), dtype="<f4")
    out, at = [], 0
    for r in rows:
        out.append(flat[at: at + len(r["tokens"])])
        at += len(r["tokens"])
    return out


def tree_row(prefix, questions):
    """A row: segment 0 the prefix; each question a child of 0; each choice a child of its question."""
    tokens, positions, segments, targets, parents = list(prefix), list(range(len(prefix))), [0] * len(prefix), [-1] * len(prefix), [-1]
    expected = []  # (flat index, full causal sequence, index in it)
    for context, choices in questions:
        q = len(parents)
        parents.append(0)
        start = len(prefix)
        for i, t in enumerate(context):
            tokens.append(t); positions.append(start + i); segments.append(q); targets.append(-1)
        for choice in choices:
            c = len(parents)
            parents.append(q)
            seq = list(prefix) + list(context) + list(choice)
            for i, t in enumerate(choice[:-1]):
                tokens.append(t); positions.append(len(prefix) + len(context) + i); segments.append(c)
                targets.append(choice[i + 1])
                expected.append((len(tokens) - 1, seq, len(prefix) + len(context) + i))
    return {"tokens": tokens, "positions": positions, "segments": segments, "targets": targets, "parents": parents}, expected


@pytest.mark.parametrize("layers,widths", [(3, None), (2, [16, 40]), (1, [1])])
def test_packed_tree_rows_match_separate_causal_rows(layers, widths):
    model = tiny()
    server = FakeServer(model, budget=64)  # small budget: several batches, padding in each
    sid = server.open({"layers": layers, "intermediate": widths})["id"]
    prefix = [1, 5, 7, 9]
    row1, exp1 = tree_row(prefix, [([11, 12], [[13, 14, 15], [16, 17]]), ([18], [[19, 20], [21, 22, 23, 24]])])
    row2, exp2 = tree_row([2, 3], [([4, 5, 6], [[7, 8], [9, 10, 11]])])
    plain = {"tokens": [3, 4, 5, 6, 7], "positions": [0, 1, 2, 3, 4], "segments": [0] * 5, "targets": [4, 5, 6, 7, -1]}
    out = score(server, [row1, row2, plain], sid)
    n, w = (layers, widths if widths else [48] * layers)
    for values, expected in ((out[0], exp1), (out[1], exp2)):
        assert len(expected) > 0
        for at, seq, i in expected:
            ref = causal_logprobs(model, seq, n, w)
            assert abs(values[at] - ref[i]) < 1e-5
    ref = causal_logprobs(model, plain["tokens"], n, w)
    np.testing.assert_allclose(out[2][:4], ref, atol=1e-5)
    assert np.isnan(out[2][4])
    scored = {at for at, _, _ in exp1}
    assert all(np.isnan(out[0][i]) for i in range(len(row1["tokens"])) if i not in scored)


def test_mask_is_the_onnx_mask():
    # row: segments 0 0 1 2 2 3, parents -1 0 1 0 (3 is a child of 0, 2 a grandchild of 0 through 1)
    seg = torch.tensor([[0, 0, 1, 2, 2, 3, 0]])
    m = packed_attention_mask(seg, torch.tensor([6]), [[-1, 0, 1, 0]])[0]
    sees = {(i, j) for i in range(7) for j in range(7) if m[i, j]}
    anc = {0: {0}, 1: {0, 1}, 2: {0, 1, 2}, 3: {0, 3}}
    s = [0, 0, 1, 2, 2, 3]
    want = {(i, j) for i in range(6) for j in range(i + 1) if s[j] in anc[s[i]]} | {(6, 6)}
    assert sees == want
    # without parents every segment is a child of 0
    m2 = packed_attention_mask(seg, torch.tensor([6]), None)[0]
    want2 = {(i, j) for i in range(6) for j in range(i + 1) if s[j] in (0, s[i])} | {(6, 6)}
    assert {(i, j) for i in range(7) for j in range(7) if m2[i, j]} == want2


@pytest.mark.skipif(not scoring.F.__dict__.get("scaled_dot_product_attention"), reason="torch < 2.0 has no scaled_dot_product_attention (this is Debian's 1.13): the plain path is the one tested")
def test_sdpa_equals_plain():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 4, 9, 8, generator=g) for _ in range(3))
    mask = torch.where(torch.rand(2, 1, 9, 9, generator=g) > 0.5, 0.0, torch.finfo(torch.float32).min)
    mask[..., torch.arange(9), torch.arange(9)] = 0.0
    torch.testing.assert_close(attend(q, k, v, mask, use_sdpa=True), attend(q, k, v, mask, use_sdpa=False), atol=1e-5, rtol=1e-5)


def test_target_logprobs_only_where_targets():
    model = tiny(1)
    server = FakeServer(model)
    sid = server.open({})["id"]
    row = {"tokens": [1, 2, 3, 4], "positions": [0, 1, 2, 3], "segments": [0] * 4, "targets": [-1, 3, -1, -1]}
    out = score(server, [row], sid)[0]
    ref = causal_logprobs(model, [1, 2, 3], 3, [48] * 3)
    assert np.isnan(out[0]) and np.isnan(out[2]) and np.isnan(out[3])
    assert abs(out[1] - ref[1]) < 1e-5


def js_round_codes_reference(w, qmax):
    """The export's per-column codes, written out with Python floats (doubles, like JavaScript)."""
    import math
    n, k = w.shape
    codes = np.zeros((n, k), dtype=np.int8)
    scales = np.zeros(n, dtype=np.float32)
    for j in range(n):
        absmax = max(abs(float(x)) for x in w[j])
        s = float(np.float32(absmax / qmax))
        scales[j] = s
        if s == 0:
            continue
        for i in range(k):
            codes[j, i] = min(qmax, max(-qmax, math.floor(float(w[j, i]) / s + 0.5)))
    return codes, scales


def test_per_column_codes_match_the_export_arithmetic():
    w = torch.randn(7, 13, generator=torch.Generator().manual_seed(3))
    w[2] = 0.0  # an all-zero channel
    w[3, 4] = w[3].abs().max() * 63.5 / 63  # a half-way value
    for mode, qmax in (("int8-dq", 63), ("int8", 127)):
        q = QuantizedLinear(w, scheme_of(mode))
        codes, scales = js_round_codes_reference(w.numpy(), qmax)
        np.testing.assert_array_equal(q.codes.numpy(), codes)
        np.testing.assert_array_equal(q.scales.numpy(), scales)
        np.testing.assert_array_equal(q.weight(torch.float32).numpy(), codes.astype(np.float32) * scales[:, None])


@pytest.mark.parametrize("mode,bits,bs", [("int4", 4, 16), ("int8-a8", 8, 16)])
def test_blockwise_codes(mode, bits, bs):
    w = torch.randn(5, 37, generator=torch.Generator().manual_seed(4))  # 37: a partial last block
    q = QuantizedLinear(w, scheme_of(mode, bs))
    zero = 1 << (bits - 1)
    assert q.scales.shape == (5, 3)
    deq = q.weight(torch.float32)
    assert deq.shape == (5, 37)
    codes = q.codes.view(5, 3, bs)
    assert int(codes.max()) <= (1 << bits) - 1 and int(codes.min()) >= 0
    # each block's largest magnitude is coded exactly +-(zero - 1)
    for r in range(5):
        for b in range(3):
            seg = w[r, b * bs: (b + 1) * bs]
            assert float(q.scales[r, b]) == pytest.approx(float(seg.abs().max()) / (zero - 1), rel=1e-6)
    assert float((deq - w).abs().max()) <= float(q.scales.max()) / 2 + 1e-6


def test_int8_and_int4_are_weight_only_with_the_export_tags():
    # the tags are the export's quantTag (src/model/quantize.ts): a0 = float compute, a4 = int8 activations
    assert {m: scheme_of(m).tag for m in ("int8", "int4", "int8-a8", "int4-a8", "int8-dq")} == {
        "int8": "dl8c127", "int4": "nb4b32a0", "int8-a8": "nb8b128a4", "int4-a8": "nb4b32a4", "int8-dq": "dq8c63"}
    assert not scheme_of("int8").activations and not scheme_of("int4").activations
    w = torch.randn(6, 40, generator=torch.Generator().manual_seed(5))
    x = torch.randn(3, 40, generator=torch.Generator().manual_seed(6))
    server = FakeServer(tiny(2))
    for mode in ("int8", "int4"):
        sid = server.open({"layers": 1, "intermediate": [48], "quant": mode})["id"]
        assert not server.subnets[sid].dynamic
        # weight-only: the input is not quantized, the product is the float one with the dequantized weight
        q = QuantizedLinear(w, scheme_of(mode, 16 if mode == "int4" else None))
        torch.testing.assert_close(q.apply(x, dynamic=False), x @ q.weight(torch.float32).T, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="not one of"):
        scheme_of("int8-nbits")


def test_quantized_subnet_scores_close_to_float_and_frees_codes():
    model = tiny(2)
    server = FakeServer(model)
    f = server.open({"layers": 2, "intermediate": [24, 48]})["id"]
    q = server.open({"layers": 2, "intermediate": [24, 48], "quant": "int8"})["id"]
    assert server.stats()["quantized_bytes"] > 0
    row = {"tokens": [1, 2, 3, 4, 5], "positions": list(range(5)), "segments": [0] * 5, "targets": [2, 3, 4, 5, -1]}
    a = score(server, [row], f)[0][:4]
    b = score(server, [row], q)[0][:4]
    assert not np.array_equal(a, b)
    assert np.abs(a - b).max() < 0.1
    server.close({"id": q})
    assert server.stats()["quantized_bytes"] == 0


def test_oom_halves_the_budget_and_retries():
    model = tiny()
    server = FakeServer(model, budget=1000)
    sid = server.open({})["id"]
    real = server.score_batch
    seen = []

    def flaky(subnet, rows, batch, out):
        seen.append(len(batch))
        if len(batch) > 2:
            raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
        real(subnet, rows, batch, out)

    server.score_batch = flaky
    rows = [{"tokens": [1, 2, 3], "positions": [0, 1, 2], "segments": [0] * 3, "targets": [2, 3, -1]} for _ in range(8)]
    out = score(server, rows, sid)
    assert seen[0] == 8 and server.halvings >= 2 and server.budget < 1000
    ref = causal_logprobs(model, [1, 2, 3], 3, [48] * 3)
    for o in out:
        np.testing.assert_allclose(o[:2], ref, atol=1e-5)

    def always(subnet, rows, batch, out):
        raise RuntimeError("CUDA out of memory.")

    server.score_batch = always
    with pytest.raises(scoring.ScoringError) as e:
        score(server, rows[:1], sid)
    assert e.value.type == "out_of_memory"


def frame(header, body=b""):
    out = io.BytesIO()
    scoring.write_frame(out, header, body)
    return out.getvalue()


def read_all(data):
    f = io.BytesIO(data)
    frames = []
    while True:
        fr = scoring.read_frame(f)
        if fr is None:
            return frames
        frames.append(fr)


def test_serve_over_frames_from_a_checkpoint(tmp_path):
    model = tiny(5)
    save_model(model, str(tmp_path / "m"))
    row = {"tokens": [1, 2, 3, 4], "positions": [0, 1, 2, 3], "segments": [0] * 4, "targets": [2, 3, 4, -1]}
    h, body = encode_rows([row])
    h.update(id=1, seq=7)
    stdin = io.BytesIO(frame({"op": "open", "layers": 2, "seq": 1}) + frame(h, body) + frame({"op": "stats", "seq": 8})
                       + frame({"op": "nope", "seq": 9}) + frame({"op": "shutdown"}))
    stdout = io.BytesIO()
    rc = scoring.serve(lambda: scoring.Server(str(tmp_path / "m"), "cpu", "float32", None), stdin, stdout)
    assert rc == 0
    frames = read_all(stdout.getvalue())
    ready, opened, scored, stats, bad, bye = frames
    assert ready[0]["ok"] and ready[0]["vocab_size"] == 50 and ready[0]["max_length"] == 64
    assert opened[0]["id"] == 1 and opened[0]["intermediate"] == [48, 48]
    vals = np.frombuffer(scored[1], dtype="<f4")
    np.testing.assert_allclose(vals[:3], causal_logprobs(model, [1, 2, 3, 4], 2, [48, 48]), atol=1e-5)
    assert scored[0]["seq"] == 7
    assert stats[0]["loads"] == 1 and stats[0]["rss_kb"] > 0
    assert bad[0]["ok"] is False and bad[0]["error"]["type"] == "bad_request"


def test_bad_checkpoint_is_reported_first(tmp_path):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "config.json").write_text('{"vocab_size": 10}')
    stdout = io.BytesIO()
    rc = scoring.serve(lambda: scoring.Server(str(tmp_path / "m"), "cpu", "float32", None), io.BytesIO(), stdout)
    (header, _), = read_all(stdout.getvalue())
    assert rc == 2 and header["error"]["type"] == "bad_checkpoint"
    assert "missing field" in header["error"]["message"]


def test_frame_layout():
    data = frame({"op": "x"}, b"\x01\x02")
    total, hlen = struct.unpack_from("<II", data, 0)
    assert total == len(data) - 4 and data[8: 8 + hlen] == b'{"op": "x"}' and data[-2:] == b"\x01\x02"


def dynamic_quantize_matmul_ref(x: np.ndarray, q: QuantizedLinear) -> np.ndarray:
    """DynamicQuantizeLinear (one range over all of x) then the integer product, element by element."""
    xs = x.reshape(-1).tolist()
    lo, hi = min(min(xs), 0.0), max(max(xs), 0.0)
    scale = float(np.float32((np.float32(hi) - np.float32(lo)) / np.float32(255)))
    zp = float(np.round(np.clip(np.float32(0) - np.float32(lo) / np.float32(scale), 0, 255)))
    xq = np.clip(np.round(np.float32(x) / np.float32(scale)) + zp, 0, 255) - zp
    return (xq.reshape(-1, x.shape[-1]) @ q.codes.numpy().astype(np.float64).T) * (np.float32(scale) * q.scales.numpy())


def test_dynamic_per_tensor_activations_as_dynamic_quantize_linear_per_row():
    g = torch.Generator().manual_seed(6)
    w = torch.randn(6, 10, generator=g)
    x = torch.randn(2, 3, 10, generator=g) + 0.7  # a range not centred on zero
    x[1] *= 4  # rows of different ranges
    q = QuantizedLinear(w, scheme_of("int8-dq"))
    got = q.apply(x, dynamic=True).numpy()
    # each batch row is quantized as ONNX Runtime quantizes it when run alone (a batch of one)
    for b in range(2):
        np.testing.assert_allclose(got[b], dynamic_quantize_matmul_ref(x[b].numpy(), q), rtol=1e-6, atol=1e-6)
    # a 2-D input is one row
    np.testing.assert_allclose(q.apply(x[1], dynamic=True).numpy(), got[1], rtol=1e-6, atol=1e-6)
    # and the activation quantization is what moves the result away from weight-only
    assert not torch.allclose(q.apply(x, dynamic=False), q.apply(x, dynamic=True), atol=1e-4)


def test_dynamic_blockwise_activations_per_row_block():
    g = torch.Generator().manual_seed(7)
    w = torch.randn(4, 40, generator=g)
    x = torch.randn(3, 40, generator=g)
    q = QuantizedLinear(w, scheme_of("int4-a8", 16))
    got = q.apply(x, dynamic=True)
    xp = F.pad(x, (0, 8)).view(3, 3, 16)
    s = xp.abs().amax(dim=2, keepdim=True) / 127
    xq = (torch.round(xp / s).clamp(-127, 127) * s).view(3, 48)[:, :40]
    torch.testing.assert_close(got, xq @ q.weight(torch.float32).T, rtol=1e-5, atol=1e-5)
    # one row's activations do not change another row's result (per-row scales)
    x2 = x.clone()
    x2[0] *= 10
    torch.testing.assert_close(q.apply(x2, dynamic=True)[1:], got[1:])


def test_dynamic_per_row_range_excludes_padding_and_other_rows():
    g = torch.Generator().manual_seed(9)
    w = torch.randn(5, 12, generator=g)
    q = QuantizedLinear(w, scheme_of("int8-dq"))
    short = torch.randn(4, 12, generator=g)
    long = torch.randn(7, 12, generator=g) * 5
    alone = q.apply(short[None], dynamic=True)[0]
    # batched with a longer row of a wider range, padded with large values: the same result
    batch = torch.full((2, 7, 12), 100.0)
    batch[0, :4] = short
    batch[1] = long
    valid = torch.tensor([[True] * 4 + [False] * 3, [True] * 7])
    got = q.apply(batch, dynamic=True, valid=valid)
    torch.testing.assert_close(got[0, :4], alone, rtol=0, atol=0)
    torch.testing.assert_close(got[1], q.apply(long[None], dynamic=True)[0], rtol=0, atol=0)
    # without the mask the padding widens the short row's range and its result moves
    assert not torch.allclose(q.apply(batch, dynamic=True)[0, :4], alone, atol=1e-3)


@pytest.mark.parametrize("mode", ["int8", "int8-dq"])
def test_int8_subnet_scores_do_not_depend_on_the_batch(mode):
    server = FakeServer(tiny(4))
    sid = server.open({"layers": 2, "intermediate": [24, 16], "quant": mode})["id"]
    rnd = np.random.default_rng(3)

    def row(n):
        return {"tokens": [int(t) for t in rnd.integers(1, 50, n)], "positions": list(range(n)),
                "segments": [0] * n, "targets": [int(t) for t in rnd.integers(1, 50, n - 1)] + [-1]}

    rows = [row(n) for n in (5, 11, 3, 8)]
    together = score(server, rows, sid)  # one padded batch of four
    for r, one in enumerate(rows):
        alone = score(server, [one], sid)[0]
        np.testing.assert_allclose(together[r][:-1], alone[:-1], rtol=0, atol=1e-5)


@pytest.mark.parametrize("mode", ["int8-dq", "int4-a8"])
def test_dynamic_quantization_on_bfloat16_matches_float32(mode):
    g = torch.Generator().manual_seed(8)
    w = torch.randn(8, 64, generator=g)
    x = torch.randn(5, 64, generator=g).to(torch.bfloat16)
    q = QuantizedLinear(w, scheme_of(mode, 16 if mode == "int4-a8" else None))
    ref = q.apply(x.float(), dynamic=True)
    got = q.apply(x, dynamic=True)
    assert got.dtype == torch.bfloat16
    torch.testing.assert_close(got.float(), ref, rtol=2e-2, atol=2e-2)
