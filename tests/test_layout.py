"""The layout holds: one package per pipeline stage, imports pointing down the stages only,
small modules, and a docstring on every package that says what it may import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[1] / "bot"

# Lowest first. A module may import its own package and any unit of a lower level; units on
# the same level (matching and storage, telegram and cli) do not import each other.
LEVELS: dict[str, int] = {
    "models": 0,
    "messages": 0,
    "matching": 1,
    "storage": 1,
    "arxiv": 2,
    "i18n": 3,
    "delivery": 4,
    "ops": 5,
    "config": 6,
    "services": 7,
    "index": 8,
    "pipeline": 9,
    "schedule": 10,
    "telegram": 11,
    "cli": 11,
    "app": 12,
    "__main__": 13,
}
# Data tables may be longer than the ~400 lines of a module: arXiv's category taxonomy.
DATA_TABLES = {"bot/arxiv/categories.py"}
MAX_LINES = 400


def _sources() -> list[Path]:
    return sorted(BOT.rglob("*.py"))


def _unit(module: str) -> str:
    """The stage a dotted module name belongs to: bot.arxiv.feeds → arxiv, bot.app → app."""
    parts = module.split(".")
    assert parts[0] == "bot", module
    return parts[1] if len(parts) > 1 else ""


def _module_name(path: Path) -> str:
    relative = path.relative_to(BOT.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every bot module a file imports (line, dotted name)."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    return _imports_in(path.read_text(encoding="utf-8"), package)


def _imports_in(source: str, package: str) -> list[tuple[int, str]]:
    """The bot modules that `source`, standing in `package`, imports: relative imports
    resolved, and `from bot import x` read as the module bot.x."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            module = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([module] if module else [])])
            if module == "bot":
                found += [(node.lineno, f"bot.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, module))
    return [(line, name) for line, name in found if name == "bot" or name.startswith("bot.")]


def test_every_module_of_bot_belongs_to_a_known_stage() -> None:
    """A new top-level module or package has to be given its place in the order first."""
    units = {_unit(_module_name(path)) for path in _sources()} - {""}
    assert units <= set(LEVELS), f"place these in LEVELS: {sorted(units - set(LEVELS))}"


def test_imports_point_down_the_stages_only() -> None:
    """No module imports a stage above its own, nor a sibling stage on the same level."""
    upward = []
    for path in _sources():
        unit = _unit(_module_name(path))
        if not unit:
            continue
        for line, module in _imported_modules(path):
            target = _unit(module)
            if target == unit:
                continue
            if not target or LEVELS[target] >= LEVELS[unit]:
                upward.append(f"{path.relative_to(BOT.parent)}:{line} ({unit}) imports {module}")
    assert upward == []


@pytest.mark.parametrize(
    "source",
    [
        "from bot.pipeline import send_digest\n",
        "from bot import services\n",
        "from ..telegram import handlers\n",
        "import bot.app\n",
    ],
)
def test_the_check_sees_an_upward_import_in_any_spelling(source: str) -> None:
    """The import reader resolves absolute, `from bot import`, relative and plain imports."""
    modules = _imports_in(source, "bot.delivery")
    assert modules, source
    assert all(LEVELS[_unit(module)] > LEVELS["delivery"] for _, module in modules)


def test_every_package_says_what_it_does_and_what_it_may_import() -> None:
    """Each stage's __init__.py has a docstring naming what it may import, and re-exports
    nothing (no imports)."""
    for init in sorted(BOT.glob("*/__init__.py")):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        doc = ast.get_docstring(tree)
        assert doc, init
        assert "May import" in doc, init
        assert not [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)], init


def test_modules_stay_small() -> None:
    """No module is over ~400 lines, except the data tables."""
    long = {
        str(path.relative_to(BOT.parent)): length
        for path in _sources()
        if (length := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
        and str(path.relative_to(BOT.parent)) not in DATA_TABLES
    }
    assert long == {}
