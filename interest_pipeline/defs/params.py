"""Between Dagster's run config and the pure parameter objects of ``core``.

Each default lives once, in a frozen dataclass of ``core`` (``FusionParams``, ``LayerParams`` ...).
A Dagster ``Config`` declares a field for the launchpad with its bounds and description and takes
the default from there (``Field(default=FusionParams().alpha, ...)``); :func:`params_from_config`
turns the config back into the parameter object by field name, so no field list is copied by hand.

What an asset was built with is stored beside its table (:func:`interest_pipeline.defs.warehouse.replace_table`)
as a record, :func:`as_record`, and read back by the assets downstream with :func:`from_record`,
so they rebuild what they need exactly as the upstream asset did.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from dagster import Config

P = TypeVar("P")


def params_from_config(config: Config, params_type: type[P], **values: Any) -> P:
    """``params_type`` from the fields of ``config`` that it shares by name; ``values`` give the
    others (nested parameter objects, renamed or converted fields); the rest keep their defaults."""
    names = {f.name for f in dataclasses.fields(params_type)}  # type: ignore[arg-type]
    shared = {name: getattr(config, name) for name in type(config).model_fields if name in names and name not in values}
    return params_type(**shared, **values)


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat()
    return value


def as_record(params: Any) -> dict[str, Any]:
    """A parameter object as plain JSON-serialisable values (nested objects as nested dicts)."""
    record = _plain(params)
    if not isinstance(record, dict):
        raise TypeError(f"expected a dataclass instance, got {type(params).__name__}")
    return record


def from_record(params_type: type[P], record: Mapping[str, Any], source: str) -> P:
    """The parameter object of a stored record; every field must be there, since a default filled
    in here would silently differ from what ``source`` was built with."""
    hints = typing.get_type_hints(params_type)
    missing = [f.name for f in dataclasses.fields(params_type) if f.name not in record]  # type: ignore[arg-type]
    if missing:
        raise ValueError(f"the parameters stored for {source} lack {missing}: materialize {source} again")
    values = {}
    for f in dataclasses.fields(params_type):  # type: ignore[arg-type]
        value, kind = record[f.name], hints[f.name]
        if dataclasses.is_dataclass(kind) and isinstance(value, Mapping):
            value = from_record(kind, value, source)
        elif typing.get_origin(kind) is tuple and isinstance(value, list):
            value = tuple(value)
        values[f.name] = value
    return params_type(**values)
