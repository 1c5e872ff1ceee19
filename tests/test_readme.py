"""The README's promises: its Python examples run, and CI runs exactly its test command."""

import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_readme_opens_with_the_two_commands():
    install_and_run, install_and_test = _blocks("bash")[:2]
    assert "pip install ." in install_and_run and "factorgraph demo" in install_and_run
    assert ".[test]" in install_and_test and "pytest" in install_and_test


def test_ci_runs_the_readme_test_command():
    command = _blocks("bash")[1].strip()
    ci_lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert command in ci_lines


def test_readme_python_examples_run(capsys):
    for block in _blocks("python"):
        exec(compile(block, "README.md", "exec"), {})
    # each printed line is a row of checks the README promises: every one must be True
    printed = capsys.readouterr().out.split()
    assert printed and all(word == "True" for word in printed), printed
