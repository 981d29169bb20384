"""The shared package's public API: what ``casts.memory`` exports, and that casts use only it.

In the manner of httpx's ``tests/test_exported_members.py``: ``__all__`` is exactly the public
names the package defines, each is described in the package docstring, and no cast reaches
into a sub-package.
"""

from __future__ import annotations

import ast
import re
import types
from pathlib import Path

import casts.memory

ROOT = Path(__file__).resolve().parents[1]
CASTS = sorted(p for p in (ROOT / "casts").iterdir() if p.is_dir() and (p / "graph.py").exists())


def _public_names() -> list[str]:
    names = []
    for name, value in vars(casts.memory).items():
        if name.startswith("_"):
            continue
        is_subpackage = isinstance(value, types.ModuleType) and hasattr(value, "__path__")
        if is_subpackage and value.__name__ == f"casts.memory.{name}":
            continue  # core/, store/, ...: the layout, reached through the names below
        names.append(name)
    return names


def test_all_lists_exactly_the_public_names() -> None:
    assert sorted(casts.memory.__all__) == sorted(_public_names())
    assert len(set(casts.memory.__all__)) == len(casts.memory.__all__)


def test_every_export_is_described_in_the_package_docstring() -> None:
    doc = casts.memory.__doc__ or ""
    undocumented = [name for name in casts.memory.__all__ if f"``{name}``" not in doc]
    assert undocumented == []


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def test_casts_import_the_shared_package_only_through_its_public_api() -> None:
    assert len(CASTS) >= 7
    offending = []
    for cast in CASTS:
        for path in sorted(cast.rglob("*.py")):
            for line, module in _imports(path):
                inside = module.startswith("casts.memory.") or module == "casts.memory"
                if inside and module != "casts.memory":
                    offending.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert offending == []


def test_every_public_name_a_cast_imports_exists() -> None:
    for cast in CASTS:
        for path in cast.rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module == "casts.memory":
                    for alias in node.names:
                        assert alias.name in casts.memory.__all__, f"{path}: {alias.name}"


def test_the_readme_module_table_lists_every_module() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## The shared memory package (`casts/memory/`)", 1)[1].split(
        "\n## ", 1
    )[0]
    listed = set(re.findall(r"^\| `([\w/]+\.py)` \|", section, flags=re.M))
    package = ROOT / "casts" / "memory"
    modules = {
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.name != "__init__.py" or path.parent == package
    }
    assert listed == modules
