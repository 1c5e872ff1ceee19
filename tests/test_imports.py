"""Each package imports first in a fresh interpreter, and ``import factorgraph`` stays light."""

import subprocess
import sys

import pytest


def _run(code):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("package", ["factorgraph", "samplers", "objectives"])
def test_each_package_imports_first_in_a_fresh_interpreter(package):
    assert _run(f"import {package}; print('ok')").strip() == "ok"


def test_import_factorgraph_is_light():
    """The top-level package loads its parts on first use: no scipy.stats, training loop, Dask
    or matplotlib at import, and well under 0.3 s beyond numpy's own import (measured in the
    same fresh process, so the machine's speed cancels out)."""
    out = _run(
        "import sys, time\n"
        "t0 = time.perf_counter(); import numpy; t1 = time.perf_counter()\n"
        "import factorgraph; t2 = time.perf_counter()\n"
        "heavy = [m for m in ('scipy.stats', 'scipy.optimize', 'dask', 'matplotlib', 'networkx',\n"
        "         'factorgraph.training', 'factorgraph.spec', 'factorgraph.checkpoint', 'factorgraph.plot',\n"
        "         'samplers') if m in sys.modules]\n"
        "print(t2 - t1, t1 - t0, ','.join(heavy))\n"
    )
    extra, numpy_time, heavy = out.split(" ", 2)
    assert heavy.strip() == ""
    assert float(extra) < 0.3, (extra, numpy_time)


def test_lazy_attributes_are_the_real_objects():
    out = _run(
        "import factorgraph as fg\n"
        "from factorgraph.graph import FactorGraph\n"
        "from factorgraph.training import Trainer\n"
        "import factorgraph.optim as optim\n"
        "assert fg.FactorGraph is FactorGraph and fg.Trainer is Trainer and fg.optim is optim\n"
        "assert set(fg.__all__) <= set(dir(fg))\n"
        "from factorgraph import *  # every name of __all__ resolves\n"
        "try:\n"
        "    fg.no_such_name\n"
        "except AttributeError as exc:\n"
        "    print(exc)\n"
    )
    assert "no attribute 'no_such_name'" in out
