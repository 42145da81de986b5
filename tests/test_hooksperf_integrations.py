"""An installed library Lacuna cannot govern (its integration does not import) is refused
at ``enable()``/``governed()`` in enforce mode and warned about otherwise, never left to run
ungoverned in silence."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import lacuna
from lacuna.errors import IntegrationError
from lacuna.governor import GovernanceFailureWarning


@pytest.fixture
def polars_unsupported(monkeypatch: pytest.MonkeyPatch) -> None:
    """polars imports, its integration does not (as with a polars release that renamed a
    module the integration uses)."""
    pytest.importorskip("polars")
    import lacuna.integrations as package

    monkeypatch.setitem(sys.modules, "lacuna.integrations.polars", None)
    monkeypatch.delattr(package, "polars", raising=False)


@pytest.mark.usefixtures("polars_unsupported")
def test_integrations_enforce_refuses_an_ungovernable_library(sandbox_config) -> None:
    import pandas as pd

    original = vars(pd.DataFrame).get("merge")
    with pytest.raises(IntegrationError, match=r"polars is installed but Lacuna cannot govern"):
        lacuna.enable(sandbox_config())
    assert not lacuna.enabled()
    assert vars(pd.DataFrame).get("merge") is original  # nothing was installed
    with pytest.raises(IntegrationError, match="polars"), lacuna.governed(sandbox_config()):
        pass
    assert vars(pd.DataFrame).get("merge") is original


@pytest.mark.usefixtures("polars_unsupported")
def test_integrations_warn_mode_says_what_runs_ungoverned(sandbox_config,
                                                          sandbox: Path) -> None:
    import pandas as pd

    with pytest.warns(GovernanceFailureWarning, match=r"polars .* runs ungoverned") as caught:
        lacuna.enable(sandbox_config(mode="warn"))
    assert {w.filename for w in caught} == {__file__}  # points at the caller's line
    assert lacuna.enabled()
    with pytest.warns(lacuna.governor.GovernanceWarning):  # pandas is still governed
        pd.read_csv(sandbox / "customers.csv").to_csv(sandbox / "Downloads" / "out.csv")
    lacuna.disable()  # quietly


def test_integrations_a_supported_library_enables_quietly(sandbox_config) -> None:
    pytest.importorskip("polars")
    import warnings

    import polars as pl

    original = vars(pl)["read_csv"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lacuna.enable(sandbox_config())
    assert vars(pl)["read_csv"] is not original
    lacuna.disable()
    assert vars(pl)["read_csv"] is original
