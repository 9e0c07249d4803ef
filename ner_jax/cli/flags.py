"""Command-line values into config dataclasses: flags named like fields, `field=value` overrides."""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from typing import Any

from absl import app, flags

TRUE, FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")
NONE = "none"  # the value of an optional field that sets it to None
ITEMS = ":"  # separates a tuple's items: `,` already separates the assignments of a list flag


def field_types(cls: type) -> dict[str, Any]:
    """Field name -> type of a dataclass, resolved (the configs' modules postpone annotations)."""
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def config_from_flags(
    cls: type,
    *,
    prefix: str = "",
    renames: Mapping[str, str] | None = None,
    flag_values: flags.FlagValues = flags.FLAGS,
    **overrides: Any,
):
    """A `cls` whose fields take the values of the flags named like them (`prefix` + name).

    `renames` maps a field to its flag where the names differ; `overrides` gives fields their
    values outright (a flag that needs more than the conversions here, or none). A field without
    a flag, or whose flag is None (not given), keeps the dataclass default, so that the default
    lives in one place. List flags become tuples: the configs are frozen, hence hashable."""
    renames = dict(renames or {})
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted((set(renames) | set(overrides)) - set(names))
    if unknown:
        raise TypeError(f"{cls.__name__} has no fields {unknown}")
    missing = [flag for flag in renames.values() if flag not in flag_values]
    if missing:  # a rename names its flag explicitly: a typo must not pass as "no flag"
        raise TypeError(f"no flags {missing} for {cls.__name__}")
    values = {}
    for name in names:
        flag = renames.get(name, prefix + name)
        if name in overrides:
            values[name] = overrides[name]
        elif flag in flag_values and flag_values[flag].value is not None:
            value = flag_values[flag].value
            values[name] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


def parse_value(kind: Any, text: str) -> Any:
    """`text` as a value of type `kind`: str, int, float, bool (true/false, yes/no, on/off, 1/0),
    `X | None` ("none" for None), `tuple[X, ...]` or `tuple[X, Y]` (items separated by ":")."""
    if kind is str or kind is Any:
        return text
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        return _parse_union(typing.get_args(kind), text)
    if origin is tuple:
        return _parse_tuple(typing.get_args(kind), text)
    if kind is bool:
        if text.lower() in TRUE + FALSE:
            return text.lower() in TRUE
        raise ValueError(f"{text!r} is not a boolean ({'/'.join(TRUE + FALSE)})")
    if kind in (int, float):
        return kind(text)
    raise TypeError(f"values of type {kind} cannot be given as text")


def _parse_union(kinds: tuple, text: str) -> Any:
    others = [k for k in kinds if k is not type(None)]
    if len(others) < len(kinds) and text.lower() == NONE:
        return None
    if len(others) != 1:
        raise TypeError(f"values of type {' | '.join(map(str, kinds))} cannot be given as text")
    return parse_value(others[0], text)


def _parse_tuple(kinds: tuple, text: str) -> tuple:
    items = text.split(ITEMS) if text else []
    if len(kinds) == 2 and kinds[1] is Ellipsis:
        return tuple(parse_value(kinds[0], item) for item in items)
    if len(items) != len(kinds):
        raise ValueError(f"{text!r} is not {len(kinds)} values separated by {ITEMS!r}")
    return tuple(parse_value(k, item) for k, item in zip(kinds, items, strict=True))


def override(config: Any, assignments: Iterable[str], option: str = "--set") -> Any:
    """`config` (a dataclass) with `field=value` assignments applied, each value parsed as the
    field's type (see parse_value). A malformed assignment, an unknown field or a value that does
    not parse or that the config refuses is an app.UsageError naming `option` and the field."""
    kinds, assignments = field_types(type(config)), list(assignments)
    changes = {}
    for assignment in assignments:
        name, equals, text = assignment.partition("=")
        if not equals:
            raise app.UsageError(f"{option} {assignment!r}: expected FIELD=VALUE")
        if name not in kinds:
            raise app.UsageError(
                f"{option} {assignment}: {type(config).__name__} has no field {name!r}; "
                f"fields: {', '.join(kinds)}"
            )
        try:
            changes[name] = parse_value(kinds[name], text)
        except (TypeError, ValueError) as error:
            raise app.UsageError(f"{option} {assignment}: bad value for {name}: {error}") from None
    try:
        return dataclasses.replace(config, **changes)
    except (TypeError, ValueError) as error:  # the config's own checks (__post_init__)
        raise app.UsageError(f"{option} {', '.join(assignments)}: {error}") from None
