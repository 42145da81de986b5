"""``lacuna proxy``: an HTTP/1.1 forward proxy on asyncio and h11 that governs what requests send.

Clients configure it as their HTTP(S) proxy (``HTTP_PROXY``/``HTTPS_PROXY``, ``proxies=`` in
requests, ``proxy=`` in httpx). Plain HTTP requests arrive in absolute form; HTTPS arrives as
``CONNECT host:443``, which the proxy answers, then ends the client's TLS with a certificate from
its local CA (:mod:`lacuna.proxy.ca`) so it can read the requests inside.

Each request's body is read up to ``proxy.max_inspect_bytes`` into memory; a longer one is
spooled whole to a private file (a 0700 folder, removed after the request) up to
``proxy.max_body_bytes`` and scanned beyond its start, and a body past that ceiling is refused
with a 413 (recorded), never forwarded uninspected. The :class:`~lacuna.proxy.gate.Gate` decides
before a byte goes upstream. Refused: a 451 reply with the violation (JSON or text), and nothing
is forwarded. Allowed: the request goes to the upstream unchanged (from memory, or from the
spooled file; ``Host`` is the decided URL's authority), and the response comes back as it is.
A host internal by name is resolved before the decision, which checks its addresses; the
proxy connects to the addresses it resolved (once), never to a second lookup's.

Decisions run on one worker thread that also builds the Governor, so the policy engine (which
must stay on the thread that made it) is only ever used there, and the event loop never waits
for it. Upstream connections are not pooled: one per request.

Why not mitmproxy: mitmproxy 12 needs Python 3.12 and Lacuna supports 3.11; mitmproxy 11 (the
last for 3.11) pins ``h11<=0.14`` and ``cryptography<44.1``, which break httpx (``httpcore``
needs ``h11>=0.16``), Lacuna's own HTTP client. This proxy needs only h11 and cryptography.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import socket
import ssl
import tempfile
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import SplitResult, urlsplit

import h11

from lacuna.config import ProxyConfig
from lacuna.model import FrozenDict
from lacuna.proxy.ca import CertificateAuthority
from lacuna.proxy.gate import HOP_BY_HOP, Gate, OutboundRequest, Verdict
from lacuna.redact import redact_text, redact_url

if TYPE_CHECKING:
    from lacuna.config import Config

log = logging.getLogger(__name__)
READ_CHUNK = 64 * 1024
_HOP = frozenset(h.encode() for h in HOP_BY_HOP)
_T = TypeVar("_T")


class _Closed(Exception):
    """The peer went away."""


class _TimedOut(Exception):
    """A peer was silent too long, or a request took too long to arrive (the message says
    which, and the setting that bounds it)."""


class _Busy(Exception):
    """The decision thread did not take a request up in time (it was deciding others: a long
    body's scan); the request was not decided, and is refused."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds no peer can hold a connection past (``proxy.*_timeout`` in lacuna.yaml).

    Attributes:
        client: a client's longest silence while its request is read or its answer written,
            and between requests on a kept-alive connection (``proxy.client_timeout``).
        request: the longest one request's headers and body take to arrive, however they
            trickle, and the longest it then waits for the decision thread to take it up
            (``proxy.request_timeout``).
        connect: an upstream's connection, TCP and TLS (``proxy.connect_timeout``).
        upstream: an upstream's longest silence while the request is sent or the response
            awaited and read (``proxy.upstream_timeout``).
    """

    # (the defaults are lacuna.yaml's: ProxyConfig's, the one source of them)
    client: float = ProxyConfig.model_fields["client_timeout"].default
    request: float = ProxyConfig.model_fields["request_timeout"].default
    connect: float = ProxyConfig.model_fields["connect_timeout"].default
    upstream: float = ProxyConfig.model_fields["upstream_timeout"].default

    @classmethod
    def of(cls, settings: ProxyConfig) -> Timeouts:
        """The timeouts ``settings`` (lacuna.yaml's ``proxy:``) configure."""
        return cls(client=settings.client_timeout, request=settings.request_timeout,
                   connect=settings.connect_timeout, upstream=settings.upstream_timeout)


@dataclass(frozen=True, slots=True)
class _Wait:
    """How long one read or write may wait: ``idle`` seconds (``idle_why`` when they pass), and
    until ``until`` (the loop's time; ``until_why``) at the latest."""

    idle: float
    idle_why: str
    until: float | None = None
    until_why: str = ""

    async def __call__(self, awaitable: Awaitable[_T]) -> _T:
        wait, why = self.idle, self.idle_why
        if self.until is not None:
            left = self.until - asyncio.get_running_loop().time()
            if left < wait:
                wait, why = max(left, 0.0), self.until_why
        try:
            return await asyncio.wait_for(awaitable, wait)
        except TimeoutError:
            raise _TimedOut(why) from None


@dataclass(frozen=True, slots=True)
class _Origin:
    scheme: str
    host: str
    port: int


async def _next_event(conn: h11.Connection, reader: asyncio.StreamReader,
                      wait: _Wait | None = None) -> object:
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA:
            read = reader.read(READ_CHUNK)
            data = await (wait(read) if wait is not None else read)
            conn.receive_data(data)
            continue
        if isinstance(event, h11.ConnectionClosed):
            raise _Closed
        return event


async def _send(conn: h11.Connection, writer: asyncio.StreamWriter, event: h11.Event,
                wait: _Wait | None = None) -> None:
    data = conn.send(event)
    if data:
        writer.write(data)
        await (wait(writer.drain()) if wait is not None else writer.drain())


def _text(value: bytes) -> str:
    return value.decode("latin-1")


_QUOTED = re.compile(r":? (?:bytearray\()?b['\"].*", re.DOTALL)


def _without_data(exc: h11.ProtocolError) -> str:
    """What h11 could not read, without the bytes it quotes (``illegal header line:
    b'X-Email ana@example.com'``): a request's lines are data, never written to a log line or
    echoed."""
    return _QUOTED.sub("", str(exc)) or type(exc).__name__


def _done(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _logged(job: Future[Verdict]) -> None:
    """A job nobody awaits: its failure is logged."""
    if not job.cancelled() and job.exception() is not None:
        log.error("the proxy's decision thread failed", exc_info=job.exception())


class ProxyServer:
    """The proxy on ``host:port`` (port 0: any free one; see :attr:`port` once started).

    Args:
        gate: builds the :class:`Gate`; called once, on the decision thread.
        ca: the CA for HTTPS interception.
        upstream_ssl: how upstream HTTPS servers are verified.
        max_inspect_bytes: how much of a body is held in memory (and parsed by its type).
        max_body_bytes: the longest body the proxy spools and inspects; longer ones are refused.
        timeouts: how long a client or an upstream may hold a connection (:class:`Timeouts`).
    """

    def __init__(self, gate: Callable[[], Gate], *, ca: CertificateAuthority,
                 upstream_ssl: ssl.SSLContext, max_inspect_bytes: int, max_body_bytes: int,
                 host: str = "127.0.0.1", port: int = 0,
                 timeouts: Timeouts = Timeouts()) -> None:
        self._make_gate = gate
        self._gate: Gate | None = None
        self.ca = ca
        self.upstream_ssl = upstream_ssl
        # (a ceiling below what is held in memory is still the ceiling)
        self.max_inspect_bytes = min(max_inspect_bytes, max_body_bytes)
        self.max_body_bytes = max_body_bytes
        self.host = host
        self.port = port
        self.timeouts = timeouts
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lacuna-proxy")
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()  # open client connections

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        await asyncio.get_running_loop().run_in_executor(self._executor, self._gate_now)

    async def serve_forever(self) -> None:
        if self._server is None:
            await self.start()
        assert self._server is not None
        async with self._server:
            await self._server.serve_forever()

    def close(self) -> None:
        """Stop listening and drop every open client connection (on the proxy's loop): a
        stopped proxy holds no socket open, whatever its handlers were waiting for."""
        if self._server is not None:
            self._server.close()
        for writer in list(self._clients):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._executor.shutdown(wait=False)

    def _gate_now(self) -> Gate:
        if self._gate is None:
            self._gate = self._make_gate()
        return self._gate

    def _decide(self, request: OutboundRequest) -> Verdict:
        return self._gate_now().check(request)

    def _internal_by_name(self, url: str) -> bool:
        return self._gate_now().internal_by_name(url)

    def _host_refusal(self, request: OutboundRequest) -> Verdict | None:
        return self._gate_now().host_refusal(request)

    def _too_large(self, request: OutboundRequest) -> Verdict:
        return self._gate_now().too_large(request, self.max_body_bytes)

    def _timed_out(self, request: OutboundRequest, why: str) -> Verdict:
        return self._gate_now().timed_out(request, why)

    def _busy_record(self, request: OutboundRequest, why: str) -> Verdict:
        return self._gate_now().busy(request, why)

    async def _on_thread(self, call: Callable[..., _T], *args: object) -> _T:
        """``call(*args)`` on the decision thread, once it takes it up: within
        ``proxy.request_timeout``, else :class:`_Busy` and the call is dropped, never run (a
        request behind another's scan of hundreds of megabytes waited without limit)."""
        loop = asyncio.get_running_loop()
        started: asyncio.Future[None] = loop.create_future()

        def run() -> _T:
            with contextlib.suppress(RuntimeError):  # (the proxy stopped: the loop closed)
                loop.call_soon_threadsafe(_done, started)
            return call(*args)

        job = self._executor.submit(run)
        try:
            await asyncio.wait_for(asyncio.shield(started), self.timeouts.request)
        except asyncio.CancelledError:  # (the proxy stops: a call not begun is dropped)
            job.cancel()
            raise
        except TimeoutError:
            if job.cancel():  # (False: it started meanwhile, and is awaited)
                msg = (f"the proxy did not take it up for a decision within "
                       f"{self.timeouts.request:g} s (proxy.request_timeout): it was deciding "
                       "other requests")
                raise _Busy(msg) from None
        return await asyncio.wrap_future(job)

    async def _busy(self, conn: h11.Connection, writer: asyncio.StreamWriter,
                    request: OutboundRequest, why: str) -> bool:
        """Refuse (503) a request the decision thread did not take up in time: it was not
        decided, so nothing is forwarded (fail closed). Recorded as a denial once the thread
        is free (the Governor lives there); the connection ends."""
        job = self._executor.submit(self._busy_record, request, why)
        job.add_done_callback(_logged)
        log.warning("refused %s from %s: %s", request.method, request.client, why)
        await self._reply(conn, writer, 503, f"lacuna proxy: the request was not decided: "
                          f"{why}; nothing was forwarded. Send it again later, or ask an "
                          "administrator to raise proxy.request_timeout in lacuna.yaml\n"
                          .encode(), "text/plain")
        return False

    def _client_wait(self, until: float | None = None) -> _Wait:
        """A client's reads and writes: ``proxy.client_timeout`` of silence, and a request's
        headers and body by ``until`` (``proxy.request_timeout`` after it began)."""
        t = self.timeouts
        return _Wait(t.client, f"the client sent or read nothing for {t.client:g} s "
                     "(proxy.client_timeout)", until,
                     f"the request did not arrive whole within {t.request:g} s "
                     "(proxy.request_timeout)")

    def _upstream_wait(self) -> _Wait:
        t = self.timeouts
        return _Wait(t.upstream, f"sent or read nothing for {t.upstream:g} s "
                     "(proxy.upstream_timeout)")

    # -- one client connection -------------------------------------------------------------------

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        client = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else None
        self._clients.add(writer)
        try:
            await self._serve(reader, writer, client, None)
        except (_Closed, ConnectionError, asyncio.IncompleteReadError):
            pass
        except _TimedOut as exc:
            log.info("connection from %s closed: %s", client, exc)
        except h11.RemoteProtocolError as exc:
            log.info("bad request from %s: %s", client, _without_data(exc))
        except Exception:  # one connection's failure never stops the proxy
            log.exception("proxy connection from %s failed", client)
        finally:
            self._clients.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                     client: str | None, origin: _Origin | None) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            await self._requests(conn, reader, writer, client, origin)
        except h11.RemoteProtocolError as exc:  # what h11 cannot read: a 400 that says why
            why = _without_data(exc)
            log.info("bad request from %s: %s", client, why)
            if conn.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                with contextlib.suppress(Exception):
                    await self._reply(conn, writer, 400, f"lacuna proxy: bad request: {why}; "
                                      "nothing was forwarded\n".encode(), "text/plain")

    async def _requests(self, conn: h11.Connection, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter, client: str | None,
                        origin: _Origin | None) -> None:
        loop = asyncio.get_running_loop()
        while True:
            until = loop.time() + self.timeouts.request  # this request's headers and body
            try:
                event = await _next_event(conn, reader, self._client_wait(until))
            except _TimedOut as exc:
                if conn.their_state is h11.IDLE and not conn.trailing_data[0]:
                    return  # an idle connection (nothing of a request sent): closed
                log.info("request from %s refused: %s", client, exc)
                # (h11 answers only a request it has read: the 408 is written as it is)
                message = f"lacuna proxy: {exc}: its headers were not read; nothing was " \
                          "forwarded\n"
                writer.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain\r\n"
                             b"x-lacuna-proxy: error\r\nconnection: close\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(message), message.encode()))
                await self._client_wait()(writer.drain())
                return
            if not isinstance(event, h11.Request):
                return
            method = _text(event.method)
            if method == "CONNECT" and origin is None:
                await self._connect(conn, reader, writer, client, _text(event.target))
                return
            target = _text(event.target)
            url = self._url(target, origin)
            if url is None:
                await self._reply(conn, writer, 400, b"lacuna proxy: send absolute URLs "
                                  b"with a valid host and port (configure this address as "
                                  b"your HTTP proxy), or paths inside a CONNECT tunnel\n",
                                  "text/plain")
                return
            names = {k.lower() for k, _ in event.headers}
            if b"transfer-encoding" in names and b"content-length" in names:
                # two framings: h11 reads the chunks, a server behind may read the length and
                # take the rest of the body for a request of its own (RFC 9112 6.3: an error)
                await self._reply(conn, writer, 400, b"lacuna proxy: a request with both "
                                  b"Transfer-Encoding and Content-Length is refused (RFC 9112 "
                                  b"6.3; request smuggling): send one of them\n", "text/plain")
                return
            keep = await self._exchange(conn, reader, writer, event, url, client, until)
            if not keep or conn.our_state is not h11.DONE or conn.their_state is not h11.DONE:
                return
            conn.start_next_cycle()

    @staticmethod
    def _url(target: str, origin: _Origin | None) -> str | None:
        """The URL a request's ``target`` names (in a tunnel: on the tunnel's host); None
        when it names none, or not one the proxy can connect to (``http://[::1/``, a port out
        of range): the client is answered 400, where the connection was dropped unanswered."""
        if origin is None or not target.startswith("/"):  # absolute form
            try:
                parts = urlsplit(target)
                parts.port  # noqa: B018 (a ValueError: a port out of range or not a number)
            except ValueError:
                return None
        if origin is not None:
            if not target.startswith("/"):  # absolute form: the tunnel's host, its path
                if parts.scheme not in ("http", "https") or not parts.hostname:
                    return None  # (``evil.com:443``, ``*``: not a path on this host)
                target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            default = 443 if origin.scheme == "https" else 80
            port = "" if origin.port == default else f":{origin.port}"
            # an IPv6 address in brackets (CONNECT [::1]:8443): "https://::1/x" is no URL
            # (its requests were refused as a Lacuna failure, or the connection dropped)
            host = f"[{origin.host}]" if ":" in origin.host else origin.host
            return f"{origin.scheme}://{host}{port}{target}"
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return None
        return target

    async def _connect(self, conn: h11.Connection, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter, client: str | None, target: str) -> None:
        host, _, port = target.rpartition(":")
        host = host.strip("[]")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            await self._reply(conn, writer, 400, b"lacuna proxy: CONNECT host:port\n",
                              "text/plain")
            return
        # the target's name carries data: refused before the tunnel (requests inside it are
        # decided with the same host, but a client is told at once, and nothing is resolved)
        shown = f"[{host}]" if ":" in host else host
        connect = OutboundRequest(method="CONNECT", url=f"https://{shown}:{port}/",
                                  client=client)
        try:
            refusal = await self._on_thread(self._host_refusal, connect)
        except _Busy as exc:
            await self._busy(conn, writer, connect, str(exc))
            return
        if refusal is not None:
            await self._reply(conn, writer, refusal.status, refusal.body, refusal.content_type)
            return
        try:  # (before the answer: a name no certificate can hold is a 400, not a dropped
            ctx = self.ca.context_for(host)  # tunnel and a traceback)
        except (ValueError, OSError) as exc:
            log.info("CONNECT from %s refused: no certificate for its host: %s", client,
                     type(exc).__name__)
            await self._reply(conn, writer, 400, b"lacuna proxy: CONNECT to a host name no "
                              b"certificate can hold\n", "text/plain")
            return
        writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
        # no pause between the answer and start_tls (a drain under wait_for, a task of its
        # own, let the client's hello arrive first, read as plain data: one handshake in
        # five hung); a client that never says hello is closed after proxy.client_timeout
        await writer.drain()
        await writer.start_tls(ctx, ssl_handshake_timeout=self.timeouts.client)
        await self._serve(reader, writer, client, _Origin("https", host, int(port)))

    async def _reply(self, conn: h11.Connection, writer: asyncio.StreamWriter, status: int,
                     body: bytes, content_type: str) -> None:
        headers = [("content-type", content_type), ("content-length", str(len(body))),
                   ("x-lacuna-proxy", "refused" if status == 451 else "error")]
        if conn.their_state is not h11.DONE:
            headers.append(("connection", "close"))  # the rest of the body is never read
        wait = self._client_wait()
        await _send(conn, writer, h11.Response(status_code=status, headers=headers), wait)
        await _send(conn, writer, h11.Data(data=body), wait)
        await _send(conn, writer, h11.EndOfMessage(), wait)

    async def _exchange(self, conn: h11.Connection, reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter, request: h11.Request, url: str,
                        client: str | None, until: float | None = None) -> bool:
        """Read, decide, forward or refuse one request. True when the connection may go on."""
        body = bytearray()
        ended = False
        joined: dict[str, str] = {}  # a header sent twice is both (Content-Encoding: a list)
        for k, v in request.headers:
            name = _text(k).lower()
            joined[name] = f"{joined[name]}, {_text(v)}" if name in joined else _text(v)
        headers = FrozenDict(joined)
        outbound = OutboundRequest(method=_text(request.method), url=url, headers=headers,
                                   client=client)
        wait = self._client_wait(until)
        try:
            if conn.they_are_waiting_for_100_continue:
                await _send(conn, writer, h11.InformationalResponse(status_code=100,
                                                                     headers=[]), wait)
            while len(body) <= self.max_inspect_bytes:
                event = await _next_event(conn, reader, wait)
                if isinstance(event, h11.EndOfMessage):
                    ended = True
                    break
                if isinstance(event, h11.Data):
                    body += event.data
        except _TimedOut as exc:  # the body did not arrive whole: refused, recorded
            return await self._late(conn, writer, outbound, str(exc))
        truncated = not ended
        inspected = bytes(body[: self.max_inspect_bytes]) if truncated else bytes(body)
        outbound = replace(outbound, body=inspected, truncated=truncated)
        try:
            return await self._decided(conn, reader, writer, request, outbound, body, wait)
        except _Busy as exc:  # not decided in time: refused (503), recorded
            return await self._busy(conn, writer, outbound, str(exc))

    async def _decided(self, conn: h11.Connection, reader: asyncio.StreamReader,
                       writer: asyncio.StreamWriter, request: h11.Request,
                       outbound: OutboundRequest, body: bytearray, wait: _Wait) -> bool:
        """Decide ``outbound`` (its body's start read into ``body``; the rest, when it was
        cut, spooled first), then forward or refuse it."""
        url, ended, truncated = outbound.url, not outbound.truncated, outbound.truncated
        addresses = None  # a host internal by name: decided on the addresses connected to
        if await self._on_thread(self._internal_by_name, url):
            # a name is sent to DNS when it is resolved: one that carries data is decided first
            refusal = await self._on_thread(self._host_refusal, outbound)
            if refusal is not None:
                await self._reply(conn, writer, refusal.status, refusal.body,
                                  refusal.content_type)
                return ended
            addresses = await self._resolve(url)
            outbound = replace(outbound, addresses=addresses)
        if not truncated:
            verdict = await self._on_thread(self._decide, outbound)
            if not verdict.forward:
                await self._reply(conn, writer, verdict.status, verdict.body,
                                  verdict.content_type)
                return ended
            return await self._forward(conn, writer, request, url, bytes(body), None,
                                       addresses)
        with _Spool() as spool:
            spool.write(body)
            try:
                whole = await self._spool_rest(conn, reader, spool, wait)
            except _TimedOut as exc:
                return await self._late(conn, writer, outbound, str(exc))
            if not whole:  # past proxy.max_body_bytes: refused, the rest never read
                verdict = await self._on_thread(self._too_large, outbound)
                await self._reply(conn, writer, verdict.status, verdict.body,
                                  verdict.content_type)
                return False
            spool.done()
            outbound = replace(outbound, spooled=spool.path, size=spool.size)
            verdict = await self._on_thread(self._decide, outbound)
            if not verdict.forward:
                await self._reply(conn, writer, verdict.status, verdict.body,
                                  verdict.content_type)
                return True  # the whole body was read: the connection can go on
            return await self._forward(conn, writer, request, url, b"", spool.path,
                                       addresses)

    async def _late(self, conn: h11.Connection, writer: asyncio.StreamWriter,
                    outbound: OutboundRequest, why: str) -> bool:
        """Refuse (408, recorded) a request whose body did not arrive whole in time: Lacuna
        decides on the whole body. The connection ends (the rest is never read)."""
        try:
            verdict = await self._on_thread(self._timed_out, outbound, why)
        except _Busy as exc:
            return await self._busy(conn, writer, outbound, f"{why}; and {exc}")
        await self._reply(conn, writer, verdict.status, verdict.body, verdict.content_type)
        return False

    async def _spool_rest(self, conn: h11.Connection, reader: asyncio.StreamReader,
                          spool: _Spool, wait: _Wait | None = None) -> bool:
        """The rest of the body into ``spool``; False once it passes ``max_body_bytes``."""
        while True:
            if spool.size > self.max_body_bytes:
                return False
            event = await _next_event(conn, reader, wait)
            if isinstance(event, h11.EndOfMessage):
                return True
            if isinstance(event, h11.Data):
                spool.write(event.data)

    @staticmethod
    async def _resolve(url: str) -> tuple[str, ...]:
        """The addresses ``url``'s host resolves to, once: the decision checks them and the
        proxy connects to them, not to whatever a second lookup answers (DNS rebinding).
        Empty when it does not resolve."""
        parts = urlsplit(url)
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
            infos = await asyncio.get_running_loop().getaddrinfo(
                parts.hostname or "", port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError, ValueError):  # (ValueError: a port out of range)
            return ()
        return tuple(dict.fromkeys(str(info[4][0]) for info in infos))

    async def _forward(self, conn: h11.Connection, writer: asyncio.StreamWriter,
                       request: h11.Request, url: str, body: bytes,
                       spooled: str | None, addresses: tuple[str, ...] | None) -> bool:
        parts = urlsplit(url)
        https = parts.scheme == "https"
        host = parts.hostname or ""
        port = parts.port or (443 if https else 80)
        if addresses is None:
            addresses = await self._resolve(url)
        failure: BaseException = OSError(f"{host!r} does not resolve to an address")
        connect = _Wait(self.timeouts.connect, f"no connection within "
                        f"{self.timeouts.connect:g} s (proxy.connect_timeout)")
        for address in addresses:  # the decided addresses, in the resolver's order
            try:
                up_reader, up_writer = await connect(asyncio.open_connection(
                    address, port, ssl=self.upstream_ssl if https else None,
                    server_hostname=host if https else None))
                break
            except (OSError, ssl.SSLError, _TimedOut) as exc:
                failure = exc
        else:
            shown = redact_url(f"{parts.scheme}://{parts.netloc}")
            message = f"lacuna proxy: cannot reach {shown}: {redact_text(failure)}\n"
            status = 504 if isinstance(failure, _TimedOut) else 502
            await self._reply(conn, writer, status, message.encode(), "text/plain")
            return False
        try:
            return await self._relay(conn, writer, request, parts, body, spooled,
                                     up_reader, up_writer)
        except (_Closed, h11.ProtocolError, OSError, asyncio.IncompleteReadError,
                _TimedOut) as exc:
            shown = redact_url(f"{parts.scheme}://{parts.netloc}")
            if conn.our_state is not h11.SEND_RESPONSE:  # the response had begun: the
                log.info("response from %s cut: %s", shown, redact_text(exc))  # connection
                return False  # ends it
            why = "closed the connection" if isinstance(exc, _Closed) else redact_text(exc)
            message = f"lacuna proxy: {shown} sent no valid response: {why}\n"
            status = 502
            if isinstance(exc, _TimedOut):  # (the request was decided, and sent)
                message, status = f"lacuna proxy: {shown} {why}; no response\n", 504
            log.warning("%s %s: %s", request.method.decode("latin-1"), shown, message.strip())
            await self._reply(conn, writer, status, message.encode(), "text/plain")
            return False
        finally:
            with contextlib.suppress(Exception):
                up_writer.close()

    async def _relay(self, conn: h11.Connection, writer: asyncio.StreamWriter,
                     request: h11.Request, parts: SplitResult, body: bytes,
                     spooled: str | None, up_reader: asyncio.StreamReader,
                     up_writer: asyncio.StreamWriter) -> bool:
        upstream = h11.Connection(h11.CLIENT)
        path = parts.path or "/"
        target = f"{path}?{parts.query}" if parts.query else path
        # Host is the decided URL's authority (RFC 9112 3.2.2), never the client's: a server
        # behind the address connected to routes by it
        authority = parts.netloc.rpartition("@")[2].encode("latin-1")
        headers = [(b"host", authority)] + [
            (k, v) for k, v in request.headers if k.lower() not in _HOP and k.lower() != b"host"]
        up, down = self._upstream_wait(), self._client_wait()
        await _send(upstream, up_writer, h11.Request(
            method=request.method, target=target.encode("latin-1"), headers=headers), up)
        if body:
            await _send(upstream, up_writer, h11.Data(data=body), up)
        if spooled is not None:  # the whole body, inspected, from its private file
            with open(spooled, "rb") as fh:
                while chunk := fh.read(READ_CHUNK):
                    await _send(upstream, up_writer, h11.Data(data=chunk), up)
        await _send(upstream, up_writer, h11.EndOfMessage(), up)
        while True:
            event = await _next_event(upstream, up_reader, up)
            if isinstance(event, h11.InformationalResponse):
                continue
            if isinstance(event, h11.Response):
                out = [(k, v) for k, v in event.headers if k.lower() not in _HOP]
                await _send(conn, writer, h11.Response(
                    status_code=event.status_code, headers=out, reason=event.reason), down)
            elif isinstance(event, h11.Data):
                await _send(conn, writer, h11.Data(data=event.data), down)
            elif isinstance(event, h11.EndOfMessage):
                await _send(conn, writer, h11.EndOfMessage(), down)
                return True


class _Spool:
    """A request body in a private file (0700 folder, removed on exit), written as it comes."""

    def __init__(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="lacuna-proxy-body-")
        self.path = os.path.join(self.folder, "body")
        self._fh = open(self.path, "wb")  # noqa: SIM115 (closed by done() or __exit__)
        self.size = 0

    def write(self, data: bytes | bytearray) -> None:
        self._fh.write(data)
        self.size += len(data)

    def done(self) -> None:
        self._fh.close()

    def __enter__(self) -> _Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self._fh.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def build(config: Config, *, host: str = "127.0.0.1", port: int = 0) -> ProxyServer:
    """A proxy governing with ``config`` (its Governor is built on the decision thread)."""
    from lacuna.governor import Governor
    from lacuna.proxy.ca import ca_folder

    def gate() -> Gate:
        return Gate(Governor(config))

    settings = config.proxy
    cafile = str(settings.upstream_ca) if settings.upstream_ca else None
    return ProxyServer(gate, ca=CertificateAuthority(ca_folder(settings.ca_dir)),
                       upstream_ssl=ssl.create_default_context(cafile=cafile),
                       max_inspect_bytes=settings.max_inspect_bytes,
                       max_body_bytes=settings.max_body_bytes, host=host, port=port,
                       timeouts=Timeouts.of(settings))


def run(config: Config, *, host: str, port: int,
        ready: Callable[[ProxyServer], None] | None = None) -> None:
    """Serve until interrupted; ``ready`` is called once the port is bound."""

    async def main() -> None:
        server = build(config, host=host, port=port)
        await server.start()
        if ready is not None:
            ready(server)
        try:
            await server.serve_forever()
        finally:
            server.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
