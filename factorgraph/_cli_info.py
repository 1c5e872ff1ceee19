"""``factorgraph info MODEL``: sizes, feature groups, colours, settings and a memory estimate."""

from __future__ import annotations

import argparse
from collections import Counter
from typing import TYPE_CHECKING, TextIO

import numpy as np

from factorgraph.optim import Landing, default_optimizer

if TYPE_CHECKING:
    from factorgraph.compiled import CompiledGraph
    from factorgraph.contracts import Objective
    from factorgraph.optim import Optimizer

__all__ = ["run_info", "memory_estimate"]

# Mirrors samplers/_chains.py: chains per block of running sums, and the caps on the sums and on
# the per-sweep batch means an averaging run records.
_DEFAULT_BLOCK = 64
_MAX_SUMS_BYTES = 256 * 2**20
_BATCH_BYTES = 64 * 2**20
# θ-sized float64 arrays the training loop keeps besides the optimizer's: θ, the new θ, the
# gradient, the targets, the matched mask and bounds in the monitor, the Polyak average and the
# stability window's two sums.
_THETA_ARRAYS = 10


def memory_estimate(
    compiled: CompiledGraph,
    n_chains: int,
    sweeps_per_step: int = 1,
    average_sweeps: bool = False,
    optimizer: Optimizer | None = None,
) -> list[tuple[str, int]]:
    """What training with the Gibbs sampler allocates, in bytes, item by item.

    The items: the compiled graph's arrays; θ and the loop's other θ-sized arrays; the
    optimizer's state (two θ-sized arrays for Adam); the chains' states (int32: the sampler's,
    and the two copies the result holds at the end of a fit); the running feature sums, one
    float64 row per block of chains (and the result's copy); the
    per-sweep batch means when statistics are averaged over sweeps; and the Gibbs sampler's
    energy tables (per variable-factor incidence, plus a table per pairwise variable).
    """
    k, n = compiled.n_features, compiled.n_variables
    block = max(_DEFAULT_BLOCK, -(-n_chains * k * 8 // _MAX_SUMS_BYTES))
    block = max(min(block, n_chains), 1)
    n_blocks = -(-n_chains // block)
    buffers = len(getattr(optimizer, "_buffer_names", ("m", "v"))) if optimizer is not None else 2
    batch = 0
    if average_sweeps and sweeps_per_step >= 2:
        batch = (n_chains // block) * sweeps_per_step * k * 8
        batch = batch if batch <= _BATCH_BYTES else 0
    return [
        ("compiled graph", int(compiled.nbytes)),
        ("theta and work arrays", _THETA_ARRAYS * k * 8),
        ("optimizer state", buffers * k * 8),
        ("chain states (sampler, result, its sampler state)", 3 * n * n_chains * 4),
        (f"running sums ({n_blocks} blocks of {block} chains, twice)", 2 * n_blocks * k * 8),
        ("per-sweep batch means", batch),
        ("sampler energy tables", _table_bytes(compiled)),
    ]


def _table_bytes(compiled: CompiledGraph) -> int:
    """The Gibbs kernel's per-run tables: 27 bytes per incidence, two float64 entries per
    (own state, neighbour state) pair of each factor of a pairwise variable (an upper bound)."""
    arity = np.diff(compiled.factor_ptr)
    var_ptr = np.asarray(compiled.var_ptr)
    owner = np.repeat(np.arange(compiled.n_variables), np.diff(var_ptr))
    factors = np.asarray(compiled.var_factors)
    n_states = np.asarray(compiled.n_states, dtype=np.int64)
    first = np.asarray(compiled.factor_ptr)[factors]
    other = np.where(arity[factors] == 2, first + 1 - np.asarray(compiled.var_pos), first)
    k_other = np.where(arity[factors] == 2, n_states[np.asarray(compiled.factor_vars)[other]], 1)
    pairwise = np.bincount(owner, weights=arity[factors] <= 2, minlength=compiled.n_variables) == np.diff(var_ptr)
    entries = (k_other * n_states[owner])[pairwise[owner]].sum()
    return int(27 * len(factors) + 16 * entries)


def _size(n_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n_bytes < 1024 or unit == "GiB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    return ""  # unreachable


def _joint_states(n_states: np.ndarray) -> str:
    log2 = float(np.log2(n_states.astype(float)).sum())
    if log2 <= 40:
        return f"{int(np.prod(n_states.astype(object)))}"
    return f"about 2^{log2:.0f}"


def _objective(term: Objective) -> str:
    from factorgraph.spec import DataTarget

    if isinstance(term, DataTarget):
        return f"MomentMatching (target from data, pseudocount {term.pseudocount:g})"
    name = type(term).__name__
    strength = getattr(term, "strength", None)
    if strength is not None and np.ndim(strength) == 0:
        return f"{name} (strength {float(strength):g})"
    return name


def run_info(args: argparse.Namespace, out: TextIO) -> int:
    """Print the model report; return the exit code."""
    from factorgraph import exact
    from factorgraph._cli_files import read_model

    spec, graph, theta = read_model(args.model)
    compiled = graph.compile()
    n_chains = args.chains if args.chains is not None else (spec.n_chains if spec is not None else 256)
    write = lambda text="": print(text, file=out)  # noqa: E731
    kind = "fitted model (binary .npz)" if spec is None else "model file (TOML)"
    write(f"{args.model}: {kind}")
    if spec is not None and spec.description:
        write(f"  {spec.description}")
    states = Counter(np.asarray(compiled.n_states).tolist())
    counts = ", ".join(f"{c} with {s} states" for s, c in sorted(states.items()))
    write(f"variables: {compiled.n_variables} ({counts})")
    joint = _joint_states(np.asarray(compiled.n_states))
    fits = float(np.log2(np.asarray(compiled.n_states, float)).sum()) <= np.log2(exact.MAX_STATES)
    write(
        f"joint states: {joint} ({'small enough' if fits else 'too many'} for the exact engine, "
        f"limit {exact.MAX_STATES})"
    )
    write(f"features: {compiled.n_features} in {len(graph.groups)} groups; factors: {compiled.n_factors}")
    width = max([len("group")] + [len(g.name) for g in graph.groups])
    write(f"  {'group':<{width}}  {'kind':<10} {'scopes':>8} {'arity':>5} {'features':>9}  trainable")
    for grp in graph.groups:
        arity = grp.scopes.shape[1] if grp.scopes.ndim == 2 else 1
        write(
            f"  {grp.name:<{width}}  {grp.kind:<10} {len(grp.scopes):>8} {arity:>5} {grp.n_features:>9}  "
            f"{'yes' if grp.trainable else 'no'}"
        )
    sizes = np.diff(compiled.color_ptr)
    low, high = (int(sizes.min()), int(sizes.max())) if len(sizes) else (0, 0)
    write(f"colours: {compiled.n_colors} (class sizes {low} to {high})")
    if theta is not None:
        write(f"theta: saved, {len(theta)} values in [{theta.min(initial=0):.4g}, {theta.max(initial=0):.4g}]")
    elif spec is None:
        write("theta: not saved (the file holds the model only)")
    sweeps, averaged, optimizer = 1, False, None
    if spec is not None:
        # "auto" starts at one sweep; the averaged sweeps' batch buffer is capped however many
        sweeps, optimizer = spec.sweeps_per_step if spec.sweeps_per_step != "auto" else 1, spec.optimizer
        averaged = bool(spec.sampler_options.get("average_sweeps", False))
        write("objectives: " + ("; ".join(_objective(t) for t in spec.objectives) or "none"))
        options = "".join(f", {k} {v}" for k, v in sorted(spec.sampler_options.items()))
        threads = "all cores" if spec.n_threads is None else spec.n_threads
        write(
            f"sampler: {spec.sampler}, {spec.n_chains} chains, {spec.sweeps_per_step} sweeps a step, "
            f"seed {spec.seed}, threads {threads}{options}"
        )
        write(
            f"optimizer: {spec.optimizer!r}"
            if spec.optimizer is not None
            else f"optimizer: the default, {default_optimizer()!r} with {Landing()!r}"
        )
        write("fit: " + ", ".join(f"{k} {v}" for k, v in spec.fit_options.items()))
    items = memory_estimate(compiled, n_chains, sweeps, averaged, optimizer)
    total = sum(b for _, b in items)
    write(f"memory estimate for training with {n_chains} chains: {_size(total)}")
    for label, n_bytes in items:
        if n_bytes:
            write(f"  {label:<52} {_size(n_bytes):>10}")
    return 0
