"""Nested frozen-dataclass configs: YAML/dict loading and type-checked ``--set key=value`` overrides.

    cfg = apply_overrides(cfg, ["model.width=0.5", "train.epochs=3", "grid.anchors=[[0.5,0.5]]"])

Unknown keys and values of the wrong type raise :class:`ConfigError` naming the key. Values are parsed as YAML
scalars/lists (``3``, ``0.5``, ``true``, ``null``, ``[1, 2]``, ``eq5``).
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from pathlib import Path
from typing import Any

import yaml


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the key."""


_SCIENTIFIC = re.compile(r"[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _hints(cls) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _coerce(value: Any, hint: Any, key: str) -> Any:
    """Check/convert ``value`` to the annotated type ``hint`` (supports int/float/str/bool, Optional, Literal,
    tuples and nested dataclasses)."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for a in args:
            if a is type(None):
                continue
            try:
                return _coerce(value, a, key)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(f"{key}: {value!r} does not match {hint}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{key}: {value!r} is not one of {list(args)}")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(v, args[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{key}: expected {len(args)} items, got {len(value)}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (a, v) in enumerate(zip(args, value, strict=True)))
    if dataclasses.is_dataclass(hint):
        if isinstance(value, hint):
            return value
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return from_dict(hint, value, prefix=key + ".")
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str) and _SCIENTIFIC.fullmatch(value.strip()):
            value = float(value)  # YAML 1.1 reads 1e-4 (no dot) as a string
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported config type {hint}")


def from_dict(cls, data: dict, prefix: str = ""):
    """Build dataclass ``cls`` from a (partial) nested dict; missing keys keep their defaults."""
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"unknown config key(s): {', '.join(prefix + k for k in sorted(unknown))}")
    base = cls()
    kwargs = {}
    for name, value in data.items():
        hint = hints[name]
        current = getattr(base, name)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            kwargs[name] = replace_nested(current, value, prefix + name + ".")
        else:
            kwargs[name] = _coerce(value, hint, prefix + name)
    return dataclasses.replace(base, **kwargs)


def replace_nested(cfg, data: dict, prefix: str = ""):
    """Return a copy of dataclass ``cfg`` with the nested dict ``data`` applied."""
    hints = _hints(type(cfg))
    names = {f.name for f in dataclasses.fields(cfg)}
    kwargs = {}
    for name, value in data.items():
        if name not in names:
            raise ConfigError(f"unknown config key: {prefix}{name} (known: {', '.join(sorted(names))})")
        current = getattr(cfg, name)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            kwargs[name] = replace_nested(current, value, prefix + name + ".")
        else:
            kwargs[name] = _coerce(value, hints[name], prefix + name)
    return dataclasses.replace(cfg, **kwargs)


def parse_override(text: str) -> dict:
    """``"a.b=3"`` -> ``{"a": {"b": 3}}`` (value parsed as YAML)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key=value")
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"override {text!r} has an empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as e:
        raise ConfigError(f"override {key}: cannot parse value {raw!r} ({e})") from e
    out: dict = {}
    node = out
    parts = key.split(".")
    for p in parts[:-1]:
        node = node.setdefault(p, {})
    node[parts[-1]] = value
    return out


def apply_overrides(cfg, overrides: list[str]):
    for text in overrides:
        cfg = replace_nested(cfg, parse_override(text))
    return cfg


def read_yaml_mapping(path: str | Path, what: str = "config") -> dict:
    """The top-level mapping of a YAML file (an empty file is ``{}``); ConfigError naming the file and the
    problem (missing, unreadable, not YAML, not a mapping). ``what`` names the kind of file in the message."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such {what} file") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read {what} ({e.strerror or e})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: invalid YAML ({' '.join(str(e).split())})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping")
    return data


def load_yaml_config(cfg, path: str | Path):
    """Apply a YAML file (nested mapping) on top of ``cfg``."""
    data = read_yaml_mapping(path)
    try:
        return replace_nested(cfg, data)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e


def to_dict(cfg) -> dict:
    """Plain nested dict (tuples as lists), for YAML/JSON."""

    def conv(v):
        if dataclasses.is_dataclass(v):
            return {f.name: conv(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple | list):
            return [conv(x) for x in v]
        return v

    return conv(cfg)
