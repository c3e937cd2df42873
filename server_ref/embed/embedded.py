"""EmbeddedServer: a reference etcd member running in a background thread.

The server gets its own thread and asyncio event loop, so both synchronous and
asynchronous callers (and callers on other event loops) can use it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import shutil
import sys
import tempfile
import threading
import traceback
from collections.abc import Callable, Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from ..server.durable import DurableLog
from ..server.server import EtcdServer
from .certs import TlsFiles, client_certificate, make_certs
from .config import DEFAULTS, Config
from .member import Member
from .port_hold import PortHold
from .running import make_server

_T = TypeVar("_T")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0  # seconds kill() or stop() may take before it raises, saying where it hung


async def _run(fn: Callable[[], None]) -> None:
    """``fn`` as a coroutine, for ``EmbeddedServer.call`` (it runs on the server's loop)."""
    fn()


class EmbeddedServer:
    """An etcd v3 server on a free loopback port: in memory, or on ``data_dir``.

    >>> with EmbeddedServer() as server:
    ...     server.endpoint          # "127.0.0.1:<port>"

    With ``data_dir`` every write is in the directory's log before it is answered,
    and the server serves the same data again when started on it later.

    ``tls=True`` serves https only, wanting a client certificate (etcd's
    ``--client-cert-auth``), with a throw-away CA, server and client certificate made at
    start (the ``tls`` extra) and deleted at stop; ``tls=TlsFiles(...)`` uses those files::

        with EmbeddedServer(tls=True) as server:
            Client(server.url, **server.tls.client_options)
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        name: str = DEFAULTS.name,
        min_lease_ttl: int = DEFAULTS.min_lease_ttl,
        max_txn_ops: int = DEFAULTS.max_txn_ops,
        max_request_bytes: int = DEFAULTS.max_request_bytes,
        quota_backend_bytes: int = DEFAULTS.quota_backend_bytes,
        progress_notify_interval: float = DEFAULTS.progress_notify_interval,
        data_dir: str | Path | None = DEFAULTS.data_dir,
        snapshot_count: int = DEFAULTS.snapshot_count,
        unsafe_no_fsync: bool = DEFAULTS.unsafe_no_fsync,
        tls: bool | TlsFiles = False,
        auth_token: str = DEFAULTS.auth_token,
        auth_token_ttl: int = DEFAULTS.auth_token_ttl,
        bcrypt_cost: int = DEFAULTS.bcrypt_cost,
    ) -> None:
        self._tls_request = tls
        self._tls: TlsFiles | None = None
        self._tls_dir: str | None = None  # made for tls=True, removed at stop
        self._config = Config(
            name=name,
            listen_client_urls=(f"{'https' if tls else 'http'}://{host}:{port}",),
            min_lease_ttl=min_lease_ttl,
            max_txn_ops=max_txn_ops,
            max_request_bytes=max_request_bytes,
            quota_backend_bytes=quota_backend_bytes,
            progress_notify_interval=progress_notify_interval,
            data_dir=None if data_dir is None else str(data_dir),
            snapshot_count=snapshot_count,
            unsafe_no_fsync=unsafe_no_fsync,
            auth_token=auth_token,
            auth_token_ttl=auth_token_ttl,
            bcrypt_cost=bcrypt_cost,
        )
        self._host = host
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._member: Member | None = None
        self._server: EtcdServer | None = None
        self._durable: DurableLog | None = None
        self._port = 0
        self._held = PortHold()  # the port, while killed

    @property
    def port(self) -> int:
        """The port the server listens on (chosen at start when ``port=0``)."""
        if self._loop is None:
            raise RuntimeError("the server is not running")
        return self._port

    @property
    def endpoint(self) -> str:
        """``host:port`` to give a client."""
        return f"{self._host}:{self.port}"

    @property
    def url(self) -> str:
        """``http://host:port`` (``https://`` with TLS), for clients and tools that want a
        URL (etcdctl ``--endpoints``)."""
        return f"{'https' if self._tls_request else 'http'}://{self.endpoint}"

    @property
    def tls(self) -> TlsFiles | None:
        """The certificate files served and trusted (None without TLS): ``ca`` to trust,
        ``client_cert`` and ``client_key`` to show, ``client_options`` for a Client."""
        if self._tls_request and self._tls is None:
            raise RuntimeError("the server is not running: its certificates are made at start")
        return self._tls

    def client_certificate(self, common_name: str) -> tuple[Path, Path]:
        """Another client certificate (and key) the server trusts, with Common Name
        ``common_name`` (the user etcd's auth sees): paths, removed at stop."""
        if self.tls is None:
            raise RuntimeError("the server was started without tls")
        return client_certificate(self.tls, common_name)

    def start(self) -> EmbeddedServer:
        """Start serving in a background thread; return self once the port accepts calls (``with``
        does this).
        """
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        self._setup_tls()
        loop = asyncio.new_event_loop()
        ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._loop = loop
        self._thread = threading.Thread(
            target=self._run, args=(loop, ready), name="etcd3py-server-ref", daemon=True
        )
        self._thread.start()
        try:
            ready.result(START_TIMEOUT)
        except BaseException:
            self._shutdown_thread()
            self._remove_tls()
            raise
        return self

    def _setup_tls(self) -> None:
        if isinstance(self._tls_request, TlsFiles):
            self._tls = self._tls_request
        elif self._tls_request:
            self._tls_dir = tempfile.mkdtemp(prefix="etcd3py-tls-")
            hosts = dict.fromkeys((self._host, "127.0.0.1", "localhost"))  # ordered, unique
            self._tls = make_certs(self._tls_dir, hosts=tuple(hosts))
        if self._tls is not None:
            self._config = dataclasses.replace(
                self._config,
                cert_file=str(self._tls.server_cert),
                key_file=str(self._tls.server_key),
                trusted_ca_file=str(self._tls.ca),
                client_cert_auth=True,
            )

    def _remove_tls(self) -> None:
        if self._tls_dir is not None:
            shutil.rmtree(self._tls_dir, ignore_errors=True)
            self._tls_dir = None
            self._tls = None

    def _bound_url(self) -> str:
        """The listen URL on the port bound at start, for revive()."""
        return f"{'https' if self._tls_request else 'http'}://{self._host}:{self._port}"

    def _run(self, loop: asyncio.AbstractEventLoop, ready: concurrent.futures.Future[None]) -> None:
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            self._server, self._durable = make_server(self._config)
            urls = self._config.listen_client_urls
            member = Member(self._server, urls, self._config.client_tls())
            await member.start()
            self._member = member
            self._port = member.ports[0]

        try:
            loop.run_until_complete(boot())
        except BaseException as err:
            ready.set_exception(err)
            loop.close()
            return
        ready.set_result(None)
        try:
            loop.run_forever()
        finally:
            # let the cancelled RPC handlers finish before the loop goes away
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def call(self, coro: Coroutine[Any, Any, _T], timeout: float = 30.0) -> _T:
        """Run ``coro`` on the server's event loop (where its state may be touched)."""
        if self._loop is None:
            raise RuntimeError("the server is not running")
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    def kill(self) -> None:
        """Stop serving at once, cutting every connection, as a crash would.

        The data stays: ``revive()`` serves it again on the same port. With a
        ``data_dir``, writes not yet on disk are dropped unanswered, as a killed
        process drops them. While down, nothing runs -- not even lease expiry.
        """
        member, self._member = self._member, None
        if member is None:
            raise RuntimeError("the server is not serving")
        self._take_down(member, crash=True)
        self._held.hold(self._host, self._port)

    def revive(self) -> None:
        """Restart after ``kill()``, on the same port, as etcd restarts a member: with a
        ``data_dir`` everything is read back from the directory; either way the member
        starts a new raft term and every lease gets its full TTL again (etcd 3.5)."""
        if self._member is not None or self._server is None:
            raise RuntimeError("revive() follows kill()")
        self.call(self._up())

    async def _up(self) -> None:
        assert self._server is not None
        if self._config.data_dir is not None:
            self._server, self._durable = make_server(self._config)
        else:
            self._server.restarted()
        member = Member(self._server, (self._bound_url(),), self._config.client_tls())
        self._held.release()
        await member.start()
        self._member = member

    def _take_down(self, member: Member, *, crash: bool) -> None:
        """Stop ``member`` (and close the log); one that has not stopped within
        ``STOP_TIMEOUT`` raises TimeoutError naming the step under way, the awaits it is
        suspended in and where the server's thread is: a stop that hangs must say why."""
        down = self._down(member, crash=crash)
        try:
            self.call(down, STOP_TIMEOUT)
        except concurrent.futures.TimeoutError:
            step = "closing the log" if member.stopping == "stopped" else member.stopping
            raise TimeoutError(
                f"the member did not stop within {STOP_TIMEOUT:g} s, at the step {step!r}; "
                f"awaiting:\n{_awaits(down)}\nthe server's thread was at:\n"
                f"{self._thread_stack()}"
            ) from None

    def _thread_stack(self) -> str:
        thread = self._thread
        frame = sys._current_frames().get(thread.ident) if thread and thread.ident else None
        return "".join(traceback.format_stack(frame)[-12:]) if frame else "(not running)"

    async def _down(self, member: Member, *, crash: bool) -> None:
        await member.stop(grace=None)
        durable, self._durable = self._durable, None
        if durable is not None:
            await durable.close(crash=crash)

    # ---- for tests: reset and time control ----

    def reset(self) -> None:
        """Make the running in-memory server as new again, in place (same port, thread and
        member and cluster ids), far quicker than a new server: no key, no history (the
        revision is 1 again, nothing compacted), no lease, auth off with no user or
        role, no alarm, the real lease clock. Every open Watch, LeaseKeepAlive, Lock,
        Campaign and Observe call ends with etcd's "etcdserver: server stopped"
        (UNAVAILABLE); each watch on a Watch stream is first canceled with that reason,
        so a client does not resume it at a revision that means nothing any more.
        Lease ids are never handed out twice: a client renewing an old lease is told
        it is gone. A server on a ``data_dir`` is not reset (RuntimeError): use a new
        one on a new directory."""
        if self._config.data_dir is not None:
            raise RuntimeError(
                "reset() empties an in-memory server; a server on a data_dir is durable "
                "and is not reset: start a new EmbeddedServer on a new directory"
            )
        server = self._serving()
        self.call(_run(server.reset))

    def expire_leases(self) -> None:
        """Every lease expires now, as etcd expires a lease: revoked, its keys deleted
        in one revision (watchers get DELETE events); a keep-alive of it is answered TTL
        0 from then on. Returns once the revocations are applied."""
        self.call(self._serving().expire_leases())

    def advance_clock(self, seconds: float) -> None:
        """Move the lease clock ``seconds`` forward (real time goes on too): the leases
        whose TTL ran out by then expire now, as ``expire_leases`` expires them, before
        this returns; the others keep the rest (TimeToLive reports it, and a keep-alive
        renews from the advanced clock). ``reset()`` sets the real clock back."""
        self.call(self._serving().advance_clock(seconds))

    def _serving(self) -> EtcdServer:
        if self._member is None or self._server is None:
            raise RuntimeError("the server is not serving")
        return self._server

    def stop(self) -> None:
        """Stop serving; the thread and its event loop end. In memory the data goes;
        a ``data_dir`` keeps it (every acknowledged write), for a later server."""
        member, self._member = self._member, None
        if member is not None and self._loop is not None:
            self._take_down(member, crash=False)
        elif self._durable is not None and self._loop is not None:
            self.call(self._durable.close(crash=False))
        self._server = None
        self._held.release()
        self._shutdown_thread()
        self._remove_tls()

    def _shutdown_thread(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and thread is not None and thread.is_alive():
            # a boot that failed closes its loop itself, racing with us: then just wait
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(loop.stop)
            thread.join(START_TIMEOUT)

    def __enter__(self) -> EmbeddedServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _awaits(coro: Coroutine[Any, Any, Any]) -> str:
    """Where a suspended coroutine waits: each frame down its chain of awaits, then
    what the innermost one awaits (read from another thread: for a report only)."""
    lines = []
    awaited: Any = coro
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is None:
            lines.append(f"  {awaited!r}"[:300])
            break
        lines.append(f"  {frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return "\n".join(lines)
