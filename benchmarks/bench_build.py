"""Build and compile time, and peak memory, of two large models.

(a) 100,000 binary variables with 1,000,000 random pairwise Product features plus one unary
    Product feature per variable;
(b) a 21-state Potts model on 200 variables: fields and a Potential group on every one of the
    19,900 pairs (about 8.8 million parameters).

Each case runs in a fresh subprocess on one thread, so its peak resident memory is its own.
Run:  python benchmarks/bench_build.py
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time

import numpy as np


def _random_pairs(rng: np.random.Generator, n: int, m: int) -> np.ndarray:
    first = rng.integers(0, n, m)
    second = (first + rng.integers(1, n, m)) % n  # never equal to first
    return np.stack([first, second], axis=1)


def case_a() -> dict:
    import factorgraph as fg

    rng = np.random.default_rng(0)
    pairs = _random_pairs(rng, 100_000, 1_000_000)
    t0 = time.perf_counter()
    g = fg.FactorGraph()
    v = g.add_variables(100_000)
    g.add_features(fg.features.Product(v), name="fields")
    g.add_features(fg.features.Product(pairs), name="pairs")
    t1 = time.perf_counter()
    compiled = g.compile()
    t2 = time.perf_counter()
    return {
        "n_features": g.n_features,
        "n_colors": compiled.n_colors,
        "build": t1 - t0,
        "compile": t2 - t1,
        "compiled_mib": compiled.nbytes / 2**20,
    }


def case_b() -> dict:
    import factorgraph as fg

    t0 = time.perf_counter()
    g = fg.FactorGraph()
    v = g.add_variables(200, n_states=21)
    i, j = np.triu_indices(200, k=1)
    g.add_features(fg.features.Potential(v), name="fields")
    g.add_features(fg.features.Potential(np.stack([i, j], axis=1)), name="couplings")
    t1 = time.perf_counter()
    compiled = g.compile()
    t2 = time.perf_counter()
    return {
        "n_features": g.n_features,
        "n_colors": compiled.n_colors,
        "build": t1 - t0,
        "compile": t2 - t1,
        "compiled_mib": compiled.nbytes / 2**20,
    }


CASES = {
    "a": ("100k binary variables, 1M pair + 100k unary Product features", case_a),
    "b": ("21-state Potts on 200 variables, fields + 19,900 Potential pairs", case_b),
}


def _child(name: str) -> None:
    result = CASES[name][1]()
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def main() -> None:
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    baseline = subprocess.run(
        [
            sys.executable,
            "-c",
            "import factorgraph, resource; print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    print(f"peak memory of a bare 'import factorgraph': {float(baseline.stdout):.0f} MiB")
    for name, (title, _) in CASES.items():
        out = subprocess.run(
            [sys.executable, __file__, "--child", name], capture_output=True, text=True, env=env, check=True
        )
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"({name}) {title}")
        print(f"    features {r['n_features']:,}, colours {r['n_colors']}, compiled arrays {r['compiled_mib']:.1f} MiB")
        print(
            f"    build {r['build']:.2f} s   compile {r['compile']:.2f} s   peak memory {r['peak_mib']:.0f} MiB"
            f"   (targets: < 10 s each, < 2048 MiB)"
        )


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
    else:
        main()
