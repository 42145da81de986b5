"""Which transport serves a mount (``mount.passthrough``): auto falls back to libfuse with the
reason logged, on refuses to mount without passthrough and says why, off never probes."""

from __future__ import annotations

import logging

import pytest

from lacuna.config import Config
from lacuna.errors import ConfigError, IntegrationError
from lacuna.mount import kernel_dev, run


@pytest.fixture
def unavailable(monkeypatch):
    calls = []

    def probe(source):
        calls.append(source)
        return "the kernel (FUSE protocol 7.38) does not offer FUSE_PASSTHROUGH"

    monkeypatch.setattr(kernel_dev, "probe", probe)
    return calls


def test_auto_falls_back_to_libfuse_and_logs_why(unavailable, caplog):
    with caplog.at_level(logging.INFO, logger="lacuna.mount"):
        assert run.use_passthrough("auto", "/data") is False
    assert unavailable == ["/data"]
    assert "transport: libfuse (mfusepy); FUSE passthrough is unavailable here: the kernel " \
           "(FUSE protocol 7.38) does not offer FUSE_PASSTHROUGH" in caplog.text


def test_on_refuses_to_mount_without_passthrough_and_says_how_to_fix(unavailable):
    with pytest.raises(IntegrationError) as err:
        run.use_passthrough("on", "/data")
    assert "does not offer FUSE_PASSTHROUGH" in str(err.value)
    assert "mount.passthrough" in str(err.value)


def test_off_never_probes(unavailable, caplog):
    with caplog.at_level(logging.INFO, logger="lacuna.mount"):
        assert run.use_passthrough("off", "/data") is False
    assert unavailable == []
    assert "mount.passthrough is off" in caplog.text


def test_auto_and_on_use_passthrough_when_the_probe_succeeds(monkeypatch):
    monkeypatch.setattr(kernel_dev, "probe", lambda source: None)
    assert run.use_passthrough("auto", "/data") is True
    assert run.use_passthrough("on", "/data") is True


def test_the_setting_defaults_to_auto_and_refuses_other_values():
    assert Config().mount.passthrough == "auto"
    assert Config.model_validate({"mount": {"passthrough": "off"}}).mount.passthrough == "off"
    with pytest.raises((ConfigError, ValueError)):
        Config.model_validate({"mount": {"passthrough": "sometimes"}})


def test_the_probe_says_why_when_there_is_no_fuse_device(monkeypatch, tmp_path):
    monkeypatch.setattr(kernel_dev.os.path, "exists", lambda p: False)
    assert kernel_dev.probe(str(tmp_path)) == "/dev/fuse does not exist"
