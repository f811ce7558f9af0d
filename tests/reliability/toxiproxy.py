"""Toxiproxy (Shopify's TCP proxy for simulating network conditions) driven over its HTTP API.

The binary comes from ``go install github.com/Shopify/toxiproxy/v2/cmd/server@v2.5.0`` (`.ci/run`
installs it into ``.backbone/bin``); BACKBONE_TOXIPROXY names another one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[2]


def find_server() -> Path | None:
    for candidate in (os.environ.get("BACKBONE_TOXIPROXY"), str(REPO / ".backbone/bin/server"),
                      shutil.which("toxiproxy-server")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


class Toxiproxy:
    """One toxiproxy server: proxies by name, toxics added and removed."""

    def __init__(self, api_port: int) -> None:
        self.api = f"http://127.0.0.1:{api_port}"
        self.http = httpx.Client(timeout=10)

    def proxy(self, name: str, listen_port: int, upstream_port: int) -> None:
        self._call("POST", "/proxies", {"name": name, "listen": f"127.0.0.1:{listen_port}",
                                        "upstream": f"127.0.0.1:{upstream_port}",
                                        "enabled": True})

    def add_toxic(self, proxy: str, kind: str, stream: str = "downstream",
                  **attributes: int) -> str:
        name = f"{kind}-{stream}"
        self._call("POST", f"/proxies/{proxy}/toxics",
                   {"name": name, "type": kind, "stream": stream, "attributes": attributes})
        return name

    def remove_toxic(self, proxy: str, name: str) -> None:
        self._call("DELETE", f"/proxies/{proxy}/toxics/{name}")

    @contextmanager
    def toxic(self, proxies: list[str], kind: str, stream: str = "downstream",
              **attributes: int) -> Iterator[None]:
        """``kind`` on every proxy of ``proxies`` for the block."""
        added = [(proxy, self.add_toxic(proxy, kind, stream, **attributes))
                 for proxy in proxies]
        try:
            yield
        finally:
            for proxy, name in added:
                self.remove_toxic(proxy, name)

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.request(method, f"{self.api}{path}", json=body)
        response.raise_for_status()
        return response.json() if response.content else None


@contextmanager
def running(binary: Path, api_port: int, log: Path) -> Iterator[Toxiproxy]:
    with log.open("ab") as out:
        server = subprocess.Popen([str(binary), "-host", "127.0.0.1", "-port", str(api_port)],
                                  stdout=out, stderr=subprocess.STDOUT)
    client = Toxiproxy(api_port)
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                client.http.get(f"{client.api}/version").raise_for_status()
                break
            except httpx.HTTPError as error:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"toxiproxy did not start: {log.read_text()[-2000:]}"
                                       ) from error
                time.sleep(0.2)
        yield client
    finally:
        client.http.close()
        server.terminate()
        server.wait(timeout=15)
