"""A tiny table-driven checker and the TOML reader shared by the spec and space loaders.

Hand-written because the stdlib has no schema validation and the messages must name the file,
the dotted key and what is allowed; collecting every problem before raising is what
``SpecError`` is for.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Problem, SpecError

_MISSING = object()


def type_name(value: Any) -> str:
    """The TOML-ish name of a Python value's type, for messages."""
    return {bool: "boolean", int: "integer", float: "float", str: "string", list: "array",
            dict: "table"}.get(type(value), type(value).__name__)


@dataclass(frozen=True)
class Field:
    """One key of a table: its expected type(s), default and an optional extra check."""

    types: tuple[type, ...]
    default: Any = _MISSING
    check: Callable[[Any], str | None] | None = None
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is _MISSING


def key(types: type | tuple[type, ...], default: Any = _MISSING, *,
        check: Callable[[Any], str | None] | None = None, help: str = "") -> Any:
    """A dataclass field that is also a key of the file's table, so each key is declared once.

    ``default`` is both the dataclass default and the value of a key the file leaves out; a key
    without one is required. ``table_fields(cls)`` collects the ``Field`` of each such field.
    """
    types = types if isinstance(types, tuple) else (types,)
    meta = {"key": Field(types, default, check, help)}
    if default is _MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def table_fields(cls: type) -> dict[str, Field]:
    """The table schema of a dataclass declared with ``key``: its keys in declaration order."""
    return {f.name: f.metadata["key"] for f in dataclasses.fields(cls) if "key" in f.metadata}


def read_toml(path: Path, not_found: str, is_directory: str | None = None) -> Any:
    """The parsed TOML document at ``path``; a file that cannot be read or parsed raises
    ``SpecError`` with one problem saying why.

    ``not_found`` and ``is_directory`` are the messages for those cases (they name what the
    caller expected); without ``is_directory`` a directory is reported as unreadable.
    """
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SpecError(path, [Problem("", not_found)]) from None
    except IsADirectoryError as exc:
        message = is_directory or f"cannot read the file ({exc})"
        raise SpecError(path, [Problem("", message)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(path, [Problem("", f"cannot read the file ({exc})")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise SpecError(path, [Problem("", f"malformed TOML: {exc}")]) from None


def read_table(table: Any, fields: Mapping[str, Field], prefix: str,
               problems: list[Problem]) -> dict[str, Any]:
    """Check ``table`` against ``fields``; append problems, return the values with defaults.

    Unknown keys, missing required keys, wrong types and failed checks are all reported.
    Integers are accepted where a float is expected (TOML writes ``1`` for ``1.0``).
    """
    out: dict[str, Any] = {}
    if not isinstance(table, dict):
        problems.append(Problem(prefix, f"must be a table, got {type_name(table)}"))
        return out
    for key in table:
        if key not in fields:
            allowed = ", ".join(sorted(fields))
            problems.append(Problem(join(prefix, key), f"unknown key; allowed keys: {allowed}"))
    for key, field in fields.items():
        path = join(prefix, key)
        if key not in table:
            if field.required:
                problems.append(Problem(path, f"is required ({field.help or expected(field)})"))
            else:
                out[key] = field.default
            continue
        value = table[key]
        ok_types = field.types + ((int,) if float in field.types else ())
        if isinstance(value, bool) and bool not in field.types or not isinstance(value, ok_types):
            problems.append(Problem(path, f"must be {expected(field)}, got {type_name(value)} "
                                          f"{value!r}"))
            continue
        if float in field.types and isinstance(value, int) and not isinstance(value, bool):
            try:
                value = float(value)
            except OverflowError:  # a stored (JSON) spec can hold integers TOML cannot
                problems.append(Problem(path, f"must be {expected(field)}, got an integer too "
                                              f"large for one ({len(str(value))} digits)"))
                continue
        if field.check is not None:
            message = field.check(value)
            if message:
                problems.append(Problem(path, f"{message}, got {value!r}"))
                continue
        out[key] = value
    return out


def expected(field: Field) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "an array", dict: "a table"}
    return " or ".join(names[t] for t in field.types)


def join(prefix: str, key: str) -> str:
    return f"{prefix}.{key}" if prefix else key


def one_of(*allowed: str) -> Callable[[Any], str | None]:
    """A check that the value is one of ``allowed``."""
    return lambda v: None if v in allowed else f"must be one of {', '.join(map(repr, allowed))}"


def positive(v: Any) -> str | None:
    return "must be finite" if v == math.inf else None if v > 0 else "must be > 0"


def non_negative(v: Any) -> str | None:
    return "must be finite" if v == math.inf else None if v >= 0 else "must be >= 0"


def open_unit(v: Any) -> str | None:
    return None if 0 < v < 1 else "must be in (0, 1)"
