# cython: language_level=3
"""OpenMP facts for this build: whether it has OpenMP and how many threads to use."""

import os

cdef extern from *:
    """
    #ifdef _OPENMP
    #include <omp.h>
    #define FG_HAVE_OPENMP 1
    static int fg_max_threads(void) { return omp_get_max_threads(); }
    #else
    #define FG_HAVE_OPENMP 0
    static int fg_max_threads(void) { return 1; }
    #endif
    """
    int FG_HAVE_OPENMP
    int fg_max_threads() nogil


def have_openmp():
    """Return True when the extensions were compiled with OpenMP."""
    return bool(FG_HAVE_OPENMP)


def effective_n_threads(n_threads=None):
    """Resolve a user's ``n_threads`` to a positive thread count.

    ``None`` means every usable core (honouring ``OMP_NUM_THREADS``), a negative value counts
    back from that (-1 is all, -2 all but one), ``0`` is an error, and a build without OpenMP
    always gives 1.
    """
    from factorgraph._validation import check_int

    if n_threads is not None:
        check_int("n_threads", n_threads, owner="effective_n_threads", allow_negative=True,
                  minimum=-2**15, maximum=2**15)
        if n_threads == 0:
            from factorgraph._errors import ModelSpecError

            raise ModelSpecError(
                "The 'n_threads' argument must not be 0; got 0. Pass None for every core, "
                "a positive count, or a negative count back from all cores."
            )
    if not FG_HAVE_OPENMP:
        return 1
    cdef int available = fg_max_threads()
    available = min(available, len(os.sched_getaffinity(0))) if hasattr(os, "sched_getaffinity") else available
    if n_threads is None:
        return max(1, available)
    if n_threads < 0:
        return max(1, available + 1 + n_threads)
    return int(n_threads)
