"""Which mount paths are governed and which are outside, without FUSE."""

from __future__ import annotations

import pytest

from lacuna.config import config_from_dict
from lacuna.destinations import classify_destination
from lacuna.errors import IntegrationError
from lacuna.model import Classification, DestinationType, Scope, Tier
from lacuna.mount import MountLayout, mount_config
from lacuna.mount.tracker import ReadTracker


@pytest.fixture
def folders(tmp_path):
    (tmp_path / "data" / "outbox").mkdir(parents=True)
    (tmp_path / "mnt").mkdir()
    return tmp_path


def test_source_is_governed_and_the_outbox_is_outside(folders):
    layout = MountLayout.of(folders / "data", folders / "mnt")
    config = mount_config(config_from_dict({}), layout)
    inside = classify_destination(layout.backing("/work/x.csv"), config.destinations)
    outside = classify_destination(layout.backing("/outbox/x.csv"), config.destinations)
    deeper = classify_destination(layout.backing("/outbox/a/b.csv"), config.destinations)
    assert inside.type is DestinationType.GOVERNED_STORAGE
    assert inside.scope is Scope.INTERNAL
    assert outside.type is DestinationType.FILE
    assert outside.scope is Scope.EXTERNAL
    assert not outside.managed
    assert deeper.scope is Scope.EXTERNAL
    # a sibling whose name merely starts like the outbox is not outside
    assert classify_destination(layout.backing("/outbox2/x.csv"),
                                config.destinations).type is DestinationType.GOVERNED_STORAGE


def test_a_more_specific_configured_root_still_wins(folders):
    layout = MountLayout.of(folders / "data", folders / "mnt", ("outbox",))
    reviewed = f"{folders / 'data' / 'outbox' / 'reviewed'}/"
    base = config_from_dict({"destinations": {"governed": [reviewed]}})
    dest = classify_destination(layout.backing("/outbox/reviewed/x.csv"),
                                mount_config(base, layout).destinations)
    assert dest.type is DestinationType.GOVERNED_STORAGE


@pytest.mark.parametrize("outside", ["", "..", "../etc", "a/../b", ".lacuna-staging", "/"])
def test_outside_folders_must_be_relative_and_inside(folders, outside):
    with pytest.raises(IntegrationError, match="relative folder inside SOURCE"):
        MountLayout.of(folders / "data", folders / "mnt", (outside,))


def test_a_mount_point_inside_source_or_not_empty_is_refused(folders):
    with pytest.raises(IntegrationError, match="would contain itself"):
        MountLayout.of(folders / "data", folders / "data" / "outbox")
    (folders / "mnt" / "x").write_text("x")
    with pytest.raises(IntegrationError, match="not empty"):
        MountLayout.of(folders / "data", folders / "mnt")
    with pytest.raises(IntegrationError, match="not a folder"):
        MountLayout.of(folders / "missing", folders / "mnt")


def test_the_staging_folder_is_hidden():
    layout = MountLayout(source="/d", mountpoint="/m")
    assert layout.hidden("/.lacuna-staging")
    assert layout.hidden("/.lacuna-staging/x/y.csv")
    assert not layout.hidden("/outbox/.lacuna-staging-not")
    assert not layout.hidden("/a.csv")


def test_reads_are_remembered_per_process_group():
    import os

    tracker = ReadTracker()
    pii = Classification(tier=Tier.PROPRIETARY)
    tracker.saw(os.getpid(), "/d/a.csv", pii)
    tracker.saw(os.getpid(), "/d/b.csv", Classification())
    tracker.saw(os.getpid(), "/d/a.csv", pii)  # read again: moves to the end, not twice
    assert [r.path for r in tracker.reads(os.getpid())] == ["/d/b.csv", "/d/a.csv"]
    assert [r.path for r in tracker.reads(os.getpid(), exclude="/d/a.csv")] == ["/d/b.csv"]
    assert tracker.reads(1) == ()  # init's group read nothing
    old = ReadTracker(window=0.0)
    old.saw(os.getpid(), "/d/a.csv", pii)
    import time

    time.sleep(0.01)
    assert old.reads(os.getpid()) == ()
