"""The search space as data: ``spaces/*.toml`` loaded into ``Float``/``Choice`` params.

The space is the one definition both backends translate (Optuna distributions, Keras Tuner
hyperparameters). Parameter names are fixed because the model builder gives them meaning:
``dropout`` (rate after each hidden block), ``regularizer`` (which kernel penalty), ``l1`` and
``l2`` (its strengths), ``weight_decay`` (the optimizer's decoupled weight decay) and
``max_norm`` (a MaxNorm constraint on every Dense kernel). A conditional param (``when``) is
sampled only when an earlier choice takes one of the listed values, so ``l1`` does not exist in
a trial whose regularizer is ``l2``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._schema import Field, read_table, read_toml, type_name
from .errors import Problem, SpecError

PARAM_NAMES = ("dropout", "regularizer", "l1", "l2", "weight_decay", "max_norm")
REGULARIZERS = ("none", "l1", "l2", "l1_l2")
#: Which strength each regularizer kind uses; the builder and the space checks share it.
USES = {"none": (), "l1": ("l1",), "l2": ("l2",), "l1_l2": ("l1", "l2")}


@dataclass(frozen=True)
class Float:
    """A float in [low, high], sampled on a log scale when ``log``."""

    name: str
    low: float
    high: float
    log: bool = False
    when: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "float", "low": self.low, "high": self.high}
        if self.log:
            out["log"] = True
        if self.when:
            out["when"] = {k: list(v) for k, v in self.when.items()}
        return out


@dataclass(frozen=True)
class Choice:
    """One of a fixed list of strings."""

    name: str
    choices: tuple[str, ...]
    when: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "choice", "choices": list(self.choices)}
        if self.when:
            out["when"] = {k: list(v) for k, v in self.when.items()}
        return out


Param = Float | Choice


@dataclass(frozen=True)
class Space:
    """Ordered params; a param's condition refers only to params before it."""

    params: tuple[Param, ...]

    def __getitem__(self, name: str) -> Param:
        for p in self.params:
            if p.name == name:
                return p
        raise KeyError(name)

    def __contains__(self, name: str) -> bool:
        return any(p.name == name for p in self.params)

    def is_active(self, param: Param, values: dict[str, Any]) -> bool:
        """True when every condition of ``param`` holds for the values sampled so far."""
        return all(values.get(k) in allowed for k, allowed in param.when.items())

    def to_dict(self) -> dict[str, Any]:
        return {p.name: p.to_dict() for p in self.params}


_FLOAT_FIELDS = {
    "type": Field((str,)),
    "low": Field((float,), help="a number"),
    "high": Field((float,), help="a number"),
    "log": Field((bool,), False),
    "when": Field((dict,), {}),
}
_CHOICE_FIELDS = {
    "type": Field((str,)),
    "choices": Field((list,), help="a non-empty array of strings"),
    "when": Field((dict,), {}),
}


def load_space(path: str | Path) -> Space:
    """Read and validate a space file; raise ``SpecError`` listing every problem."""
    path = Path(path)
    return space_from_dict(read_toml(path, "space file not found"), path)


def space_from_dict(doc: Any, path: str | Path = "<space>", prefix: str = "") -> Space:
    """Validate a space given as a dict (the TOML document, or ``Space.to_dict()``)."""
    problems: list[Problem] = []
    params: list[Param] = []
    if not isinstance(doc, dict):
        raise SpecError(path, [Problem(prefix, f"must be a table, got {type_name(doc)}")])
    if not doc:
        problems.append(Problem(prefix, f"the space is empty; declare some of {', '.join(PARAM_NAMES)}"))
    for name, table in doc.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in PARAM_NAMES:
            problems.append(Problem(key, f"unknown parameter; allowed: {', '.join(PARAM_NAMES)}"))
            continue
        param = _read_param(name, table, key, problems)
        if param is not None:
            _check_when(param, params, key, problems)
            params.append(param)
    space = Space(tuple(params))
    if not problems:
        _check_regularizer_strengths(space, prefix, problems)
    if problems:
        raise SpecError(path, problems)
    return space


def _read_param(name: str, table: Any, key: str, problems: list[Problem]) -> Param | None:
    if not isinstance(table, dict):
        problems.append(Problem(key, f"must be a table, got {type_name(table)}"))
        return None
    kind = table.get("type")
    want = "choice" if name == "regularizer" else "float"
    if kind != want:
        problems.append(Problem(f"{key}.type", f"must be {want!r} for {name}, got {kind!r}"))
        return None
    before = len(problems)
    if kind == "float":
        v = read_table(table, _FLOAT_FIELDS, key, problems)
        if len(problems) > before:
            return None
        low, high, log = v["low"], v["high"], v["log"]
        if not (math.isfinite(low) and math.isfinite(high)):
            problems.append(Problem(key, f"bounds must be finite, got low={low}, high={high}"))
        elif low >= high:
            problems.append(Problem(f"{key}.low", f"low < high must hold, got low={low}, high={high}"))
        elif log and low <= 0:
            problems.append(Problem(f"{key}.low", f"low > 0 must hold for log = true "
                                                  f"(a log range cannot touch 0), got low={low}"))
        elif name == "dropout" and not (0 <= low and high < 1):
            problems.append(Problem(key, f"dropout bounds must lie in [0, 1), got low={low}, "
                                         f"high={high}"))
        elif name in ("l1", "l2") and low < 0:
            problems.append(Problem(f"{key}.low", f"a penalty strength must be >= 0, got low={low}"))
        elif name == "weight_decay" and low < 0:
            problems.append(Problem(f"{key}.low", f"a weight decay must be >= 0, got low={low}"))
        elif name == "max_norm" and low <= 0:
            problems.append(Problem(f"{key}.low", f"a max-norm bound must be > 0, got low={low}"))
        if len(problems) > before:
            return None
        return Float(name, low, high, log, _when(v["when"]))
    v = read_table(table, _CHOICE_FIELDS, key, problems)
    if len(problems) > before:
        return None
    choices = v["choices"]
    if not choices:
        problems.append(Problem(f"{key}.choices", f"must not be empty; allowed values: "
                                                  f"{', '.join(REGULARIZERS)}"))
        return None
    bad = [c for c in choices if c not in REGULARIZERS]
    if bad:
        problems.append(Problem(f"{key}.choices", f"unknown value(s) {bad!r}; allowed: "
                                                  f"{', '.join(REGULARIZERS)}"))
        return None
    if len(set(choices)) != len(choices):
        problems.append(Problem(f"{key}.choices", f"values must be distinct, got {choices!r}"))
        return None
    return Choice(name, tuple(choices), _when(v["when"]))


def _when(raw: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    return {k: tuple(v) if isinstance(v, list) else (v,) for k, v in raw.items()}


def _check_when(param: Param, earlier: list[Param], key: str, problems: list[Problem]) -> None:
    choices = {p.name: p for p in earlier if isinstance(p, Choice)}
    for cond, values in param.when.items():
        ckey = f"{key}.when.{cond}"
        if cond not in choices:
            problems.append(Problem(ckey, f"a condition must name a choice declared before "
                                          f"{param.name}; declared: {', '.join(choices) or 'none'}"))
            continue
        if not values or not all(isinstance(v, str) for v in values):
            problems.append(Problem(ckey, f"must be a non-empty array of strings, got {list(values)!r}"))
            continue
        bad = [v for v in values if v not in choices[cond].choices]
        if bad:
            problems.append(Problem(ckey, f"unknown value(s) {bad!r}; {cond} allows "
                                          f"{', '.join(choices[cond].choices)}"))


def _check_regularizer_strengths(space: Space, prefix: str, problems: list[Problem]) -> None:
    """Each regularizer kind the space can pick must find the strengths it uses."""
    def key(name: str) -> str:
        return f"{prefix}.{name}" if prefix else name

    if "regularizer" not in space:
        for name in ("l1", "l2"):
            if name in space:
                problems.append(Problem(key(name), "needs a 'regularizer' choice to say when "
                                                   "it applies"))
        return
    for kind in space["regularizer"].choices:  # type: ignore[union-attr]
        for strength in USES[kind]:
            if strength not in space:
                problems.append(Problem(key("regularizer.choices"),
                                        f"{kind!r} needs a '{strength}' parameter in the space"))
            elif kind not in space[strength].when.get("regularizer", (kind,)):
                problems.append(Problem(key(f"{strength}.when"),
                                        f"{strength} must be active when regularizer = {kind!r}"))
