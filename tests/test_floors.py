"""The floors CI tests (.ci/floors.txt) are exactly the floors pyproject.toml declares."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

# packaging comes with pytest (it is one of pytest's own requirements).
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
FLOORS = ROOT / ".ci" / "floors.txt"
VIA_RE = re.compile(r"via ([\w.-]+)(?:\[([\w,-]+)\])?")


def declared() -> list[Requirement]:
    """pyproject's runtime dependencies and those of every extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    texts = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        texts += extra
    return [Requirement(text) for text in texts]


def floor_lines() -> list[tuple[str, Version, str]]:
    """(canonical name, pinned version, comment) of each pin in the floors file."""
    pins = []
    for raw in FLOORS.read_text().splitlines():
        line, _, comment = raw.partition("#")
        if not line.strip():
            continue
        name, sep, version = line.strip().partition("==")
        assert sep, f"not a name==version pin: {raw!r}"
        pins.append((canonicalize_name(name), Version(version), comment.strip()))
    return pins


def floor_of(requirement: Requirement) -> Version:
    """The version of the requirement's one `>=` bound."""
    floors = [Version(spec.version) for spec in requirement.specifier if spec.operator == ">="]
    assert len(floors) == 1, f"{requirement} needs exactly one >= floor"
    return floors[0]


def test_every_dependency_has_a_floor_equal_to_its_pin() -> None:
    """Each dependency pyproject declares, runtime or test, has one `>=` floor, and the
    floors file pins it at exactly that version (a version its whole range allows)."""
    pins = {name: version for name, version, _ in floor_lines()}
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in {FLOORS.name}"
        assert pins[name] == floor_of(requirement), f"{name}: floor and pin differ"
        assert requirement.specifier.contains(pins[name]), f"{name}: pin outside the range"


def test_every_other_pin_says_which_extra_brings_it() -> None:
    """A pin of a package pyproject does not name directly is there for an extra pyproject
    asks for (`# via python-telegram-bot[job-queue]`); no package is pinned twice."""
    requirements = {canonicalize_name(r.name): r for r in declared()}
    names = [name for name, _, _ in floor_lines()]
    assert len(names) == len(set(names))
    others = [(name, comment) for name, _, comment in floor_lines() if name not in requirements]
    assert others, "the python-telegram-bot extras' own floors are pinned too"
    for name, comment in others:
        match = VIA_RE.fullmatch(comment)
        assert match is not None, f"{name}: say `# via package[extra]`"
        parent = requirements.get(canonicalize_name(match.group(1)))
        assert parent is not None, f"{name}: {match.group(1)} is not a dependency"
        if match.group(2):
            assert set(match.group(2).split(",")) <= parent.extras, f"{name}: extra not asked for"
