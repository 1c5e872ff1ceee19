"""The exception tree: every error the library raises on purpose is a FactorGraphError.

Each class also derives from the matching builtin, so ``except ValueError`` keeps working.
"""

import numpy as np

__all__ = [
    "FactorGraphError",
    "ModelSpecError",
    "FeatureSpecError",
    "ColoringError",
    "DataError",
    "UnreachableTargetError",
    "ModelTooLargeError",
    "UnknownGroupError",
    "ModelFileError",
    "ModelSpecFileError",
    "NumericalError",
    "PluginError",
    "DiagnosticsError",
    "MissingDependencyError",
    "CheckpointError",
    "CheckpointCorruptedError",
    "CheckpointMismatchError",
    "CheckpointWarning",
    "CheckpointFallbackWarning",
    "ClusterError",
    "ShardLostError",
    "ShardingOverheadWarning",
    "ShardReseededWarning",
    "InconsistentTargetError",
    "TrainingDivergedError",
    "OutOfMemoryError",
    "FactorGraphWarning",
    "MemoryEstimateWarning",
    "StuckChainsWarning",
    "DegenerateModelWarning",
    "DuplicateScopeWarning",
]


class FactorGraphError(Exception):
    """Base class of every error raised by factorgraph-maxent."""


class ModelSpecError(FactorGraphError, ValueError):
    """A variable, domain or argument of the model is invalid."""


class FeatureSpecError(ModelSpecError):
    """A feature group is invalid: bad scopes, shapes, tables or parameters."""


class ColoringError(FactorGraphError, ValueError):
    """A colouring puts two variables that share a factor in the same class."""


class DataError(FactorGraphError, ValueError):
    """Data, weights or targets are invalid: wrong shape, out of domain, not finite, empty."""


class UnreachableTargetError(DataError):
    """No finite θ reaches the targets: the fit would diverge.

    Attributes
    ----------
    features : ndarray of int
        The θ indices of the offending features.
    """

    def __init__(self, text: str, features: object = ()) -> None:
        super().__init__(text)
        self.features = np.asarray(features, dtype=np.int64)


class InconsistentTargetError(DataError):
    """Target tables contradict each other: two marginals of overlapping scopes disagree on the
    variables they share, so no distribution has both.

    Attributes
    ----------
    scopes : tuple of tuple of int
        The two scopes whose tables disagree.
    disagreement : float
        The largest absolute difference between their marginals on the shared variables.
    """

    def __init__(self, text: str, scopes: tuple = (), disagreement: float = float("nan")) -> None:
        super().__init__(text)
        self.scopes = tuple(tuple(s) for s in scopes)
        self.disagreement = float(disagreement)


class UnknownGroupError(FactorGraphError, KeyError):
    """No feature group has the requested name."""

    def __str__(self) -> str:  # KeyError would print the message with quotes around it
        return str(self.args[0]) if self.args else ""


class ModelTooLargeError(FactorGraphError, ValueError):
    """A model is too large for the requested operation (exact enumeration, dense output)."""


class OutOfMemoryError(ModelTooLargeError, MemoryError):
    """An allocation failed; the message gives the estimated size and what to shrink.

    Attributes
    ----------
    nbytes : int
        The estimated size of the failed allocation, in bytes.
    """

    def __init__(self, text: str, nbytes: int = 0) -> None:
        super().__init__(text)
        self.nbytes = int(nbytes)


class ModelFileError(FactorGraphError, OSError):
    """A model file is missing, not a model file, of an unknown version or damaged."""


class ModelSpecFileError(ModelSpecError, ModelFileError):
    """A text model file (:func:`factorgraph.load_spec`) is unreadable or describes an invalid model.

    The message starts with the file and the key path of the offending value, e.g.
    ``model.toml: features[2].scopes: expected ...; found ...``. It is both a
    :class:`ModelSpecError` (a ``ValueError``: the model described is invalid) and a
    :class:`ModelFileError` (an ``OSError``: the file, or one it names, is missing or damaged).
    """


class NumericalError(FactorGraphError, FloatingPointError):
    """A computation produced or was given NaN or infinity."""


class TrainingDivergedError(NumericalError):
    """The fit diverged (non-finite θ, a runaway step, a growing mismatch or step norm); the
    trainer was rolled back to its last good state before this was raised.

    Attributes
    ----------
    step : int
        The step at which the divergence was seen.
    restored_step : int
        The step of the state the trainer was rolled back to.
    suggested_lr : float
        A learning rate ten times smaller than the one in force.
    """

    def __init__(self, text: str, step: int = -1, restored_step: int = -1, suggested_lr: float = float("nan")) -> None:
        super().__init__(text)
        self.step = int(step)
        self.restored_step = int(restored_step)
        self.suggested_lr = float(suggested_lr)


class PluginError(FactorGraphError, TypeError):
    """A sampler or objective plugin is missing, fails to load, or breaks the protocol."""


class DiagnosticsError(FactorGraphError, ValueError):
    """Chain draws given to a diagnostic are unusable: wrong shape, non-finite, too short or constant."""


class MissingDependencyError(FactorGraphError, ImportError):
    """An optional dependency (e.g. matplotlib for :mod:`factorgraph.plot`) is not installed."""


class FactorGraphWarning(UserWarning):
    """Base class of every warning issued by factorgraph-maxent."""


class MemoryEstimateWarning(FactorGraphWarning):
    """An allocation about to be made is larger than ``factorgraph.MEMORY_WARNING_BYTES``."""


class StuckChainsWarning(FactorGraphWarning, RuntimeWarning):
    """The chains barely move: almost no update changes a state over a window of steps."""


class DegenerateModelWarning(FactorGraphWarning):
    """The model leaves nothing to do (no variables, or no trainable features)."""


class DuplicateScopeWarning(FactorGraphWarning):
    """A feature group has the same scope twice: its features are exact copies, θ is not identifiable."""


class CheckpointError(ModelFileError):
    """A training checkpoint cannot be written or resumed (see :mod:`factorgraph.checkpoint`)."""


class CheckpointCorruptedError(CheckpointError):
    """A checkpoint is damaged: a missing or unreadable manifest, a missing, truncated or altered
    file (its SHA-256 differs from the manifest's), or contents that do not fit together."""


class CheckpointMismatchError(CheckpointError):
    """A checkpoint is intact but not for this use: another model (graph fingerprint), or another
    checkpoint format version."""


class CheckpointWarning(FactorGraphWarning):
    """A checkpoint was read with a caveat (e.g. written by another library version)."""


class CheckpointFallbackWarning(CheckpointWarning):
    """The newest checkpoint was refused and an older, intact one was used instead."""


class ClusterError(FactorGraphError, RuntimeError):
    """Chains sharded over a cluster (:class:`samplers.ShardedChains`) cannot go on: no worker,
    workers running another library version, or a shard that could not be recreated."""


class ShardLostError(ClusterError):
    """A worker holding shards of the chains was lost during a step. Under the default
    ``recovery="rollback"`` the shards were recreated on live workers before this was raised;
    the trainer then rolls every shard, θ and the optimizer back to its last checkpoint.

    Attributes
    ----------
    shards : tuple of int
        The lost shards.
    """

    def __init__(self, text: str, shards: tuple = ()) -> None:
        super().__init__(text)
        self.shards = tuple(int(s) for s in shards)


class ShardingOverheadWarning(FactorGraphWarning, RuntimeWarning):
    """Communication takes more than 20% of each step: the model is too small to shard."""


class ShardReseededWarning(FactorGraphWarning, RuntimeWarning):
    """A lost shard was restarted from its last saved chain states (``recovery="reseed"``): the
    run goes on but is no longer bit-reproducible."""
