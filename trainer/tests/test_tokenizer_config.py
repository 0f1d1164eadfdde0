import json

import pytest

from fixtures import write_tokenizer
from llama_nas_trainer.config import ConfigError, load_config, parse_config
from llama_nas_trainer.tokenizer import TokenizerError, load_tokenizer


def word_level(tmp_path, pre_tokenizer, normalizer=None, unk="<unk>", added=("<s>", "</s>")):
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2, "hello": 3, "world": 4, "!": 5, "it's": 6, "it": 7, "'": 8, "s": 9, "?!": 10}
    spec = {"model": {"type": "WordLevel", "vocab": vocab, "unk_token": unk}, "pre_tokenizer": pre_tokenizer,
            "normalizer": normalizer, "added_tokens": [{"id": vocab[t], "content": t, "special": True} for t in added]}
    (tmp_path / "tokenizer.json").write_text(json.dumps(spec))
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"bos_token": "<s>", "eos_token": {"content": "</s>"}}))
    return load_tokenizer(str(tmp_path))


def test_word_level_whitespace_splits_punctuation_like_tokenizers(tmp_path):
    tok = word_level(tmp_path, {"type": "Whitespace"})
    assert tok.encode("hello world!") == [3, 4, 5]
    assert tok.encode("it's ?!") == [7, 8, 9, 10]
    assert tok.encode("hello mars") == [3, 0]
    assert (tok.bos_id, tok.eos_id) == (1, 2)


def test_word_level_whitespace_split_added_tokens_and_lowercase(tmp_path):
    tok = word_level(tmp_path, {"type": "WhitespaceSplit"}, normalizer={"type": "Lowercase"})
    assert tok.encode("<s>Hello it's</s>") == [1, 3, 6, 2]
    assert tok.encode("HELLO   world!") == [3, 0]


def test_word_level_without_unk_names_the_word(tmp_path):
    tok = word_level(tmp_path, {"type": "Whitespace"}, unk=None)
    with pytest.raises(TokenizerError, match='"mars"'):
        tok.encode("hello mars")


def test_other_models_need_the_tokenizers_package_or_pretokenized_data(tmp_path):
    (tmp_path / "tokenizer.json").write_text(json.dumps({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}))
    try:
        import tokenizers  # noqa: F401
    except ImportError:
        with pytest.raises(TokenizerError, match="BPE.*tokenizers.*WordLevel"):
            load_tokenizer(str(tmp_path))


def test_fixture_tokenizer_round_trip(tmp_path):
    n = write_tokenizer(str(tmp_path))
    tok = load_tokenizer(str(tmp_path))
    assert tok.vocab_size == n and tok.bos_id == 2 and tok.eos_id == 3
    assert 1 not in tok.encode("ann lives in rome .")


BASE = {"mode": "instatune", "model": "m", "data": "d.json", "search_space": {"layers": [2, 1, 2], "intermediate": [8]}}


def test_config_defaults_and_relative_paths(tmp_path):
    cfg = parse_config(BASE, str(tmp_path))
    assert cfg.model == str(tmp_path / "m") and cfg.data == str(tmp_path / "d.json")
    assert cfg.data_format == "alpaca" and cfg.loss_on == "response" and cfg.search_space.layers == [1, 2]
    assert "### Response:" in cfg.prompt_template["no_input"]


@pytest.mark.parametrize("change,field", [
    ({"batch_size": 0}, "batch_size"),
    ({"lr": "fast"}, "lr"),
    ({"grad_accum": 1.5}, "grad_accum"),
    ({"schedule": "step"}, "schedule"),
    ({"search_space": {"layers": [], "intermediate": [8]}}, "search_space.layers"),
    ({"search_space": None}, "search_space"),
    ({"data": {"path": "d", "format": "csv"}}, "data.format"),
    ({"data": {"path": "d", "format": "text"}}, "data.format"),
    ({"model": None}, "model"),
    ({"device": "gpu"}, "device"),
    ({"betas": [0.9]}, "betas"),
    ({"epochs": 0}, "epochs"),
    ({"bacth_size": 4}, "bacth_size"),
    ({"add_eos": "yes"}, "add_eos"),
])
def test_config_errors_name_the_field(change, field):
    raw = dict(BASE)
    raw.update(change)
    raw = {k: v for k, v in raw.items() if v is not None}
    with pytest.raises(ConfigError) as e:
        parse_config(raw)
    assert str(e.value).startswith(field + ":"), str(e.value)


def test_config_file_errors_name_the_file_and_line(tmp_path):
    p = tmp_path / "c.json"
    p.write_text('{\n  "mode": "pretrain",\n  "lr": 1e-3,,\n}')
    with pytest.raises(ConfigError, match=r"c\.json: line 3"):
        load_config(str(p))
    p.write_text(json.dumps(BASE))
    with pytest.raises(ConfigError, match="--mode"):
        load_config(str(p), mode="pretrain")
