"""``executescript``'s cut into statements (lacuna.integrations.sqlite3.statements): as SQLite
reads them, and in time linear in the script (a string holding many ``;`` was re-read at each
one)."""

from __future__ import annotations

import random
import sqlite3

import pytest

from lacuna.integrations import sqlite3 as governed_sqlite3

FRAGMENTS = ["SELECT 1", ";", " ", "'a;b'", "'it''s;'", '"c;d"', '"q"";"', "`e;f`", "[g;h]",
             "-- x;y\n", "/* m;n */", "CREATE TRIGGER tr AFTER INSERT ON t BEGIN ",
             "INSERT INTO log VALUES (1);", " END", "'", '"', "/*", "--", "[", "\n", "x"]


def _reference(script: str) -> list[str]:
    """The cut confirmed at every ``;`` (the old, quadratic way): SQLite's own answer."""
    found, start, at = [], 0, script.find(";")
    while at != -1:
        if sqlite3.complete_statement(script[start:at + 1]):
            found.append(script[start:at + 1])
            start = at + 1
        at = script.find(";", at + 1)
    found.append(script[start:])
    return found


def test_the_cut_is_sqlites_for_strings_names_comments_and_triggers() -> None:
    rng = random.Random(7)
    for _ in range(3000):
        script = "".join(rng.choice(FRAGMENTS) for _ in range(rng.randint(1, 14)))
        expected = [s for s in _reference(script) if not governed_sqlite3._empty(s)]
        assert governed_sqlite3.statements(script) == expected, script


def test_semicolons_inside_a_string_are_skipped_in_one_pass(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each ``;`` of the string was confirmed by re-reading a growing slice: 100,000 of them
    took 1.4 s of CPU here (quadratic); now only the two cuts are confirmed."""
    script = "SELECT '" + ";" * 100_000 + "'; SELECT 2;"
    confirmed: list[int] = []
    original = sqlite3.complete_statement

    def complete(piece: str) -> bool:
        confirmed.append(len(piece))
        return original(piece)

    monkeypatch.setattr(governed_sqlite3.sqlite3, "complete_statement", complete)
    assert governed_sqlite3.statements(script) == [script[:-10], " SELECT 2;"]
    assert confirmed == [len(script) - 10, 10]
