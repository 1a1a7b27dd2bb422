"""The strict schema: defaults validate, bad keys/values/types name the key, precedence holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from spark_ner.config import Precision, Strategy, load_config
from spark_ner.errors import ConfigError, LabelMapError, ModelSourceError, UnsafeWeightsError, WeightsMismatchError
from spark_ner.models import canonical_tag, file_sha256, validate_sources

CONF = Path(__file__).resolve().parents[1] / "conf"


@pytest.mark.parametrize("path", sorted(CONF.glob("*.toml")), ids=lambda p: p.name)
def test_every_file_in_conf_validates(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.models and cfg.ensemble.batch_size > 0


def test_defaults_are_conf_default() -> None:
    assert load_config().to_dict() == load_config(CONF / "default.toml").to_dict()


def _write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(text, encoding="utf-8")
    return p


MODEL = '[[models]]\nname = "a"\npath = "./a"\n'


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[ensemble]\nbatchsize = 3\n" + MODEL, "ensemble.'batchsize'"),
        ("[ensemble]\nstrategy = 'median'\n" + MODEL, "mean, max, vote"),
        ("[ensemble]\nprecision = 'fp8'\n" + MODEL, "auto, fp16, bf16, fp32"),
        ("[ensemble]\ncpu_parallel = 'threads'\n" + MODEL, "'threads' is not allowed; choose one of: batches, ops"),
        ("[ensemble]\nbatch_size = '3'\n" + MODEL, "ensemble.batch_size must be an integer"),
        ("[ensemble]\nbatch_size = 0\n" + MODEL, "out of range"),
        ("[ensemble]\ncase_restore = 1\n" + MODEL, "true or false"),
        ("[ensemble]\nhuge_pages = 'off'\n" + MODEL, "ensemble.huge_pages must be true or false"),
        (MODEL + "colour = 'red'\n", "models[0].'colour'"),
        (MODEL + "weight = -1\n", "models[0].weight"),
        (MODEL + "sha256 = 'abc'\n", "64 hex digits"),
        (MODEL + "[models.label_map]\nX = 'PERSON'\n", "PER, ORG, LOC, MISC, O"),
        ("[ensemble]\n", "at least one [[models]]"),
        ("extra = 1\n" + MODEL, "'extra'"),
        (MODEL + MODEL, "unique"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(_write(tmp_path, text))
    assert needle in str(err.value)


def test_overrides_and_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    p = _write(tmp_path, "[ensemble]\nbatch_size = 8\n" + MODEL)
    cfg = load_config(p, overrides={"ensemble.batch_size": 512, "ensemble.strategy": "vote", "models.a.weight": "2.5"})
    assert cfg.ensemble.batch_size == 512 and cfg.ensemble.strategy is Strategy.VOTE
    assert cfg.models[0].weight == 2.5
    assert cfg.models[0].path == str((tmp_path / "a").resolve())  # ./ is relative to the file
    monkeypatch.setenv("SPARK_NER_CONFIG", str(p))
    assert load_config().ensemble.batch_size == 8  # env beats defaults
    assert load_config(CONF / "default.toml").ensemble.batch_size == 64  # argument beats env
    monkeypatch.setenv("SPARK_NER_MODEL_DIR", str(tmp_path / "models"))
    assert load_config(CONF / "default.toml").models[0].path == str(tmp_path / "models" / "minilm-names")
    with pytest.raises(ConfigError, match=r"no member named 'zz'"):
        load_config(p, overrides={"models.zz.weight": 1})
    with pytest.raises(ConfigError, match=r"ensemble\.precision"):
        load_config(p, overrides={"ensemble.precision": "half"})
    assert load_config(p, overrides={"ensemble.precision": "fp16"}).ensemble.precision is Precision.FP16


def test_fingerprint_ignores_speed_knobs_not_labels(tiny_config_path: Path) -> None:
    base = load_config(tiny_config_path)
    assert base.fingerprint() == load_config(tiny_config_path, {"ensemble.batch_size": 1}).fingerprint()
    assert base.fingerprint() != load_config(tiny_config_path, {"models.bert.weight": 2.0}).fingerprint()
    assert base.fingerprint() != load_config(tiny_config_path, {"ensemble.strategy": "max"}).fingerprint()


@pytest.mark.parametrize(
    ("label", "label_map", "tag"),
    [
        ("B-PER", {}, "B-PER"),
        ("I-ORG", {}, "I-ORG"),
        ("S-LOC", {}, "B-LOC"),  # BIOES single
        ("E-MISC", {}, "I-MISC"),  # BIOES end
        ("L-PER", {}, "I-PER"),  # BILOU last
        ("U-ORG", {}, "B-ORG"),  # BILOU unit
        ("PER", {}, "I-PER"),  # plain IO
        ("O", {}, "O"),
        ("B-GIVEN_NAME", {"GIVEN_NAME": "PER"}, "B-PER"),
        ("B-EMAIL", {"*": "O"}, "O"),
        ("I-CITY", {"CITY": "LOC", "*": "O"}, "I-LOC"),
        ("COMPANY", {"COMPANY": "ORG"}, "I-ORG"),
    ],
)
def test_label_schemes(label: str, label_map: dict[str, str], tag: str) -> None:
    assert canonical_tag(label, label_map, "m") == tag


def test_unmapped_label_is_a_config_error() -> None:
    with pytest.raises(LabelMapError, match=r"GIVEN_NAME.*label_map"):
        canonical_tag("B-GIVEN_NAME", {}, "rampart")


def test_sources_fail_fast_with_the_path_and_fix(tmp_path: Path, tiny_models: tuple[Path, Path]) -> None:
    bert, _ = tiny_models
    missing = tmp_path / "nope"
    cfg = load_config(_write(tmp_path, f'[[models]]\nname = "a"\npath = "{missing}"\n'))
    with pytest.raises(ModelSourceError, match=r"nope.*build-models"):
        validate_sources(cfg)
    hub = load_config(_write(tmp_path, '[[models]]\nname = "a"\npath = "dslim/bert-base-NER"\n'))
    with pytest.raises(ModelSourceError, match=r"dslim/bert-base-NER.*offline"):
        validate_sources(hub)
    good = file_sha256(bert / "model.safetensors")
    pinned = load_config(_write(tmp_path, f'[[models]]\nname = "a"\npath = "{bert}"\nsha256 = "{good}"\n'))
    assert validate_sources(pinned)[0].digest
    wrong = "0" * 64
    bad = load_config(_write(tmp_path, f'[[models]]\nname = "a"\npath = "{bert}"\nsha256 = "{wrong}"\n'))
    with pytest.raises(WeightsMismatchError, match=f"{good}.*{wrong}"):
        validate_sources(bad)


def test_pickle_only_folder_is_refused(tmp_path: Path, tiny_models: tuple[Path, Path]) -> None:
    bert, _ = tiny_models
    folder = tmp_path / "pickled"
    folder.mkdir()
    (folder / "config.json").write_bytes((bert / "config.json").read_bytes())
    (folder / "pytorch_model.bin").write_bytes(b"not really")
    cfg = load_config(_write(tmp_path, f'[[models]]\nname = "p"\npath = "{folder}"\n'))
    with pytest.raises(UnsafeWeightsError, match=r"pickled.*allow_pickle"):
        validate_sources(cfg)


def test_base_takes_the_members_and_merges_ensemble_keys(tmp_path: Path) -> None:
    """``base``: the base's [ensemble] under this file's keys, its [[models]] unless this file has
    its own; relative member paths of a base resolve against the base's folder."""
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "base.toml").write_text(
        '[ensemble]\nstrategy = "vote"\nbatch_size = 16\n\n'
        '[[models]]\nname = "a"\npath = "./a"\nweight = 1.5\n\n[[models]]\nname = "b"\npath = "/abs/b"\nweight = 0.5\n',
        encoding="utf-8",
    )
    child = _write(tmp_path, 'base = "shared/base.toml"\n\n[ensemble]\nbatch_size = 1024\n')
    cfg = load_config(child)
    assert cfg.ensemble.batch_size == 1024 and cfg.ensemble.strategy == Strategy.VOTE
    assert [(m.name, m.path, m.weight) for m in cfg.models] == [("a", str(shared / "a"), 1.5), ("b", "/abs/b", 0.5)]
    # overrides apply after the merge
    assert load_config(child, {"models.a.weight": 2.0}).models[0].weight == 2.0
    # a file with its own members uses those
    own = _write(tmp_path, 'base = "shared/base.toml"\n\n[[models]]\nname = "c"\npath = "/c"\n')
    assert [m.name for m in load_config(own).models] == ["c"]
    # "default": the package's defaults
    default = load_config()
    assert [(m.name, m.weight) for m in load_config(_write(tmp_path, 'base = "default"\n')).models] == [
        (m.name, m.weight) for m in default.models
    ]


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('base = "nope.toml"\n', "does not exist. Fix:"),
        ('base = "c.toml"\n', "leads back to"),
        ("base = 3\n", 'expected "default" or the path'),
    ],
)
def test_bad_base_names_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        load_config(_write(tmp_path, text))
