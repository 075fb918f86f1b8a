"""Config serialisation on tiny dataclasses of its own: YAML and --set overrides, type checks, errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import pytest

from keras_lmk.training.config_io import (
    ConfigError,
    apply_overrides,
    from_dict,
    load_yaml_config,
    parse_override,
    to_dict,
)


@dataclass(frozen=True)
class Inner:
    width: float = 1.0
    depth: int = 2
    mode: Literal["a", "b"] = "a"
    path: str | None = None
    pairs: tuple[tuple[float, float], ...] = ((0.5, 0.5),)


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    flag: bool = False
    inner: Inner = field(default_factory=Inner)


def test_parse_override_nests_keys_and_parses_yaml_values():
    assert parse_override("inner.depth=3") == {"inner": {"depth": 3}}
    assert parse_override("a.b.c=[1, 2]") == {"a": {"b": {"c": [1, 2]}}}
    assert parse_override("x=null") == {"x": None} and parse_override("x=") == {"x": ""}
    assert parse_override(" flag =true") == {"flag": True}
    with pytest.raises(ConfigError, match="key=value"):
        parse_override("inner.depth")
    with pytest.raises(ConfigError, match="empty key"):
        parse_override("=3")
    with pytest.raises(ConfigError, match="cannot parse value"):
        parse_override("x=[1, 2")


def test_overrides_are_type_checked_and_fail_on_unknown_keys():
    cfg = apply_overrides(Outer(), ["inner.width=2", "inner.mode=b", "inner.pairs=[[0.25, 0.75], [1, 0]]"])
    assert cfg.inner == Inner(width=2.0, mode="b", pairs=((0.25, 0.75), (1.0, 0.0)))
    assert type(cfg.inner.width) is float  # the int 2 became a float
    assert apply_overrides(Outer(), ["inner.path=/a/b", "inner.path=null"]).inner.path is None
    for bad, problem in [
        ("inner.depth=2.5", "inner.depth"),
        ("inner.mode=c", r"inner.mode: 'c' is not one of \['a', 'b'\]"),
        ("inner.colour=1", "unknown config key: inner.colour"),
        ("flag=maybe", "flag"),
        ("inner.pairs=3", "inner.pairs: expected a list"),
    ]:
        with pytest.raises(ConfigError, match=problem):
            apply_overrides(Outer(), [bad])
    assert Outer().inner.depth == 2  # defaults untouched (frozen copies)


def test_from_dict_to_dict_round_trip():
    cfg = from_dict(Outer, {"name": "y", "inner": {"depth": 5}})
    assert cfg == Outer(name="y", inner=Inner(depth=5))
    d = to_dict(cfg)
    # tuples become lists for YAML/JSON: written out by hand
    inner = {"width": 1.0, "depth": 5, "mode": "a", "path": None, "pairs": [[0.5, 0.5]]}
    assert d == {"name": "y", "flag": False, "inner": inner}
    assert from_dict(Outer, d) == cfg
    with pytest.raises(ConfigError, match="unknown config key"):
        from_dict(Outer, {"nme": "typo"})


def test_yaml_file_applies_on_top_and_names_the_file(tmp_path):
    f = tmp_path / "exp.yaml"
    f.write_text("name: run1\ninner:\n  width: 0.5\n")
    assert load_yaml_config(Outer(), f) == Outer(name="run1", inner=Inner(width=0.5))
    f.write_text("")
    assert load_yaml_config(Outer(), f) == Outer()
    f.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_yaml_config(Outer(), f)
    f.write_text("inner:\n  depth: many\n")
    with pytest.raises(ConfigError, match=r"exp.yaml: inner.depth"):
        load_yaml_config(Outer(), f)
    f.write_text("inner: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_yaml_config(Outer(), f)
    with pytest.raises(ConfigError, match="missing.yaml: no such config file"):
        load_yaml_config(Outer(), tmp_path / "missing.yaml")
