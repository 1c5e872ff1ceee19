"""Text model files: a versioned TOML description of a model and how to fit it.

A model file declares the variables, the feature groups (scopes inline, generated, or read from
``.npy``/``.csv`` files beside it), the objectives, and the sampler, optimizer and fit settings.
:func:`load_spec` reads one into a :class:`ModelSpec`, which holds the built
:class:`~factorgraph.FactorGraph` and builds a :class:`~factorgraph.Trainer` on request.
Loading validates everything; every error is a :class:`~factorgraph.FactorGraphError` whose
message starts with the file and the key path, e.g.
``model.toml: features[1].scopes: expected ...; found ...``. See docs/file-format.rst.

A fitted model (θ included) is saved with :meth:`FactorGraph.save` and read back with
:func:`factorgraph.load`: that binary ``.npz`` format is the round trip for fitted models.

Examples
--------
>>> import factorgraph as fg
>>> spec = fg.parse_spec('''
... format = "factorgraph-model"
... version = 1
...
... [[variables]]
... n = 3
... values = [-1, 1]
...
... [[features]]
... kind = "Product"
... name = "couplings"
... scopes = [[0, 1], [1, 2]]
...
... [[objectives]]
... name = "moment-matching"
... target = [0.5, -0.3]
...
... [sampler]
... n_chains = 64
... seed = 0
... ''')
>>> spec.graph
<FactorGraph: 3 variables, 1 groups, 2 factors, 2 features>
>>> result = spec.fit(max_steps=5, progress=False)
>>> result.n_steps
5
"""

from __future__ import annotations

import copy
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from factorgraph import _spec_sections as sections
from factorgraph._errors import DataError, FactorGraphError, ModelSpecFileError
from factorgraph._spec_read import Source, describe, join
from factorgraph._spec_sections import DataTarget
from factorgraph.graph import FactorGraph

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph.optim import Optimizer


__all__ = ["ModelSpec", "DataTarget", "load_spec", "parse_spec", "example", "FORMAT", "SUPPORTED_VERSIONS", "EXAMPLES"]

#: The value of the top-level ``format`` key of every model file.
FORMAT = "factorgraph-model"
#: The format versions this library reads.
SUPPORTED_VERSIONS = (1,)
#: The example model files shipped with the package, by name (see :func:`example`).
EXAMPLES = {"digits-ising": "digits_ising.toml"}

_TOP_KEYS = ("format", "version", "description", "variables", "features", "objectives", "sampler", "optimizer", "fit")
_POSITION = re.compile(r"^(?P<text>.*) \(at line (?P<line>\d+), column (?P<column>\d+)\)$", re.DOTALL)


@dataclass(frozen=True, repr=False)
class ModelSpec:
    """A model file, loaded: the graph, the objectives and the training settings.

    Attributes
    ----------
    graph : FactorGraph
        The model, built (feature groups in file order, then the groups that ``exact-marginal``
        objectives add).
    objectives : tuple
        The objective terms in file order; a moment-matching term whose target comes from data
        is a :class:`DataTarget` until :meth:`objectives_for` computes it.
    sampler : str
        The registered sampler name.
    sampler_options : dict
        Keyword arguments for the sampler (``[sampler.options]``).
    n_chains : int
    sweeps_per_step : int or "auto"
        "auto" (the default) lets the trainer raise the sweeps while the chains lag.
    seed : int or None
        Seeds the sampler: the same seed gives the same θ trajectory.
    n_threads : int or None
    optimizer : Optimizer or None
        A template: each :meth:`trainer` gets its own copy, so fits never share optimizer state.
        None (a file without ``[optimizer]``): the library's default, the same as
        :class:`~factorgraph.Trainer`'s (:func:`~factorgraph.optim.default_optimizer` with a
        :class:`~factorgraph.optim.Landing`).
    average_from : int or None
        Polyak-average the iterates from this step on (see :class:`~factorgraph.Trainer`).
    theta0 : ndarray of shape (n_features,) or None
        The starting θ (default: the groups' ``theta_init``).
    fit_options : dict
        Keyword arguments of :meth:`Trainer.fit` (all of them, defaults filled in).
    description : str
    source : str
        The file name (or ``"<string>"``) that error messages start with.
    """

    graph: FactorGraph
    objectives: tuple[Any, ...]
    sampler: str = "gibbs"
    sampler_options: dict[str, Any] = field(default_factory=dict)
    n_chains: int = 256
    sweeps_per_step: int | str = "auto"
    seed: int | None = None
    n_threads: int | None = None
    optimizer: Optimizer | None = None
    average_from: int | None = None
    theta0: np.ndarray | None = None
    fit_options: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    source: str = "<string>"

    @classmethod
    def from_dict(
        cls, document: Mapping[str, Any], base_dir: str | os.PathLike | None = None, source: str = "<dict>"
    ) -> ModelSpec:
        """Build a spec from an already parsed document (e.g. from JSON with the same layout).

        Parameters
        ----------
        document : mapping
            Keys and values as :func:`tomllib.loads` gives them.
        base_dir : path, optional
            The folder relative file names resolve against (default: the current folder).
        source : str
            How error messages name the document.

        Raises
        ------
        FactorGraphError
            A :class:`~factorgraph.ModelSpecFileError`, or the library's own error for the
            part that failed, its message starting with ``source`` and the key path.
        """
        src = Source(str(source), Path(base_dir) if base_dir is not None else Path.cwd())
        return _build_spec(src, document)

    @property
    def needs_data(self) -> bool:
        """True when some objective's target is computed from data."""
        return any(isinstance(term, DataTarget) for term in self.objectives)

    def objectives_for(self, data: ArrayLike | None = None, weights: ArrayLike | None = None) -> list[Any]:
        """The objective terms, with targets from data computed by :func:`factorgraph.moments`.

        Parameters
        ----------
        data : array_like of shape (N, n_variables), optional
            State indices; needed when :attr:`needs_data`.
        weights : array_like of shape (N,), optional
            Sample weights for ``data``.

        Returns
        -------
        list of Objective

        Notes
        -----
        A target from data covers every feature, including those ``exact-marginal`` objectives
        added; there it takes their targets, so the two terms agree.
        """
        from factorgraph.data import moments
        from objectives import ExactMarginal, MomentMatching

        if not self.needs_data:
            return list(self.objectives)
        if data is None:
            index = next(i for i, t in enumerate(self.objectives) if isinstance(t, DataTarget))
            raise DataError(
                f"{self.source}: objectives[{index}] takes its target from data; pass data= (state "
                "indices, one row per sample)."
            )
        terms = []
        for term in self.objectives:
            if isinstance(term, DataTarget):
                target = moments(self.graph, data, weights, pseudocount=term.pseudocount)
                for other in self.objectives:
                    if isinstance(other, ExactMarginal):
                        target[other.feature_ids] = other.moments
                term = MomentMatching(target)
            terms.append(term)
        return terms

    def trainer(self, data: ArrayLike | None = None, weights: ArrayLike | None = None, **overrides: Any) -> Any:
        """A :class:`~factorgraph.Trainer` with this file's settings.

        Parameters
        ----------
        data : array_like of shape (N, n_variables), optional
            State indices for targets from data.
        weights : array_like of shape (N,), optional
        **overrides
            Trainer arguments that replace the file's (``n_chains``, ``seed``, ``n_threads``,
            ``optimizer``, ``theta0``, sampler options, ...).

        Returns
        -------
        Trainer
        """
        from factorgraph.training import Trainer

        if not self.objectives:
            raise ModelSpecFileError(
                f"{self.source}: objectives: the file has no [[objectives]]; add one "
                '(e.g. name = "moment-matching") to train.'
            )
        options = dict(self.sampler_options)
        options.update(
            sampler=self.sampler,
            n_chains=self.n_chains,
            sweeps_per_step=self.sweeps_per_step,
            seed=self.seed,
            n_threads=self.n_threads,
            optimizer=copy.deepcopy(self.optimizer),
            average_from=self.average_from,
            theta0=self.theta0,
        )
        options.update(overrides)
        return Trainer(self.graph, self.objectives_for(data, weights), **options)

    def fit(
        self,
        data: ArrayLike | None = None,
        weights: ArrayLike | None = None,
        *,
        progress: bool | None = None,
        callback: Any = None,
        **overrides: Any,
    ) -> Any:
        """Train with this file's settings: ``self.trainer(...).fit(**self.fit_options)``.

        Parameters
        ----------
        data, weights
            As in :meth:`trainer`.
        progress, callback
            As in :meth:`Trainer.fit`.
        **overrides
            Keys of :attr:`fit_options` (``max_steps``, ``tol``, ...) replace the file's fit
            options; any other key goes to :meth:`trainer`.

        Returns
        -------
        FitResult
        """
        fit_options = dict(self.fit_options)
        fit_options.update({k: v for k, v in overrides.items() if k in self.fit_options})
        trainer_options = {k: v for k, v in overrides.items() if k not in self.fit_options}
        trainer = self.trainer(data, weights, **trainer_options)
        return trainer.fit(progress=progress, callback=callback, **fit_options)

    def __repr__(self) -> str:
        names = [
            t.__class__.__name__ if not isinstance(t, DataTarget) else "MomentMatching(from data)"
            for t in self.objectives
        ]
        return (
            f"<ModelSpec {self.source}: {self.graph!r}, objectives {names}, sampler '{self.sampler}' "
            f"({self.n_chains} chains), {type(self.optimizer).__name__ if self.optimizer else 'default optimizer'}>"
        )


def load_spec(path: str | os.PathLike) -> ModelSpec:
    """Read a TOML model file.

    Relative file names inside it (``{ file = "pairs.npy" }``) resolve against its folder.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    ModelSpec

    Raises
    ------
    FactorGraphError
        :class:`~factorgraph.ModelSpecFileError` for a missing or unreadable file, a TOML
        syntax error (with line and column), an unknown key (with the closest known one), a
        value of the wrong type, a missing or damaged data file, or an unsupported version;
        the library's own error class (e.g. :class:`~factorgraph.FeatureSpecError`) when a
        part of the model is invalid. Every message starts with the file and the key path.
    """
    name = os.fspath(path)
    try:
        raw = Path(name).read_bytes()
    except (OSError, ValueError) as exc:
        raise ModelSpecFileError(f"{name}: cannot read the model file: {exc}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelSpecFileError(f"{name}: not UTF-8 text (byte {exc.start}); save the file as UTF-8.") from None
    return parse_spec(text, base_dir=Path(name).parent, source=name)


def parse_spec(text: str, base_dir: str | os.PathLike | None = None, source: str = "<string>") -> ModelSpec:
    r"""Read a model from TOML text.

    Parameters
    ----------
    text : str
        The TOML document.
    base_dir : path, optional
        The folder relative file names resolve against (default: the current folder).
    source : str, default "<string>"
        How error messages name the document.

    Returns
    -------
    ModelSpec

    Raises
    ------
    FactorGraphError
        As :func:`load_spec`.

    Examples
    --------
    >>> import factorgraph as fg
    >>> header = 'format = "factorgraph-model"\nversion = 1\n'
    >>> fg.parse_spec(header + '[[variables]]\nn = 4\nn_states = 3\n').graph.n_states.tolist()
    [3, 3, 3, 3]
    >>> fg.parse_spec(header + '[[variables]]\nn = 4\nn_state = 3\n')  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    factorgraph._errors.ModelSpecFileError: <string>: variables[0].n_state: unknown key. Did you mean 'n_states'? ...
    """
    if not isinstance(text, str):
        raise ModelSpecFileError(f"{source}: expected TOML text (a str); found {describe(text)}.")
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ModelSpecFileError(f"{source}: {_syntax_message(exc)}") from None
    except RecursionError:
        raise ModelSpecFileError(f"{source}: TOML syntax error: arrays or tables are nested too deeply.") from None
    return ModelSpec.from_dict(document, base_dir=base_dir, source=source)


def _syntax_message(exc: tomllib.TOMLDecodeError) -> str:
    """'line 3, column 5: TOML syntax error: ...' from the parser's message."""
    text = str(exc)
    match = _POSITION.match(text)
    if match is None:
        return f"TOML syntax error: {text}"
    return f"line {match['line']}, column {match['column']}: TOML syntax error: {match['text']}"


def example(name: str) -> ModelSpec:
    """Load an example model file shipped with the package.

    Parameters
    ----------
    name : str
        A key of :data:`EXAMPLES`: ``"digits-ising"`` is the pairwise model of the bundled
        digits (:func:`factorgraph.datasets.load_digits`) that ``factorgraph demo`` fits.

    Returns
    -------
    ModelSpec

    Examples
    --------
    >>> import factorgraph as fg
    >>> spec = fg.spec.example("digits-ising")
    >>> spec.graph.n_features, spec.needs_data
    (2080, True)
    """
    if name not in EXAMPLES:
        raise ModelSpecFileError(f"No example model named {name!r}; the examples are {sorted(EXAMPLES)}.")
    resource = resources.files("factorgraph").joinpath("models").joinpath(EXAMPLES[name])
    return parse_spec(resource.read_text(encoding="utf-8"), source=EXAMPLES[name])


# -- building ------------------------------------------------------------------------------------


def _build_spec(src: Source, document: object) -> ModelSpec:
    """Check the header, then build each section in order."""
    document = src.table(document, "")
    _check_header(src, document)
    src.check_keys(document, "", _TOP_KEYS, required=("variables",), what="at the top level")
    description = src.string(document, "description", "", default="")
    graph = _build_graph(src, document)
    terms = sections.read_objectives(src, src.tables(document, "objectives"), graph)
    compiled = _compile(src, graph)
    sections.check_objectives(src, terms, compiled)
    sampler = sections.read_sampler(src, src.table(document.get("sampler", {}), "sampler"), compiled)
    optimizer = (
        sections.read_optimizer(src, src.table(document["optimizer"], "optimizer")) if "optimizer" in document else None
    )
    fit_options, trainer = sections.read_fit(src, src.table(document.get("fit", {}), "fit"), graph.n_features)
    return ModelSpec(
        graph=graph,
        objectives=tuple(terms),
        optimizer=optimizer,
        fit_options=fit_options,
        description=description,
        source=src.name,
        **sampler,
        **trainer,
    )


def _check_header(src: Source, document: Mapping) -> None:
    """``format = "factorgraph-model"`` and a supported ``version``, before anything else."""
    if "format" not in document:
        raise src.error(
            "",
            f"missing key 'format': a model file starts with format = \"{FORMAT}\" and "
            f"version = {SUPPORTED_VERSIONS[-1]}.",
        )
    if document["format"] != FORMAT:
        raise src.expected(
            "format",
            f'"{FORMAT}"',
            document["format"],
            "This is not a factorgraph model file (binary .npz models load with fg.load).",
        )
    if "version" not in document:
        raise src.error("", f"missing key 'version': expected version = {SUPPORTED_VERSIONS[-1]}.")
    version = document["version"]
    if isinstance(version, bool) or not isinstance(version, int):
        raise src.expected("version", "an integer", version)
    if version not in SUPPORTED_VERSIONS:
        raise src.error(
            "version",
            f"format version {version} is not supported; this library reads versions "
            f"{list(SUPPORTED_VERSIONS)}. Upgrade factorgraph-maxent to read newer files.",
        )


def _build_graph(src: Source, document: Mapping) -> FactorGraph:
    graph = FactorGraph()
    blocks = src.tables(document, "variables")
    if not blocks:
        raise src.error("variables", "expected at least one [[variables]] section; found none.")
    for i, table in enumerate(blocks):
        sections.add_variables(src, graph, table, join("variables", i))
    for i, table in enumerate(src.tables(document, "features")):
        sections.add_features(src, graph, table, join("features", i))
    return graph


def _compile(src: Source, graph: FactorGraph) -> Any:
    try:
        return graph.compile()
    except FactorGraphError as exc:
        raise src.wrap("", exc) from None
