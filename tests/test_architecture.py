"""Layering rules: cep never reaches for streamlit or ui, heavy libraries keep one home, and
nothing anywhere calls eval or exec."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CEP = ROOT / "cep"

# Where each heavy library may be imported inside cep (paths relative to the repo root).
HOMES = {
    "polars": (
        "cep/events.py", "cep/expr.py", "cep/matcher/", "cep/packs.py", "cep/results.py",
        "cep/explain/",
    ),
    "numba": ("cep/matcher/",),
    "sqlalchemy": ("cep/history.py", "cep/history/"),
    "alembic": ("cep/history/",),
    "httpx": ("cep/nl/", "cep/alerts/"),
    "jinja2": ("cep/codegen/",),
}
APP_CODE = ("cep", "ui", "pages", "app.py")


def python_files(*roots: str) -> list[Path]:
    files: list[Path] = []
    for root in roots:
        path = ROOT / root
        files.extend([path] if path.is_file() else sorted(path.rglob("*.py")))
    return files


def rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> Iterator[str]:
    """Yield the absolute names of the modules a file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module_name(path).rsplit(".", 0 if path.name == "__init__.py" else 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                yield ".".join([*base, *([node.module] if node.module else [])])
            else:
                yield node.module or ""
                yield from (f"{node.module}.{alias.name}" for alias in node.names)


def top(name: str) -> str:
    return name.split(".", 1)[0]


def test_cep_has_modules_to_check() -> None:
    assert python_files("cep"), "cep/ holds no Python files"


@pytest.mark.parametrize("path", python_files("cep"), ids=rel)
def test_cep_never_imports_streamlit_or_ui(path: Path) -> None:
    bad = sorted({m for m in imported_modules(path) if top(m) in {"streamlit", "ui", "pages"}})
    assert not bad, f"{rel(path)} imports {bad}: cep must not depend on the UI layer"


def test_importing_cep_does_not_load_streamlit() -> None:
    candidates = [
        "cep",
        "cep.errors",
        "cep.model",
        "cep.events",
        "cep.expr",
        "cep.results",
        "cep.matcher",
    ]
    present = [
        name
        for name in candidates
        if (ROOT / name.replace(".", "/")).with_suffix(".py").is_file()
        or (ROOT / name.replace(".", "/") / "__init__.py").is_file()
    ]
    code = (
        "import importlib, sys\n"
        f"for name in {present!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in {'streamlit', 'ui'})\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "", f"importing cep loaded {done.stdout.strip()}"


def _called_name(call: ast.Call) -> str | None:
    func = call.func
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return (
            func.attr if isinstance(func.value, ast.Name) and func.value.id == "builtins" else None
        )
    return None


@pytest.mark.parametrize("path", python_files(*APP_CODE), ids=rel)
def test_no_eval_or_exec(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    calls = [
        f"{_called_name(node)}() on line {node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and _called_name(node) in {"eval", "exec"}
    ]
    assert not calls, f"{rel(path)} calls {calls}; parse user text with cep.expr instead"


@pytest.mark.parametrize("library", sorted(HOMES))
def test_heavy_libraries_are_imported_only_in_their_home(library: str) -> None:
    homes = HOMES[library]
    strays = [
        rel(path)
        for path in python_files("cep")
        if not rel(path).startswith(homes)
        and any(top(m) == library for m in imported_modules(path))
    ]
    assert not strays, f"{library} is imported outside {homes}: {strays}"
