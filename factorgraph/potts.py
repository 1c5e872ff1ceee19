"""Potts models of sequence families: the model of an alignment, gauges, contacts and mutations.

The protein and RNA workflow on top of the general graph. :func:`potts_model` builds the usual
model of an alignment (a ``Potential`` per site, group ``"fields"``, and per pair of sites,
group ``"couplings"``); :func:`potts_parameters` reads any fitted model whose factors have at
most two variables back as fields h_i(a) and coupling blocks J_ij(a, b);
:meth:`PottsParameters.zero_sum` moves them to the zero-sum gauge; :func:`contact_scores` ranks
the pairs of sites by the Frobenius norm of their zero-sum couplings with the average-product
correction, the standard predictor of residue contacts; :func:`statistical_energies` and
:func:`mutation_effects` score sequences and their single mutations. Sequences sampled from a
fitted model (:func:`factorgraph.sample`) are written as FASTA by
:func:`factorgraph.alignment.write_fasta`.

Signs: the library's θ·f(x) is the log of the unnormalised probability; the *statistical
energy* of the field is its negative, E(x) = −θ·f(x), lower for more probable sequences.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from factorgraph._errors import DataError, ModelSpecError
from factorgraph._validation import check_theta
from factorgraph.alignment import Alignment
from factorgraph.compiled import as_compiled

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

    from factorgraph.compiled import CompiledGraph, GraphLike
    from factorgraph.graph import FactorGraph

__all__ = [
    "Contacts",
    "PottsParameters",
    "contact_scores",
    "mutation_effects",
    "potts_model",
    "potts_model_file",
    "potts_parameters",
    "statistical_energies",
]


def potts_model(
    alignment: Alignment | int, n_states: int | None = None, *, pairs: ArrayLike | None = None
) -> FactorGraph:
    """The fields-plus-couplings Potts model of an alignment (or of L sites with q states).

    Parameters
    ----------
    alignment : Alignment or int
        An alignment (its length and alphabet size give L and q), or L.
    n_states : int, optional
        q, needed when ``alignment`` is a number.
    pairs : array_like of int, shape (E, 2), optional
        The coupled pairs of sites (default: every pair i < j).

    Returns
    -------
    FactorGraph
        L variables with q states; group ``"fields"``: a ``Potential`` per site (q features
        each); group ``"couplings"``: a ``Potential`` per pair (q² features each).

    Examples
    --------
    >>> import factorgraph as fg
    >>> g = fg.potts.potts_model(fg.datasets.load_pf00014())
    >>> g.n_variables, g.n_features
    (53, 608811)
    """
    from factorgraph import features
    from factorgraph.graph import FactorGraph

    if isinstance(alignment, Alignment):
        length, q = alignment.length, alignment.n_states
    elif n_states is None:
        raise ModelSpecError("potts_model(L, q): pass n_states= the number of states q")
    else:
        length, q = int(alignment), n_states
    if pairs is None:
        i, j = np.triu_indices(length, k=1)
        pairs = np.stack([i, j], axis=1)
    g = FactorGraph()
    sites = g.add_variables(length, n_states=q)
    g.add_features(features.Potential(sites), name="fields")
    g.add_features(features.Potential(np.asarray(pairs, dtype=np.int64).reshape(-1, 2)), name="couplings")
    return g


def potts_model_file(length: int, n_states: int, pseudocount: float = 0.0) -> str:
    """The model of :func:`potts_model` (every pair) as a model file, for ``factorgraph fit``.

    Parameters
    ----------
    length, n_states : int
        L sites with q states.
    pseudocount : float
        The targets are the data's frequencies mixed with the uniform ones by this much
        (``target = { from = "data", pseudocount = ... }``).

    Returns
    -------
    str
        TOML text (:func:`factorgraph.parse_spec` reads it; write it to a ``.toml`` file for
        the command line).
    """
    return f"""format = "factorgraph-model"
version = 1
description = "Potts model: a Potential per site and per pair of sites"

[[variables]]
n = {int(length)}
n_states = {int(n_states)}

[[features]]
kind = "Potential"
name = "fields"
scopes = {{ range = [0, {int(length)}] }}

[[features]]
kind = "Potential"
name = "couplings"
scopes = {{ all_pairs = [0, {int(length)}] }}

[[objectives]]
name = "moment-matching"
target = {{ from = "data", pseudocount = {float(pseudocount)!r} }}
"""


@dataclass(frozen=True)
class PottsParameters:
    """Fields and couplings of a pairwise model: E(x) = −Σ_i h_i(x_i) − Σ_e J_e(x_i, x_j).

    Attributes
    ----------
    fields : ndarray, shape (L, q)
        h_i(a): the sum of every one-variable factor's energy on site i.
    pairs : ndarray of int64, shape (E, 2)
        The coupled pairs (i < j), in increasing order.
    couplings : ndarray, shape (E, q, q)
        J_e(a, b) for pair e = (i, j): a is the state of i, b of j (every factor on the pair
        summed).
    """

    fields: np.ndarray
    pairs: np.ndarray
    couplings: np.ndarray

    def zero_sum(self) -> PottsParameters:
        """The same distribution in the zero-sum gauge.

        Every coupling block has zero row and column sums and every field zero sum; what the
        couplings lose moves into the fields, and what the fields lose is a constant, so every
        difference of energies between sequences is unchanged.
        """
        J = self.couplings
        row = J.mean(axis=2, keepdims=True)  # mean over b, per a
        col = J.mean(axis=1, keepdims=True)  # mean over a, per b
        total = J.mean(axis=(1, 2), keepdims=True)
        h = self.fields.copy()
        np.add.at(h, self.pairs[:, 0], row[:, :, 0] - total[:, :, 0])
        np.add.at(h, self.pairs[:, 1], col[:, 0, :] - total[:, 0, :])
        return PottsParameters(h - h.mean(axis=1, keepdims=True), self.pairs, J - row - col + total)


def potts_parameters(graph: GraphLike, theta: ArrayLike) -> PottsParameters:
    """The fields and couplings of θ for a model whose factors have at most two variables.

    Every factor's energy θ·f over its joint states is added into the field of its variable or
    the coupling block of its pair, whatever its feature kind (``Potential``, ``Product``,
    tables), so the parameters give the model's θ·f(x) exactly (with E = −θ·f).

    Raises
    ------
    ModelSpecError
        A factor with three or more variables, or sites with different numbers of states.
    """
    cg = as_compiled(graph)
    theta = check_theta(theta, cg.n_features, "potts_parameters")
    q = _common_states(cg, "potts_parameters")
    arity = np.diff(cg.factor_ptr)
    if np.any(arity > 2):
        raise ModelSpecError("potts_parameters needs factors of at most two variables; this model has larger ones")
    fields = np.zeros((cg.n_variables, q))
    unary = np.flatnonzero(arity == 1)
    variables = cg.factor_vars[cg.factor_ptr[unary]]
    np.add.at(
        fields,
        variables,
        _factor_energies(cg, theta, unary, np.arange(q)[None, :] * cg.factor_strides[cg.factor_ptr[unary]][:, None]),
    )
    binary = np.flatnonzero(arity == 2)
    first = cg.factor_ptr[binary]
    scopes = np.stack([cg.factor_vars[first], cg.factor_vars[first + 1]], axis=1)
    strides = np.stack([cg.factor_strides[first], cg.factor_strides[first + 1]], axis=1)
    swap = scopes[:, 0] > scopes[:, 1]  # orient each block as (lower site, higher site)
    scopes[swap] = scopes[swap, ::-1]
    strides[swap] = strides[swap, ::-1]
    a = np.arange(q)
    joint = a[None, :, None] * strides[:, 0, None, None] + a[None, None, :] * strides[:, 1, None, None]
    blocks = _factor_energies(cg, theta, binary, joint.reshape(len(binary), q * q)).reshape(-1, q, q)
    pairs, which = np.unique(scopes.reshape(-1, 2), axis=0, return_inverse=True)
    couplings = np.zeros((len(pairs), q, q))
    np.add.at(couplings, which.ravel(), blocks)
    return PottsParameters(fields, pairs.astype(np.int64).reshape(-1, 2), couplings)


@dataclass(frozen=True)
class Contacts:
    """Pairs of sites ranked by contact score, highest first (see :func:`contact_scores`).

    Attributes
    ----------
    pairs : ndarray of int64, shape (E, 2)
        Sites (i, j), i < j, counted from 0.
    scores : ndarray, shape (E,)
        Their scores, in decreasing order.
    length : int
        L, the number of sites.
    """

    pairs: np.ndarray
    scores: np.ndarray
    length: int

    def top(self, n: int, min_separation: int = 0) -> Contacts:
        """The ``n`` best pairs whose sites are at least ``min_separation`` apart along the sequence."""
        keep = np.flatnonzero(self.pairs[:, 1] - self.pairs[:, 0] >= min_separation)[:n]
        return Contacts(self.pairs[keep], self.scores[keep], self.length)

    def matrix(self) -> np.ndarray:
        """The scores as a symmetric L x L matrix (0 for pairs without a coupling and on the diagonal)."""
        out = np.zeros((self.length, self.length))
        out[self.pairs[:, 0], self.pairs[:, 1]] = self.scores
        out[self.pairs[:, 1], self.pairs[:, 0]] = self.scores
        return out

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write ``i,j,score`` lines (sites counted from 0) with a header, best pair first."""
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["i", "j", "score"])
            out.writerows((int(i), int(j), repr(float(s))) for (i, j), s in zip(self.pairs, self.scores))
        os.replace(tmp, path)

    def __len__(self) -> int:
        return len(self.scores)


def contact_scores(graph: GraphLike, theta: ArrayLike, *, gap: int | None = 0, apc: bool = True) -> Contacts:
    """Rank pairs of sites by the norm of their couplings: the predictor of residue contacts.

    The score of pair (i, j) is the Frobenius norm of its coupling block in the zero-sum gauge
    (:meth:`PottsParameters.zero_sum`), over the states other than ``gap``; with ``apc`` the
    average-product correction ``F[i, j] - F[i] F[j] / F_mean`` is subtracted (``F[i]`` the mean
    score of the pairs of site i, ``F_mean`` the mean of all), which removes the part of the
    norms shared by every pair of a site (phylogeny, sampling, gaps).

    Parameters
    ----------
    graph : FactorGraph or CompiledGraph
        A model whose factors have at most two variables, every site with the same q.
    theta : array_like of shape (n_features,)
        The fitted θ.
    gap : int or None
        The state left out of the norm (0, the gap of the built-in alphabets), or None.
    apc : bool
        Apply the average-product correction.

    Returns
    -------
    Contacts
        Every coupled pair, best first.
    """
    params = potts_parameters(graph, theta).zero_sum()
    J = params.couplings
    if gap is not None:
        q = J.shape[1]
        if not 0 <= gap < q:
            raise DataError(f"contact_scores: gap must be a state in 0..{q - 1} or None; got {gap}")
        keep = np.delete(np.arange(q), gap)
        J = J[:, keep][:, :, keep]
    scores = np.sqrt((J**2).sum(axis=(1, 2)))
    length = params.fields.shape[0]
    if apc and len(scores):
        total = np.bincount(params.pairs.ravel(), weights=np.repeat(scores, 2), minlength=length)
        count = np.bincount(params.pairs.ravel(), minlength=length)
        mean_site = total / np.maximum(count, 1)
        overall = scores.mean()
        if overall > 0:
            scores = scores - mean_site[params.pairs[:, 0]] * mean_site[params.pairs[:, 1]] / overall
    order = np.lexsort((params.pairs[:, 1], params.pairs[:, 0], -scores))  # ties: in site order
    return Contacts(params.pairs[order], scores[order], length)


def statistical_energies(graph: GraphLike, theta: ArrayLike, states: ArrayLike) -> np.ndarray:
    """E(x) = −θ·f(x) for each row of ``states`` (lower for more probable sequences)."""
    return -as_compiled(graph).energy(states, theta)


def mutation_effects(graph: GraphLike, theta: ArrayLike, sequence: ArrayLike) -> np.ndarray:
    """ΔE of every single mutation of ``sequence``: E(mutant) − E(sequence), shape (L, q).

    Entry (i, a) is the change of statistical energy when site i takes state a, the rest held
    fixed (0 where a is the sequence's own state); positive changes make the sequence less
    probable by a factor e^ΔE.
    """
    cg = as_compiled(graph)
    q = _common_states(cg, "mutation_effects")
    x = np.asarray(sequence)
    if x.shape != (cg.n_variables,):
        raise DataError(f"mutation_effects needs one sequence of {cg.n_variables} states; got shape {x.shape}")
    out = np.empty((cg.n_variables, q))
    for i in range(cg.n_variables):  # one conditional per site: L calls, not a hot loop
        local = cg.conditional_energies(x, i, theta)
        out[i] = local[x[i]] - local
    return out


def _common_states(cg: CompiledGraph, owner: str) -> int:
    if cg.n_variables == 0:
        raise ModelSpecError(f"{owner} needs a model with variables")
    q = int(cg.n_states[0])
    if np.any(cg.n_states != q):
        raise ModelSpecError(
            f"{owner} needs every site to have the same number of states; found {sorted(set(cg.n_states.tolist()))}"
        )
    return q


def _factor_energies(cg: CompiledGraph, theta: np.ndarray, factors: np.ndarray, joint: np.ndarray) -> np.ndarray:
    """θ·f of each factor in ``factors`` at the joint states ``joint`` (one row per factor)."""
    where = cg.factor_table[factors][:, None] + joint
    base = cg.factor_theta[factors][:, None]
    scaled = (cg.factor_form[factors] == 0)[:, None]
    tables = cg.tables[np.where(scaled, where, 0)] if len(cg.tables) else np.zeros(where.shape)
    maps = cg.maps[np.where(scaled, 0, where)] if len(cg.maps) else np.full(where.shape, -1)
    indexed = np.where(maps >= 0, theta[base + np.maximum(maps, 0)], 0.0)
    return np.where(scaled, theta[base] * tables, indexed)
