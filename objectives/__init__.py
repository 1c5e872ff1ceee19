"""Objective modules for factorgraph-maxent.

Each objective supplies a gradient term (moment matching, marginal priors, regularisers) to
the one shared training loop; they arrive with that loop.
"""

__all__: list[str] = []
