"""One member: a gRPC server (grpc.aio) serving an EtcdServer on its client URLs, in
plain text or, on ``https://`` and ``unixs://`` URLs, TLS (tls.py).

As etcd, a plain ``http://`` client URL serves HTTP/1.x (health, version) beside gRPC
on its one port, through a front listener (front.py) unless ``http_urls`` (etcd's
``--listen-client-http-urls``) are given: then the client URLs are gRPC's alone, bound
directly, and the HTTP URLs serve HTTP only. ``https://`` and ``unix://`` client URLs
serve gRPC only.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

import grpc

from ..api.gateway import Gateway
from ..api.http1 import HttpServer
from ..api.http_endpoints import HttpEndpoints
from ..api.services import add_services
from ..server.server import EtcdServer
from .front import FrontListener
from .tls import ClientTls, is_secure

log = logging.getLogger("etcd3py.server_ref")
GRPC_OVERHEAD_BYTES = 512 * 1024  # etcd lets gRPC take this much beyond max-request-bytes


def listen_address(url: str) -> str:
    """gRPC bind address for an etcd client URL (``http(s)://host:port``, ``host:port``
    or ``unix(s)://path``)."""
    for scheme in ("unix://", "unixs://"):
        if url.startswith(scheme):
            return "unix:" + url[len(scheme) :]
    parts = urlsplit(url if "://" in url else f"http://{url}")
    if parts.scheme not in ("http", "https", ""):
        raise ValueError(f"unsupported client URL scheme {parts.scheme!r} in {url!r}")
    if parts.hostname is None or parts.port is None:
        raise ValueError(f"client URL {url!r} needs a host and a port")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"{host}:{parts.port}"


class ListenUrlError(ValueError):
    """Client and HTTP URLs that cannot be served together."""


def _fronted(url: str) -> bool:
    """Served through the front listener: a plain TCP URL (``http://`` or bare)."""
    return not url.startswith(("unix://", "unixs://")) and not is_secure(url)


def _host_port(url: str) -> tuple[str, int]:
    host, port = listen_address(url).rsplit(":", 1)
    return host.strip("[]"), int(port)


class Member:
    """Serves ``server`` over gRPC (and HTTP); must be started and stopped on one event
    loop."""

    def __init__(
        self,
        server: EtcdServer,
        listen_urls: tuple[str, ...],
        tls: ClientTls | None = None,
        http_urls: tuple[str, ...] = (),
        metrics_urls: tuple[str, ...] = (),
    ) -> None:
        self.server = server
        self.stopping = ""  # the step of stop() under way
        self.tls = tls or ClientTls()
        self.tls.check_urls(listen_urls)
        for url in http_urls:
            if url in listen_urls:
                raise ListenUrlError(
                    "cannot bind both --client-listen-urls and --client-listen-http-urls "
                    f"on the same url {url}"
                )
            if not _fronted(url):
                raise ListenUrlError(f"--listen-client-http-urls serves http:// URLs only: {url}")
        for url in metrics_urls:
            if not _fronted(url):
                raise ListenUrlError(f"--listen-metrics-urls serves http:// URLs only: {url}")
        self.info = server.member
        self.member_id = self.info.id
        self._listen_urls = listen_urls
        self._http_urls = http_urls
        self._grpc: grpc.aio.Server | None = None
        self._fronts: list[tuple[FrontListener, HttpServer]] = []
        self._metrics_urls = metrics_urls
        endpoints = HttpEndpoints(server)
        self._endpoints = endpoints
        self._http = HttpServer(endpoints)
        self._metrics_http = HttpServer(endpoints.metrics_url)
        self.metrics_ports: list[int] = []
        self._sockets_dir: str | None = None  # the private gRPC sockets behind the fronts
        self.ports: list[int] = []  # of the client URLs, in their order
        self.http_ports: list[int] = []  # of the HTTP-only URLs

    @property
    def serving(self) -> bool:
        """False once stop() has begun: RPCs cancelled then are cut by the member's end."""
        return self._grpc is not None

    def _front(self, url: str, grpc_path: str | None, *, metrics: bool = False) -> FrontListener:
        host, port = _host_port(url)
        try:
            front = FrontListener(host, port, grpc_path)
        except OSError as err:
            raise OSError(f"cannot listen on {url}: {err}") from None
        self._fronts.append((front, self._metrics_http if metrics else self._http))
        return front

    async def start(self) -> None:
        secure = [url for url in self._listen_urls if is_secure(url)]
        credentials = self.tls.server_credentials() if secure else None
        for note in self.tls.ignored_on(self._listen_urls):
            log.warning(note)
        max_request = self.server.config.max_request_bytes
        grpc_server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", max_request + GRPC_OVERHEAD_BYTES),
                ("grpc.max_send_message_length", -1),
                ("grpc.so_reuseport", 0),
            ]
        )
        add_services(grpc_server, self.server, lambda: self.serving)
        self.ports = []
        self.http_ports = []
        gateway_target = None  # where the JSON gateway calls gRPC: a plain address
        try:
            for index, url in enumerate(self._listen_urls):
                if _fronted(url) and not self._http_urls:
                    path = self._private_socket(index)
                    grpc_server.add_insecure_port(f"unix:{path}")
                    self.ports.append(self._front(url, path).port)
                    gateway_target = gateway_target or f"unix:{path}"
                    continue
                self.ports.append(self._bind_grpc(grpc_server, url, credentials))
                if not is_secure(url) and gateway_target is None:
                    gateway_target = self._grpc_address(url, self.ports[-1])
            self.http_ports = [self._front(url, None).port for url in self._http_urls]
            self.metrics_ports = [
                self._front(url, None, metrics=True).port for url in self._metrics_urls
            ]
        except BaseException:
            self._close_fronts()
            raise
        if gateway_target is not None:
            self._endpoints.gateway = Gateway(gateway_target)
        self.server.start()
        await grpc_server.start()
        self._grpc = grpc_server
        loop = asyncio.get_running_loop()
        try:
            for front, http in self._fronts:
                await front.start(loop, http.adopt)
        except BaseException:
            await self.stop(grace=None)
            raise
        if not self.info.client_urls:
            self.info.client_urls = [self.url_for(i) for i in range(len(self.ports))]

    def _private_socket(self, index: int) -> str:
        if self._sockets_dir is None:
            self._sockets_dir = tempfile.mkdtemp(prefix="etcd3py-grpc-")
        return str(Path(self._sockets_dir) / f"client-{index}.sock")

    @staticmethod
    def _bind_grpc(
        grpc_server: grpc.aio.Server, url: str, credentials: grpc.ServerCredentials | None
    ) -> int:
        try:
            address = listen_address(url)
            if credentials is not None and is_secure(url):
                port = grpc_server.add_secure_port(address, credentials)
            else:
                port = grpc_server.add_insecure_port(address)
        except RuntimeError as err:  # grpc reports a failed bind this way
            raise OSError(f"cannot listen on {url}: {err}") from None
        if port == 0 and not url.startswith(("unix://", "unixs://")):
            raise OSError(f"cannot listen on {url}")
        return port

    @staticmethod
    def _grpc_address(url: str, port: int) -> str:
        if url.startswith("unix://"):
            return listen_address(url)
        host = listen_address(url).rsplit(":", 1)[0]
        return f"{host}:{port}"

    def url_for(self, index: int) -> str:
        """The client URL actually bound (port 0 resolved) for listen URL ``index``."""
        url = self._listen_urls[index]
        if url.startswith(("unix://", "unixs://")):
            return url
        address = listen_address(url)
        host = address.rsplit(":", 1)[0]
        scheme = "https" if is_secure(url) else "http"
        return f"{scheme}://{host}:{self.ports[index]}"

    def _close_fronts(self) -> None:
        fronts, self._fronts = self._fronts, []
        for front, _ in fronts:
            front.stop()
        self._http.close_all()
        self._metrics_http.close_all()
        if self._sockets_dir is not None:
            shutil.rmtree(self._sockets_dir, ignore_errors=True)
            self._sockets_dir = None

    async def stop(self, grace: float | None = None) -> None:
        """Stop serving; ``stopping`` names the step under way, for the report of a
        stop that takes too long."""
        grpc_server, self._grpc = self._grpc, None
        if grpc_server is not None:
            if grace is None:  # a crash: every connection cut at once
                self.stopping = "closing the client ports"
                self._close_fronts()
            self.stopping = "stopping the gRPC server"
            await grpc_server.stop(grace)
        self.stopping = "closing the client ports"
        self._close_fronts()
        gateway, self._endpoints.gateway = self._endpoints.gateway, None
        if gateway is not None:
            self.stopping = "closing the gateway"
            await gateway.close()
        self.stopping = "stopping the server's timers"
        await self.server.stop()
        self.stopping = "stopped"
