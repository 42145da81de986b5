"""What a request costs the proxy to decide, bounded by what the classifier reads. In
process (no sockets)."""

from __future__ import annotations

import json

import pandas as pd

from lacuna.classify.scan import sample_values
from lacuna.proxy.gate import OutboundRequest


def test_proxy5_the_classified_frame_is_no_longer_than_the_classifiers_sample(gate,
                                                                            monkeypatch):
    """Each field was padded to the longest one (here 1,200 ids; a body of 32,000 keys made
    its 256 classified fields 8 million cells, 3 s), and the classifier then sampled the
    padded frame's rows, not each field's values. Each field is now cut to the sample the
    classifier takes of it alone: the frame is at most ``sample_rows`` long, and each
    field's values are the ones it would read of that field alone."""
    frames: list[pd.DataFrame] = []
    real = gate.gov.classify_read
    monkeypatch.setattr(gate.gov, "classify_read",
                        lambda name, frame, **kw: frames.append(frame) or real(name, frame, **kw))
    gate._cache.clear()
    body: dict[str, object] = {f"f{i}": f"value {i}" for i in range(40)}
    body["id"] = [f"{i:08d}" for i in range(1200)]
    body["email"] = [f"user{i}@example.com" for i in range(300)]
    verdict = gate.check(OutboundRequest(
        method="POST", url="https://api.external-service.com/v1", body=json.dumps(body).encode(),
        headers={"content-type": "application/json"}))
    assert verdict.status == 451  # (e-mails)
    rows = gate.gov.config.classification.sample_rows
    frame = frames[0]
    assert len(frame) == rows < 1200
    alone = sample_values(pd.Series(body["email"]), rows).tolist()
    assert frame["email"].dropna().tolist() == alone
