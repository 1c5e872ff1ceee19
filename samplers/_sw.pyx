# cython: language_level=3
"""The Swendsen-Wang sweep: bonds, clusters by union-find, one heat-bath relabel per cluster.

The construction and the argument for its correctness are in samplers/swendsen_wang.py. Here,
for each chain on its own:

1. every bond i (a pairwise factor with bond strength J_i > 0, between variables a_i and b_i)
   whose two variables are in the same state opens with probability p_i = 1 - e^(-J_i);
2. open bonds join their variables into clusters (union-find; each cluster's root is its
   smallest variable, so clusters are visited in the order of their smallest variables);
3. each cluster in turn takes a new common state s with probability proportional to
   exp(R(x with the cluster in state s)), R = θ·f − Σ_i J_i 1[x_a = x_b] the residual energy,
   from the states the earlier clusters have just taken.

The running feature sums of the chain's block move by the table differences of each relabelled
cluster's factors. Chains are independent; each block of chains is done by one thread, chain
after chain, so states, sums and counts are bit-identical for any thread count.

Random numbers: bond i of chain c in sweep t takes the uniform of (t, variable i, chain c) from
stream 4; the cluster whose smallest variable is r takes that of (t, variable r, chain c) from
stream 5. Gibbs uses stream 0, the initial states stream 1, Metropolis-Hastings 2 and 3.
"""

from cython.parallel cimport prange, threadid
from libc.stdint cimport int32_t, int64_t, uint32_t, uint64_t

import numpy as np

from samplers._core import thread_counts

from samplers._unionfind cimport find, join
from factorgraph._kernels cimport GraphView, factor_energy
from samplers._core cimport add_factor
from samplers._rng cimport fg_categorical_draws, fg_philox4x32_10

#: The generator's streams for opening bonds and for relabelling clusters.
STREAM_BOND = 4
STREAM_CLUSTER = 5
cdef uint32_t BOND_STREAM = STREAM_BOND
cdef uint32_t CLUSTER_STREAM = STREAM_CLUSTER

# counts per thread: open bonds, clusters, relabelled clusters, changed variables
cdef int N_COUNTS = 4


cdef inline double uniform_at(const uint32_t* key, uint32_t variable, uint64_t sweep, uint32_t stream,
                              int64_t chain) noexcept nogil:
    """The uniform of one (variable, sweep, stream, chain): the number ``fg_uniforms`` gives the
    chain (word chain % 4 of the Philox call for counter (variable, chain // 4, sweep, stream),
    over 2^32), from one scalar call, which is faster for a single chain."""
    cdef uint32_t counter[4]
    cdef uint32_t out[4]
    counter[0] = variable
    counter[1] = <uint32_t>(chain >> 2)
    counter[2] = <uint32_t>sweep
    counter[3] = (<uint32_t>(sweep >> 32) << 4) | stream
    fg_philox4x32_10(counter, key, out)
    return out[chain & 3] * (1.0 / 4294967296.0)


cdef inline int64_t cluster_part(GraphView g, const int32_t* xs, const int32_t* root_of, int32_t r,
                                 int64_t entry, int64_t* stride_sum) noexcept nogil:
    """How factor ``var_factors[entry]`` sees the cluster with root r in the chain state ``xs``.

    Returns the part of the factor's joint index from the variables outside the cluster, and
    puts in ``stride_sum`` the sum of the strides of the scope positions inside it, so that the
    joint index with the whole cluster in state s is ``returned + s * stride_sum``. Returns -1
    when an earlier scope position is also in the cluster: each factor counts once per cluster,
    at its first position inside it.
    """
    cdef int64_t f = g.var_factors[entry], p0 = g.factor_ptr[f], e, other = 0
    cdef int32_t w
    stride_sum[0] = 0
    for e in range(p0, g.factor_ptr[f + 1]):
        w = g.factor_vars[e]
        if root_of[w] == r:
            if e - p0 < g.var_pos[entry]:
                return -1
            stride_sum[0] += g.factor_strides[e]
        else:
            other += xs[w] * g.factor_strides[e]
    return other


cdef void chain_move(GraphView g, int32_t* x, const double[::1] theta, double* sums, const int32_t[::1] bond_a,
                     const int32_t[::1] bond_b, const double[::1] p_open, const double[::1] strength,
                     const uint32_t* key, int64_t n_chains, int64_t first_chain, int64_t c, uint64_t sweep,
                     int32_t* xs, int32_t* parent, int32_t* root_of, int64_t* start, int32_t* members,
                     double* energy, int64_t* counts) noexcept nogil:
    """One Swendsen-Wang move of chain c: open bonds, find clusters, relabel each in turn.

    The chain's states are copied into ``xs`` for the move (contiguous, unlike the
    chain-innermost ``x``) and written back after it. ``xs``, ``parent``, ``root_of`` and
    ``members`` hold n_variables ints, ``start`` n_variables + 1,
    ``energy`` the largest number of states; ``counts`` gets (open bonds, clusters, relabelled
    clusters, changed variables) added.
    """
    cdef int64_t n = g.n_variables, i, v, r, m, entry, f, other, stride_sum, p0
    cdef int32_t k, s, old, new, w
    cdef double u, j
    for v in range(n):
        parent[v] = <int32_t>v
        xs[v] = x[v * n_chains + c]
    for i in range(bond_a.shape[0]):
        if p_open[i] > 0.0 and xs[bond_a[i]] == xs[bond_b[i]]:
            u = uniform_at(key, <uint32_t>i, sweep, BOND_STREAM, first_chain + c)
            if u < p_open[i]:
                join(parent, bond_a[i], bond_b[i])
                counts[0] += 1
    # clusters in the order of their roots (smallest variables), members in increasing order
    for v in range(n + 1):
        start[v] = 0
    for v in range(n):
        root_of[v] = find(parent, <int32_t>v)
        start[root_of[v] + 1] += 1
    for v in range(n):
        start[v + 1] += start[v]
    for v in range(n):  # parent is free now: it counts the members placed per root
        parent[v] = 0
    for v in range(n):
        r = root_of[v]
        members[start[r] + parent[r]] = <int32_t>v
        parent[r] += 1
    for r in range(n):
        if root_of[r] != r:
            continue
        counts[1] += 1
        k = g.n_states[r]
        if k < 2:
            continue
        # the residual energy of every common state of the cluster: θ·f of the factors that
        # touch it, less the strength of each bond leaving it whose far end is in that state
        for s in range(k):
            energy[s] = 0.0
        for m in range(start[r], start[r + 1]):
            v = members[m]
            for entry in range(g.var_ptr[v], g.var_ptr[v + 1]):
                other = cluster_part(g, xs, root_of, <int32_t>r, entry, &stride_sum)
                if other < 0:
                    continue
                f = g.var_factors[entry]
                for s in range(k):
                    energy[s] += factor_energy(g, theta, f, other + s * stride_sum)
                j = strength[f]
                if j > 0.0:  # a bond: two variables with k states each
                    p0 = g.factor_ptr[f]
                    w = g.factor_vars[p0] if root_of[g.factor_vars[p0]] != r else g.factor_vars[p0 + 1]
                    if root_of[w] != r:
                        energy[xs[w]] -= j
        u = uniform_at(key, <uint32_t>r, sweep, CLUSTER_STREAM, first_chain + c)
        fg_categorical_draws(1, k, energy, &u, &new)
        old = xs[r]
        if new == old:
            continue
        counts[2] += 1
        counts[3] += start[r + 1] - start[r]
        for m in range(start[r], start[r + 1]):
            v = members[m]
            for entry in range(g.var_ptr[v], g.var_ptr[v + 1]):
                other = cluster_part(g, xs, root_of, <int32_t>r, entry, &stride_sum)
                if other >= 0:
                    f = g.var_factors[entry]
                    add_factor(g, sums, f, other + old * stride_sum, -1.0)
                    add_factor(g, sums, f, other + new * stride_sum, 1.0)
        for m in range(start[r], start[r + 1]):
            xs[members[m]] = new
    for v in range(n):
        x[v * n_chains + c] = xs[v]


def sweep(GraphView g, int32_t[::1] x, const double[::1] theta, double[:, ::1] block_sums,
          const int32_t[::1] bond_a, const int32_t[::1] bond_b, const double[::1] p_open,
          const double[::1] strength, const uint32_t[::1] key, int64_t n_chains, int64_t first_chain,
          int64_t block_size, uint64_t first_sweep, int64_t n_sweeps, int n_threads, int64_t[::1] counts):
    """Run ``n_sweeps`` Swendsen-Wang moves of every chain in place.

    Parameters
    ----------
    bond_a, bond_b : int32 arrays of shape (n_bonds,)
        The two variables of each bond (equal numbers of states).
    p_open : float64 array of shape (n_bonds,)
        1 - e^(-J) for each bond; 0 for a bond that never opens.
    strength : float64 array of shape (n_factors,)
        The bond strength J of each factor: 0 for factors that are not bonds.
    counts : int64 array of shape (4,)
        Gets (open bonds, clusters, relabelled clusters, changed variables) added.

    Returns the number of changed variables. Blocks of chains are shared out between threads;
    a block's chains are moved one after the other, so the schedule changes no result.
    """
    cdef int64_t n = g.n_variables, n_blocks = block_sums.shape[0], b, c, t
    cdef int threads = max(n_threads, 1), tid
    if bond_a.shape[0] != bond_b.shape[0] or bond_a.shape[0] != p_open.shape[0]:
        raise ValueError("bond_a, bond_b and p_open need one entry per bond")
    if strength.shape[0] != g.n_factors or counts.shape[0] != N_COUNTS:
        raise ValueError(f"strength needs one entry per factor and counts {N_COUNTS} entries")
    if n_sweeps <= 0 or n_chains <= 0 or n == 0:
        return 0
    k_max = int(np.max(np.asarray(g.n_states)))
    ints_arr = np.zeros((threads, 4, n), dtype=np.int32)
    start_arr = np.zeros((threads, n + 1), dtype=np.int64)
    energy_arr = np.zeros((threads, k_max))
    per_thread_arr = thread_counts(threads, (N_COUNTS,))
    cdef int32_t[:, :, ::1] ints = ints_arr
    cdef int64_t[:, ::1] start = start_arr
    cdef double[:, ::1] energy = energy_arr
    cdef int64_t[:, :] per_thread = per_thread_arr  # strided: the threads' rows are apart
    for b in prange(n_blocks, nogil=True, num_threads=threads, schedule="dynamic"):
        tid = threadid()
        for t in range(n_sweeps):
            for c in range(b * block_size, min((b + 1) * block_size, n_chains)):
                chain_move(g, &x[0], theta, &block_sums[b, 0], bond_a, bond_b, p_open, strength, &key[0],
                           n_chains, first_chain, c, first_sweep + t, &ints[tid, 3, 0], &ints[tid, 0, 0],
                           &ints[tid, 1, 0], &start[tid, 0], &ints[tid, 2, 0], &energy[tid, 0],
                           &per_thread[tid, 0])
    total = per_thread_arr.sum(axis=0)  # integers: the same whatever thread counted what
    for i in range(N_COUNTS):
        counts[i] += total[i]
    return int(total[3])


def bond_strengths(GraphView g, const double[::1] theta, const int64_t[::1] factors, double[::1] out):
    """The bond strength J of each listed pairwise factor at ``theta`` (see swendsen_wang.py).

    Each factor must have two variables with the same number of states k >= 2. With w(a, b)
    its energy table, J = max(0, min over a != b of (w(a, a) + w(b, b) - w(a, b) - w(b, a)) / 2).
    """
    cdef int64_t i, f, p0, sa, sb
    cdef int32_t k, a, bb
    cdef double lowest, d
    if out.shape[0] != factors.shape[0]:
        raise ValueError("out needs one entry per factor")
    with nogil:
        for i in range(factors.shape[0]):
            f = factors[i]
            p0 = g.factor_ptr[f]
            sa = g.factor_strides[p0]
            sb = g.factor_strides[p0 + 1]
            k = g.n_states[g.factor_vars[p0]]
            lowest = 1e308
            for a in range(k):
                for bb in range(a + 1, k):
                    d = (factor_energy(g, theta, f, a * sa + a * sb) + factor_energy(g, theta, f, bb * sa + bb * sb)
                         - factor_energy(g, theta, f, a * sa + bb * sb) - factor_energy(g, theta, f, bb * sa + a * sb))
                    if d < lowest:
                        lowest = d
            out[i] = lowest / 2.0 if lowest > 0.0 else 0.0
    return None


def _py_uniform_at(key, uint32_t variable, uint64_t sweep, uint32_t stream, int64_t chain):
    """``uniform_at`` from Python, for tests: the uniform of one (variable, sweep, stream, chain)."""
    cdef const uint32_t[::1] k = np.ascontiguousarray(key, dtype=np.uint32)
    if k.shape[0] != 2 or chain < 0 or stream > 15:
        raise ValueError("_py_uniform_at needs a key of two words, a chain >= 0 and a stream < 16")
    return uniform_at(&k[0], variable, sweep, stream, chain)


def components(int64_t n, const int32_t[::1] a, const int32_t[::1] b):
    """Each of the variables 0..n-1's component under the edges (a[i], b[i]), labelled by its
    smallest member (the sweep's own union-find)."""
    if a.shape[0] != b.shape[0]:
        raise ValueError("components needs as many first as second ends")
    parent_arr = np.arange(n, dtype=np.int32)
    cdef int32_t[::1] parent = parent_arr
    cdef int64_t i
    cdef int32_t v
    for i in range(a.shape[0]):
        if not (0 <= a[i] < n and 0 <= b[i] < n):
            raise ValueError(f"edge {i} ({a[i]}, {b[i]}) is not between variables 0..{n - 1}")
    with nogil:
        for i in range(a.shape[0]):
            join(&parent[0], a[i], b[i])
        for v in range(n):
            parent[v] = find(&parent[0], v)
    return parent_arr
