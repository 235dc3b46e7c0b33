"""Property tests of the spec and space loaders: any document either loads into a valid spec
(one that round-trips) or raises ``SpecError``, never another exception."""

from __future__ import annotations

import math
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from search._schema import type_name
from search.errors import SpecError
from search.space import PARAM_NAMES, Space, load_space, space_from_dict
from search.spec import _SECTIONS, StudySpec, load_spec, spec_from_dict

from .conftest import ROOT, SPACE

FOLDER = Path(tempfile.mkdtemp(prefix="regsearch-properties-"))
(FOLDER / "space.toml").write_text(SPACE.read_text())
DEFAULT = load_spec(ROOT / "studies" / "default.toml").to_document()

SETTINGS = settings(max_examples=300, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])

# Keys the loaders know, mixed with keys they do not: random keys alone would almost never
# reach the checks behind the unknown-key ones.
SPEC_KEYS = sorted({k for fields in _SECTIONS.values() for k in fields} | set(_SECTIONS))
SPACE_KEYS = [*PARAM_NAMES, "type", "low", "high", "log", "when", "choices", "float", "choice",
              "none", "l1_l2"]
keys = st.one_of(st.sampled_from(SPEC_KEYS + SPACE_KEYS), st.text(max_size=8))

# What TOML can hold: 64-bit integers, any float (nan and inf included), strings that may carry
# any escaped character (NUL too), booleans, arrays, tables.
scalars = st.one_of(
    st.booleans(), st.integers(min_value=-2**63, max_value=2**63 - 1), st.floats(),
    st.text(max_size=12), st.sampled_from(["space.toml", "digits", "npz", "optuna", "tpe",
                                          "float", "choice", "l1", "l2", "l1_l2", "none",
                                          "sqlite:///x.db", "postgresql://h/db", "a\x00b", ""]))
# Values a loader must survive besides: what TOML cannot write but a stored spec (JSON) can.
extremes = st.one_of(st.integers(), st.sampled_from([math.inf, -math.inf, math.nan, 2**1100,
                                                    "a\x00b", "\x00", "../" * 50]))
values = st.recursive(scalars | extremes, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)), max_leaves=20)
documents = st.dictionaries(keys, values, max_size=6)


def check_spec(make) -> None:
    try:
        spec = make()
    except SpecError as exc:
        assert exc.problems and all(isinstance(p.message, str) for p in exc.problems)
        return
    assert isinstance(spec, StudySpec)
    numbers = [v for section in asdict(spec).values() if isinstance(section, dict)
               for v in section.values() if isinstance(v, float)]
    assert all(map(math.isfinite, numbers)), spec  # a valid spec holds no nan or inf
    assert spec.search.trials > 0 and spec.training.learning_rate > 0
    assert spec_from_dict(spec.to_document(), spec.path) == spec


def check_space(make) -> None:
    try:
        space = make()
    except SpecError as exc:
        assert exc.problems
        return
    assert isinstance(space, Space)
    for param in space.params:
        if hasattr(param, "low"):
            assert math.isfinite(param.low) and param.low < param.high
    assert space_from_dict(space.to_dict()) == space


@SETTINGS
@given(documents)
def test_any_spec_document_loads_or_raises_spec_error(doc):
    check_spec(lambda: spec_from_dict(doc, FOLDER / "study.toml"))


FIELDS = [(section, key) for section, fields in _SECTIONS.items() for key in fields]


def edited_default(edits: list[tuple[tuple[str, str], Any]]) -> dict[str, Any]:
    doc: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in DEFAULT.items()}
    doc["study"]["space"] = "space.toml"
    for (section, key), value in edits:
        table = doc.setdefault(section, {})
        if isinstance(table, dict):
            table[key] = value
    return doc


@pytest.mark.parametrize("field", FIELDS, ids=[".".join(f) for f in FIELDS])
@settings(max_examples=40, deadline=None)
@given(value=st.one_of(extremes, values))
def test_any_value_of_any_field_loads_or_raises_spec_error(field, value):
    """Every key of the default study, set to anything: reaches each check for sure."""
    check_spec(lambda: spec_from_dict(edited_default([(field, value)]), FOLDER / "study.toml"))


@SETTINGS
@given(st.lists(st.tuples(st.sampled_from(FIELDS) | st.tuples(st.sampled_from(sorted(_SECTIONS)),
                                                              keys), values), max_size=4))
def test_any_edits_of_a_valid_spec_load_or_raise_spec_error(edits):
    """Several edits at once, unknown keys among them: problems are collected, not tripped on."""
    check_spec(lambda: spec_from_dict(edited_default(edits), FOLDER / "study.toml"))


@SETTINGS
@given(st.dictionaries(keys, values, max_size=4))
def test_any_spec_file_written_as_toml_loads_or_raises_spec_error(doc):
    path = FOLDER / "written.toml"
    path.write_text(tomli_w.dumps(doc))
    check_spec(lambda: load_spec(path))


@SETTINGS
@given(st.text(max_size=200))
def test_any_text_as_a_spec_or_space_file_loads_or_raises_spec_error(text):
    path = FOLDER / "text.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass") if "\ud800" not in text \
        else path.write_bytes(text.encode("utf-8", "replace"))
    check_spec(lambda: load_spec(path))
    check_space(lambda: load_space(path))


@SETTINGS
@given(st.one_of(documents, st.dictionaries(st.sampled_from(PARAM_NAMES), values, max_size=4)))
def test_any_space_document_loads_or_raises_spec_error(doc):
    check_space(lambda: space_from_dict(doc))


param_tables = st.fixed_dictionaries({}, optional={
    "type": st.sampled_from(["float", "choice"]) | scalars,
    "low": st.floats() | scalars, "high": st.floats() | scalars, "log": st.booleans() | scalars,
    "choices": st.lists(st.sampled_from(["none", "l1", "l2", "l1_l2"]) | scalars, max_size=5),
    "when": st.dictionaries(st.sampled_from(["regularizer", "dropout"]) | keys,
                            st.lists(st.sampled_from(["l1", "l2", "l1_l2", "none"]) | scalars,
                                     max_size=3) | scalars, max_size=2),
})


@SETTINGS
@given(st.dictionaries(st.sampled_from(PARAM_NAMES), param_tables, min_size=1, max_size=4))
def test_any_nearly_valid_space_loads_or_raises_spec_error(doc):
    check_space(lambda: space_from_dict(doc))


def test_an_integer_too_large_for_a_float_is_a_spec_error():
    """Found by the properties above: a stored (JSON) spec can hold what TOML cannot."""
    doc = edited_default([(("data", "validation"), 2**1100)])
    with pytest.raises(SpecError, match=r"data\.validation: must be a number, got an integer "
                                        r"too large for one \(332 digits\)"):
        spec_from_dict(doc, FOLDER / "study.toml")


def test_type_names_cover_every_toml_value():
    assert [type_name(v) for v in (True, 1, 1.0, "s", [], {})] == \
        ["boolean", "integer", "float", "string", "array", "table"]
