"""X-Forwarded-For is believed only from configured proxies (real uvicorn server)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from cctrace.errors import ConfigError
from cctrace.web.settings import WebSettings


async def echo_client(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = json.dumps({"client": scope["client"][0]}).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@contextmanager
def serve(settings: WebSettings) -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(
        echo_client,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        **settings.uvicorn_options(),  # type: ignore[arg-type]
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(100):
        if server.started:
            break
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize(
    ("trusted", "seen"),
    [((), "127.0.0.1"), (("127.0.0.1",), "203.0.113.7")],
)
def test_forwarded_for_only_from_a_trusted_proxy(trusted: tuple[str, ...], seen: str) -> None:
    settings = WebSettings(secret_key="x" * 32, trusted_proxies=trusted)
    with serve(settings) as url:
        got = httpx.get(url, headers={"X-Forwarded-For": "203.0.113.7"}).json()
    assert got["client"] == seen


def test_bad_trusted_proxy_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CCTRACE_SECRET_KEY", "k3y-" + "abcdefghijklmnopqrstuvwxyz0123456789")
    monkeypatch.setenv("CCTRACE_TRUSTED_PROXIES", "10.0.0.1, proxy.local")
    with pytest.raises(ConfigError, match=r"proxy\.local"):
        WebSettings.from_env()
