"""Objective terms: each supplies a gradient term to the one shared training loop.

``MomentMatching(target)`` is the maximum-entropy term (gradient m − E_θ[f]); ``ExactMarginal``
adds and matches the indicators of a joint marginal; ``MarginalPrior(scope, target, kind,
strength)`` pulls the model's joint marginal on a scope towards a target table (KL or squared
distance); ``L2`` and ``L1`` penalise θ. Third-party packages add terms under the entry-point group
``factorgraph.objectives``; ``objectives.available()`` lists them by name.
"""

from __future__ import annotations

from factorgraph._registry import Registry
from objectives._protocol import Needs, Objective
from objectives.exact_marginals import ExactMarginal
from objectives.marginal_priors import MarginalPrior
from objectives.moments import MomentMatching
from objectives.regularizers import L1, L2

__all__ = [
    "Objective",
    "Needs",
    "MomentMatching",
    "ExactMarginal",
    "MarginalPrior",
    "L2",
    "L1",
    "available",
    "get",
    "register",
    "refresh",
]

_REGISTRY = Registry("factorgraph.objectives", required=("value_and_grad",))
for _cls, _name in (
    (MomentMatching, "moment-matching"),
    (ExactMarginal, "exact-marginal"),
    (MarginalPrior, "marginal-prior"),
    (L2, "l2"),
    (L1, "l1"),
):
    _REGISTRY.register(_cls, _name)

register = _REGISTRY.register
available = _REGISTRY.available
get = _REGISTRY.get
refresh = _REGISTRY.refresh
