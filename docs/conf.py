"""Sphinx configuration: numpydoc API pages plus hand-written guides."""

project = "factorgraph-maxent"
author = "factorgraph-maxent developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.intersphinx", "sphinx.ext.mathjax", "numpydoc"]
numpydoc_show_class_members = False
intersphinx_mapping = {
    "numpy": ("https://numpy.org/doc/stable/", None),
    "scipy": ("https://docs.scipy.org/doc/scipy/", None),
    "networkx": ("https://networkx.org/documentation/stable/", None),
}
html_theme = "alabaster"
exclude_patterns = ["_build"]
