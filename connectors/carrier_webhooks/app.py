"""The carrier webhook service: POST /webhooks/<source> to archived raw bodies and published
ShipmentMilestone events, answered 2xx only once Kafka acknowledged them.

A request goes through, in order (the first failing step answers):

    unknown or unconfigured source 404 -> rate 429 -> content type 415 -> body size 413
    (enforced while reading) -> the source's own signature scheme 401 (schemes.py)
    -> webhook-id seen 200 duplicate (or 409 while the first is in flight)
    -> archive the raw body (parsed meanwhile), wait for Kafka (503 + Retry-After if it does
       not acknowledge) -> the parse's outcome (400 when nothing usable; the body stays
       archived for re-parsing)
    -> publish the milestones, wait for Kafka (503) -> 200 accepted

Unknown carrier status codes are not refused here: they travel raw and the shipment_status
normalizer flags them. A failed request is never remembered as seen, so the sender's retry is
processed in full.

De-duplication memory is per process and bounded (the least recently seen ids are forgotten
first; settings ``webhook_dedup_size``): it spares Kafka the common retry, it is not the
guarantee. Two replicas, a restart, or an evicted id let a repeat through; downstream consumers
de-duplicate by the events' ``idempotency_key``, which a re-parse of the same body reproduces.

Build with :func:`build_app` from explicit parts (a sink, settings, a clock) so tests and the
benchmark build their own; nothing here is global.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import generate_latest
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from backbone.errors import EventTooLargeError, PublishError
from backbone.events import ShipmentMilestone
from backbone.registry import RegistryError
from backbone.settings import Settings
from connectors.carrier_webhooks.publishing import Archived, RawWebhook
from connectors.carrier_webhooks.schemes import Scheme, schemes_from_settings, setting_of
from connectors.carrier_webhooks.signatures import SecretError, SignatureError
from connectors.carriers import CarrierResponseError, parse
from connectors.carriers.model import Parsed
from producers.publisher import Delivery

log = logging.getLogger(__name__)

JSON_TYPES = ("application/json",)
XML_TYPES = ("application/xml", "text/xml")
EITHER = JSON_TYPES + XML_TYPES
# What each source posts; the carriers parsers read exactly these formats (the carriers' own
# in their REST JSON or their legacy XML).
SOURCES: dict[str, tuple[str, ...]] = {
    "easypost": JSON_TYPES, "aftership": JSON_TYPES, "shipengine": JSON_TYPES,
    "shippo": JSON_TYPES, "fedex": EITHER, "ups": EITHER, "usps": EITHER,
}
# Retry-After on a 503: long enough for a broker restart or leader election to finish, short
# enough that the sender's own back-off, not ours, dominates.
UNAVAILABLE_RETRY_AFTER_S = 5
# A repeat of a webhook-id still being processed: the first answer comes within the delivery
# timeout; asking the sender back after a second is cheap.
IN_FLIGHT_RETRY_AFTER_S = 1
# /healthz may be polled every second by several probes: ask the broker at most this often.
HEALTH_CACHE_S = 2.0

T = TypeVar("T")


class WebhookSink(Protocol):
    """Where the service puts what it accepts (IntakePublisher, or a test double).

    ``archive`` and ``publish`` are called on the event loop and must only queue the record
    (``publish`` may block on its first call, which is made from a worker thread); the futures
    may be completed from any thread.
    """

    def archive(self, raw: RawWebhook) -> Future[Archived]: ...

    def publish(self, event: ShipmentMilestone) -> Future[Delivery]: ...

    def dead_letter(self, raw: RawWebhook, error: BaseException,
                    archived: Archived) -> Future[None]: ...

    def reachable(self, timeout_s: float = 1.0) -> str | None: ...


@dataclass(frozen=True)
class Clock:
    """Wall time for signature windows and received-at; monotonic time for rates and latency."""

    wall: Callable[[], float] = time.time
    monotonic: Callable[[], float] = time.monotonic


class Outcome(StrEnum):
    """How a webhook request ended (the ``outcome`` label of the request metrics)."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    IN_FLIGHT = "in-flight"
    UNKNOWN_SOURCE = "unknown-source"
    RATE_LIMITED = "rate-limited"
    UNSUPPORTED_MEDIA_TYPE = "unsupported-media-type"
    TOO_LARGE = "too-large"
    UNAUTHORIZED = "unauthorized"
    INVALID_PAYLOAD = "invalid-payload"
    KAFKA_UNAVAILABLE = "kafka-unavailable"
    CLIENT_GONE = "client-gone"
    ERROR = "error"


@dataclass(frozen=True)
class Reply:
    status: int
    outcome: Outcome
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    events: int = 0

    @classmethod
    def rejected(cls, status: int, outcome: Outcome, error: str, **extra: Any) -> Reply:
        headers = extra.pop("headers", {})
        return cls(status, outcome, {"status": "rejected", "error": error, **extra}, headers)


class TokenBucket:
    """At most ``rate`` requests per second on average, bursts of one second's worth."""

    def __init__(self, rate: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.capacity = max(rate, 1.0)
        self._tokens = self.capacity
        self._clock = clock
        self._updated = clock()

    def take(self) -> float:
        """0 when a request may go ahead, else the seconds until the next one may."""
        if self.rate <= 0:
            return 0.0
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return 0.0
        return (1.0 - self._tokens) / self.rate


class Claim(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"
    IN_FLIGHT = "in-flight"


class SeenWebhooks:
    """Webhook ids already accepted (bounded LRU, per process) and those being processed."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._accepted: OrderedDict[str, None] = OrderedDict()
        self._in_flight: set[str] = set()

    def claim(self, webhook_id: str) -> Claim:
        if webhook_id in self._accepted:
            self._accepted.move_to_end(webhook_id)
            return Claim.DUPLICATE
        if webhook_id in self._in_flight:
            return Claim.IN_FLIGHT
        self._in_flight.add(webhook_id)
        return Claim.NEW

    def settle(self, webhook_id: str, *, accepted: bool) -> None:
        """End a claim; only an accepted webhook is remembered, so a retry of a failed one runs."""
        self._in_flight.discard(webhook_id)
        if accepted and self.size > 0:
            self._accepted[webhook_id] = None
            while len(self._accepted) > self.size:
                self._accepted.popitem(last=False)


class WebhookMetrics:
    """The service's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("backbone_webhook_requests", "Webhook requests by outcome.",
                                ["source", "outcome"], registry=self.registry)
        self.latency = Histogram(
            "backbone_webhook_request_seconds", "Time to answer a webhook request.", ["source"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry)
        self.events = Counter("backbone_webhook_events_published",
                              "ShipmentMilestone events Kafka acknowledged.", ["source"],
                              registry=self.registry)
        self.refusals = Counter("backbone_webhook_signature_refusals",
                                "Requests refused by signature verification, by reason.",
                                ["reason"], registry=self.registry)

    def observe(self, source: str, reply: Reply, seconds: float) -> None:
        label = source if source in SOURCES else "unknown"
        self.requests.labels(label, reply.outcome.value).inc()
        self.latency.labels(label).observe(seconds)
        if reply.events:
            self.events.labels(label).inc(reply.events)


class WebhookIntake:
    """One request's way from HTTP to Kafka (the steps in this module's docstring)."""

    def __init__(self, sink: WebhookSink, settings: Settings, schemes: dict[str, Scheme],
                 clock: Clock, metrics: WebhookMetrics) -> None:
        self.sink = sink
        self.schemes = schemes
        self.clock = clock
        self.metrics = metrics
        self.max_body_bytes = settings.webhook_max_body_bytes
        self.tolerance_s = settings.webhook_tolerance_s
        # Kafka reports each delivery within message.timeout.ms; the extra second covers the
        # report's trip to us, so this bound only fires if a report is lost.
        self.delivery_wait_s = settings.webhook_delivery_timeout_ms / 1000 + 1.0
        self.bucket = TokenBucket(settings.webhook_rate_per_s, clock.monotonic)
        self.seen = SeenWebhooks(settings.webhook_dedup_size)
        self._encoding_ready = False

    async def handle(self, source: str, request: Request) -> Reply:
        if source not in SOURCES:
            return Reply.rejected(404, Outcome.UNKNOWN_SOURCE,
                                  f"no webhook source {source[:40]!r}; POST to /webhooks/<source> "
                                  f"with one of: {', '.join(sorted(SOURCES))}")
        scheme = self.schemes.get(source)
        if scheme is None:
            return Reply.rejected(404, Outcome.UNKNOWN_SOURCE,
                                  f"webhook source {source!r} is not configured here; set "
                                  f"{setting_of(source)}")
        wait = self.bucket.take()
        if wait:
            return Reply.rejected(429, Outcome.RATE_LIMITED,
                                  "over the configured webhook rate; retry after the delay in "
                                  "Retry-After", headers={"Retry-After": str(math.ceil(wait))})
        content_type = request.headers.get("content-type", "")
        if not _accepts(SOURCES[source], content_type):
            return Reply.rejected(415, Outcome.UNSUPPORTED_MEDIA_TYPE,
                                  f"content type {content_type or '(none)'!r} is not what "
                                  f"{source} webhooks carry; send "
                                  f"{' or '.join(SOURCES[source])}")
        try:
            body = await _read_body(request, self.max_body_bytes)
        except ClientDisconnect:
            # Nobody will read this answer; it only feeds the metrics.
            return Reply.rejected(400, Outcome.CLIENT_GONE, "the client left mid-body")
        if body is None:
            return Reply.rejected(413, Outcome.TOO_LARGE,
                                  f"body over the {self.max_body_bytes}-byte limit "
                                  "(BACKBONE_WEBHOOK_MAX_BODY_BYTES); nothing was kept")
        try:
            if scheme.blocking:  # may fetch the provider's published keys
                signed = await run_in_threadpool(scheme.verify, request.headers, body,
                                                 now=self.clock.wall())
            else:
                signed = scheme.verify(request.headers, body, now=self.clock.wall())
        except SignatureError as error:
            self.metrics.refusals.labels(error.refusal.value).inc()
            log.info("webhook %s refused: %s", source, error)
            return Reply.rejected(401, Outcome.UNAUTHORIZED, str(error),
                                  reason=error.refusal.value)
        claim = self.seen.claim(signed.webhook_id)
        if claim is Claim.DUPLICATE:
            return Reply(200, Outcome.DUPLICATE,
                         {"status": "duplicate", "webhook_id": signed.webhook_id})
        if claim is Claim.IN_FLIGHT:
            return Reply.rejected(409, Outcome.IN_FLIGHT,
                                  f"webhook {signed.webhook_id} is being processed; retry to "
                                  "learn its outcome",
                                  headers={"Retry-After": str(IN_FLIGHT_RETRY_AFTER_S)})
        reply = Reply.rejected(500, Outcome.ERROR, "internal error; the body may be archived, "
                               "retry later")
        try:
            reply = await self._accept(source, signed.webhook_id, content_type, body)
        except Exception:
            log.exception("webhook %s %s failed unexpectedly", source, signed.webhook_id)
        finally:
            self.seen.settle(signed.webhook_id, accepted=reply.status < 300)
        return reply

    async def _accept(self, source: str, webhook_id: str, content_type: str,
                      body: bytes) -> Reply:
        received_at = datetime.fromtimestamp(self.clock.wall(), UTC)
        # Producing only queues the record (librdkafka sends it from its own threads), so it
        # runs here on the event loop: a hop through the thread pool per step cost more than
        # the step itself and, under a flood, left requests queued behind one another.
        raw = RawWebhook(webhook_id, source, content_type, received_at, body)
        try:
            archiving = self.sink.archive(raw)
        except PublishError as error:
            return _unavailable(webhook_id, error)
        # Parsing is pure: it runs while the archive record travels, and its outcome is only
        # acted on once the body is safely archived.
        parsed: Parsed | Exception
        try:
            parsed = parse(source, body, name=f"{source} webhook {webhook_id}",
                           recorded_at=received_at)
            _require_events(parsed, webhook_id)
        except (CarrierResponseError, ValueError) as error:
            parsed = error
        try:
            [archived] = await self._acknowledged([archiving])
        except PublishError as error:
            return _unavailable(webhook_id, error)
        where = {"topic": archived.topic, "partition": archived.partition,
                 "offset": archived.offset}
        if isinstance(parsed, Exception):
            log.warning("webhook %s %s not parsed (archived at %s): %s", source, webhook_id,
                        where, parsed)
            try:  # the sender will not resend a 400: the dead letter must be in Kafka first
                await self._acknowledged([self.sink.dead_letter(raw, parsed, archived)])
            except PublishError as error:
                return _unavailable(webhook_id, error)
            return Reply.rejected(
                400, Outcome.INVALID_PAYLOAD, str(parsed), archived=where,
                note="the raw body is archived and dead-lettered, to be re-parsed by `backbone "
                     "dlq replay` once the parser is fixed; nothing else was published")
        try:
            deliveries = await self._acknowledged(await self._publish(parsed.events))
        except EventTooLargeError as error:
            return Reply.rejected(400, Outcome.INVALID_PAYLOAD, str(error), archived=where)
        except (PublishError, RegistryError) as error:
            return _unavailable(webhook_id, error)
        return Reply(200, Outcome.ACCEPTED, {
            "status": "accepted", "webhook_id": webhook_id, "events": len(deliveries),
            "archived": where,
            "skipped": [{"position": r.position, "problem": r.problem}
                        for r in parsed.rejections],
        }, events=len(deliveries))

    async def _publish(self, events: Sequence[ShipmentMilestone]) -> list[Future[Delivery]]:
        if self._encoding_ready:
            return [self.sink.publish(event) for event in events]
        # Until one publish went through, encoding may first ask the schema registry (blocking
        # HTTP): keep that off the event loop. Afterwards the encoder is cached.
        futures = await run_in_threadpool(lambda: [self.sink.publish(event) for event in events])
        self._encoding_ready = True
        return futures

    async def _acknowledged(self, futures: Sequence[Future[T]]) -> list[T]:
        """Every future's result once Kafka reported on all; PublishError naming a failure."""
        if not futures:
            return []
        loop = asyncio.get_running_loop()
        settled: asyncio.Future[None] = loop.create_future()

        def on_report() -> None:  # on the event loop
            if not settled.done() and all(future.done() for future in futures):
                settled.set_result(None)

        def reported(_: Future[T]) -> None:  # on whichever thread served the report
            if not loop.is_closed():  # a report after shutdown has nobody to tell
                loop.call_soon_threadsafe(on_report)

        for future in futures:
            # Delivery reports complete the futures on the producer's polling thread; one
            # wake-up of the loop per report, no task or wrapper future per record.
            future.add_done_callback(reported)
        try:
            # Giving up cancels only our own waiter, never the producer's futures.
            async with asyncio.timeout(self.delivery_wait_s):
                await settled
        except TimeoutError:
            pending = sum(not future.done() for future in futures)
            raise PublishError(f"{pending} of {len(futures)} records had no delivery report "
                               f"within {self.delivery_wait_s:.0f}s") from None
        errors = [error for future in futures if (error := future.exception()) is not None]
        if errors:
            raise errors[0] if isinstance(errors[0], PublishError) else PublishError(
                str(errors[0]))
        return [future.result() for future in futures]


def build_app(sink: WebhookSink, settings: Settings, *, clock: Clock | None = None,
              schemes: dict[str, Scheme] | None = None) -> Starlette:
    """The ASGI app; each source is served with its scheme (default: from ``settings``,
    schemes.py); SecretError when no source is configured or a secret is unusable."""
    schemes = schemes_from_settings(settings) if schemes is None else schemes
    if not schemes:
        raise SecretError("no webhook source is configured: set BACKBONE_WEBHOOK_SECRET (Standard "
                          "Webhooks) or a source's own secret (BACKBONE_WEBHOOK_SECRET_EASYPOST, "
                          "..._AFTERSHIP, BACKBONE_WEBHOOK_SHIPENGINE_JWKS_URL, ...)")
    clock = clock or Clock()
    metrics = WebhookMetrics()
    intake = WebhookIntake(sink, settings, schemes, clock, metrics)
    health: dict[str, Any] = {"checked": -math.inf, "problem": None}

    async def receive(request: Request) -> Response:
        started = clock.monotonic()
        source = request.path_params["source"]
        reply = await intake.handle(source, request)
        metrics.observe(source, reply, clock.monotonic() - started)
        return JSONResponse(reply.body, reply.status, headers=reply.headers)

    async def healthz(_: Request) -> Response:
        if clock.monotonic() - health["checked"] > HEALTH_CACHE_S:
            health["problem"] = await run_in_threadpool(sink.reachable, 1.0)
            health["checked"] = clock.monotonic()
        if health["problem"] is None:
            return JSONResponse({"status": "ok"})
        return JSONResponse({"status": "unavailable", "kafka": health["problem"]}, 503,
                            headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)})

    async def expose(_: Request) -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app = Starlette(routes=[
        Route("/webhooks/{source}", receive, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", expose, methods=["GET"]),
    ])
    app.state.metrics = metrics
    return app


def _accepts(allowed: tuple[str, ...], content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    suffixes = tuple(s for s, types in (("+json", JSON_TYPES), ("+xml", XML_TYPES))
                     if set(types) <= set(allowed))
    return media in allowed or ("/" in media and media.endswith(suffixes))


async def _read_body(request: Request, limit: int) -> bytes | None:
    """The body, or None as soon as it exceeds ``limit`` (never read whole when too large)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _require_events(parsed: Parsed, webhook_id: str) -> None:
    if parsed.rejections and not parsed.events:
        problems = "; ".join(f"{r.position}: {r.problem}" for r in parsed.rejections[:5])
        raise CarrierResponseError(f"webhook {webhook_id}: no usable tracking event ({problems})")


def _unavailable(webhook_id: str, error: BaseException) -> Reply:
    log.warning("webhook %s not acknowledged by Kafka: %s", webhook_id, error)
    return Reply.rejected(503, Outcome.KAFKA_UNAVAILABLE,
                          f"Kafka did not acknowledge webhook {webhook_id} ({error}); nothing "
                          "is accepted until it does, retry after the delay in Retry-After",
                          headers={"Retry-After": str(UNAVAILABLE_RETRY_AFTER_S)})
