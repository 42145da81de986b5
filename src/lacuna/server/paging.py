"""Bounded lists: how many items a list answer or a console page holds, and whether more exist.

Every list the server shows (the exceptions, the audit trail, lineage runs) reads at most
``limit + 1`` items from its store, newest first: the first ``limit`` are the answer and the
extra one only says that more exist (``truncated`` in the JSON API, a "more" notice and a
next-page link in the console). No list renders or reads the whole store. The console's
review page reads feedback records newest first, a batch at a time, until its page is full
(:func:`lacuna.metrics.review.review_page`): a filter that few reports match reads on through
the ones it skips, as the exceptions page does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from lacuna.errors import ConfigError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Bound:
    """A list's default and largest length."""

    default: int
    maximum: int

    def parse(self, text: str | None, *, name: str = "limit") -> int:
        """The length a query string asks for: empty means the default, a larger one the
        maximum.

        Raises:
            ConfigError: ``text`` is not a whole number of at least 1.
        """
        if text is None or not text.strip():
            return self.default
        try:
            value = int(text.strip())
        except ValueError:
            msg = f"{name} must be a whole number from 1 to {self.maximum:,}, not {text!r}"
            raise ConfigError(msg) from None
        if value < 1:
            msg = f"{name} must be at least 1, not {value}"
            raise ConfigError(msg)
        return min(value, self.maximum)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """The items shown, newest first, and whether more exist beyond them."""

    items: tuple[T, ...]
    more: bool


def newest(read: Callable[[int], Sequence[T]], limit: int) -> Page[T]:
    """The first ``limit`` items ``read`` returns (it is given how many to read at most, and
    returns them newest first): one more is read, to learn whether more exist."""
    got = read(limit + 1)
    return Page(items=tuple(got[:limit]), more=len(got) > limit)


# The JSON API's lists (``limit`` query parameter; larger is refused with 422).
EXCEPTIONS = Bound(default=1_000, maximum=10_000)
AUDIT_RECORDS = Bound(default=50, maximum=10_000)
LINEAGE_RUNS = Bound(default=50, maximum=1_000)
# The console's pages (``?limit=``; larger is shown as the maximum): a page of cards or rows a
# browser renders at once.
CONSOLE_EXCEPTIONS = Bound(default=100, maximum=1_000)
CONSOLE_AUDIT = Bound(default=100, maximum=500)
CONSOLE_REVIEW = Bound(default=100, maximum=1_000)
