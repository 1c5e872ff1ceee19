"""factorgraph-maxent: maximum-entropy models on sparse factor graphs.

``import factorgraph as fg`` gives the model (:class:`FactorGraph`, :mod:`features`), its
compiled form (:class:`CompiledGraph`), the exact engine (:mod:`exact`), data helpers
(:func:`moments`), the quality check of a fitted θ on fresh chains (:func:`assess`), model
files (:func:`load` for fitted binary models, :func:`load_spec` for text model files), plots
(:mod:`plot`, with the optional matplotlib), training checkpoints (:mod:`checkpoint`) and the
error tree (:class:`FactorGraphError`).
"""

from importlib import metadata as _metadata

from factorgraph import checkpoint, coloring, datasets, exact, features, optim, plot, spec
from factorgraph._config import show_config
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
from factorgraph.assessment import Assessment, assess, connected_correlations, pearson_connected
from factorgraph.compiled import CompiledGraph
from factorgraph.data import moments
from factorgraph.graph import FactorGraph, FeatureGroup
from factorgraph.io import load
from factorgraph.sampling import sample
from factorgraph.spec import ModelSpec, load_spec, parse_spec
from factorgraph.training import FitResult, Trainer, fit
from factorgraph.variables import Domain

try:
    __version__ = _metadata.version("factorgraph-maxent")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "FactorGraph",
    "FeatureGroup",
    "CompiledGraph",
    "Domain",
    "features",
    "coloring",
    "checkpoint",
    "datasets",
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


def __getattr__(name: str) -> object:
    # fg.ShardedChains, without importing samplers (which imports factorgraph) at import time
    if name == "ShardedChains":
        from samplers import ShardedChains

        return ShardedChains
    raise AttributeError(f"module 'factorgraph' has no attribute {name!r}")
