"""Explicit state as plain data: numbers, strings, lists, dicts and numpy arrays.

Stateful parts of ingest (tracker, tracklet and encounter builders, cut detector, body
sampler, the camera processor) describe themselves with ``to_state()`` and come back
with ``from_state()``. This module gives them two things:

* :func:`to_plain` / :func:`from_plain`: a record (dataclass, tuple, datetime, enum,
  dict with int keys...) to plain data and back, **directed by the declared type**:
  the data never names a class, so nothing in it can choose what gets built.
* :func:`pack` / :func:`unpack`: a plain tree to bytes and back, as a JSON document
  (arrays replaced by ``{"$array": "a0"}``) followed by an ``.npz`` of the arrays, read
  with ``allow_pickle=False`` (object arrays are refused both ways).

Floats survive exactly (JSON keeps ``repr`` digits; NaN and infinities are allowed),
datetimes as ISO 8601 text with their offset and microseconds.
"""

from __future__ import annotations

import dataclasses
import enum
import io
import json
import struct
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import numpy as np

ARRAY_KEY = "$array"
_LENGTH = struct.Struct(">I")


class StateError(ValueError):
    """State that does not have the shape its type declares, or bytes that are not a
    packed state."""


def to_plain(value: Any) -> Any:
    """``value`` as plain data (arrays stay arrays; see :func:`from_plain` for the way
    back). Dataclasses become dicts of their fields, tuples lists, dicts lists of
    ``[key, value]`` pairs (keys need not be strings), datetimes ISO text, enums their
    value."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise StateError("object arrays are not state")
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return to_plain(value.value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, list | tuple):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return [[to_plain(k), to_plain(v)] for k, v in value.items()]
    raise StateError(f"{type(value).__name__} is not plain state")


def from_plain(tp: Any, value: Any, where: str = "state") -> Any:
    """The ``tp`` that :func:`to_plain` made ``value`` from; :class:`StateError` (naming
    ``where``) when it does not fit."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin is typing.Union or origin is types.UnionType:
        if value is None and type(None) in args:
            return None
        options = [a for a in args if a is not type(None)]
        if len(options) != 1:
            raise StateError(f"{where}: ambiguous type {tp}")
        return from_plain(options[0], value, where)
    if tp is np.ndarray or origin is np.ndarray:
        if not isinstance(value, np.ndarray):
            raise StateError(f"{where}: expected an array, got {type(value).__name__}")
        return value
    if origin is tuple:
        items = _sequence(value, where)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_plain(args[0], v, f"{where}[{i}]") for i, v in enumerate(items))
        if len(args) != len(items):
            raise StateError(f"{where}: expected {len(args)} items, got {len(items)}")
        return tuple(
            from_plain(a, v, f"{where}[{i}]")
            for i, (a, v) in enumerate(zip(args, items, strict=True))
        )
    if origin is list:
        return [
            from_plain(args[0], v, f"{where}[{i}]") for i, v in enumerate(_sequence(value, where))
        ]
    if origin is dict:
        out = {}
        for pair in _sequence(value, where):
            if not isinstance(pair, list) or len(pair) != 2:
                raise StateError(f"{where}: expected [key, value] pairs")
            key = from_plain(args[0], pair[0], f"{where} key")
            out[key] = from_plain(args[1], pair[1], f"{where}[{key!r}]")
        return out
    if isinstance(tp, type):
        return _scalar_or_record(tp, value, where)
    raise StateError(f"{where}: type {tp} is not supported")


def _sequence(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise StateError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _scalar_or_record(tp: type, value: Any, where: str) -> Any:
    if tp is bool:
        if not isinstance(value, bool):
            raise StateError(f"{where}: expected true/false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise StateError(f"{where}: expected an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise StateError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise StateError(f"{where}: expected text, got {type(value).__name__}")
        return value
    if issubclass(tp, datetime):
        try:
            return datetime.fromisoformat(value)
        except (TypeError, ValueError) as exc:
            raise StateError(f"{where}: expected an ISO time, got {value!r}") from exc
    if issubclass(tp, enum.Enum):
        try:
            return tp(value)
        except ValueError as exc:
            raise StateError(f"{where}: {exc}") from exc
    if dataclasses.is_dataclass(tp):
        return record_from_plain(tp, value, where)
    raise StateError(f"{where}: type {tp.__name__} is not supported")


def record_from_plain(tp: type, value: Any, where: str) -> Any:
    """A dataclass ``tp`` from the dict of its fields (every field required)."""
    if not isinstance(value, dict):
        raise StateError(f"{where}: expected the fields of {tp.__name__}")
    hints = typing.get_type_hints(tp)
    fields = dataclasses.fields(tp)
    missing = [f.name for f in fields if f.name not in value]
    extra = sorted(set(value) - {f.name for f in fields})
    if missing or extra:
        raise StateError(f"{where}: {tp.__name__} fields missing {missing}, unknown {extra}")
    made = {f.name: from_plain(hints[f.name], value[f.name], f"{where}.{f.name}") for f in fields}
    obj = tp(**{k: v for k, v in made.items() if _field(tp, k).init})
    for f in fields:
        if not f.init:
            object.__setattr__(obj, f.name, made[f.name])
    return obj


def _field(tp: type, name: str) -> dataclasses.Field[Any]:
    return next(f for f in dataclasses.fields(tp) if f.name == name)


def attrs_to_state(obj: object, spec: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes ``spec`` names (name -> declared type), as plain data."""
    return {name: to_plain(getattr(obj, name)) for name in spec}


def attrs_from_state(obj: object, spec: Mapping[str, Any], state: Any, where: str) -> None:
    """Set the attributes ``spec`` names on ``obj`` from ``state`` (all required)."""
    if not isinstance(state, dict):
        raise StateError(f"{where}: expected a dict, got {type(state).__name__}")
    missing = sorted(set(spec) - set(state))
    if missing:
        raise StateError(f"{where}: missing {missing}")
    for name, tp in spec.items():
        setattr(obj, name, from_plain(tp, state[name], f"{where}.{name}"))


def pack(tree: Any) -> bytes:
    """A plain tree (dicts with string keys, lists, scalars, arrays) as bytes: the JSON
    length (4 bytes), the JSON, then an ``.npz`` of the arrays."""
    arrays: dict[str, np.ndarray] = {}

    def lift(node: Any) -> Any:
        if isinstance(node, np.ndarray):
            if node.dtype.hasobject:
                raise StateError("object arrays are not state")
            name = f"a{len(arrays)}"
            arrays[name] = node
            return {ARRAY_KEY: name}
        if isinstance(node, dict):
            if ARRAY_KEY in node:
                raise StateError(f"{ARRAY_KEY!r} is a reserved key")
            return {str(k): lift(v) for k, v in node.items()}
        if isinstance(node, list | tuple):
            return [lift(v) for v in node]
        if node is None or isinstance(node, bool | int | float | str):
            return node
        raise StateError(f"{type(node).__name__} is not plain state (use to_plain)")

    document = json.dumps(lift(tree), separators=(",", ":")).encode()
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    return _LENGTH.pack(len(document)) + document + buffer.getvalue()


def unpack(blob: bytes) -> Any:
    """The tree :func:`pack` wrote; :class:`StateError` when ``blob`` is not one."""
    if len(blob) < _LENGTH.size:
        raise StateError("too short to be packed state")
    (length,) = _LENGTH.unpack_from(blob)
    end = _LENGTH.size + length
    if end > len(blob):
        raise StateError("packed state is cut short")
    try:
        document = json.loads(blob[_LENGTH.size : end].decode())
        with np.load(io.BytesIO(blob[end:]), allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (ValueError, OSError, UnicodeDecodeError, EOFError) as exc:
        raise StateError(f"not packed state: {type(exc).__name__}: {exc}") from exc

    def lower(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {ARRAY_KEY}:
                name = node[ARRAY_KEY]
                if name not in arrays:
                    raise StateError(f"packed state names a missing array {name!r}")
                return arrays[name]
            return {k: lower(v) for k, v in node.items()}
        if isinstance(node, list):
            return [lower(v) for v in node]
        return node

    return lower(document)
