"""The imports a Python file makes, read with ``ast`` (no code imported): for the checks that
the layers import only downwards and that an image holds every module its code imports.

Imports under ``if TYPE_CHECKING:`` never run: only the type checker (the dev venv) needs
them, so each `Import` says whether it is one (``typing_only``)."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

OPTIONAL = ("ImportError", "ModuleNotFoundError")


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    module: str  # the full dotted name
    typing_only: bool = False  # under `if TYPE_CHECKING:`: read by the type checker alone

    @property
    def top(self) -> str:
        return self.module.split(".")[0]


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _guarded(tree: ast.AST) -> set[int]:
    """ids of the nodes inside a `try` that handles ImportError: optional imports."""
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try):
            continue
        caught = " ".join(ast.unparse(h.type) for h in node.handlers if h.type is not None)
        if any(name in caught for name in OPTIONAL):
            guarded |= {id(inner) for stmt in node.body for inner in ast.walk(stmt)}
    return guarded


def _typing_only(tree: ast.AST) -> set[int]:
    """ids of the nodes inside an `if TYPE_CHECKING:` body (not its else branch)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING",
                                                                    "typing.TYPE_CHECKING"):
            inside |= {id(inner) for stmt in node.body for inner in ast.walk(stmt)}
    return inside


def imports(path: Path, source: str | None = None) -> Iterator[Import]:
    """Absolute imports of a file, at any depth (function-level ones too), and the modules
    that `pytest.importorskip("...")` and `importlib.import_module("...")` name literally;
    imports guarded by `except ImportError` are optional and left out."""
    tree = ast.parse(source if source is not None else path.read_text(), str(path))
    guarded = _guarded(tree)
    typing_only = _typing_only(tree)
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        typed = id(node) in typing_only
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name, typed)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield Import(path, node.lineno, node.module, typed)
            for alias in node.names:  # `from shared import http` imports shared.http
                yield Import(path, node.lineno, f"{node.module}.{alias.name}", typed)
        elif (isinstance(node, ast.Call) and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and ast.unparse(node.func) in ("pytest.importorskip", "importlib.import_module")):
            yield Import(path, node.lineno, node.args[0].value)
