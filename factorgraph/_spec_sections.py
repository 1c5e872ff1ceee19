"""Building each section of a model file: variables, features, objectives, sampler, optimizer, fit.

Every function takes the :class:`~factorgraph._spec_read.Source` (for errors and file paths),
the section's parsed table and its key path. Errors raised by the library while building are
re-raised with the key path in front (same class).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from factorgraph import features as F
from factorgraph import optim
from factorgraph._errors import FactorGraphError, ModelSpecError
from factorgraph._spec_read import MISSING, Source, join
from factorgraph.graph import FactorGraph

if TYPE_CHECKING:
    from factorgraph.compiled import CompiledGraph

__all__ = [
    "DataTarget",
    "add_variables",
    "add_features",
    "read_objectives",
    "read_sampler",
    "read_optimizer",
    "read_fit",
    "FEATURE_KINDS",
]

#: The feature kinds a model file may use, by the class name that ``FeatureGroup.kind`` reports.
FEATURE_KINDS = {
    cls.__name__: cls
    for cls in (F.Product, F.Indicator, F.Bin, F.Polynomial, F.Threshold, F.Table, F.Potential, F.Histogram)
}
OPTIMIZERS = {"adam": optim.Adam, "sgd": optim.SGD, "groupadam": optim.GroupAdam}
SCHEDULES = {
    "constant": optim.constant,
    "inverse_time": optim.inverse_time,
    "exponential": optim.exponential,
    "cosine": optim.cosine,
    "warmup": optim.warmup,
}
_VECTOR_PARAMS = ("power", "threshold", "strength", "theta_init", "theta0")


@dataclass(frozen=True)
class DataTarget:
    """A moment-matching objective whose target is computed later from data.

    Written ``target = { from = "data", pseudocount = 0.01 }`` in a model file; the target is
    ``fg.moments(graph, data, weights, pseudocount=pseudocount)``.

    Attributes
    ----------
    pseudocount : float
        The weight of the uniform distribution mixed into the data's, in [0, 1).
    """

    pseudocount: float = 0.0


def _build(src: Source, path: str, build: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``build``; a library error gets the key path in front of its message."""
    try:
        return build(*args, **kwargs)
    except FactorGraphError as exc:
        raise src.wrap(path, exc) from None


# -- variables -----------------------------------------------------------------------------------


def add_variables(src: Source, graph: FactorGraph, table: Mapping, path: str) -> None:
    """``[[variables]]``: n, n_states, values, edges, names, as in ``FactorGraph.add_variables``."""
    src.check_keys(table, path, ("n", "n_states", "values", "edges", "names"), what="in [[variables]]")
    names = _names(src, table, path)
    if "n" not in table and names is None:
        raise src.error(path, "missing key 'n' (the number of variables; it may be left out when 'names' lists them).")
    n = src.integer(
        table, "n", path, default=len(names) if names is not None else MISSING, minimum=0, maximum=2**31 - 1
    )
    n_states = src.integer(table, "n_states", path, default=None, minimum=1)
    values = _optional_array(src, table, "values", path, vector=True)
    edges = _optional_array(src, table, "edges", path, vector=True)
    _build(src, path, graph.add_variables, n, n_states=n_states, values=values, edges=edges, names=names)


def _names(src: Source, table: Mapping, path: str) -> list[str] | None:
    names = table.get("names")
    if names is None:
        return None
    where = join(path, "names")
    if not isinstance(names, list):
        raise src.expected(where, "an array of strings", names)
    for i, name in enumerate(names):
        if not isinstance(name, str):
            raise src.expected(join(where, i), "a string", name)
    return names


def _optional_array(
    src: Source, table: Mapping, key: str, path: str, integer: bool = False, vector: bool = False, scalar: bool = True
) -> np.ndarray | None:
    if key not in table:
        return None
    found = src.array(table[key], join(path, key), integer=integer, vector=vector, scalar=scalar)
    return np.asarray(found) if not isinstance(found, np.ndarray) else found


# -- features ------------------------------------------------------------------------------------


def add_features(src: Source, graph: FactorGraph, table: Mapping, path: str) -> None:
    """``[[features]]``: kind, scopes, name, trainable, theta_init and the kind's parameters."""
    kind = src.get(table, "kind", path)
    if kind == "Function":
        raise src.error(
            join(path, "kind"),
            'a Function feature needs Python code, which a model file cannot hold; tabulate it and use kind = "Table".',
        )
    kind = src.choice(table, "kind", path, FEATURE_KINDS)
    cls = FEATURE_KINDS[kind]
    params = _parameters(cls, skip=("self", "scopes"))
    common = ("kind", "name", "scopes", "trainable", "theta_init")
    src.check_keys(
        table,
        path,
        common + tuple(params),
        required=("scopes",) + tuple(p for p, default in params.items() if default is inspect.Parameter.empty),
        what=f"in a group of kind '{kind}'",
    )
    name = src.string(table, "name", path, default=None)
    trainable = src.boolean(table, "trainable", path, default=True)
    theta_init = _optional_array(src, table, "theta_init", path, vector=True)
    scopes, edge_theta = read_scopes(src, table["scopes"], join(path, "scopes"), graph)
    if theta_init is None:
        theta_init = edge_theta  # an edge list's third column
    values = {p: _feature_param(src, table[p], join(path, p), p) for p in params if p in table}
    group = _build(src, path, cls, scopes, **values)
    _build(src, path, graph.add_features, group, name=name, trainable=trainable, theta_init=theta_init)


def _parameters(cls: Any, skip: tuple[str, ...] = ("self",)) -> dict[str, Any]:
    """A constructor's keyword parameters and their defaults (``inspect.Parameter.empty`` if none)."""
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        return {}
    return {
        name: p.default
        for name, p in signature.parameters.items()
        if name not in skip and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    }


def _feature_param(src: Source, value: object, path: str, name: str) -> Any:
    if name == "reference":
        if isinstance(value, bool) or not isinstance(value, int):
            raise src.expected(path, "an integer state index", value)
        return value
    if name == "edges":
        return _edges(src, value, path)
    return src.array(value, path, integer=name == "states", vector=name in _VECTOR_PARAMS)


def _edges(src: Source, value: object, path: str) -> Any:
    """Histogram edges: one array shared by every scope position, or one array per position."""
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return [src.array(v, join(path, i), scalar=False) for i, v in enumerate(value)]
    return src.array(value, path, scalar=False, vector=True)


def read_scopes(src: Source, value: object, path: str, graph: FactorGraph) -> tuple[np.ndarray, np.ndarray | None]:
    """Scopes inline, from a file, or generated (``{ range = [a, b] }``, ``{ all_pairs = [a, b] }``,
    ``{ grid = [L, M], ... }``, ``{ edges = "file.csv" }``), and the initial θ an edge list gives."""
    n_variables = graph.n_variables
    init = None
    if isinstance(value, Mapping) and set(value) & set(_GENERATORS):
        scopes, init = _generated_scopes(src, value, path, graph)
    else:
        scopes = np.asarray(src.array(value, path, integer=True, scalar=False))
    bad = (scopes < 0) | (scopes >= n_variables)
    if bad.any():
        index = tuple(int(i) for i in np.argwhere(bad)[0])
        origin = f" in '{value['file']}'" if isinstance(value, Mapping) and "file" in value else ""
        raise src.error(
            path,
            f"expected variable ids in 0..{n_variables - 1} (the variables declared in "
            f"[[variables]]); found {int(scopes[index])} at index {list(index)}{origin}.",
        )
    return scopes, init


# the scope generators, and the keys each allows beside its own
_GENERATORS = {
    "range": (),
    "all_pairs": (),
    "grid": ("periodic", "neighbours", "first"),
    "edges": (),
}


def _generated_scopes(
    src: Source, table: Mapping, path: str, graph: FactorGraph
) -> tuple[np.ndarray, np.ndarray | None]:
    from factorgraph import scopes

    found = [key for key in _GENERATORS if key in table]
    if len(found) != 1:
        raise src.error(path, f"expected exactly one of {', '.join(map(repr, _GENERATORS))}; found {found}.")
    key = found[0]
    src.check_keys(table, path, (key, *_GENERATORS[key]), what=f"in '{key}' scopes")
    where = join(path, key)
    if key == "edges":
        name = src.string(table, "edges", path)
        try:
            edges = scopes.read_edges(src.base_dir / name, names=graph.variable_names)
        except FileNotFoundError:
            raise src.error(
                where, f"file '{name}' not found (looked for {(src.base_dir / name).absolute()})."
            ) from None
        except (ModelSpecError, OSError, ValueError) as exc:
            raise src.error(where, str(exc)) from None
        return edges.scopes, edges.theta_init
    if key == "grid":
        shape = table["grid"]
        if not (
            isinstance(shape, list)
            and shape
            and all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in shape)
        ):
            raise src.expected(where, "the lattice's sides, e.g. [8, 8]", shape)
        periodic = table.get("periodic", False)
        if not (
            isinstance(periodic, bool) or (isinstance(periodic, list) and all(isinstance(p, bool) for p in periodic))
        ):
            raise src.expected(join(path, "periodic"), "true, false or one of them per axis", periodic)
        neighbours = (
            src.choice(table, "neighbours", path, ("von Neumann", "Moore")) if "neighbours" in table else "von Neumann"
        )
        first = src.integer(table, "first", path, default=0, minimum=0)
        sites = math.prod(shape)
        if first + sites > graph.n_variables:
            raise src.error(
                where,
                f"a lattice of {sites} sites from variable {first} needs {first + sites} "
                f"variables; [[variables]] declares {graph.n_variables}.",
            )
        try:
            return scopes.grid(
                shape, periodic=periodic, neighbours=cast(scopes.Neighbours, neighbours), first=first
            ), None
        except ModelSpecError as exc:
            raise src.error(where, str(exc)) from None
    bounds = table[key]
    ok = (
        isinstance(bounds, list)
        and len(bounds) == 2
        and all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
    )
    if not ok or not 0 <= bounds[0] < bounds[1] <= graph.n_variables:
        raise src.expected(
            where, f"[start, stop] with 0 <= start < stop <= {graph.n_variables} (the number of variables)", bounds
        )
    ids = np.arange(bounds[0], bounds[1], dtype=np.int64)
    if key == "range":
        return ids, None
    i, j = np.triu_indices(len(ids), k=1)
    return np.stack([ids[i], ids[j]], axis=1), None


# -- objectives ----------------------------------------------------------------------------------


def read_objectives(src: Source, terms: list[Mapping], graph: FactorGraph) -> list[Any]:
    """``[[objectives]]``: each term built (ExactMarginal added to the graph), or a DataTarget."""
    import objectives

    built = []
    for i, table in enumerate(terms):
        path = join("objectives", i)
        name = src.choice(table, "name", path, objectives.available())
        cls = _build(src, join(path, "name"), objectives.get, name)
        params = _parameters(cls)
        extra = ("group",) if name == "exact-marginal" else ()
        required = tuple(p for p, d in params.items() if d is inspect.Parameter.empty)
        src.check_keys(
            table, path, ("name",) + tuple(params) + extra, required=required, what=f"in a '{name}' objective"
        )
        if name == "moment-matching" and _is_data_target(table.get("target")):
            built.append(_data_target(src, table["target"], join(path, "target")))
            continue
        values = {p: _objective_param(src, table[p], join(path, p), p) for p in params if p in table}
        term = _construct(src, path, cls, name, values)
        if name == "exact-marginal":
            group = src.string(table, "group", path, default=None)
            _build(src, path, term.add_to, graph, name=group)
        built.append(term)
    return built


def _is_data_target(value: object) -> bool:
    return isinstance(value, Mapping) and "from" in value


def _data_target(src: Source, table: Mapping, path: str) -> DataTarget:
    src.check_keys(table, path, ("from", "pseudocount"), what="in a target from data")
    if table["from"] != "data":
        raise src.expected(join(path, "from"), '"data"', table["from"])
    alpha = src.number(
        table, "pseudocount", path, default=0.0, check=lambda x: 0 <= x < 1, expected="a number in [0, 1)"
    )
    return DataTarget(float(alpha))


def _objective_param(src: Source, value: object, path: str, name: str) -> Any:
    """Arguments of objectives: arrays for targets, scopes and strengths; other values as given."""
    if name in ("scope", "target", "strength"):
        if name == "target" and _is_data_target(value):
            raise src.error(path, "a target from data is only available for 'moment-matching' objectives.")
        return src.array(value, path, integer=name == "scope", vector=name != "target")
    if isinstance(value, Mapping) and "file" in value:
        return src.array(value, path)
    return value


def _construct(src: Source, path: str, cls: Any, name: str, values: dict[str, Any]) -> Any:
    """Build a term; a plugin refusing its arguments with a builtin error is reported too."""
    try:
        return cls(**values)
    except FactorGraphError as exc:
        raise src.wrap(path, exc) from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise src.error(path, f"the '{name}' objective refused its arguments: {exc}") from None


def check_objectives(src: Source, built: list[Any], compiled: CompiledGraph) -> None:
    """Run each term's own check against the compiled graph (shapes, scopes in range)."""
    for i, term in enumerate(built):
        if hasattr(term, "check"):
            _build(src, join("objectives", i), term.check, compiled)


# -- sampler, optimizer, fit -----------------------------------------------------------------------

SAMPLER_KEYS = ("name", "n_chains", "sweeps_per_step", "seed", "n_threads", "options")


def read_sampler(src: Source, table: Mapping, compiled: CompiledGraph) -> dict[str, Any]:
    """``[sampler]``: the Trainer's sampler settings, checked by building a one-chain sampler."""
    import samplers

    path = "sampler"
    src.check_keys(table, path, SAMPLER_KEYS, what="in [sampler]")
    out = {
        "sampler": src.choice(table, "name", path, samplers.available(), default="gibbs"),
        "n_chains": src.integer(table, "n_chains", path, default=256, minimum=1),
        "sweeps_per_step": (
            "auto"
            if table.get("sweeps_per_step", "auto") == "auto"
            else src.integer(table, "sweeps_per_step", path, minimum=1)
        ),
        "seed": src.integer(table, "seed", path, default=None, minimum=0),
        "n_threads": src.integer(table, "n_threads", path, default=None),
    }
    options = dict(src.table(table.get("options", {}), join(path, "options")))
    cls = _build(src, join(path, "name"), samplers.get, out["sampler"])
    accepted = _parameters(cls, skip=("self", "graph", "n_chains", "seed", "n_threads"))
    if not _takes_any_keyword(cls):
        src.check_keys(options, join(path, "options"), accepted, what=f"for the '{out['sampler']}' sampler")
    threads = {} if out["n_threads"] is None else {"n_threads": out["n_threads"]}
    try:
        samplers.create(out["sampler"], compiled, 1, seed=out["seed"], **threads, **options)
    except FactorGraphError as exc:
        raise src.wrap(path, exc) from None
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise src.error(path, f"the '{out['sampler']}' sampler refused these settings: {exc}") from None
    out["sampler_options"] = options
    return out


def _takes_any_keyword(cls: Any) -> bool:
    try:
        return any(p.kind is p.VAR_KEYWORD for p in inspect.signature(cls).parameters.values())
    except (TypeError, ValueError):
        return True


def read_optimizer(src: Source, table: Mapping) -> optim.Optimizer:
    """``[optimizer]``: name ("adam", "sgd" or "groupadam"), lr (a number or a schedule table) and its options."""
    path = "optimizer"
    name = src.choice(table, "name", path, OPTIMIZERS, default="adam")
    cls = OPTIMIZERS[name]
    params = _parameters(cls, skip=("self", "groups"))  # GroupAdam's groups: the model's own
    src.check_keys(table, path, ("name",) + tuple(params), what=f"in [optimizer] for '{name}'")
    values = {p: table[p] for p in params if p in table}
    if "lr" in values:
        values["lr"] = read_schedule(src, values["lr"], join(path, "lr"), depth=0)
    return _build(src, path, cls, **values)


def read_schedule(src: Source, value: object, path: str, depth: int) -> Any:
    """A learning rate: a number, or ``{ name = "cosine", lr = 0.1, total_steps = 1000 }``."""
    if not isinstance(value, Mapping):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise src.expected(path, 'a number or a schedule table { name = "...", ... }', value)
        return value
    if depth > 8:
        raise src.error(path, "schedules are nested too deeply.")
    name = src.choice(value, "name", path, SCHEDULES)
    cls = SCHEDULES[name]
    params = _parameters(cls)
    required = tuple(p for p, d in params.items() if d is inspect.Parameter.empty)
    src.check_keys(value, path, ("name",) + tuple(params), required=required, what=f"in a '{name}' schedule")
    values = dict(value)
    del values["name"]
    if "schedule" in values:
        values["schedule"] = read_schedule(src, values["schedule"], join(path, "schedule"), depth + 1)
    for key, item in values.items():
        if key != "schedule" and (isinstance(item, bool) or not isinstance(item, int | float)):
            raise src.expected(join(path, key), "a number", item)
    return _build(src, path, cls, **values)


FIT_INTEGERS = {"max_steps": 0, "check_every": 1, "window": 1, "patience": 1}
FIT_NUMBERS = {
    "tol": ("a finite number >= 0", lambda x: x >= 0),
    "mismatch_tol": ("a finite number > 0", lambda x: x > 0),
    "max_theta": ("a finite number > 0", lambda x: x > 0),
    "decay_on_plateau": ("a number in (0, 1)", lambda x: 0 < x < 1),
}
TRAINER_KEYS = ("average_from", "theta0")


def read_fit(src: Source, table: Mapping, n_features: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """``[fit]``: Trainer.fit's options (defaults filled in) and the Trainer's average_from, theta0."""
    from factorgraph.training import Trainer

    path = "fit"
    src.check_keys(table, path, tuple(FIT_INTEGERS) + tuple(FIT_NUMBERS) + TRAINER_KEYS, what="in [fit]")
    defaults = _parameters(Trainer.fit, skip=("self", "callback", "progress"))
    options = dict(defaults)
    for key, minimum in FIT_INTEGERS.items():
        options[key] = src.integer(table, key, path, default=defaults[key], minimum=minimum)
    for key, (expected, check) in FIT_NUMBERS.items():
        options[key] = src.number(table, key, path, default=defaults[key], check=check, expected=expected)
    trainer = {
        "average_from": src.integer(table, "average_from", path, default=None, minimum=0),
        "theta0": _optional_array(src, table, "theta0", path, vector=True, scalar=False),
    }
    theta0 = trainer["theta0"]
    if theta0 is not None and theta0.shape != (n_features,):
        raise src.error(
            join(path, "theta0"),
            f"expected {n_features} values, one per feature in θ order; found shape {theta0.shape}.",
        )
    return options, trainer
