"""A bound on how deeply a policy file nests ``[`` and ``{``, checked before regorus parses it.

regorus's parser backtracks over collection literals: at each ``[`` or ``{`` it may read what
follows twice, so a literal nested ``d`` deep costs about ``2**d`` steps to parse. Measured on
this machine (CPU time, regorus with library backtraces off, as Lacuna runs it)::

    levels of {"a": ...}   10      12      14      16      18      20      22
    parse (s)              0.001   0.005   0.02    0.08    0.32    1.3     5.1

twice as long per level, in one call that holds the GIL and cannot be stopped, and much
slower again when Rust captures a backtrace for each abandoned attempt (``RUST_LIB_BACKTRACE``
set to 1: 14 s at 16 levels). Every way a policy reaches the engine (a bundle folder, ``lacuna
policy check``, an upload to ``PUT /v1/policies``) goes through
:func:`lacuna.policy.bundle.add_module`, which calls :func:`check_nesting` first, so a file
nested past :data:`MAX_NESTING` (or whose brackets weigh more than :data:`MAX_WEIGHT`, the sum
of ``2**depth`` over its brackets: many literals just under the limit) is refused with its path,
line and column, in microseconds, instead of hanging the process that reads it.

The scan is lexical and conservative: it counts every ``[``/``{`` outside strings and comments
(rule bodies and comprehensions too, which regorus reads once), so the limit holds whatever
the parser does with them. The policies Lacuna ships nest at most 4 deep and weigh at most 512.
"""

from __future__ import annotations

import re

from lacuna.errors import PolicyError

MAX_NESTING = 12
"""``[``/``{`` nested more than this in one policy file is refused (about 5 ms to parse)."""

MAX_WEIGHT = 1 << 20
"""The most the brackets of one file may weigh, each ``2**depth`` (about 0.6 s to parse)."""

_OPEN = frozenset("[{")
_CLOSE = frozenset("]}")

TOKENS = re.compile(r"""
    "(?:[^"\\\n]|\\[^\n])*"?   # a string (escapes; regorus ends one at the line's end)
  | `[^`]*`?                   # a raw string, which may span lines
  | \#[^\n]*                    # a comment
  | [\[\]{}\n]                  # brackets, and newlines for the line numbers
""", re.VERBOSE)
"""What the scans of a policy file look at (in C, not character by character in Python)."""


def check_nesting(source: str, path: str) -> None:
    """Refuse ``source`` when its ``[``/``{`` nest too deep, or weigh too much, to parse.

    Args:
        source: the text of one ``.rego`` file.
        path: the file's name, for the message.

    Raises:
        PolicyError: with path, line and column of the bracket past the limit.

    Example:
        >>> check_nesting('package p\\nx := {"a": [1]}\\n', "p.rego")
        >>> check_nesting("package p\\nx := " + "[" * 13 + "]" * 13, "p.rego")
        Traceback (most recent call last):
        ...
        lacuna.errors.PolicyError: p.rego:2:18: brackets nested 13 deep; ...
    """
    depth = weight = 0
    line, start = 1, 0  # start: the index where the current line begins
    for m in TOKENS.finditer(source):
        token = m.group()
        ch = token[0]
        if ch in _OPEN:
            depth += 1
            weight += 1 << min(depth, MAX_NESTING + 1)
            if depth > MAX_NESTING or weight > MAX_WEIGHT:
                _refuse(path, line, m.start() - start + 1, depth)
        elif ch in _CLOSE:
            depth = max(depth - 1, 0)
        elif ch == "\n":
            line, start = line + 1, m.end()
        elif ch == "`" and "\n" in token:  # a raw string may span lines
            line += token.count("\n")
            start = m.start() + token.rindex("\n") + 1


def _refuse(path: str, line: int, column: int, depth: int) -> None:
    where = f"{path}:{line}:{column}"
    if depth > MAX_NESTING:
        msg = (f"{where}: brackets nested {depth} deep; a policy file may nest [ and {{ at most "
               f"{MAX_NESTING} deep (the Rego parser takes twice as long for each level past "
               "that). Flatten the literal there: build it from named parts, or move the "
               "document into the bundle's data.json.")
    else:
        msg = (f"{where}: the file's nested brackets weigh more than {MAX_WEIGHT} (each [ or "
               "{ counts 2 to the power of its depth); the Rego parser would take too long "
               "to read it. Nest its literals less deeply, split the file, or move the "
               "documents into the bundle's data.json.")
    raise PolicyError(msg, path=path, line=line, column=column)
