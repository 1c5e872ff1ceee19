"""factorgraph-maxent: maximum-entropy models on sparse factor graphs.

``import factorgraph as fg`` gives the model (:class:`FactorGraph`, :mod:`features`), its
compiled form (:class:`CompiledGraph`), the exact engine (:mod:`exact`), data helpers
(:func:`moments`), the quality check of a fitted θ on fresh chains (:func:`assess`), model
files (:func:`load` for fitted binary models, :func:`load_spec` for text model files), plots
(:mod:`plot`, with the optional matplotlib), training checkpoints (:mod:`checkpoint`) and the
error tree (:class:`FactorGraphError`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from factorgraph._errors import (
    CheckpointCorruptedError,
    CheckpointError,
    CheckpointFallbackWarning,
    CheckpointMismatchError,
    CheckpointWarning,
    ClusterError,
    ColoringError,
    DataError,
    DegenerateModelWarning,
    DiagnosticsError,
    DuplicateScopeWarning,
    FactorGraphError,
    FactorGraphWarning,
    FeatureSpecError,
    InconsistentTargetError,
    MemoryEstimateWarning,
    MissingDependencyError,
    ModelFileError,
    ModelSpecError,
    ModelSpecFileError,
    ModelTooLargeError,
    NumericalError,
    OutOfMemoryError,
    PluginError,
    ShardingOverheadWarning,
    ShardLostError,
    ShardReseededWarning,
    StuckChainsWarning,
    TrainingDivergedError,
    UnknownGroupError,
    UnreachableTargetError,
)
from factorgraph._memory import MEMORY_WARNING_BYTES

# Everything else loads on first use (PEP 562), so that ``import factorgraph`` (and ``import
# samplers`` or ``import objectives``, which import parts of it) stays light: scipy, the
# training loop, Dask and matplotlib load only when something needs them.
_SUBMODULES = frozenset(
    {
        "alignment",
        "assessment",
        "checkpoint",
        "coloring",
        "compiled",
        "contracts",
        "data",
        "datasets",
        "enumeration",
        "exact",
        "features",
        "graph",
        "io",
        "optim",
        "plot",
        "potts",
        "sampling",
        "scopes",
        "spec",
        "testing",
        "training",
        "variables",
    }
)
_ATTRIBUTES = {
    "FactorGraph": "graph",
    "FeatureGroup": "graph",
    "CompiledGraph": "compiled",
    "Domain": "variables",
    "moments": "data",
    "load": "graph",
    "sample": "sampling",
    "ModelSpec": "spec",
    "load_spec": "spec",
    "parse_spec": "spec",
    "Assessment": "assessment",
    "assess": "assessment",
    "connected_correlations": "assessment",
    "pearson_connected": "assessment",
    "Trainer": "training",
    "FitResult": "training",
    "fit": "training",
    "show_config": "_config",
}

if TYPE_CHECKING:  # what the lazy attributes are, for type checkers and editors
    from factorgraph import (
        checkpoint,
        coloring,
        contracts,
        datasets,
        enumeration,
        exact,
        features,
        optim,
        plot,
        spec,
        testing,
    )
    from factorgraph._config import show_config
    from factorgraph.assessment import Assessment, assess, connected_correlations, pearson_connected
    from factorgraph.compiled import CompiledGraph
    from factorgraph.data import moments
    from factorgraph.graph import FactorGraph, FeatureGroup, load
    from factorgraph.sampling import sample
    from factorgraph.spec import ModelSpec, load_spec, parse_spec
    from factorgraph.training import FitResult, Trainer, fit
    from factorgraph.variables import Domain
    from samplers import ShardedChains

__all__ = [
    "ShardedChains",
    "FactorGraph",
    "FeatureGroup",
    "CompiledGraph",
    "Domain",
    "features",
    "coloring",
    "checkpoint",
    "contracts",
    "enumeration",
    "testing",
    "datasets",
    "alignment",
    "potts",
    "scopes",
    "optim",
    "plot",
    "exact",
    "moments",
    "load",
    "spec",
    "load_spec",
    "parse_spec",
    "ModelSpec",
    "sample",
    "assess",
    "Assessment",
    "connected_correlations",
    "pearson_connected",
    "Trainer",
    "FitResult",
    "fit",
    "show_config",
    "FactorGraphError",
    "ModelSpecError",
    "FeatureSpecError",
    "ColoringError",
    "DataError",
    "DiagnosticsError",
    "MissingDependencyError",
    "ModelTooLargeError",
    "ModelFileError",
    "ModelSpecFileError",
    "NumericalError",
    "PluginError",
    "UnknownGroupError",
    "UnreachableTargetError",
    "CheckpointError",
    "ClusterError",
    "ShardLostError",
    "ShardingOverheadWarning",
    "ShardReseededWarning",
    "CheckpointCorruptedError",
    "CheckpointMismatchError",
    "CheckpointWarning",
    "CheckpointFallbackWarning",
    "InconsistentTargetError",
    "TrainingDivergedError",
    "OutOfMemoryError",
    "FactorGraphWarning",
    "MemoryEstimateWarning",
    "StuckChainsWarning",
    "DegenerateModelWarning",
    "DuplicateScopeWarning",
    "MEMORY_WARNING_BYTES",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"factorgraph.{name}")  # the import sets the attribute
    if name in _ATTRIBUTES:
        value = getattr(importlib.import_module(f"factorgraph.{_ATTRIBUTES[name]}"), name)
    elif name == "ShardedChains":  # the samplers' sharded wrapper, offered here too
        from samplers import ShardedChains as value
    elif name == "__version__":
        from factorgraph._version import __version__ as value
    else:
        raise AttributeError(f"module 'factorgraph' has no attribute {name!r}")
    globals()[name] = value  # found once
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)
