"""One member: a gRPC server (grpc.aio) serving an EtcdServer on its client URLs, in
plain text or, on ``https://`` and ``unixs://`` URLs, TLS (tls.py)."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

import grpc

from ..api.services import add_services
from ..server.server import EtcdServer
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


class Member:
    """Serves ``server`` over gRPC; must be started and stopped on one event loop."""

    def __init__(
        self, server: EtcdServer, listen_urls: tuple[str, ...], tls: ClientTls | None = None
    ) -> None:
        self.server = server
        self.tls = tls or ClientTls()
        self.tls.check_urls(listen_urls)
        self.info = server.member
        self.member_id = self.info.id
        self._listen_urls = listen_urls
        self._grpc: grpc.aio.Server | None = None
        self.ports: list[int] = []

    @property
    def serving(self) -> bool:
        """False once stop() has begun: RPCs cancelled then are cut by the member's end."""
        return self._grpc is not None

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
        for url in self._listen_urls:
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
            self.ports.append(port)
        self.server.start()
        await grpc_server.start()
        self._grpc = grpc_server
        if not self.info.client_urls:
            self.info.client_urls = [self.url_for(i) for i in range(len(self.ports))]

    def url_for(self, index: int) -> str:
        """The client URL actually bound (port 0 resolved) for listen URL ``index``."""
        url = self._listen_urls[index]
        if url.startswith(("unix://", "unixs://")):
            return url
        address = listen_address(url)
        host = address.rsplit(":", 1)[0]
        scheme = "https" if is_secure(url) else "http"
        return f"{scheme}://{host}:{self.ports[index]}"

    async def stop(self, grace: float | None = None) -> None:
        grpc_server, self._grpc = self._grpc, None
        if grpc_server is not None:
            await grpc_server.stop(grace)
        await self.server.stop()
