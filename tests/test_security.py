"""Security and privacy guarantees of the in-process path: no network, no names in logs or errors."""

from __future__ import annotations

import logging
import socket
from pathlib import Path

import pytest

from spark_ner.config import load_config
from spark_ner.ensemble import load_ensemble
from spark_ner.errors import SparkNerError

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


def test_config_errors_do_not_echo_names(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[[models]]\nname = "a"\npath = "{tmp_path / "missing"}"\n')
    with pytest.raises(SparkNerError) as err:
        load_ensemble(load_config(bad))
    assert "missing" in str(err.value) and MARKER not in str(err.value)
