"""Bad data through the CLI: each case gets one line naming the file, the key and what is
allowed, exit status 1, no stack trace, and the storage folder left exactly as it was (data is
loaded before the storage is opened). The files are made here, in the test's folder."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from search.cli import main

from .conftest import SPACE
from .test_bad_input import HEAD, kept, snapshot  # noqa: F401 - kept is a fixture


def frame(rows: int = 60, **columns: list) -> pd.DataFrame:
    """A small two-class table: numeric columns a and b, a label, and any ``columns`` given."""
    rng = np.random.default_rng(0)
    out = pd.DataFrame({"a": rng.normal(size=rows), "b": rng.uniform(0, 4000, size=rows)})
    for name, values in columns.items():
        out[name] = values
    if "label" not in out:
        out["label"] = np.arange(rows) % 2
    return out


def with_gaps() -> pd.DataFrame:
    f = frame()
    f.loc[[4, 9], "a"] = np.nan
    f.loc[[9, 30, 31], "b"] = np.nan
    return f


def without_labels() -> pd.DataFrame:
    f = frame()
    f["label"] = f["label"].astype(float)
    f.loc[[2, 7, 8, 10, 11, 12, 40], "label"] = np.nan
    return f


def csv(f: Callable[[], pd.DataFrame]) -> Callable[[Path], None]:
    return lambda path: f().to_csv(path, index=False)


def parquet(f: Callable[[], pd.DataFrame]) -> Callable[[Path], None]:
    return lambda path: f().to_parquet(path)


def npz(**arrays: np.ndarray) -> Callable[[Path], None]:
    return lambda path: np.savez(path, **arrays)


NAN_LABELS = np.where(np.arange(30) % 7 == 3, np.nan, np.arange(30) % 2)
CATEGORIES = {"color": ["red", "blue"] * 30, "city": ["x", "y", "z"] * 20}
MISSING_AB = (r"{path}: missing \(NaN or empty\) feature values in 4 rows, in columns a, b "
              r"\(data\.missing = 'error'\); fill them in the file, or set data\.missing = "
              r"'drop' to leave those rows out")

BAD_DATA = [
    # (id, file name, how to write it, the [data] keys besides path, the message's regex)
    ("missing features", "d.csv", csv(with_gaps), 'dataset = "csv"', MISSING_AB),
    ("missing features, parquet", "d.parquet", parquet(with_gaps), 'dataset = "parquet"',
     MISSING_AB),
    ("missing labels", "d.csv", csv(without_labels), 'dataset = "csv"',
     r"{path}: missing label \(data\.label_column = 'label'\) in data rows 3, 8, 9, 11, 12 and "
     r"2 more \(1-based, not counting the header\); every row needs a label: fix or remove "
     r"those rows"),
    ("missing labels, parquet", "d.parquet", parquet(without_labels), 'dataset = "parquet"',
     r"{path}: missing label \(data\.label_column = 'label'\) in data rows 3, 8, 9, 11, 12 and "
     r"2 more \(1-based\); every row needs a label: fix or remove those rows"),
    ("NaN labels in an NPZ", "d.npz", npz(x=np.ones((30, 3)), y=NAN_LABELS), 'dataset = "npz"',
     r"{path}: missing \(NaN\) labels at y\[i\] for i = 3, 10, 17, 24 \(0-based, data\.y_key\); "
     r"every row needs a label: fix or remove those rows"),
    ("categorical columns", "d.csv", csv(lambda: frame(**CATEGORIES)), 'dataset = "csv"',
     r"{path}: feature columns must be numeric; not numeric: color, city; encode them as "
     r"numbers \(one-hot, e\.g\. pandas\.get_dummies\) before"),
    ("categorical columns, parquet", "d.parquet", parquet(lambda: frame(**CATEGORIES)),
     'dataset = "parquet"',
     r"{path}: feature columns must be numeric; not numeric: color, city; encode them as "
     r"numbers \(one-hot, e\.g\. pandas\.get_dummies\) before"),
    ("header-only CSV", "d.csv", lambda p: p.write_text("a,b,label\n"), 'dataset = "csv"',
     r"{path}: has no data rows, only the columns a, b, label \(data\.path\)"),
    ("text file as NPZ", "d.npz", lambda p: p.write_text("a,label\n1,0\n"), 'dataset = "npz"',
     r"{path}: not an NPZ file \(data\.path\): dataset = 'npz' reads a zip archive as "
     r"numpy\.savez writes it; for a CSV file use dataset = 'csv'"),
    ("limit too small", None, None, "limit = 5",
     r"digits: data\.limit = 5 is too small for a stratified split of 10 classes: train, "
     r"validation and test each need a row of every class; use data\.limit = 47 at least"),
    ("limit leaving too few out", None, None, "limit = 1790",
     r"digits: data\.limit = 1790 leaves 7 rows of 1797 out, fewer than the 10 classes a "
     r"stratified subsample needs; use data\.limit = 0 \(all rows\) or at most 1787"),
    ("dataset too small", "d.csv", csv(lambda: frame(40, label=np.arange(40) % 10)),
     'dataset = "csv"',
     r"{path}: 40 rows are too few for a stratified split of 10 classes with data\.validation "
     r"= 0\.2 and data\.test = 0\.2: train, validation and test each need a row of every "
     r"class, so at least 47 rows"),
    ("a class too rare", "d.csv", csv(lambda: frame(label=[0] * 58 + [1, 2])), 'dataset = "csv"',
     r"{path}: class 1 has only 1 row; a stratified split needs at least 3 rows of every class "
     r"\(train, validation and test each need a row of every class\)"),
    # Three rows of a class split, but leave two in train + validation: three folds cannot
    # each validate on one (search/folds.py).
    ("more folds than a class has rows", "d.csv", csv(lambda: frame(label=[0] * 57 + [1] * 3)),
     'dataset = "csv"',
     r"{path}: evaluation\.folds = 3 needs at least 3 rows of every class in train \+ "
     r"validation, the smallest class has 2; use evaluation\.folds = 2 or fewer"),
]


@pytest.mark.parametrize("name,write,keys,message", [b[1:] for b in BAD_DATA],
                         ids=[b[0] for b in BAD_DATA])
def test_bad_data_gets_one_line_and_writes_nothing(tmp_path, kept, capsys, name, write, keys,
                                                   message):
    data = "[data]\n" + keys + "\n"
    path = ""
    if name is not None:
        write(tmp_path / name)
        path = re.escape(str((tmp_path / name).resolve()))
        data += f'path = "{name}"\n'
    spec = tmp_path / "bad.toml"
    spec.write_text(HEAD.format(space=SPACE.as_posix(), url=kept) + data)
    before = snapshot(tmp_path)
    assert main(["run", str(spec), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert re.search("^regsearch: error: " + message.format(path=path) + "$", err, re.M), err
    assert "Traceback" not in err
    assert snapshot(tmp_path) == before
