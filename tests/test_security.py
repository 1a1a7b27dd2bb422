"""Security and privacy guarantees of the in-process path: no network, no names in logs or errors."""

from __future__ import annotations

import ast
import logging
import socket
from pathlib import Path

import pytest

import spark_ner
from spark_ner.config import load_config
from spark_ner.ensemble import load_ensemble

MARKER = "Zqxmarker"


def test_local_config_opens_no_network_connection(tiny_config_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object) -> None:
        attempts.append(address)
        raise OSError("network blocked by test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: refuse(None, a))  # type: ignore[arg-type]
    ens = load_ensemble(load_config(tiny_config_path))
    out = ens.label(["John Smith", None, "Acme Corp"])
    assert len(out) == 3
    assert attempts == []


def test_no_names_in_logs_or_errors(
    tiny_config_path: Path, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG)
    logging.getLogger().setLevel(logging.DEBUG)
    ens = load_ensemble(load_config(tiny_config_path))
    names = [MARKER, f"{MARKER} & Sons Ltd", f"MR {MARKER.upper()}", 7, f"{MARKER}\x00"]
    out = ens.label(names, members=True)
    # the marker is in the output table...
    assert any(MARKER in e["text"] for row in out.entities if row for e in row)
    # ...and nowhere else: log records, stdout, stderr, error column
    captured = capfd.readouterr()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for where, text in (("logs", logged), ("stdout", captured.out), ("stderr", captured.err)):
        assert MARKER.lower() not in text.lower(), where
    assert all(MARKER.lower() not in str(e).lower() for e in out.error)


@pytest.mark.parametrize("fault", ["missing folder", "unmapped label", "pin mismatch"])
def test_config_errors_do_not_echo_names(
    fault: str,
    tiny_models: tuple[Path, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`spark-ner label` over a table of names holding the marker, with a bad config: the refusal
    (one stderr line, logs at DEBUG, stdout) names the member and the fix, never a name."""
    import pandas as pd

    from spark_ner import cli
    from spark_ner.spark import job as jobs

    src = tmp_path / "customers.parquet"
    names = [MARKER, f"{MARKER} & Sons Ltd", f"MR {MARKER.upper()}", None]
    pd.DataFrame({"id": range(len(names)), "name": names}).to_parquet(src)
    assert MARKER in "".join(pd.read_parquet(src)["name"].dropna())  # the names are there to leak
    bert, roberta = tiny_models
    conf = tmp_path / "bad.toml"
    if fault == "missing folder":
        member, expected = f'path = "{tmp_path / "missing"}"', "does not exist"
    elif fault == "unmapped label":  # the RoBERTa member's PERSON/COMPANY/PLACE labels need a label_map
        member, expected = f'path = "{roberta}"', "maps to no canonical tag"
    else:
        member, expected = f'path = "{bert}"\nsha256 = "{"0" * 64}"', "but the config pins"
    conf.write_text(f'[[models]]\nname = "m"\n{member}\n', encoding="utf-8")
    monkeypatch.setattr(jobs, "get_session", lambda *a, **k: pytest.fail("a Spark session was started"))
    caplog.set_level(logging.DEBUG)
    argv = ["-vv", "label", "--input", str(src), "--output", str(tmp_path / "out"), "--config", str(conf)]
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert expected in captured.err and "member 'm'" in captured.err
    logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
    for where, text in (("stderr", captured.err), ("stdout", captured.out), ("logs", logged)):
        assert MARKER.lower() not in text.lower(), where


def _loads(tree: ast.AST) -> list[tuple[int, bool]]:
    """Every ``X.from_pretrained(...)`` call (models, tokenizers, configs): (line, passes
    ``trust_remote_code=False`` explicitly)."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "from_pretrained":
            flag = next((k.value for k in node.keywords if k.arg == "trust_remote_code"), None)
            out.append((node.lineno, isinstance(flag, ast.Constant) and flag.value is False))
    return out


def test_every_load_in_the_package_passes_trust_remote_code_false() -> None:
    """SECURITY.md: ``trust_remote_code=False`` is passed explicitly on every load, not left to a
    library default that a future transformers could change."""
    package = Path(spark_ner.__file__).parent
    calls: list[str] = []
    missing: list[str] = []
    for path in sorted(package.rglob("*.py")):
        for line, explicit in _loads(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            where = f"{path.relative_to(package.parent)}:{line}"
            calls.append(where)
            if not explicit:
                missing.append(where)
    # the scan must see the loads it guards: tokenizer, model (serve and train), hub config, rampart
    assert len(calls) >= 6, calls
    assert not missing, f"from_pretrained without trust_remote_code=False: {missing}"


def test_the_load_scan_catches_a_missing_or_true_flag() -> None:
    code = "\n".join(
        f"M.from_pretrained(p{flag})" for flag in ("", ", trust_remote_code=True", ", trust_remote_code=False")
    )
    assert _loads(ast.parse(code)) == [(1, False), (2, False), (3, True)]


def test_pinned_weights_are_checked_again_in_the_executor(spark, tiny_models, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The driver checked the pin; then the weights change (a node with another copy, a file
    replaced mid-job). The executor's own check (``load_ensemble`` -> ``validate_sources`` in the
    Python worker) refuses them: the task fails naming the file and both digests, no row is
    labelled by the wrong weights."""
    import hashlib
    import shutil

    from conftest import write_config

    from spark_ner.spark.udf import with_ner_labels

    bert = Path(shutil.copytree(tiny_models[0], tmp_path / "bert"))
    weights = bert / "model.safetensors"
    pinned = hashlib.sha256(weights.read_bytes()).hexdigest()
    conf = write_config(tmp_path / "pinned.toml", bert, tiny_models[1])
    conf.write_text(conf.read_text().replace(f'path = "{bert}"', f'path = "{bert}"\nsha256 = "{pinned}"'))
    cfg = load_config(conf)
    assert cfg.models[0].sha256 == pinned
    transform = with_ner_labels("name", cfg)  # the driver's check passes here
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01  # still a valid safetensors file, other weights
    weights.write_bytes(bytes(data))
    changed = hashlib.sha256(bytes(data)).hexdigest()
    df = spark.createDataFrame([(1, "John Smith"), (2, "Acme Corp")], "id long, name string")
    with pytest.raises(Exception) as err:
        df.transform(transform).collect()
    text = str(err.value)
    assert f"WeightsMismatchError: member 'bert': weights {weights} have sha256 {changed}" in text
    assert f"but the config pins {pinned}" in text
