"""Posts the demo's webhook bodies to a running ``backbone connect carrier-webhooks``, signed."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx

# A throwaway key for the demo only; a real one comes from the carrier or aggregator.
DEMO_SECRET = "whsec_" + base64.b64encode(b"backbone-demo-webhook-secret-01").decode()


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks: ``v1,`` + base64 HMAC-SHA256 of ``id.timestamp.body``."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{webhook_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def deliver(env: dict[str, str], bodies: list[Path], port: int) -> None:
    service_env = {**env, "BACKBONE_WEBHOOK_SECRET": DEMO_SECRET}
    print(f"$ backbone connect carrier-webhooks --port {port}   (in the background)")
    service = subprocess.Popen(
        [sys.executable, "-m", "backbone", "connect", "carrier-webhooks", "--host", "127.0.0.1",
         "--port", str(port)], env=service_env, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base, service)
        for path in bodies:
            body = path.read_bytes()
            webhook_id = f"msg_{uuid.uuid5(uuid.NAMESPACE_URL, path.name).hex}"
            timestamp = int(time.time())
            response = httpx.post(f"{base}/webhooks/easypost", content=body, timeout=30, headers={
                "content-type": "application/json", "webhook-id": webhook_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": sign(DEMO_SECRET, webhook_id, timestamp, body),
            })
            print(f"    POST /webhooks/easypost {path.name}: {response.status_code} "
                  f"{response.text[:120]}")
    finally:
        service.terminate()
        try:
            service.wait(timeout=20)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()


def _wait_healthy(base: str, service: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise SystemExit(f"demo: the webhook service exited with {service.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise SystemExit("demo: the webhook service did not become healthy within 60s")


if __name__ == "__main__":
    deliver(dict(os.environ), [Path(p) for p in sys.argv[2:]], int(sys.argv[1]))
