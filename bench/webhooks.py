"""Carrier webhooks through uvicorn on loopback: p50/p99 latency and accepted requests/s at a
fixed offered rate, against the same server with a no-op endpoint measured in the same run.

Ours = ``connectors.carrier_webhooks`` as ``backbone connect carrier-webhooks`` runs it
(signature check, de-dup, raw archive + ShipmentMilestone publish, each waited on until Kafka
acknowledged) on fresh topics. Baseline = the same uvicorn + Starlette serving an endpoint that
reads the body and answers 200 (no verification, no Kafka). Each server runs in its own process;
the load is open loop (sent on schedule whatever the answers do, so a slow server cannot slow the
offer and hide its latency), latency measured from each request's scheduled time. The load comes
from a minimal keep-alive HTTP/1.1 client (:class:`LoopbackClient`) rather than httpx: on two
shared cores httpx's own CPU per request set the pace at 300 req/s, for either server.

Then the issue's flood: 300 requests/s for 30 s with 20% bad ones (forged, stale, oversized,
wrong content type); every accepted webhook's event must be in Kafka exactly once and every bad
one refused, else the run fails. ``python -m bench.webhooks [RATE SECONDS [FLOOD_RATE
FLOOD_SECONDS]]`` overrides the rates and durations.
"""

from __future__ import annotations

import asyncio
import base64
import json
import multiprocessing
import socket
import statistics
import sys
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

from bench.common import endpoints, fresh_topic, report, result

RATE, SECONDS = 200, 15
FLOOD_RATE, FLOOD_SECONDS = 300, 30
SECRET = "whsec_" + base64.b64encode(b"bench-webhook-key-32-bytes-long!").decode()
MAX_BODY = 8192


@dataclass(frozen=True)
class Webhook:
    webhook_id: str
    tracking: str
    body: bytes
    headers: dict[str, str]
    good: bool = True


def _sign(webhook_id: str, body: bytes, timestamp: int, key: str = SECRET) -> str:
    from connectors.carrier_webhooks.signatures import WebhookSecret

    return WebhookSecret.parse(key).sign(webhook_id, timestamp, body)


def webhook(n: int, run: str, *, flaw: str | None = None) -> Webhook:
    webhook_id, tracking = f"msg_{run}_{n}", f"1Z{run.upper()}{n:07d}"
    body = json.dumps({
        "object": "Event", "description": "tracker.updated", "id": f"evt_{run}_{n}",
        "result": {"object": "Tracker", "tracking_code": tracking, "carrier": "UPS",
                   "tracking_details": [{"status": "in_transit", "message": "Departed facility",
                                         "datetime": "2024-05-06T10:00:00-05:00",
                                         "tracking_location": {"city": "TULSA",
                                                               "state": "OK"}}]}}).encode()
    now, content_type = int(time.time()), "application/json"
    if flaw == "oversized":
        body += b" " * MAX_BODY
    if flaw == "stale":
        now -= 400
    if flaw == "content-type":
        content_type = "text/plain"
    key = "whsec_" + base64.b64encode(b"x" * 32).decode() if flaw == "forged" else SECRET
    headers = {"webhook-id": webhook_id, "webhook-timestamp": str(now),
               "webhook-signature": _sign(webhook_id, body, now, key),
               "content-type": content_type}
    return Webhook(webhook_id, tracking, body, headers, flaw is None)


def flood(count: int, run: str) -> list[Webhook]:
    """20% bad, spread evenly: forged, stale, oversized, wrong content type in turn."""
    flaws = ("forged", "stale", "oversized", "content-type")
    return [webhook(n, run, flaw=flaws[(n // 10) % 4] if n % 10 in (3, 7) else None)
            for n in range(count)]


# --- servers (each in its own process) ------------------------------------------------------


def _serve(mode: str, port: int, bootstrap: str, registry_url: str, archive: str,
           milestones: str) -> None:
    import uvicorn
    from pydantic import SecretStr
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    from backbone.registry import SchemaRegistry
    from backbone.serde import AvroSerde
    from backbone.settings import Settings
    from connectors.carrier_webhooks import IntakePublisher, IntakeTopics, build_app

    if mode == "noop":
        async def accept(request: Request) -> Response:
            await request.body()
            return JSONResponse({"status": "accepted"})

        app = Starlette(routes=[Route("/webhooks/{source}", accept, methods=["POST"])])
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
        return
    defaults = IntakeTopics()
    topics = IntakeTopics(replace(defaults.archive, name=archive),
                          replace(defaults.milestones, name=milestones))
    settings = Settings(webhook_secret=SecretStr(SECRET), webhook_max_body_bytes=MAX_BODY)
    sink = IntakePublisher(bootstrap, AvroSerde(SchemaRegistry(registry_url)),
                           delivery_timeout_ms=settings.webhook_delivery_timeout_ms,
                           topics=topics)
    try:
        uvicorn.run(build_app(sink, settings), host="127.0.0.1", port=port,
                    log_level="warning", access_log=False)
    finally:
        sink.close()


class Server:
    """A server process on a free loopback port, ready when its port answers."""

    def __init__(self, mode: str, *args: str) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        context = multiprocessing.get_context("spawn")
        self.process = context.Process(target=_serve, args=(mode, self.port, *args), daemon=True)

    def __enter__(self) -> str:
        self.process.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return f"http://127.0.0.1:{self.port}"
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the webhook server did not start")

    def __exit__(self, *_: object) -> None:
        self.process.terminate()
        self.process.join(10)


# --- load -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    status: int
    latency_s: float


class LoopbackClient:
    """Keep-alive HTTP/1.1 POSTs over plain asyncio streams, at most ``connections`` at once.

    The load generator shares the 2 cores with the server under test, so it must cost little:
    httpx spent about 4 ms of CPU per request at 300 req/s (12.7 s for 3,000 posts to the no-op
    endpoint, which then answered in 0.5 s p50) and more once a backlog grew its pool, so the
    client, not the server, set the pace. This one writes the request bytes and reads the status
    line, the headers and a content-length body; nothing else is needed against uvicorn.
    """

    def __init__(self, host: str, port: int, connections: int = 256) -> None:
        self.host, self.port = host, port
        self._slots = asyncio.Semaphore(connections)
        self._idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
        self._open: set[asyncio.StreamWriter] = set()

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        request = (f"POST {path} HTTP/1.1\r\nhost: {self.host}:{self.port}\r\n"
                   f"content-length: {len(body)}\r\n{head}\r\n").encode() + body
        async with self._slots:
            # A reused connection the server closed while idle fails before any answer: the
            # request was not processed, so it is sent once more on a fresh connection.
            if self._idle:
                reader, writer = self._idle.pop()
                try:
                    return await self._exchange(reader, writer, request)
                except (ConnectionError, asyncio.IncompleteReadError) as error:
                    if isinstance(error, asyncio.IncompleteReadError) and error.partial:
                        raise
            reader, writer = await asyncio.open_connection(self.host, self.port)
            self._open.add(writer)
            return await self._exchange(reader, writer, request)

    async def _exchange(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                        request: bytes) -> int:
        try:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").lower().split("\r\n")
            status = int(lines[0].split(" ", 2)[1])
            fields = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
            await reader.readexactly(int(fields.get("content-length", "0")))
        except BaseException:
            self._close(writer)
            raise
        if fields.get("connection") == "close":
            self._close(writer)
        else:
            self._idle.append((reader, writer))
        return status

    def _close(self, writer: asyncio.StreamWriter) -> None:
        self._open.discard(writer)
        writer.close()

    def close(self) -> None:
        for writer in list(self._open):
            self._close(writer)
        self._idle.clear()


async def offer(base_url: str, webhooks: list[Webhook], rate: float) -> dict[str, Answer]:
    """Send each webhook on schedule (open loop); latency counts from the scheduled time."""
    host, port = base_url.removeprefix("http://").rsplit(":", 1)
    client = LoopbackClient(host, int(port))
    answers: dict[str, Answer] = {}
    try:
        # Warm the server's first-request paths (registry lookup of the topic's schema).
        warm = webhook(0, f"warm{uuid.uuid4().hex[:6]}")
        await client.post("/webhooks/easypost", warm.body, warm.headers)

        async def send(item: Webhook, due: float) -> None:
            try:
                async with asyncio.timeout(60):
                    status = await client.post("/webhooks/easypost", item.body, item.headers)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    TimeoutError, ValueError):
                status = 0
            answers[item.webhook_id] = Answer(status, time.monotonic() - due)

        started = time.monotonic()
        tasks = []
        for n, item in enumerate(webhooks):
            due = started + n / rate
            if (delay := due - time.monotonic()) > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(item, due)))
        await asyncio.gather(*tasks)
    finally:
        client.close()
    # Accepted/s counts until the last answer: a server that falls behind shows it here.
    answers["(elapsed)"] = Answer(0, time.monotonic() - started)
    return answers


def figures(answers: dict[str, Answer]) -> tuple[float, float, float]:
    """(p50 ms, p99 ms, accepted requests/s until the last answer) of the 2xx answers."""
    elapsed = answers["(elapsed)"].latency_s
    accepted = sorted(a.latency_s * 1000 for a in answers.values() if a.status == 200)
    if not accepted:
        raise RuntimeError(f"no request accepted: {sorted({a.status for a in answers.values()})}")
    p99 = accepted[max(0, int(len(accepted) * 0.99) - 1)]
    return statistics.median(accepted), p99, len(accepted) / elapsed


def milestone_keys(bootstrap: str, topic: str, expect: int) -> list[bytes]:
    from confluent_kafka import Consumer, TopicPartition

    from backbone.kafka import consumer_config

    consumer = Consumer(consumer_config(bootstrap, f"bench-{uuid.uuid4().hex[:8]}"))
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
                for p in partitions}
        consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
        keys: list[bytes] = []
        while len(keys) < sum(ends.values()):
            keys.extend(m.key() for m in consumer.consume(5000, 1.0) if m.error() is None)
        return keys
    finally:
        consumer.close()


def run(rate: float = RATE, seconds: float = SECONDS, flood_rate: float = FLOOD_RATE,
        flood_seconds: float = FLOOD_SECONDS) -> list[dict[str, Any]]:
    where = endpoints()
    bootstrap, registry = where.bootstrap_servers, where.registry_url
    count = int(rate * seconds)
    archive, milestones = fresh_topic(bootstrap, prefix="bench.archive"), fresh_topic(bootstrap)
    with Server("full", bootstrap, registry, archive, milestones) as url:
        ours = asyncio.run(offer(url, [webhook(n, "lat") for n in range(count)], rate))
    with Server("noop", bootstrap, registry, archive, milestones) as url:
        noop = asyncio.run(offer(url, [webhook(n, "noop") for n in range(count)], rate))
    (p50, p99, accepted), (b50, b99, b_accepted) = figures(ours), figures(noop)

    archive, milestones = fresh_topic(bootstrap, prefix="bench.archive"), fresh_topic(bootstrap)
    hooks = flood(int(flood_rate * flood_seconds), "flood")
    with Server("full", bootstrap, registry, archive, milestones) as url:
        answers = asyncio.run(offer(url, hooks, flood_rate))
    good = {h.webhook_id for h in hooks if h.good}
    # A good webhook may be deferred (429 over the rate in a burst, 503): the sender retries
    # it. Anything else is wrong: a bad one accepted, a good one refused for good.
    statuses = {h.webhook_id: answers[h.webhook_id].status for h in hooks}
    deferred = [h for h in hooks if h.good and statuses[h.webhook_id] in (429, 503)]
    wrongly = [f"{h.webhook_id}: {statuses[h.webhook_id]}" for h in hooks
               if (statuses[h.webhook_id] == 200) != h.good
               and not (h.good and statuses[h.webhook_id] in (429, 503))]
    # The warm-up webhook's event is there too; count the flood's own.
    keys = [key for key in milestone_keys(bootstrap, milestones, len(good))
            if key.startswith(b"UPSN:1ZFLOOD")]
    expected = {f"UPSN:{h.tracking}".encode() for h in hooks if statuses[h.webhook_id] == 200}
    if wrongly or len(keys) != len(set(keys)) or set(keys) != expected:
        raise RuntimeError(f"flood: {len(wrongly)} answered wrongly (e.g. {wrongly[:3]}), "
                           f"{len(keys)} events in Kafka for {len(expected)} accepted, "
                           f"{len(keys) - len(set(keys))} duplicates")
    f50, f99, f_accepted = figures(answers)
    offered = f"{rate:g}/s for {seconds:g}s"
    return [
        result(f"webhooks: accepted req/s at {offered}", accepted, b_accepted, 0.95, "req/s",
               "no-op endpoint"),
        {"name": f"webhooks: p50 latency at {offered}", "value": round(p50, 2),
         "baseline": round(b50, 2), "baseline_name": "no-op endpoint p50",
         "ratio": round(p50 / b50, 2), "target": None, "unit": "ms", "met": True},
        {"name": f"webhooks: p99 latency at {offered}", "value": round(p99, 2),
         "baseline": round(b99, 2), "baseline_name": "no-op endpoint p99",
         "ratio": round(p99 / b99, 2), "target": None, "unit": "ms", "met": True},
        {"name": f"webhooks: flood {flood_rate:g}/s x {flood_seconds:g}s, 20% bad: accepted req/s",
         "value": round(f_accepted, 1), "baseline": flood_rate * 0.8,
         "baseline_name": "good requests offered/s",
         "ratio": round(f_accepted / (flood_rate * 0.8), 3),
         "target": 0.95, "unit": "req/s",
         "met": not deferred and f_accepted >= 0.95 * flood_rate * 0.8,
         "deferred_429_503": len(deferred),
         "p50_ms": round(f50, 2), "p99_ms": round(f99, 2), "events_in_kafka": len(keys)},
    ]


if __name__ == "__main__":
    report(run(*(float(arg) for arg in sys.argv[1:5])))
