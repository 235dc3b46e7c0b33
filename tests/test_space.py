"""The space file: the shipped one loads, round-trips, and every bad input gets a clear error."""

from __future__ import annotations

import pytest

from search.errors import SpecError
from search.space import Choice, Float, load_space, space_from_dict

from .conftest import ROOT, SPACE

GOOD = """
[dropout]
type = "float"
low = 0.1
high = 0.5
[regularizer]
type = "choice"
choices = ["none", "l1", "l2", "l1_l2"]
[l1]
type = "float"
low = 1e-6
high = 1e-1
log = true
when = { regularizer = ["l1", "l1_l2"] }
[l2]
type = "float"
low = 1e-6
high = 1e-1
log = true
when = { regularizer = ["l2", "l1_l2"] }
"""


def test_shipped_space_matches_the_brief():
    space = load_space(SPACE)
    assert space["dropout"] == Float("dropout", 0.1, 0.5)
    assert space["regularizer"] == Choice("regularizer", ("none", "l1", "l2", "l1_l2"))
    for name, kinds in (("l1", ("l1", "l1_l2")), ("l2", ("l2", "l1_l2"))):
        p = space[name]
        assert (p.low, p.high, p.log, p.when) == (1e-6, 1e-1, True, {"regularizer": kinds})


def test_space_round_trips_through_a_dict():
    space = load_space(SPACE)
    assert space_from_dict(space.to_dict()) == space


def test_conditions_follow_the_regularizer():
    space = load_space(SPACE)
    assert space.is_active(space["l1"], {"regularizer": "l1"})
    assert not space.is_active(space["l1"], {"regularizer": "l2"})
    assert space.is_active(space["l2"], {"regularizer": "l1_l2"})
    assert not space.is_active(space["l2"], {"regularizer": "none"})


def test_decay_space_loads_with_weight_decay_and_max_norm_unconditional():
    space = load_space(ROOT / "spaces" / "decay.toml")
    assert [p.name for p in space.params] == ["dropout", "regularizer", "l2", "weight_decay",
                                              "max_norm"]
    assert space["weight_decay"] == Float("weight_decay", 1e-6, 1e-1, log=True)
    assert space["max_norm"] == Float("max_norm", 1.0, 6.0)
    for regularizer in ("none", "l2"):
        assert space.is_active(space["weight_decay"], {"regularizer": regularizer})
        assert space.is_active(space["max_norm"], {"regularizer": regularizer})
    assert space_from_dict(space.to_dict()) == space


def test_weight_decay_and_max_norm_accept_their_bounds_and_a_condition():
    space = space_from_dict({
        "regularizer": {"type": "choice", "choices": ["none", "l2"]},
        "l2": {"type": "float", "low": 1e-5, "high": 1e-2, "when": {"regularizer": "l2"}},
        "weight_decay": {"type": "float", "low": 0.0, "high": 1e-2},  # 0: off, linear scale
        "max_norm": {"type": "float", "low": 0.5, "high": 4.0, "when": {"regularizer": "none"}},
    })
    assert space["weight_decay"] == Float("weight_decay", 0.0, 1e-2)
    assert space.is_active(space["max_norm"], {"regularizer": "none"})
    assert not space.is_active(space["max_norm"], {"regularizer": "l2"})
    alone = space_from_dict({"weight_decay": {"type": "float", "low": 1e-6, "high": 1e-1,
                                              "log": True}})
    assert alone["weight_decay"].log


BAD = [
    # (edit of the good file, key named in the message, what the message says is allowed)
    (GOOD + "\n[momentum]\ntype = \"float\"\nlow = 0.1\nhigh = 0.9\n", "momentum",
     "unknown parameter; allowed: dropout, regularizer, l1, l2, weight_decay, max_norm"),
    (GOOD.replace("low = 0.1\nhigh = 0.5", "low = 0.1\nhigh = 0.5\nstep = 0.1"), "dropout.step",
     "unknown key; allowed keys: high, log, low, type, when"),
    (GOOD.replace("low = 0.1\nhigh = 0.5", "low = 0.5\nhigh = 0.1"), "dropout.low",
     "low < high must hold, got low=0.5, high=0.1"),
    (GOOD.replace("low = 0.1\nhigh = 0.5", "low = 0.3\nhigh = 0.3"), "dropout.low",
     "low < high must hold"),
    (GOOD.replace("low = 1e-6\nhigh = 1e-1\nlog = true\nwhen = { regularizer = [\"l1\"",
                  "low = 0.0\nhigh = 1e-1\nlog = true\nwhen = { regularizer = [\"l1\""),
     "l1.low", "low > 0 must hold for log = true (a log range cannot touch 0), got low=0.0"),
    (GOOD.replace("low = 0.1\nhigh = 0.5", "low = 0.1\nhigh = 1.0"), "dropout",
     "dropout bounds must lie in [0, 1), got low=0.1, high=1.0"),
    (GOOD.replace("low = 0.1\nhigh = 0.5", "low = -0.1\nhigh = 0.5"), "dropout",
     "dropout bounds must lie in [0, 1)"),
    (GOOD.replace('choices = ["none", "l1", "l2", "l1_l2"]', "choices = []"),
     "regularizer.choices", "must not be empty; allowed values: none, l1, l2, l1_l2"),
    (GOOD.replace('choices = ["none", "l1", "l2", "l1_l2"]', 'choices = ["none", "l3"]'),
     "regularizer.choices", "unknown value(s) ['l3']; allowed: none, l1, l2, l1_l2"),
    (GOOD.replace("low = 0.1\nhigh = 0.5", 'low = "0.1"\nhigh = 0.5'), "dropout.low",
     "must be a number, got string '0.1'"),
    (GOOD.replace('when = { regularizer = ["l1", "l1_l2"] }', 'when = { regularizer = ["l9"] }'),
     "l1.when.regularizer", "unknown value(s) ['l9']"),
    (GOOD.replace('when = { regularizer = ["l2", "l1_l2"] }', 'when = { regularizer = ["l2"] }'),
     "l2.when", "l2 must be active when regularizer = 'l1_l2'"),
    (GOOD.replace('type = "choice"', 'type = "float"'), "regularizer.type",
     "must be 'choice' for regularizer, got 'float'"),
    (GOOD + '[weight_decay]\ntype = "float"\nlow = -1e-4\nhigh = 1e-1\n', "weight_decay.low",
     "a weight decay must be >= 0, got low=-0.0001"),
    (GOOD + '[weight_decay]\ntype = "float"\nlow = 0.0\nhigh = 1e-1\nlog = true\n',
     "weight_decay.low", "low > 0 must hold for log = true"),
    (GOOD + '[weight_decay]\ntype = "choice"\nchoices = ["adamw"]\n', "weight_decay.type",
     "must be 'float' for weight_decay, got 'choice'"),
    (GOOD + '[max_norm]\ntype = "float"\nlow = 0.0\nhigh = 5.0\n', "max_norm.low",
     "a max-norm bound must be > 0, got low=0.0"),
    (GOOD + '[max_norm]\ntype = "float"\nlow = -2.0\nhigh = 5.0\n', "max_norm.low",
     "a max-norm bound must be > 0, got low=-2.0"),
    (GOOD + '[max_norm]\ntype = "float"\nlow = 1.0\nhigh = 5.0\n'
     'when = { regularizer = ["l5"] }\n', "max_norm.when.regularizer", "unknown value(s) ['l5']"),
    ("dropout = 3", "dropout", "must be a table, got integer"),
    ("", "", "the space is empty"),
]


@pytest.mark.parametrize("text,key,allowed", BAD, ids=[b[1] or "empty" for b in BAD])
def test_bad_space_names_file_key_and_what_is_allowed(tmp_path, text, key, allowed):
    path = tmp_path / "space.toml"
    path.write_text(text)
    with pytest.raises(SpecError) as info:
        load_space(path)
    message = str(info.value)
    assert str(path) in message
    assert any(p.key == key for p in info.value.problems), message
    assert allowed in message


def test_malformed_and_missing_files(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[dropout\n")
    with pytest.raises(SpecError, match=r"bad\.toml.*malformed TOML"):
        load_space(bad)
    with pytest.raises(SpecError, match=r"nope\.toml.*space file not found"):
        load_space(tmp_path / "nope.toml")
    with pytest.raises(SpecError, match=r"cannot read the file \(.*Is a directory"):
        load_space(tmp_path)
    (tmp_path / "latin1.toml").write_bytes(b"# caf\xe9\n")
    with pytest.raises(SpecError, match=r"latin1\.toml.*cannot read the file \('utf-8' codec"):
        load_space(tmp_path / "latin1.toml")


def test_every_problem_is_collected_before_raising(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(GOOD.replace("low = 0.1\nhigh = 0.5", "low = 0.5\nhigh = 0.1")
                    .replace('choices = ["none", "l1", "l2", "l1_l2"]', "choices = []"))
    with pytest.raises(SpecError) as info:
        load_space(path)
    assert {p.key for p in info.value.problems} >= {"dropout.low", "regularizer.choices"}
