"""The documentation's promises: it builds without warnings, and every Python example in it runs.

Each page's examples run in order in one namespace, in a temporary working folder, so an
example may use the names an earlier one on the same page defined and may write files.
``.. code-block:: python`` blocks are executed; examples written as doctests (``>>>``) go
through the doctest machinery. Literal blocks (``::``) are for shell commands, TOML and
program output, and a test checks that none of them is Python that would escape running.
"""

import doctest
import importlib.util
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.rst")) + sorted(DOCS.glob("how-to/*.rst"))
PLUGIN = ROOT / "tests" / "plugins" / "toy_sampler"

_DIRECTIVE = re.compile(r"^(\s*)\.\. code-block::\s*(\S+)\s*$")
_LITERAL = re.compile(r"^( *)(?=\S)(?!\.\.).*::\s*$")


def _indented_body(lines: list[str], start: int, indent: int) -> tuple[int, list[str]]:
    """The block indented deeper than ``indent`` from line ``start`` on, skipping option lines."""
    i = start
    while i < len(lines) and re.match(r"^\s+:[\w-]+:", lines[i]) and _depth(lines[i]) > indent:
        i += 1
    body = []
    while i < len(lines) and (not lines[i].strip() or _depth(lines[i]) > indent):
        body.append(lines[i])
        i += 1
    while body and not body[-1].strip():
        body.pop()
    width = min((_depth(line) for line in body if line.strip()), default=0)
    return i, [line[width:] for line in body]


def _depth(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _segments(page: pathlib.Path) -> list[tuple[str, int, str]]:
    """The page cut into ("python" | "literal" | "text", first line number, text), in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    segments, text, text_start, i = [], [], 1, 0
    while i < len(lines):
        directive = _DIRECTIVE.match(lines[i])
        literal = _LITERAL.match(lines[i])
        if directive or literal:
            text.append(lines[i])
            indent = _depth(lines[i])
            end, body = _indented_body(lines, i + 1, indent)
            if body:
                segments.append(("text", text_start, "\n".join(text)))
                if directive:
                    kind = "python" if directive.group(2) in ("python", "py", "pycon") else "other"
                else:
                    kind = "literal"
                segments.append((kind, i + 2, "\n".join(body) + "\n"))
                text, text_start, i = [], end + 1, end
                continue
        text.append(lines[i])
        i += 1
    segments.append(("text", text_start, "\n".join(text)))
    return segments


def _run_doctests(source: str, namespace: dict, name: str, filename: str, lineno: int) -> None:
    test = doctest.DocTestParser().get_doctest(source, namespace, name, filename, lineno)
    if not test.examples:
        return
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    report: list[str] = []
    runner.run(test, out=report.append, clear_globs=False)
    if runner.failures:
        pytest.fail(f"doctest failures in {filename} from line {lineno}:\n" + "".join(report), pytrace=False)


def _ensure_plugin() -> None:
    """Install the how-to's plugin package as the page tells the reader to, if it is missing.

    tests/samplers/conftest.py installs it when the sampler tests are collected; this covers a
    run of this module alone in a fresh environment.
    """
    import samplers

    if "random-scan-metropolis" in samplers.available():
        return
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        source = shutil.copytree(PLUGIN, pathlib.Path(tmp) / PLUGIN.name)
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            str(source),
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"could not install {PLUGIN}:\n{done.stdout}{done.stderr}"
    importlib.invalidate_caches()
    samplers.refresh()


@pytest.fixture
def page_folder(tmp_path, monkeypatch):
    """A fresh working folder, a non-interactive matplotlib backend and no stray figures."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    yield tmp_path
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_page_examples_run(page, page_folder):
    filename = str(page.relative_to(ROOT))
    segments = _segments(page)
    python = [text for kind, _, text in segments if kind == "python"]
    if any(re.search(r"^\s*(import|from)\s+matplotlib", text, flags=re.M) for text in python) or any(
        "fg.plot." in text for text in python
    ):
        pytest.importorskip("matplotlib", reason="the page's examples draw with matplotlib (the plot extra)")
        import matplotlib

        matplotlib.use("Agg")
    if any("random-scan-metropolis" in text for text in python):
        _ensure_plugin()
    namespace: dict = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    for kind, lineno, text in segments:
        if kind == "python" and ">>>" in text:
            _run_doctests(text, namespace, page.stem, filename, lineno)
        elif kind == "python":
            code = compile("\n" * (lineno - 1) + text, filename, "exec")
            exec(code, namespace)
        elif kind == "text" and ">>>" in text:
            _run_doctests(text, namespace, page.stem, filename, lineno)


def test_pages_have_python_examples():
    """The parser finds the examples (a change of markup must not silently leave them unrun)."""
    counted = {page.name: sum(kind == "python" for kind, _, _ in _segments(page)) for page in PAGES}
    assert counted["tutorial.rst"] == 4 and counted["samplers.rst"] >= 4 and counted["training.rst"] >= 3


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_literal_blocks_are_not_python(page):
    """Python examples are ``.. code-block:: python`` blocks, so that the test above runs them."""
    for kind, lineno, text in _segments(page):
        if kind != "literal":
            continue
        try:
            compile(text, str(page), "exec")
        except SyntaxError:
            continue
        pytest.fail(
            f"{page.relative_to(ROOT)}:{lineno}: this literal block (::) is valid Python, so it is "
            "probably an example that no test runs; write it as a `.. code-block:: python` block "
            "(or `.. code-block:: bash`/`toml`/`text` if it is not Python).",
            pytrace=False,
        )


def test_docs_build_without_warnings(tmp_path):
    missing = [name for name in ("sphinx", "numpydoc") if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"{' and '.join(missing)} not installed; the test extra includes them")
    env = dict(os.environ)
    env.pop("FACTORGRAPH_DOCS_INTERSPHINX", None)  # offline: no inventories from the network
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    command = [
        sys.executable,
        "-m",
        "sphinx",
        "-W",
        "--keep-going",
        "-q",
        "-b",
        "html",
        "-d",
        str(tmp_path / "doctrees"),
        str(DOCS),
        str(tmp_path / "html"),
    ]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, f"sphinx reported problems:\n{done.stderr}{done.stdout}"
    assert (tmp_path / "html" / "index.html").exists()
