"""The project's error tree: one root, drawn whole in store/errors.py, one way to explain."""

from __future__ import annotations

import importlib
import re

import store.errors
from store.errors import QueryError, RugsError, explain

PACKAGES = ("store.errors", "chunkers.errors", "indexer.errors", "mcp_server.errors")


def _subclasses(cls: type[BaseException]) -> set[type[BaseException]]:
    out: set[type[BaseException]] = set()
    for sub in cls.__subclasses__():
        out |= {sub} | _subclasses(sub)
    return out


def test_every_error_class_is_in_the_drawn_tree_and_under_the_root() -> None:
    for mod in PACKAGES:
        importlib.import_module(mod)
    drawn = set(re.findall(r"[├└]── (\w+)", store.errors.__doc__ or ""))
    classes = {c for c in _subclasses(RugsError) if not c.__module__.startswith("tests")}
    assert {c.__name__ for c in classes} == drawn
    for c in classes:
        assert c.__module__ in PACKAGES, f"{c.__name__} lives in {c.__module__}, not errors.py"


def test_a_person_gets_one_line_and_an_agent_also_gets_the_hint() -> None:
    exc = QueryError("no ticks\n  stored for game 'g'", hint="Call list_games.")
    assert explain(exc) == "no ticks stored for game 'g'"
    assert explain(exc, for_agent=True) == "no ticks stored for game 'g'. Call list_games."
    assert explain(RugsError()) == "RugsError"
