"""What a process's first ``lacuna.enable()`` costs besides the hooks: every store's open
compares the state database's revision with this Lacuna's head, and finding the head imported
Alembic and loaded each revision module (~80 ms of CPU). The head is now read from the
revision files' own lines when they make one straight chain, and Alembic answers otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from lacuna.state import schema


def _revision(folder: Path, rev: str, down: str, extra: str = "") -> None:
    (folder / f"{rev}_x.py").write_text(
        f'"""r {rev}"""\nrevision = "{rev}"\ndown_revision = {down}\n'
        f"branch_labels = None\ndepends_on = None\n{extra}\ndef upgrade():\n    pass\n")


def test_enable2_head_from_the_files_is_alembics_head() -> None:
    versions = schema.MIGRATIONS / "versions"
    assert schema.linear_head(versions) == schema._script().get_current_head()


def test_enable2_head_revision_does_not_ask_alembic(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = schema._script().get_current_head()

    def refused() -> None:
        raise AssertionError("Alembic's script directory was loaded")

    monkeypatch.setattr(schema, "_script", refused)
    assert schema.head_revision() == expected


def test_enable2_a_straight_chain_gives_its_last_revision(tmp_path: Path) -> None:
    _revision(tmp_path, "a1", "None")
    _revision(tmp_path, "c3", '"b2"')
    _revision(tmp_path, "b2", "'a1'  # the second")
    assert schema.linear_head(tmp_path) == "c3"


@pytest.mark.parametrize(("files", "why"), [
    ([("a1", "None", ""), ("b2", '"a1"', ""), ("c3", '"a1"', "")], "a branch: two heads"),
    ([("a1", "None", ""), ("b2", "None", "")], "two roots"),
    ([("a1", "None", ""), ("b2", '"zz"', "")], "a missing down revision"),
    ([("a1", "None", ""), ("b2", '("a1", "x9")', "")], "a merge"),
    ([("a1", "None", ""), ("b2", '"a1"', 'branch_labels = ("feature",)')], "a label"),
    ([("a1", "None", ""), ("b2", '"a1"', 'down_revision = "a1"')], "declared twice"),
    ([("a1", "None", ""), ("a1", '"a1"', "")], "a revision twice"),
])
def test_enable2_anything_but_a_straight_chain_asks_alembic(
        tmp_path: Path, files: list[tuple[str, str, str]], why: str) -> None:
    for i, (rev, down, extra) in enumerate(files):
        folder = tmp_path / str(i)  # the same revision twice: two files
        folder.mkdir(exist_ok=True)
        _revision(folder, rev, down, extra)
        for path in folder.iterdir():
            path.rename(tmp_path / f"{i}_{path.name}")
    assert schema.linear_head(tmp_path) is None, why


def test_enable2_annotated_revision_lines_ask_alembic(tmp_path: Path) -> None:
    """Alembic's newer template writes ``down_revision: Union[str, None] = "a1"``."""
    _revision(tmp_path, "a1", "None")
    (tmp_path / "b2_x.py").write_text('revision: str = "b2"\n'
                                      'down_revision: Union[str, None] = "a1"\n')
    assert schema.linear_head(tmp_path) is None
