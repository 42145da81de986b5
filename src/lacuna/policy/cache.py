"""Decision caching on a normalized input, where it is safe.

**Key.** The policy input reduced to the parts the bundle's policies read (the static ``input``
paths of every policy file, see :func:`lacuna.policy.analysis.input_paths`) plus what Lacuna
itself reads from it (:data:`LACUNA_READS`: the action, and what a decision's fallback
reasoning names), serialized as canonical JSON. Two operations that differ only in what no
policy reads (the code location, a source's name when no rule looks at names, ...) share an
entry. When a policy reads ``input`` whole, the key is the whole input.

**When not.** A bundle that calls a builtin whose answer is not a function of the input
(``time.now_ns``, ``rand.intn``, ``http.send``, ... :data:`lacuna.policy.analysis.NONDETERMINISTIC`)
is never cached: a time-based rule must see the clock at every decision. The cache belongs to
one compiled bundle: a reload starts an empty one.

**Size.** Least recently used entries are dropped beyond ``size`` (4,096 by default). A hit
costs building the key (a few microseconds) instead of an evaluation.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

from lacuna.model import Decision
from lacuna.policy.jsontext import dumps_sorted

LEAF: dict[str, Any] = {}  # a trie node meaning "keep this whole subtree" (compared by identity)


class DecisionCache:
    """A bounded LRU map from a normalized input to the decision it got.

    Args:
        paths: the input paths policies read, or ``None`` to key on the whole input.
        size: the most entries kept.
    """

    def __init__(self, paths: Sequence[tuple[str, ...]] | None, size: int = 4096) -> None:
        self.size = size
        self._trie: dict[str, Any] | None = input_trie(paths)
        self._entries: OrderedDict[str, Decision] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def key(self, doc: Mapping[str, Any]) -> str:
        """The cache key of a policy input: the input pruned to what the policies read, as
        canonical JSON (also a valid input to evaluate the bundle with)."""
        return self.key_of_pruned(doc if self._trie is None else prune(doc, self._trie))

    def key_of_pruned(self, pruned: Mapping[str, Any]) -> str:
        """The cache key of an input already pruned with this cache's paths
        (:func:`input_trie`; :func:`lacuna.policy.inputs.build_pruned_input`)."""
        return dumps_sorted(pruned)

    def get(self, key: str) -> Decision | None:
        """The cached decision for ``key``, or ``None`` (counted as a miss)."""
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                self.misses += 1
                return None
            self._entries.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: str, decision: Decision) -> None:
        """Remember ``decision`` (engine failures are never cached)."""
        if decision.engine_error is not None:
            return
        with self._lock:
            self._entries[key] = decision
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


# What Lacuna reads from a policy input besides the policies: the action, and the fields a
# decision's fallback reasoning names (lacuna.policy.decide.build, when no policy gives one).
LACUNA_READS: tuple[tuple[str, ...], ...] = (
    ("action",), ("source", "classification"), ("destination", "type"))


def input_trie(paths: Sequence[tuple[str, ...]] | None) -> dict[str, Any] | None:
    """The paths the policies read (plus :data:`LACUNA_READS`) as a trie for :func:`prune`;
    ``None`` (keep the whole input) when ``paths`` is ``None``."""
    return None if paths is None else _trie([*LACUNA_READS, *paths])


def _trie(paths: Sequence[tuple[str, ...]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path in sorted(set(paths), key=len):
        node = root
        for i, segment in enumerate(path):
            child = node.get(segment)
            if child is LEAF:
                break  # a shorter path already keeps this subtree whole
            if i == len(path) - 1:
                node[segment] = LEAF
            else:
                node = node.setdefault(segment, {})
    return root


def prune(doc: Any, trie: dict[str, Any]) -> Any:
    """``doc`` without what no policy reads: the same decision, a smaller input."""
    if trie is LEAF or type(doc) is not dict:
        return doc if trie is LEAF or not isinstance(doc, Mapping) else prune(dict(doc), trie)
    return {k: v if trie[k] is LEAF else prune(v, trie[k])
            for k, v in doc.items() if k in trie}
