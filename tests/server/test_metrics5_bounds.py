"""``GET /api/v1/metrics`` bounded its period's length but not its filters': a 60 kB tier was
echoed whole in the 422, and a 60 kB domain, policy or role in the answer's ``filters``. A
filter longer than ``FILTER_CHARS`` is now a 422 that says its length, not its text."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi import HTTPException

from lacuna.governor import Governor, build_config
from lacuna.server.routes_ops import FILTER_CHARS, governance


@pytest.mark.parametrize("name", ["domain", "policy", "user_group", "tier"])
def test_metrics5_a_filter_longer_than_any_is_refused_unechoed(tmp_path: Path,
                                                               name: str) -> None:
    gov = Governor(build_config(None, audit={"url": f"sqlite:///{tmp_path / 'a.db'}"},
                                user={"id": "t", "role": "x"}))
    state = SimpleNamespace(governor=gov)
    filters = dict.fromkeys(("domain", "policy", "user_group", "tier"))
    try:
        if name != "tier":  # the allowed path: the longest a filter may be is answered
            answer = governance(state, "last_7_days", exact=True,
                                **{**filters, name: "p" * FILTER_CHARS})
            assert answer["filters"] == {name: "p" * FILTER_CHARS}
        with pytest.raises(HTTPException) as refused:
            governance(state, "last_7_days", exact=True,
                       **{**filters, name: "x" * (FILTER_CHARS + 1)})
    finally:
        gov.close()
    assert refused.value.status_code == 422
    detail = str(refused.value.detail)
    assert f"the {name} filter is {FILTER_CHARS + 1} characters" in detail
    assert "x" * 20 not in detail
