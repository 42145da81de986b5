"""Benchmark ``GET /api/v1/audit/verify`` on a long audit trail (in-process app, SQLite).

Run: ``python benchmarks/bench_server_verify.py [--quick] [--records N]``. Prints a markdown
section to stdout. The trail (50,000 records; 10,000 with ``--quick``) is written once with
``record_many``; then the endpoint is called six times in a row, and eight times at once on a
cold verifier. Every call before the server's verifier existed walked the whole trail.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path

from bench_audit import make_pair


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--records", type=int, default=None)
    args = parser.parse_args()
    n = args.records or (10_000 if args.quick else 50_000)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        os.environ["LACUNA_SIGNING_KEY"] = "ab" * 32
        os.environ["LACUNA_HOME"] = str(root / "home")
        from fastapi.testclient import TestClient

        from lacuna.audit import AuditStore
        from lacuna.server.app import create_app
        from lacuna.server.outer import serving
        from lacuna.server.settings import load_settings

        db = f"sqlite:///{root / 'state.db'}"
        (root / "lacuna.yaml").write_text(f"audit:\n  url: {db!r}\n", encoding="utf-8")
        store = AuditStore(db)
        for start in range(0, n, 1000):
            store.record_many([(*make_pair(i), "bench")
                               for i in range(start, min(n, start + 1000))])
        store.close()
        app = create_app(load_settings(None, environ={}, db=db,
                                       config=str(root / "lacuna.yaml")))
        state = app.state.lacuna
        token = state.users.add("carla", roles=("compliance_officer",))
        headers = {"Authorization": f"Bearer {token}"}
        with TestClient(serving(app)) as client:
            def call() -> float:
                t0 = time.perf_counter()
                answer = client.get("/api/v1/audit/verify", headers=headers)
                if answer.status_code != 200 or not answer.json()["ok"]:
                    raise SystemExit(f"audit/verify answered {answer.status_code}: {answer.text}")
                return time.perf_counter() - t0

            series = [call() for _ in range(6)]
            state._verifier = None  # a cold verifier: eight callers at once
            slowest: list[float] = []
            threads = [threading.Thread(target=lambda: slowest.append(call()))
                       for _ in range(8)]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            wall = time.perf_counter() - t0
            walks = state.verifier.walks
        state.close()
    later = ", ".join(f"{s * 1000:.0f}" for s in series[1:])
    print("## Server: audit/verify on a long trail\n")
    print(f"`GET /api/v1/audit/verify` on a trail of {n:,} records (in-process app, SQLite, "
          "default `audit_verify_interval_s` of 60 s).\n")
    print("| what | time |")
    print("|---|---|")
    print(f"| first call (walks the trail) | {series[0]:.2f} s |")
    print(f"| calls 2–6 (the walk's answer) | {later} ms |")
    print(f"| 8 callers at once, cold | {wall:.2f} s wall, slowest {max(slowest):.2f} s, "
          f"{walks} walk(s) |")
    print()


if __name__ == "__main__":
    main()
