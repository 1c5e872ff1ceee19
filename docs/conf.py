"""Sphinx configuration: numpydoc API pages plus hand-written guides.

The build is offline by default, so that ``sphinx -W`` in the test suite and in CI needs no
network. Set ``FACTORGRAPH_DOCS_INTERSPHINX=1`` to link numpy, scipy and networkx names to
their online documentation (this fetches their inventories).
"""

import os

project = "factorgraph-maxent"
author = "factorgraph-maxent developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.mathjax", "numpydoc"]
numpydoc_show_class_members = False
if os.environ.get("FACTORGRAPH_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3/", None),
        "numpy": ("https://numpy.org/doc/stable/", None),
        "scipy": ("https://docs.scipy.org/doc/scipy/", None),
        "networkx": ("https://networkx.org/documentation/stable/", None),
    }
html_theme = "alabaster"
exclude_patterns = ["_build"]
