"""`replayer serve --http`: streamable HTTP on loopback, with and without a bearer token."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx2
import pytest

from mcp_server.errors import ServerConfigError
from mcp_server.http import check_bind, is_loopback, transport_security
from tests.mcp_server.conftest import REPO, McpRoot

TOKEN = "test-token-0123456789abcdef"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def http_server(root: McpRoot, *extra: str, host: str = "127.0.0.1") -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "replayer.cli", "serve", "--http", "--port", str(port),
         "--host", host, "--no-warm", *extra],
        env=root.env(), cwd=str(REPO), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read().decode() if proc.stderr else "exited")
            try:
                with socket.create_connection((host, port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield f"http://{host}:{port}/mcp"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


async def _count(url: str, headers: dict[str, str] | None = None) -> Any:
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(headers=headers or {}, timeout=30) as http:
        async with Client(streamable_http_client(url, http_client=http)) as c:
            res = await c.call_tool("query_sql", {"sql": "SELECT count(*) FROM ws_event"})
            tools = await c.list_tools()
    assert not res.is_error, res.content
    assert len(tools.tools) == 13
    return res.structured_content["rows"][0][0]


@pytest.mark.anyio
async def test_http_on_loopback_without_a_token_answers(mcp_root: McpRoot) -> None:
    with http_server(mcp_root) as url:
        assert await _count(url) > 0


@pytest.mark.anyio
async def test_http_with_a_token_refuses_requests_without_it_and_serves_with_it(
    mcp_root: McpRoot,
) -> None:
    with http_server(mcp_root, "--token", TOKEN) as url:
        init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-06-18", "capabilities": {},
            "clientInfo": {"name": "t", "version": "0"}}}
        accept = {"accept": "application/json, text/event-stream"}
        async with httpx2.AsyncClient(timeout=10) as raw:
            r = await raw.post(url, json=init, headers=accept)
            assert r.status_code == 401 and "Bearer" in r.headers["www-authenticate"]
            r = await raw.post(url, json=init,
                               headers={**accept, "authorization": "Bearer wrong-token-xxxxxxx"})
            assert r.status_code == 401
            assert "Authorization: Bearer" in r.json()["error_description"]
        assert await _count(url, {"authorization": f"Bearer {TOKEN}"}) > 0


def test_binding_beyond_loopback_without_a_token_is_refused(mcp_root: McpRoot) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "replayer.cli", "serve", "--http", "--host", "0.0.0.0",
         "--no-warm"],
        env=mcp_root.env(), cwd=str(REPO), capture_output=True, text=True, timeout=60,
    )
    assert res.returncode != 0
    assert "--token" in res.stderr and "0.0.0.0" in res.stderr


def test_bind_rules() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("example.org")
    check_bind("127.0.0.1", None)
    check_bind("0.0.0.0", TOKEN)
    with pytest.raises(ServerConfigError, match="--token"):
        check_bind("192.168.1.5", None)
    with pytest.raises(ServerConfigError, match="at least 16"):
        check_bind("127.0.0.1", "short")


INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {},
    "clientInfo": {"name": "t", "version": "0"}}}
ACCEPT = {"accept": "application/json, text/event-stream"}


@pytest.mark.anyio
async def test_any_loopback_bind_refuses_a_rebinding_page_s_host_and_origin(
    mcp_root: McpRoot,
) -> None:
    """127.0.0.2 is loopback too: no token, but the Host/Origin checks of 127.0.0.1."""
    with http_server(mcp_root, host="127.0.0.2") as url:
        port = url.split(":")[2].split("/")[0]
        async with httpx2.AsyncClient(timeout=10) as raw:
            r = await raw.post(url, json=INIT, headers={**ACCEPT, "host": f"evil.example:{port}"})
            assert r.status_code == 421
            r = await raw.post(url, json=INIT, headers={**ACCEPT,
                                                        "origin": "http://evil.example"})
            assert r.status_code == 403
            r = await raw.post(url, json=INIT, headers={**ACCEPT,
                                                        "origin": f"http://127.0.0.2:{port}"})
            assert r.status_code == 200
        assert await _count(url) > 0


def test_every_loopback_address_gets_host_and_origin_checks() -> None:
    for host, own in (("127.0.0.2", "127.0.0.2:*"), ("127.0.0.1", "127.0.0.1:*"),
                      ("::1", "[::1]:*"), ("[::1]", "[::1]:*"), ("localhost", "localhost:*")):
        sec = transport_security(host)
        assert sec is not None and sec.enable_dns_rebinding_protection, host
        assert own in sec.allowed_hosts and "127.0.0.1:*" in sec.allowed_hosts
        assert f"http://{own}" in sec.allowed_origins
    assert transport_security("0.0.0.0") is None  # beyond loopback the token protects
    assert transport_security("192.168.1.5") is None
