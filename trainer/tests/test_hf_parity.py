"""The trainer's module against transformers' LlamaForCausalLM on the same weights: logits, a sub-network,
the loss, and the loss after one AdamW step. Runs where transformers is importable (scripts/provision.sh
installs a torch-1.13-compatible one into .llama-nas/pydeps); elsewhere it is skipped, saying why."""

import pytest
import torch

from fixtures import architecture, optional_pydeps
from llama_nas_trainer.model import LlamaConfig, LlamaForCausalLM

where = optional_pydeps()
try:
    import transformers
except ImportError as e:  # a plain skip with the reason: never a silent pass
    pytest.skip(f"transformers is not importable ({e}); scripts/provision.sh installs it into {where}",
                allow_module_level=True)


def hf_config(arch, **over):
    a = dict(arch, **over)
    cfg = transformers.LlamaConfig(vocab_size=a["vocab_size"], hidden_size=a["hidden_size"],
                                   intermediate_size=a["intermediate_size"], num_hidden_layers=a["num_hidden_layers"],
                                   num_attention_heads=a["num_attention_heads"],
                                   num_key_value_heads=a["num_key_value_heads"],
                                   max_position_embeddings=a["max_position_embeddings"], rms_norm_eps=1e-6,
                                   rope_theta=10000.0, tie_word_embeddings=False)
    cfg._attn_implementation = "eager"  # the reference attention, whatever this torch offers
    return cfg


@pytest.fixture()
def pair():
    arch = architecture(40)
    ours = LlamaForCausalLM(LlamaConfig.from_dict(arch))
    ours.init_weights(0.05, torch.Generator().manual_seed(0))
    theirs = transformers.LlamaForCausalLM(hf_config(arch))
    missing, unexpected = theirs.load_state_dict(ours.state_dict(), strict=False)
    assert not unexpected and all("rotary_emb" in k for k in missing)
    ids = torch.randint(0, 40, (3, 11), generator=torch.Generator().manual_seed(1))
    return arch, ours, theirs, ids


def test_logits_match_transformers(pair):
    _, ours, theirs, ids = pair
    ours.eval(), theirs.eval()
    with torch.no_grad():
        a = ours(ids)
        b = theirs(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-5, rtol=0), (a - b).abs().max()


def test_a_sub_network_matches_a_smaller_transformers_model(pair):
    """3 layers, 32 MLP channels each: transformers' model with those sizes and the sliced weights."""
    arch, ours, _, ids = pair
    small = transformers.LlamaForCausalLM(hf_config(arch, num_hidden_layers=3, intermediate_size=32))
    sd = {}
    for k, v in ours.state_dict().items():
        if k.startswith("model.layers.") and int(k.split(".")[2]) >= 3:
            continue
        if k.endswith(("gate_proj.weight", "up_proj.weight")):
            v = v[:32]
        elif k.endswith("down_proj.weight"):
            v = v[:, :32]
        sd[k] = v
    small.load_state_dict(sd, strict=False)
    ours.eval(), small.eval()
    with torch.no_grad():
        a = ours(ids, 3, [32, 32, 32])
        b = small(input_ids=ids).logits
    assert torch.allclose(a, b, atol=1e-5, rtol=0), (a - b).abs().max()


def test_same_loss_before_and_after_one_adamw_step(pair):
    _, ours, theirs, ids = pair
    labels = ids.clone()
    labels[:, :4] = -100  # a masked prompt, as InstaTune's response-only loss
    ours.train(), theirs.train()
    opt_a = torch.optim.AdamW(ours.parameters(), lr=1e-2, weight_decay=0.0)
    opt_b = torch.optim.AdamW(theirs.parameters(), lr=1e-2, weight_decay=0.0)
    la = ours.loss(ids, labels)
    lb = theirs(input_ids=ids, labels=labels).loss
    assert la.item() == pytest.approx(lb.item(), abs=1e-6)
    la.backward(), lb.backward()
    opt_a.step(), opt_b.step()
    with torch.no_grad():
        after_a = ours.loss(ids, labels).item()
        after_b = theirs(input_ids=ids, labels=labels).loss.item()
    assert after_a < la.item() - 1e-3  # the step changed something
    assert after_a == pytest.approx(after_b, abs=1e-5)
