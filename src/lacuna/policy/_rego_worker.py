"""The policy worker process of :mod:`lacuna.policy.budget` (run by path; imports no Lacuna).

Protocol over stdin/stdout, frames of a 4-byte big-endian length and a JSON body:

1. in: ``{"modules": [[path, source, "v0"|"v1"], ...], "data": {...}, "rule": "data...."}``;
   out: ``{"ready": true}`` or ``{"error": "..."}`` (then it exits);
2. then, repeatedly, in: ``{"input": <the policy input>, "rule": null | "data...."}`` (null: the
   setup's rule); out: ``{"result": <the rule's value>}`` or ``{"error": "..."}``; or in:
   ``{"input": ..., "query": "data[...]"}``; out: ``{"result": <its value>, "defined": bool}``.

It stops when stdin closes. The parent kills it when an answer takes longer than the budget.
"""

from __future__ import annotations

import json
import os
import struct
import sys
from typing import IO, Any

_FRAME = struct.Struct("!I")


def receive(stream: IO[bytes]) -> Any:
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        raise EOFError
    (size,) = _FRAME.unpack(head)
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return json.loads(data)


def send(stream: IO[bytes], value: Any) -> None:
    data = json.dumps(value, separators=(",", ":"), default=str).encode()
    stream.write(_FRAME.pack(len(data)) + data)
    stream.flush()


def main() -> None:
    os.environ["RUST_BACKTRACE"] = "0"
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write to the answer pipe
    from regorus import Engine

    setup = receive(stdin)
    engine = Engine()
    try:
        for path, source, version in setup["modules"]:
            engine.set_rego_v0(version == "v0")
            engine.add_policy(path, source)
            engine.set_rego_v0(False)
        engine.add_data_json(json.dumps(setup["data"]))
        engine.eval_query("true")
    except Exception as exc:
        send(stdout, {"error": str(exc).split("\nStack backtrace")[0]})
        return
    rule = setup["rule"]
    send(stdout, {"ready": True})
    while True:
        try:
            request = receive(stdin)
        except (EOFError, OSError):
            return
        try:
            engine.set_input_json(json.dumps(request["input"], separators=(",", ":")))
            if request.get("query"):  # a document that is not one rule: a package, ``data``
                found = json.loads(engine.eval_query_as_json(request["query"]))
                found = found.get("result") or []
                out = ({"result": found[0]["expressions"][0]["value"], "defined": True}
                       if found else {"result": None, "defined": False})
            else:
                text = engine.eval_rule_as_json(request.get("rule") or rule)
                out = {"result": None if text == '"<undefined>"' else json.loads(text)}
        except Exception as exc:
            out = {"error": str(exc).split("\nStack backtrace")[0]}
        send(stdout, out)


if __name__ == "__main__":
    main()
