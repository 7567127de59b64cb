"""bench.py --only profile (issue 28): one tagging pass divided into categories that sum to
the pass. Timings are never asserted; transformers' side skips where the peers are not
installed (CI)."""

from __future__ import annotations

import importlib.util

import pytest

from bioner_mtl.experiments import bench
from bioner_mtl.training.bench import profile

TINY = {"corpus": "NCBI-disease", "sentences": 8, "max_length": 128, "repeats": 1, "seed": 1}


def test_each_instant_is_shared_among_the_ops_running_then():
    ops = [(1.0, 3.0, "dense", "a"), (2.0, 4.0, "activation", "b"), (12.0, 13.0, "dense", "c"),
           (9.0, 11.0, "dense", "d")]  # c lies outside the window, d is clipped to it
    own, idle = profile.share_out([(0.0, 10.0)], ops)
    assert own == pytest.approx([1.5, 1.5, 0.0, 1.0])
    assert idle == pytest.approx(10.0 - 4.0)  # 0-1, 4-9: no op running
    seconds, top = profile.breakdown(
        (0.0, 20.0), {"model": [(0.0, 10.0)], "featurise": [(10.0, 12.0)],
                      "decoding": [(15.0, 15.5)]}, ops)
    assert seconds["dense"] == pytest.approx(2.5) and seconds["activation"] == pytest.approx(1.5)
    assert seconds["overhead"] == pytest.approx(6.0) and seconds["featurise"] == 2.0
    assert seconds["python"] == pytest.approx(20.0 - 10.0 - 2.0 - 0.5)
    assert sum(seconds.values()) == pytest.approx(20.0)
    assert top[0][:2] == ["a", "dense"] or top[0][:2] == ["b", "activation"]


def test_ops_are_classified_by_op_and_scope():
    layer = "bert_backbone_1/transformer_layer_3_1/"
    cases = {
        f"{layer}self_attention_layer_1/query_1/einsum/Einsum:_MklEinsum": "dense",
        f"{layer}self_attention_layer_1/value_1/Add:AddV2": "dense",
        f"{layer}self_attention_layer_1/MatMul:_MklBatchMatMulV2": "attention",
        f"{layer}self_attention_layer_1/transpose_3:_MklTranspose": "attention",
        f"{layer}self_attention_layer_1/softmax_9_1/SelectV2:SelectV2": "softmax",
        f"{layer}feedforward_intermediate_dense_1/Tensordot/MatMul:_MklMatMul": "dense",
        f"{layer}feedforward_intermediate_dense_1/BiasAdd:BiasAdd": "dense",
        f"{layer}feedforward_intermediate_dense_1/Gelu/Erfc:Erfc": "activation",
        f"{layer}feedforward_intermediate_dense_1/Gelu/mul_2:_MklNativeFusedMatMul": "dense",
        f"{layer}feedforward_layer_norm_1/moments/mean:Mean": "layer_norm",
        "bert_backbone_1/token_embedding_1/GatherV2:ResourceGather": "gather",
        "GatherV2:GatherV2": "gather",
        f"{layer}add:AddV2": "other_ops",
    }
    assert {name: profile.tf_category(name) for name in cases} == cases
    for not_an_op in ("EagerLocalExecute: __inference_run_6544", "KernelAndDeviceFunc::Run",
                      "ExecutorState::Process", "bench:model", "StatefulPartitionedCall:"
                      "StatefulPartitionedCall"):
        assert profile.tf_category(not_an_op) is None
    assert profile.torch_category("aten::linear", True) == "dense"
    assert profile.torch_category("aten::scaled_dot_product_attention", True) == "attention"
    assert profile.torch_category("aten::matmul", True) == "attention"  # eager attention
    assert profile.torch_category("aten::softmax", True) == "softmax"
    assert profile.torch_category("aten::gelu", False) == "activation"
    assert profile.torch_category("aten::add", False) == "other_ops"


def _table_sums_to_the_pass(found: dict, side: str) -> None:
    rows = bench.rows_for("profile", found)
    categories = [r for r in rows if r["measure"] in dict(profile.CATEGORIES).values()]
    assert len(categories) == len(profile.CATEGORIES)
    whole = next(r for r in rows if r["measure"] == "the whole pass, profiled")
    values = [r[side] for r in categories]
    assert all(v >= -1e-6 for v in values)
    assert sum(values) == pytest.approx(whole[side], rel=1e-6)
    assert sum(r["shares"][0 if side == "ours" else 1] for r in categories) == \
        pytest.approx(1.0)


def test_our_profiled_pass_divides_into_categories_that_sum_to_it(tmp_path, small_bert_dir):
    record = profile.profile_ours({**TINY, "workdir": str(tmp_path),
                                   "encoder": str(small_bert_dir)})
    assert record["test_sentences"] == 8 and record["ops"] > 50
    # no "activation": where oneDNN fuses GELU into the feed-forward matmul
    # (models/bert_encoder.py), it counts as dense and its own category is empty
    for category in ("featurise", "dense", "attention", "softmax", "layer_norm", "gather",
                     "decoding"):
        assert record["seconds"][category] > 0, category
    _table_sums_to_the_pass({"ours-profile": record}, "ours")
    report = {"command": "python experiments/bench.py --only profile", "date": "today",
              "machine": "m", "device": "CPU", "cpu": record["cpu"], "rows":
              bench.rows_for("profile", {"ours-profile": record}),
              "measurements": {"ours-profile": record}}
    table = bench.markdown(report)
    assert record["cpu"] in table and "| layer norm |" in table
    assert "| comparison | measure |" not in table  # no empty table above the profile's


@pytest.mark.skipif(any(importlib.util.find_spec(m) is None for m in ("torch", "transformers")),
                    reason="the peers (torch, transformers) are not installed")
def test_the_peers_profiled_pass_divides_the_same_way(small_bert_dir):
    record = profile.profile_transformers({**TINY, "encoder_dir": str(small_bert_dir)})
    for category in ("dense", "attention", "layer_norm", "activation", "gather"):
        assert record["seconds"][category] > 0, category
    _table_sums_to_the_pass({"transformers-profile": record}, "peer")
