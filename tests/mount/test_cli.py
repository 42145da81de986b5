"""`lacuna mount` in the background and `lacuna unmount`, through the command line."""

from __future__ import annotations

import os

import pytest
from typer.testing import CliRunner

from lacuna.cli import app
from lacuna.mount import fuse_missing


def test_unmount_of_a_folder_that_is_not_mounted_says_so(tmp_path):
    result = CliRunner().invoke(app, ["unmount", str(tmp_path)])
    assert result.exit_code != 0
    assert "is not mounted" in str(result.exception)


def test_mount_runs_in_the_background_until_unmounted(tmp_path):
    missing = fuse_missing()
    if missing is not None:
        pytest.skip(f"no FUSE here: {missing}")
    source, mnt = tmp_path / "data", tmp_path / "mnt"
    (source / "outbox").mkdir(parents=True)
    mnt.mkdir()
    (source / "regions.csv").write_text("region,n\nEMEA,3\nAMER,4\n")
    config = tmp_path / "lacuna.yaml"
    config.write_text(f"user: {{id: bob}}\naudit: {{url: 'sqlite:///{tmp_path / 'state.db'}'}}\n")
    runner = CliRunner()
    started = runner.invoke(app, ["mount", str(source), str(mnt), "--config", str(config),
                                  "--outside", "outbox", "--outside", "share/partners"])
    try:
        assert started.exit_code == 0, started.output
        assert "outside: outbox, share/partners" in started.output
        assert os.path.ismount(mnt)
        assert (mnt / "regions.csv").read_text().startswith("region,n")
    finally:
        stopped = runner.invoke(app, ["unmount", str(mnt)])
    assert stopped.exit_code == 0, stopped.output
    assert not os.path.ismount(mnt)
    again = runner.invoke(app, ["mount", str(source), str(source / "outbox")])
    assert again.exit_code != 0
    assert "would contain itself" in str(again.exception)
