"""Streamable HTTP transport: loopback by default, bearer token required beyond loopback.

Every loopback bind (all of 127.0.0.0/8, ::1, localhost) checks the Host and Origin
headers of each request (DNS rebinding: a web page whose name resolves to 127.0.0.1 makes
the browser send requests with its own Host and Origin). The SDK turns this on by itself
only for exactly 127.0.0.1, localhost and ::1; an address such as 127.0.0.2 is just as
reachable from a local browser, so it gets the same protection rather than a token
requirement: no token is needed anywhere on this machine, and none of it is open to a
rebinding page.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings

from mcp_server.errors import ServerConfigError
from store.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
PATH = "/mcp"
MIN_TOKEN_CHARS = 16


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name other than localhost may resolve anywhere


def _host_port_pattern(host: str) -> str:
    """`host:*` as the Host header names it (IPv6 in brackets)."""
    bare = host.strip("[]")
    return f"[{bare}]:*" if ":" in bare else f"{bare}:*"


def transport_security(host: str) -> TransportSecuritySettings | None:
    """Host/Origin checks for a loopback bind: only this machine's own names are accepted.

    None beyond loopback: there the bearer token is what protects the server (a page
    cannot send a token it does not know).
    """
    if not is_loopback(host):
        return None
    hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*", _host_port_pattern(host)]
    hosts = list(dict.fromkeys(hosts))
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=hosts,
        allowed_origins=[f"http://{h}" for h in hosts] + [f"https://{h}" for h in hosts],
    )


def check_bind(host: str, token: str | None) -> None:
    """Refuse to expose the server beyond this machine without a token, or with a weak one."""
    if token is not None and len(token) < MIN_TOKEN_CHARS:
        raise ServerConfigError(
            f"the bearer token must be at least {MIN_TOKEN_CHARS} characters "
            "(e.g. `python -c 'import secrets; print(secrets.token_urlsafe(32))'`)"
        )
    if not is_loopback(host) and not token:
        raise ServerConfigError(
            f"binding {host} exposes the server beyond this machine: give --token "
            "(or RUGS_MCP_TOKEN), or bind 127.0.0.1"
        )


class BearerAuth:
    """ASGI middleware: every HTTP request must carry `Authorization: Bearer <token>`."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            given = b""
            for name, value in scope.get("headers", []):
                if name.lower() == b"authorization":
                    given = value
                    break
            # Constant-time comparison: no timing hint about how much of a guess was right.
            if not hmac.compare_digest(given, self.expected):
                body = json.dumps({
                    "error": "unauthorized",
                    "error_description": "send the server's token as 'Authorization: Bearer "
                                         "<token>'",
                }).encode()
                await send({"type": "http.response.start", "status": 401, "headers": [
                    (b"content-type", b"application/json"),
                    (b"www-authenticate", b'Bearer realm="rugs-replayer"'),
                    (b"content-length", str(len(body)).encode()),
                ]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)


def http_app(
    settings: Settings, *, host: str, token: str | None, warm: bool = True
) -> tuple[ASGIApp, Any]:
    """The ASGI app (token-checked if a token is given) and the server state behind it."""
    from mcp_server.server import build_server

    check_bind(host, token)
    server, state = build_server(settings, warm=warm)
    app: ASGIApp = server.streamable_http_app(
        streamable_http_path=PATH, host=host, transport_security=transport_security(host)
    )
    if token:
        app = BearerAuth(app, token)
    return app, state


def run_http(
    settings: Settings,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
    warm: bool = True,
) -> None:
    """Serve streamable HTTP at http://host:port/mcp until interrupted."""
    import uvicorn

    app, state = http_app(settings, host=host, token=token, warm=warm)
    shown = f"[{host}]" if ":" in host else host
    print(f"rugs-replayer MCP server on http://{shown}:{port}{PATH}"
          + (" (bearer token required)" if token else ""), file=sys.stderr, flush=True)
    try:
        uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning")).run()
    finally:
        state.close()
