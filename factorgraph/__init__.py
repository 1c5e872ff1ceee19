"""factorgraph-maxent: maximum-entropy models on sparse factor graphs.

``import factorgraph as fg`` gives the model (:class:`FactorGraph`, :mod:`features`), its
compiled form (:class:`CompiledGraph`), the exact engine (:mod:`exact`), data helpers
(:func:`moments`), model files (:func:`load`) and the error tree (:class:`FactorGraphError`).
"""

from importlib import metadata as _metadata

from factorgraph import coloring, exact, features
from factorgraph._config import show_config
from factorgraph._errors import (
    ColoringError,
    DataError,
    FactorGraphError,
    FeatureSpecError,
    ModelFileError,
    ModelSpecError,
    ModelTooLargeError,
    NumericalError,
    UnknownGroupError,
)
from factorgraph.compiled import CompiledGraph
from factorgraph.data import moments
from factorgraph.graph import FactorGraph, FeatureGroup
from factorgraph.io import load
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
    "exact",
    "moments",
    "load",
    "show_config",
    "FactorGraphError",
    "ModelSpecError",
    "FeatureSpecError",
    "ColoringError",
    "DataError",
    "ModelTooLargeError",
    "ModelFileError",
    "NumericalError",
    "UnknownGroupError",
    "__version__",
]
