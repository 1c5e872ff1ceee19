"""One Dask cluster of two worker processes for the whole test run, started on first use.

Tests that kill workers build clusters of their own; everything else shares this one, since a
cluster takes about a second to start.
"""

import atexit

_CLUSTER = {}


def shared_client():
    """The shared client of a 2-process LocalCluster (one thread per worker)."""
    if "client" not in _CLUSTER:
        from distributed import Client, LocalCluster

        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
        _CLUSTER["cluster"], _CLUSTER["client"] = cluster, Client(cluster, set_as_default=False)
        atexit.register(_close)
    return _CLUSTER["client"]


def _close():
    _CLUSTER.pop("client").close()
    _CLUSTER.pop("cluster").close()
