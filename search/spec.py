"""The study spec: ``studies/<name>.toml`` loaded into a frozen ``StudySpec``.

Everything a study needs is in the file (space, data, model, training, search, selection,
storage, seed), so a study can be re-run and its export says exactly where it came from.
Every problem in the file is collected and reported with its key path before anything runs.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ._schema import (Field, key, non_negative, one_of, open_unit, positive, read_table,
                      read_toml, table_fields, type_name)
from .errors import Problem, RegsearchError, SpecError
from .space import Space, load_space, space_from_dict

PRESETS = ("mlp", "cnn", "text")
START_FROM = ("fresh", "saved")
DATASETS = ("digits", "npz", "csv", "parquet", "mnist", "fashion_mnist", "images", "imdb",
            "synthetic_text")
COLOR_MODES = ("grayscale", "rgb", "rgba")
#: Token ids are stored as float32 features, which hold every integer up to 2**24 exactly.
MAX_NUM_WORDS = 2**24
SCALINGS = ("auto", "standard", "minmax", "range", "none")
MISSING = ("error", "drop")
BACKENDS = ("optuna", "keras-tuner")
SAMPLERS = ("tpe", "random", "qmc")
PRUNERS = ("median", "percentile", "none")
TUNERS = ("hyperband", "bayesian", "random")
STORAGE_SCHEMES = ("sqlite", "postgresql", "postgresql+psycopg2", "postgresql+psycopg",
                   "mysql", "mysql+pymysql")
DEFAULT_STORAGE = "sqlite:///studies/regsearch.db"


def name_problem(v: str) -> str | None:
    """What is wrong with a study name, or None. One rule for a spec's ``[study] name`` and a
    name on the command line: a name is also a file name (``studies/exports/<name>.json``,
    ``studies/reports/<name>/``), so it has no path separator and is never '.' or '..'."""
    return None if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", v) else \
        "must be letters, digits, '_', '.', '-' (starting with a letter or digit)"


def study_file(folder: str | Path, name: str, *, study: str) -> Path:
    """``folder/name``, a file a study writes where no ``-o`` says otherwise (its export, its
    report folder, the report's figures), refused with ``RegsearchError`` unless ``name`` keeps
    the name rule and the path, links resolved, stays inside ``folder``."""
    path = Path(folder) / name
    why = name_problem(name)
    if why is not None:
        why = f"the name {name!r} {why}"
    elif not path.resolve().is_relative_to(Path(folder).resolve()):
        why = f"it resolves to {path.resolve()}, outside {folder} (a link)"
    if why is not None:
        raise RegsearchError(f"study {study!r}: refusing to write {path}: {why}; a study's "
                             f"files stay inside their folder ({folder}); -o chooses another")
    return path


#: NumPy, scikit-learn and Keras take seeds below 2**32.
MAX_SEED = 2**32 - 1


def _seed(v: int) -> str | None:
    if 0 <= v <= MAX_SEED:
        return None
    return f"must be in [0, {MAX_SEED}] (NumPy, scikit-learn and Keras take 32-bit seeds)"


def _path(v: str | dict) -> str | None:
    """A file path must be one the OS can open; TOML's escapes can put a NUL in a string."""
    return "must not contain a NUL character" if isinstance(v, str) and "\x00" in v else None


def _builder(v: str) -> str | None:
    if re.fullmatch(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*", v):
        return None
    return ("must be 'module:function', such as 'mymodels:build' (the module is looked up in "
            "model.builder_path, by default this spec's folder)")


def _storage(v: str) -> str | None:
    if "\x00" in v:
        return "must not contain a NUL character"
    scheme = v.split("://", 1)[0] if "://" in v else None
    if scheme is None:
        return f"must be a database URL such as {DEFAULT_STORAGE!r}"
    if scheme not in STORAGE_SCHEMES:
        return f"unknown storage scheme {scheme!r}; allowed: {', '.join(STORAGE_SCHEMES)}"
    return None


# Each section below is a dataclass whose fields are the section's keys: ``key(...)`` gives a
# field's type(s), default and check once, and ``table_fields`` turns them into the schema.


def _image_size(v: list) -> str | None:
    ok = len(v) == 2 and all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in v)
    return None if ok else "must be two positive integers [height, width]"


def _num_words(v: int) -> str | None:
    return None if 2 <= v <= MAX_NUM_WORDS else \
        f"must be in [2, {MAX_NUM_WORDS}] (token ids are float32 features, exact up to 2**24)"


@dataclass(frozen=True)
class DataSpec:
    """Where the data comes from and how it is split and scaled (search/data.py).
    ``scaling`` is fitted on the training part only; ``missing`` says what a row with a missing
    feature value gets: an error, or left out before splitting."""

    dataset: str = key(str, "digits", check=one_of(*DATASETS))
    path: str | None = key(str, None, check=_path)
    x_key: str = key(str, "x")
    y_key: str = key(str, "y")
    label_column: str = key(str, "label")
    validation: float = key(float, 0.2, check=open_unit)
    test: float = key(float, 0.2, check=open_unit)
    limit: int = key(int, 0, check=non_negative)
    scaling: str = key(str, "auto", check=one_of(*SCALINGS))
    missing: str = key(str, "error", check=one_of(*MISSING))
    # dataset = "images": every image resized to [height, width], read with this many channels.
    image_size: tuple[int, int] = key(list, (28, 28), check=_image_size)
    color_mode: str = key(str, "grayscale", check=one_of(*COLOR_MODES))
    # dataset = "imdb" and "synthetic_text": token ids 0..num_words-1 (0 pads), each document
    # padded or truncated at its start to sequence_length tokens.
    num_words: int = key(int, 10000, check=_num_words)
    sequence_length: int = key(int, 200, check=positive)
    # dataset = "synthetic_text": how many documents, and the seed that makes them (not the
    # study's seed: the data stays the same whatever seed splits it).
    samples: int = key(int, 2000, check=positive)
    generator_seed: int = key(int, 0, check=_seed)

    def __post_init__(self) -> None:
        # The file writes image_size as an array; the spec keeps a tuple (hashable, and equal
        # to the default).
        object.__setattr__(self, "image_size", tuple(self.image_size))


@dataclass(frozen=True)
class ModelSpec:
    """Which Keras model is regularized (search/usermodel.py).

    ``preset`` is one of regsearch's own models (``search/presets.py``): the lecture-notes MLP
    (``hidden``, ``batch_norm``; data flattened to vectors), a small CNN (``filters`` then
    ``hidden``) or the text model (``embedding_dim`` then ``hidden``). ``builder``
    ("module:function") or ``path`` (a ``.keras`` file) take the user's own model instead,
    rewired each trial (``search/rewire.py``); ``add_dropout`` inserts Dropout after each
    hidden Dense/Conv layer of a model that has none; ``start_from`` says whether training
    starts from fresh weights or from the ones the user saved. The file writes arrays; the
    spec keeps tuples.
    """

    preset: str = key(str, "mlp", check=one_of(*PRESETS))
    hidden: tuple[int, ...] = key(list, (50, 50))
    batch_norm: bool = key(bool, True)
    filters: tuple[int, ...] = key(list, (32, 64))
    embedding_dim: int = key(int, 16, check=positive)
    builder: str | None = key(str, None, check=_builder)
    # Where the builder's module is imported from: a folder relative to the spec (resolved;
    # default the spec's own folder).
    builder_path: str | None = key(str, None, check=_path)
    path: str | None = key(str, None, check=_path)
    add_dropout: bool = key(bool, False)
    start_from: str = key(str, "fresh", check=one_of(*START_FROM))

    @property
    def own(self) -> bool:
        """Whether this is the user's model (a builder or a saved file), not a preset."""
        return self.builder is not None or self.path is not None

    @property
    def wants_vectors(self) -> bool:
        """Whether the model takes flat feature vectors (the MLP preset): only then is the data
        flattened; images and sequences otherwise keep their shape."""
        return not self.own and self.preset == "mlp"


@dataclass(frozen=True)
class TrainingSpec:
    optimizer: str = key(str, "adam", check=one_of("adam", "sgd", "rmsprop"))
    learning_rate: float = key(float, 0.001, check=positive)
    batch_size: int = key(int, 100, check=positive)
    max_epochs: int = key(int, 30, check=positive)
    patience: int = key(int, 5, check=positive)
    train_eval_samples: int = key(int, 2000, check=positive)
    # One compiled model per worker, re-armed each trial (search/reuse.py); false rebuilds.
    reuse_model: bool = key(bool, True)
    # EarlyStopping waits for this many optimizer steps (schedule below).
    min_steps: int = key(int, 300, check=non_negative)

    def schedule(self, n_train: int) -> tuple[int, int]:
        """``(epochs, start)`` for a train split of ``n_train`` rows: EarlyStopping acts from
        epoch ``start`` on, once ``min_steps`` optimizer steps are done, and training runs
        ``max_epochs``, or ``start + patience`` epochs where that is more.

        Convergence is a matter of optimizer steps, not epochs: at batch 100, 30 epochs of a
        178-row table are 60 steps, and EarlyStopping cut such runs at 26 steps with the model
        still at 0.81 validation accuracy where a longer fit reaches 0.97
        (benchmarks/results/tabular.md).
        """
        steps = max(1, -(-n_train // self.batch_size))
        start = -(-self.min_steps // steps)
        return (max(self.max_epochs, start + self.patience) if start else self.max_epochs), start


@dataclass(frozen=True)
class SearchSpec:
    trials: int = key(int, 40, check=positive)
    sampler: str = key(str, "tpe", check=one_of(*SAMPLERS))
    sampler_startup: int = key(int, 10, check=non_negative)
    pruner: str = key(str, "percentile", check=one_of(*PRUNERS))
    pruner_startup: int = key(int, 5, check=non_negative)
    pruner_percentile: float = key(float, 90.0, check=lambda v: None if 0 < v < 100
                                   else "must be in (0, 100): the share of trials kept")
    pruner_warmup: int = key(int, 10, check=non_negative)
    # Cut only a trial that has also stopped improving for 2 epochs (PatientPruner): the
    # percentile alone cut the chosen slow starter (benchmarks/results/pruner.md).
    pruner_patience: int = key(int, 2, check=non_negative)
    # The objective's weight on the gap (``objective.score``), which the sampler, the per-epoch
    # pruner and EarlyStopping follow. 0: they follow validation accuracy, as plain Optuna's do,
    # while the selection rule still takes the smallest gap within noise of the best and
    # confirmation judges the trade at ``confirm.gap_weight``. At 0.5 the search valued most
    # what closed the gap most (strong L1, which the refit's test did not bear out) and fell
    # below plain Optuna's pick on fresh seeds about twice as often, paired on the same runs
    # (benchmarks/weight.py; README, "A search steered by validation accuracy").
    gap_weight: float = key(float, 0.0, check=non_negative)
    max_failures: int = key(int, 5, check=positive)


@dataclass(frozen=True)
class KerasTunerSpec:
    """The Keras Tuner backend's tuner. ``max_epochs`` and ``trials`` of 0 mean "as in
    [training] / [search]"; ``factor`` and ``hyperband_iterations`` are Hyperband's own."""

    tuner: str = key(str, "hyperband", check=one_of(*TUNERS))
    max_epochs: int = key(int, 0, check=non_negative)
    factor: int = key(int, 3, check=lambda v: None if v >= 2 else "must be >= 2")
    trials: int = key(int, 0, check=non_negative)
    hyperband_iterations: int = key(int, 1, check=positive)


@dataclass(frozen=True)
class EvaluationSpec:
    """How each trial is scored (search/folds.py): stratified ``folds``-fold cross-validation of
    train + validation, ``repeats`` times with reshuffled folds, the same folds for every trial
    and the baseline so that they compare paired. ``racing`` stops a trial after a fold once it
    is significantly below the best so far on the folds done, and ``screen`` after the first
    fold once it is below the best share of earlier trials (search/pruning.py)."""

    folds: int = key(int, 3, check=lambda v: None if v >= 2 else
                     "must be >= 2 (one fold would leave nothing to validate on)")
    repeats: int = key(int, 1, check=positive)
    racing: bool = key(bool, True)
    # The share of trials that go on past the first fold (``pruning.screen``): a trial whose
    # first-fold validation accuracy is below that share of earlier trials' stops there. 1
    # screens nothing. Successive halving with folds as the resource, so that an epoch budget
    # sees more settings; off by default: measured against plain Optuna it did not close the
    # misses (benchmarks/results/recommendation-heldout-3/screening.md).
    screen: float = key(float, 1.0, check=lambda v: None if 0 < v <= 1 else
                        "must be in (0, 1]: the share of trials kept after the first fold")


def _two_paired(v: int) -> str | None:
    return None if v >= 2 else "must be >= 2 (a confidence interval needs two paired runs)"


@dataclass(frozen=True)
class ConfirmSpec:
    """How the answer is confirmed after the search (search/confirm.py): the chosen setting and
    the unregularized baseline, each retrained on all of train + validation with ``seeds``
    seeds the search never used, and evaluated once on the test split."""

    # A confidence interval needs at least two paired runs; five is the benchmark.
    seeds: int = key(int, 5, check=_two_paired)
    # The most seeds an acceptance on thin evidence grows to (search/confirm.py, ``needs_more``);
    # at or below ``seeds`` it never grows. With 20 paired seeds the recheck of mnist-lecture
    # seed 10 (third held-out draw) measured -0.0109 [-0.0179, -0.0039]: an interval narrow
    # enough to call the overtuning its 5 confirmation seeds (-0.0015 [-0.0138, +0.0108]) missed.
    max_seeds: int = key(int, 20, check=_two_paired)
    # The trade an acceptance "at no cost" must not lose on test: the mean paired difference of
    # test accuracy - gap_weight x |gap| (search/confirm.py). Apart from ``search.gap_weight``
    # so that the search can follow validation accuracy while confirmation still accepts a
    # setting that closes the gap at a cost within noise: at 0 it is test accuracy alone, which
    # rejected a setting at test -0.0006 that closed 0.0072 of gap, and that run fell below
    # plain Optuna (benchmarks/results/recommendation-heldout-2/gap-weight.md, default seed 7).
    gap_weight: float = key(float, 0.5, check=non_negative)


@dataclass(frozen=True)
class WorkersSpec:
    """How workers share a study (Optuna heartbeats): a worker beats every
    ``heartbeat_interval`` s; a trial whose last beat is older than ``grace_period`` s is marked
    FAILED by the next worker to look, and re-queued up to ``max_retry`` times. A database
    server that stops answering is waited for ``reconnect_timeout`` s (``search/reconnect.py``)."""

    heartbeat_interval: int = key(int, 5, check=positive)
    grace_period: int = key(int, 20, check=positive)
    max_retry: int = key(int, 2, check=non_negative)
    reconnect_timeout: int = key(int, 60, check=non_negative)


@dataclass(frozen=True)
class StudySpec:
    """A whole study, validated. ``path`` is the file it was read from."""

    path: str = field(compare=False)
    name: str
    space_path: str = field(compare=False)
    space: Space
    storage: str
    seed: int
    backend: str
    data: DataSpec
    model: ModelSpec
    training: TrainingSpec
    search: SearchSpec
    tolerance: float | None
    evaluation: EvaluationSpec
    keras_tuner: KerasTunerSpec
    confirm: ConfirmSpec
    workers: WorkersSpec

    def to_document(self) -> dict[str, Any]:
        """The spec as a self-contained document in the file's own layout (space inlined).

        ``spec_from_dict(spec.to_document(), spec.path)`` gives the same spec back, so a stored
        study or an export carries everything needed to re-run it.
        """
        def section(obj: Any) -> dict[str, Any]:
            return {k: list(v) if isinstance(v, tuple) else v
                    for k, v in asdict(obj).items() if v is not None}

        doc = {
            "study": {"name": self.name, "space": self.space.to_dict(), "storage": self.storage,
                      "seed": self.seed, "backend": self.backend},
            "data": section(self.data), "model": section(self.model),
            "training": section(self.training), "search": section(self.search),
            "evaluation": section(self.evaluation),
            "keras_tuner": section(self.keras_tuner), "confirm": section(self.confirm),
            "workers": section(self.workers),
        }
        if self.tolerance is not None:
            doc["selection"] = {"tolerance": self.tolerance}
        return doc


# [study] and [selection] have no dataclass of their own: their keys land on StudySpec, which
# holds them resolved (the parsed Space, not the file's reference to it; an absolute storage
# URL) beside fields no file writes (path, space_path), so their schema stays a table here.
_SECTIONS: dict[str, dict[str, Field]] = {
    "study": {
        "name": Field((str,), check=name_problem, help="a string such as 'default'"),
        "space": Field((str, dict), check=_path, help="a path to a space file, relative to "
                                                      "this spec, or an inline table"),
        "storage": Field((str,), None, check=_storage),
        "seed": Field((int,), 0, check=_seed),
        "backend": Field((str,), "optuna", check=one_of(*BACKENDS)),
    },
    "data": table_fields(DataSpec),
    "model": table_fields(ModelSpec),
    "training": table_fields(TrainingSpec),
    "search": table_fields(SearchSpec),
    "selection": {
        "tolerance": Field((float,), None, check=open_unit),
    },
    "evaluation": table_fields(EvaluationSpec),
    "keras_tuner": table_fields(KerasTunerSpec),
    "workers": table_fields(WorkersSpec),
    "confirm": table_fields(ConfirmSpec),
}


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a study spec and the space it names; raise ``SpecError`` if bad."""
    path = Path(path)
    doc = read_toml(path, "study spec not found", "is a directory, expected a .toml study spec")
    return spec_from_dict(doc, path)


def spec_from_dict(doc: Any, path: str | Path) -> StudySpec:
    """Validate a parsed spec document; ``path`` locates the file and relative paths."""
    path = Path(path)
    problems: list[Problem] = []
    if not isinstance(doc, dict):
        raise SpecError(path, [Problem("", f"must be a table, got {type_name(doc)}")])
    for section in doc:
        if section not in _SECTIONS:
            problems.append(Problem(section, f"unknown section; allowed: {', '.join(_SECTIONS)}"))
    if "study" not in doc:
        problems.append(Problem("study", "is required (a table with at least name and space)"))
    v = {name: read_table(doc.get(name, {}), fields, name, problems)
         for name, fields in _SECTIONS.items()}

    for name in ("hidden", "filters"):
        sizes = v["model"].get(name)
        if sizes is not None and (not sizes or not all(
                isinstance(h, int) and not isinstance(h, bool) and h > 0 for h in sizes)):
            problems.append(Problem(f"model.{name}", f"must be a non-empty array of positive "
                                                     f"integers, got {sizes!r}"))
    m = v["model"]
    if m.get("builder") is not None and m.get("path") is not None:
        problems.append(Problem("model", "give either builder (a function that returns the "
                                         "model) or path (a saved .keras file), not both"))
    if (m.get("builder") is not None or m.get("path") is not None) and \
            m.get("preset", "mlp") != "mlp":
        problems.append(Problem("model.preset", "applies only to regsearch's own models; "
                                                "remove it when builder or path is given"))
    if m.get("start_from") == "saved" and m.get("builder") is None and m.get("path") is None:
        problems.append(Problem("model.start_from", "'saved' needs the user's model (builder "
                                                    "or path); a preset starts fresh"))
    data = v["data"]
    if data.get("dataset") in ("npz", "csv", "parquet", "images") and not data.get("path"):
        what = "a folder" if data["dataset"] == "images" else "a file path"
        problems.append(Problem("data.path", f"is required for dataset = {data['dataset']!r} "
                                             f"({what}, relative to this spec)"))
    if "validation" in data and "test" in data and data["validation"] + data["test"] >= 0.9:
        problems.append(Problem("data", f"validation + test must be < 0.9 to leave data to train "
                                        f"on, got {data['validation']} + {data['test']}"))
    workers = v["workers"]
    if {"grace_period", "heartbeat_interval"} <= workers.keys() and \
            workers["grace_period"] <= workers["heartbeat_interval"]:
        problems.append(Problem("workers.grace_period", f"must be longer than "
                                f"workers.heartbeat_interval ({workers['heartbeat_interval']} s), "
                                f"or a live worker's trial looks dead between two heartbeats, "
                                f"got {workers['grace_period']}"))
    seed, ev, confirm = v["study"].get("seed"), v["evaluation"], v["confirm"]
    if seed is not None and {"folds", "repeats"} <= ev.keys() and \
            {"seeds", "max_seeds"} <= confirm.keys():
        # folds.fold_seed, then confirm.seeds growing up to confirm.max_seeds
        derived = ev["folds"] * ev["repeats"] + max(confirm["seeds"], confirm["max_seeds"])
        if seed <= MAX_SEED < seed + derived - 1:
            problems.append(Problem("study.seed", f"must be at most {MAX_SEED - derived + 1}: "
                                    f"the {derived} seeds the folds and the confirmation use "
                                    f"count up from it and must stay <= {MAX_SEED}, got {seed}"))
    space = None
    base = path.parent
    space_ref = v["study"].get("space")
    if isinstance(space_ref, dict):
        try:
            space = space_from_dict(space_ref, path, prefix="study.space")
        except SpecError as exc:
            problems.extend(exc.problems)
    elif space_ref is not None:
        try:
            space = load_space(base / space_ref)
        except SpecError as exc:
            details = "; ".join(str(p) for p in exc.problems)
            problems.append(Problem("study.space", f"bad space file {exc.path}: {details}"))
    if problems:
        raise SpecError(path, problems)

    study = v["study"]
    if data["path"] is not None:
        data["path"] = str((base / data["path"]).resolve())
    model = dict(v["model"], hidden=tuple(v["model"]["hidden"]),
                 filters=tuple(v["model"]["filters"]))
    if model["path"] is not None:
        model["path"] = str((base / model["path"]).resolve())
    if model["builder"] is not None:
        model["builder_path"] = str((base / (model["builder_path"] or ".")).resolve())
    model = ModelSpec(**model)
    return StudySpec(
        path=str(path), name=study["name"], space=space,
        space_path=str(base / space_ref) if isinstance(space_ref, str) else str(path),
        storage=resolve_storage(study["storage"], base), seed=study["seed"],
        backend=study["backend"], data=DataSpec(**data),
        model=model,
        training=TrainingSpec(**v["training"]), search=SearchSpec(**v["search"]),
        tolerance=v["selection"]["tolerance"], evaluation=EvaluationSpec(**v["evaluation"]),
        keras_tuner=KerasTunerSpec(**v["keras_tuner"]),
        confirm=ConfirmSpec(**v["confirm"]), workers=WorkersSpec(**workers),
    )


def resolve_storage(url: str | None, base: Path) -> str:
    """The storage URL, with a relative SQLite path taken relative to the spec's folder.

    Default: ``regsearch.db`` beside the spec, so ``studies/default.toml`` stores its trials
    in ``studies/regsearch.db`` wherever the command is run from.
    """
    if url is None:
        return f"sqlite:///{(base / 'regsearch.db').resolve()}"
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rel = url[len("sqlite:///"):]
        if rel and rel != ":memory:":
            return f"sqlite:///{(base / rel).resolve()}"
    return url
