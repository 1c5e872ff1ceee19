"""Progress bars for long loops (training steps, sampling sweeps), shared by fit and sample.

``progress=None`` means "auto": a bar when standard error is a terminal or in a Jupyter
notebook, none under continuous integration (``CI`` set), in a pytest-xdist worker, or when
output goes to a file or pipe.
``TQDM_DISABLE=1`` turns every bar off, as tqdm itself documents.
"""

from __future__ import annotations

import os
import sys
from typing import Any

__all__ = ["auto_progress", "progress_bar", "rate"]


def auto_progress() -> bool:
    """True when a bar would be seen: standard error is a terminal or this is a Jupyter kernel,
    and not under CI."""
    if os.environ.get("CI") or os.environ.get("PYTEST_XDIST_WORKER"):
        return False
    if "ipykernel" in sys.modules:  # a notebook: tqdm.auto draws a widget
        shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
        if shell is not None and hasattr(shell, "kernel"):
            return True
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def progress_bar(total: int, progress: bool | None, desc: str, unit: str) -> Any:
    """A tqdm bar of ``total`` items, or None when ``progress`` (or the auto rule) says no."""
    if progress is None:
        progress = auto_progress()
    if not progress:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, leave=False, dynamic_ncols=True)


def rate(count: float, seconds: float) -> str:
    """``count`` per second in short SI form, e.g. ``"12.3M/s"``."""
    from tqdm import tqdm

    return f"{tqdm.format_sizeof(count / seconds) if seconds > 0 else '?'}/s"
