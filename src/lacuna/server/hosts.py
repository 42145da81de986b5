"""Which client hosts a caller may speak for: the server's rule for ``X-Lacuna-Host``.

A client with ``server:`` names its host in every request
(:data:`~lacuna.lineage.seen.HOST_HEADER`), and the server keys what it keeps of that
client's local files by it: a file's retention clock (``file://<host>`` + path,
:mod:`lacuna.lineage.seen`) and the files written under an exception (the files routes'
``host``). The header is the client's word. A caller who names another machine could read
that machine's clocks, move them earlier (its files then fall due sooner), or report and
sweep files as written there; one who names a new host each time starts every clock afresh.

So the server settings may bind a user to the hosts they speak for (``client_hosts``, set by
whoever runs the server, like the users themselves):

- a **bound** user's requests may name only those hosts (compared without case; the clock is
  kept under the spelling the settings give): another host is a 403, audited like every
  refusal. A request that names none speaks for the user's one host, or is a 422 when the
  user has several (a host-less clock counts for the path on every host);
- a host the setting binds to someone is theirs alone: an unbound user naming it is a 403 too;
- an **unbound** user naming any other host is believed as before: the host is the client's
  word (docs/server.md says what that leaves open), and the audit record of the request's
  decision says so (``who.host_verified`` false; true for a bound user's host). Bind every
  user whose clients write local files.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping

from lacuna.identity.names import canonical_name


class HostRefused(Exception):
    """A request names a host its caller may not speak for (``status`` 403), or names none
    where the caller speaks for several (``status`` 422): an answer, not a failure."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


class HostBindings:
    """The ``client_hosts`` setting: user name (canonical) → the hosts, as clients send them
    (percent-encoded, :func:`lacuna.remote.client.host_name`), by their lower-case form."""

    def __init__(self, bindings: Mapping[str, list[str]] | None = None) -> None:
        self._by_user: dict[str, dict[str, str]] = {}
        self._bound: dict[str, set[str]] = {}  # host (lower case) -> its users
        for user, hosts in (bindings or {}).items():
            sent = {}
            for host in hosts:
                wire = urllib.parse.quote(host, safe="")
                sent[wire.lower()] = wire
                self._bound.setdefault(wire.lower(), set()).add(user)
            self._by_user.setdefault(canonical_name(user), {}).update(sent)

    def __bool__(self) -> bool:
        return bool(self._by_user)

    def hosts_of(self, user: str) -> tuple[str, ...] | None:
        """The hosts ``user`` is bound to (as sent), None when unbound."""
        found = self._by_user.get(canonical_name(user))
        return None if found is None else tuple(sorted(found.values()))

    def speaks_for(self, user: str, named: str | None) -> tuple[str | None, bool]:
        """The host a request of ``user`` naming ``named`` (None: no header) is for, and
        whether the server vouches for it (the user is bound to it).

        Raises:
            HostRefused: ``named`` is not one of the bound user's hosts, or is another
                user's (403), or the bound user names none and has several (422).
        """
        found = self._by_user.get(canonical_name(user))
        if found is None:
            if named is not None and self._bound.get(named.lower()):
                msg = (f"{user} may not speak for host {named[:80]!r}: the server's "
                       "client_hosts setting binds it to other users (an admin binds "
                       f"{user} to their own hosts there, docs/server.md)")
                raise HostRefused(403, msg)
            return named, False
        if named is None:
            if len(found) == 1:
                return next(iter(found.values())), True
            msg = (f"{user} speaks for several hosts ({', '.join(sorted(found.values()))}): "
                   "name the one this request is from in the X-Lacuna-Host header (a client "
                   "with server: sends it)")
            raise HostRefused(422, msg)
        host = found.get(named.lower())
        if host is None:
            msg = (f"{user} may not speak for host {named[:80]!r}: the server's client_hosts "
                   f"setting binds them to {', '.join(sorted(found.values()))} (an admin "
                   "changes it in the server settings, docs/server.md)")
            raise HostRefused(403, msg)
        return host, True


__all__ = ["HostBindings", "HostRefused"]
