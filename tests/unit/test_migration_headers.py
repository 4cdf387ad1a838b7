"""Each migration's docstring names the revision it is and the one it follows as its code
does (`revision`, `down_revision`): readers of the chain go by the text."""

import ast
import re
from pathlib import Path

import pytest

VERSIONS = sorted(
    path
    for path in (Path(__file__).parents[2] / "services").glob("*/*/migrations/versions/*.py")
    if path.name != "__init__.py"
)


def _assigned(tree: ast.Module, name: str) -> object:
    for node in tree.body:
        if isinstance(node, ast.Assign) and [getattr(t, "id", None) for t in node.targets] == [
            name
        ]:
            return ast.literal_eval(node.value)
    raise AssertionError(f"no {name}")


def _header(docstring: str, field: str) -> str | None:
    found = re.search(rf"^{field}:[ \t]*(\S*)[ \t]*$", docstring, re.MULTILINE)
    if found is None:
        raise AssertionError(f"no {field} line")
    return found.group(1) or None


@pytest.mark.parametrize("path", VERSIONS, ids=lambda p: f"{p.parts[-5]}/{p.stem}")
def test_the_docstring_names_the_revisions_of_the_code(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstring = ast.get_docstring(tree) or ""
    assert _header(docstring, "Revision ID") == _assigned(tree, "revision")
    assert _header(docstring, "Revises") == _assigned(tree, "down_revision")
