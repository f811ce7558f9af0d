"""The operator console: server-rendered pages over the same actions as `backbone dlq`.

Pages: dead letters across every dead-letter topic with filters and counts (``/``), one dead
letter with its headers, payload, trace and what the current code does with it now
(``/letter``), the replay confirmation and its progress (``/replay``, ``/jobs/<id>``), purge with
a reason (``/purge``), the audit trail (``/audit``) and each processor's lag, retry backlog and
dead letters a minute (``/processors``). Every action calls processors/dlq/actions.py, as the
command line does.

Security: every page but ``/login`` and ``/healthz`` needs a logged-in operator (auth.py); every
POST carries the session's CSRF token and, when the browser sends an Origin, comes from this
host; replay and purge are written to the audit topic with the operator's name. Templates
escape everything (a dead letter's payload is attacker-controlled data), and the pages run no
script at all: the Content-Security-Policy forbids it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from backbone.clients import Endpoints
from backbone.dead_letters import format_time, now_ms
from backbone.serde import AvroSerde
from backbone.settings import Settings, load_settings
from processors.console import auth
from processors.console.health import processor_health
from processors.dlq import audit
from processors.dlq.actions import (
    Loaded,
    OperatorError,
    Scope,
    audit_trail,
    document,
    load,
    owner_of_selection,
    predictions_for,
    purge,
    replay_plan,
    replay_selection,
)
from processors.dlq.selection import SelectionError, selection_from, stats

log = logging.getLogger(__name__)

COOKIE = "backbone_console"
TEMPLATES = Path(__file__).resolve().parent / "templates"
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    # same-origin, not no-referrer: with no-referrer Chromium posts forms with "Origin: null",
    # which the cross-site check below refuses
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
FILTERS = ("topic", "stage", "owner", "category", "since", "until", "key", "error")
MAX_ROWS = 500  # rows one page shows; counts cover every match


@dataclass(frozen=True)
class ConsoleConfig:
    """Everything the console needs, from settings and the command line."""

    endpoints: Endpoints  # Kafka and the registry, with their credentials
    operators: Mapping[str, str]  # name -> password hash
    secret_key: bytes
    audit_topic: str = audit.AUDIT_TOPIC
    topic_prefix: str | None = None
    group_prefix: str = "backbone."
    max_message_bytes: int = 1_000_000
    replay_max: int = 3
    replay_rate: float = 0.0
    session_hours: float = 8.0
    trusted_header: str | None = None
    trusted_proxies: frozenset[str] = frozenset({"127.0.0.1", "::1"})
    # what `backbone process` runs with, so the dry-run predicts what a replay will meet
    settings: Settings = field(default_factory=load_settings)


@dataclass
class ReplayJob:
    """A replay running in the background, for its progress page."""

    id: str
    operator: str
    total: int
    done: int = 0
    status: str = "running"  # running | completed | interrupted | failed | cancelled
    summary: str = ""
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    started: float = field(default_factory=time.time)


class Console:
    """The console's state: configuration, sessions, the serde, jobs in flight."""

    def __init__(self, config: ConsoleConfig) -> None:
        self.config = config
        self.signer = auth.SessionSigner(config.secret_key, config.session_hours * 3600)
        self.throttle = auth.LoginThrottle()
        self.serde = AvroSerde(config.endpoints.registry(),
                               max_message_bytes=config.max_message_bytes)
        self.jobs: dict[str, ReplayJob] = {}
        self.templates = Environment(loader=FileSystemLoader(TEMPLATES),
                                     autoescape=select_autoescape(["html"]),
                                     trim_blocks=True, lstrip_blocks=True)
        self.templates.filters["time"] = lambda ms: format_time(ms)[:19].replace("T", " ") \
            if ms is not None else "?"
        self.templates.filters["pretty"] = lambda v: json.dumps(v, indent=2, default=str)
        self.templates.filters["text"] = lambda b: (b or b"").decode("utf-8", "replace")

    def scope(self, topics: Sequence[str] = ()) -> Scope:
        return Scope(tuple(topics), None, self.config.topic_prefix, self.config.audit_topic)

    def render(self, request: Request, name: str, status: int = 200,
               session: auth.Session | None = None, **context: Any) -> HTMLResponse:
        html = self.templates.get_template(name).render(
            request=request, session=session, prefix=self.config.topic_prefix, **context)
        return HTMLResponse(html, status)


def _client(request: Request) -> str:
    return request.client.host if request.client else "?"


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never an absolute or protocol-relative URL."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _coordinates(values: Sequence[str]) -> list[tuple[str, int, int]]:
    result = []
    for value in values:
        topic, _, rest = value.rpartition(":")
        topic, _, partition = topic.rpartition(":")
        if not topic or not partition.isdigit() or not rest.isdigit():
            raise SelectionError(f"{value!r} is not a dead letter's <topic>:<partition>:<offset>")
        result.append((topic, int(partition), int(rest)))
    return result


def _filters(source: Mapping[str, str]) -> dict[str, str]:
    return {name: source.get(name, "").strip() for name in FILTERS if source.get(name, "").strip()}


def build_app(config: ConsoleConfig) -> Starlette:
    """The ASGI app of the console."""
    console = Console(config)

    def session_of(request: Request) -> tuple[auth.Session | None, bool]:
        """The operator's session, and whether it is new (a cookie must be set)."""
        session = console.signer.load(request.cookies.get(COOKIE))
        proxied = auth.trusted_operator(request.headers, _client(request),
                                        config.trusted_header, config.trusted_proxies)
        if proxied is not None:
            if session is not None and session.operator == proxied:
                return session, False
            return console.signer.new(proxied), True
        return session, False

    Handler = Callable[[Request, auth.Session], Awaitable[Response]]

    def page(handler: Handler, *, post: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            session, fresh = session_of(request)
            if session is None:
                if post:
                    return HTMLResponse("log in first", 403, headers=SECURITY_HEADERS)
                target = urlencode({"next": request.url.path + (
                    f"?{request.url.query}" if request.url.query else "")})
                return RedirectResponse(f"/login?{target}", 303, headers=SECURITY_HEADERS)
            if post:
                form = await request.form()
                origin = request.headers.get("origin")
                if origin and urlsplit(origin).netloc != request.headers.get("host"):
                    return HTMLResponse("cross-site request refused", 403,
                                        headers=SECURITY_HEADERS)
                if fresh or not auth.valid_csrf(session, _text(form, "csrf")):
                    return HTMLResponse("the form's CSRF token is missing or stale: reload the "
                                        "page and try again", 403, headers=SECURITY_HEADERS)
                request.state.form = form
            try:
                response = await handler(request, session)
            except (OperatorError, SelectionError, KeyError) as error:
                response = console.render(request, "error.html", 400, session,
                                          message=str(error.args[0] if error.args else error))
            if fresh:
                _set_cookie(response, console.signer.dump(session), request)
            response.headers.update(SECURITY_HEADERS)
            return response
        return endpoint

    async def login_form(request: Request) -> Response:
        response = console.render(request, "login.html", next=_safe_next(
            request.query_params.get("next")), error=None,
                                  configured=bool(config.operators))
        response.headers.update(SECURITY_HEADERS)
        return response

    async def login(request: Request) -> Response:
        form = await request.form()
        client, name = _client(request), _text(form, "operator") or ""
        target = _safe_next(_text(form, "next"))
        wait = console.throttle.locked(client)
        stored = config.operators.get(name)
        if wait:
            error = f"too many failed logins from {client}; try again in {wait:.0f} s"
        elif stored is not None and await run_in_threadpool(
                auth.verify, _text(form, "password") or "", stored):
            console.throttle.succeeded(client)
            log.info("console: %s logged in from %s", name, client)
            response: Response = RedirectResponse(target, 303)
            _set_cookie(response, console.signer.dump(console.signer.new(name)), request)
            response.headers.update(SECURITY_HEADERS)
            return response
        else:
            console.throttle.failed(client)
            log.warning("console: failed login for %r from %s", name[:40], client)
            error = "unknown operator or wrong password"
        response = console.render(request, "login.html", 401, next=target, error=error,
                                  configured=bool(config.operators))
        response.headers.update(SECURITY_HEADERS)
        return response

    async def logout(request: Request, session: auth.Session) -> Response:
        response = RedirectResponse("/login", 303)
        response.delete_cookie(COOKIE, path="/")
        return response

    async def letters(request: Request, session: auth.Session) -> Response:
        filters = _filters(request.query_params)
        loaded = await run_in_threadpool(_load_filtered, console, filters, ())
        counts = stats(loaded.letters)
        hours = sorted(counts.by_hour.items())
        return console.render(request, "letters.html", session=session, filters=filters,
                              letters=loaded.letters[:MAX_ROWS], total=len(loaded.letters),
                              max_rows=MAX_ROWS, topics=loaded.topics, counts=counts,
                              hours=hours, ledger=loaded.ledger,
                              query=urlencode(filters))

    async def letter(request: Request, session: auth.Session) -> Response:
        where = request.query_params.get("where", "")
        [(topic, partition, offset)] = _coordinates([where])
        loaded = await run_in_threadpool(
            _load_filtered, console, {"topic": topic}, [(topic, partition, offset)], True)
        if not loaded.letters:
            raise OperatorError(f"no dead letter at {where} (offset out of range or deleted by "
                                "retention)")
        found = loaded.letters[0]
        shown, prediction = await run_in_threadpool(_inspect, console, loaded)
        return console.render(request, "letter.html", session=session, letter=found,
                              record=found.record, shown=shown, prediction=prediction)

    async def replay_confirm(request: Request, session: auth.Session) -> Response:
        form: FormData = request.state.form
        loaded = await run_in_threadpool(_load_picked, console, form)
        if not loaded.letters:
            raise OperatorError("nothing selected: tick the dead letters to replay, or "
                                "choose “all matching”")
        owner = owner_of_selection(loaded)
        plan = await run_in_threadpool(replay_plan, loaded, owner, config.replay_max, False)
        predictions = await run_in_threadpool(predictions_for, loaded, owner, console.serde,
                                               config.settings)
        return console.render(request, "replay.html", session=session, plan=plan,
                              predictions=predictions, picked=_picked(form),
                              rate=config.replay_rate, owner=owner)

    async def replay_run(request: Request, session: auth.Session) -> Response:
        form: FormData = request.state.form
        loaded = await run_in_threadpool(_load_picked, console, form)
        owner = owner_of_selection(loaded)
        try:
            rate = float(_text(form, "rate") or config.replay_rate)
        except ValueError:
            raise OperatorError(f"rate {_text(form, 'rate')!r} is not a number of records per "
                                "second (0: no limit)") from None
        job = ReplayJob(f"job-{uuid.uuid4().hex[:10]}", session.operator, len(loaded.letters))
        console.jobs[job.id] = job
        threading.Thread(target=_run_replay, name=job.id, daemon=True, args=(
            console, job, loaded, owner, rate, bool(_text(form, "force")),
            _text(form, "reason"))).start()
        return RedirectResponse(f"/jobs/{job.id}", 303)

    async def job_page(request: Request, session: auth.Session) -> Response:
        job = console.jobs.get(request.path_params["job"])
        if job is None:
            raise OperatorError("no such replay job (jobs are kept in memory until a restart); "
                                "the audit trail has every replay")
        return console.render(request, "job.html", session=session, job=job)

    async def purge_confirm(request: Request, session: auth.Session) -> Response:
        form: FormData = request.state.form
        loaded = await run_in_threadpool(_load_picked, console, form)
        if not loaded.letters:
            raise OperatorError("nothing selected: tick the dead letters to purge")
        return console.render(request, "purge.html", session=session, loaded=loaded,
                              picked=_picked(form))

    async def purge_run(request: Request, session: auth.Session) -> Response:
        form: FormData = request.state.form
        reason = (_text(form, "reason") or "").strip()
        if not reason:
            raise OperatorError("a purge needs a reason (a ticket, what was wrong): it is kept "
                                "in the audit trail")
        loaded = await run_in_threadpool(_load_picked, console, form)
        event = await run_in_threadpool(lambda: purge(loaded, who=session.operator,
                                                      reason=reason))
        log.info("console: %s purged %s dead letters (%s)", session.operator,
                 len(loaded.letters), event["replay_id"])
        return RedirectResponse("/audit", 303)

    async def audit_page(request: Request, session: auth.Session) -> Response:
        events = await run_in_threadpool(audit_trail, config.endpoints.kafka,
                                         config.audit_topic)
        return console.render(request, "audit.html", session=session,
                              events=list(reversed(events)), audit_topic=config.audit_topic)

    async def processors_page(request: Request, session: auth.Session) -> Response:
        rows = await run_in_threadpool(lambda: processor_health(
            config.endpoints.kafka, group_prefix=config.group_prefix,
            topic_prefix=config.topic_prefix))
        return console.render(request, "processors.html", session=session, rows=rows)

    async def healthz(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    app = Starlette(routes=[
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", page(logout, post=True), methods=["POST"]),
        Route("/", page(letters), methods=["GET"]),
        Route("/letter", page(letter), methods=["GET"]),
        Route("/replay", page(replay_confirm, post=True), methods=["POST"]),
        Route("/replay/run", page(replay_run, post=True), methods=["POST"]),
        Route("/jobs/{job}", page(job_page), methods=["GET"]),
        Route("/purge", page(purge_confirm, post=True), methods=["POST"]),
        Route("/purge/run", page(purge_run, post=True), methods=["POST"]),
        Route("/audit", page(audit_page), methods=["GET"]),
        Route("/processors", page(processors_page), methods=["GET"]),
        Route("/healthz", healthz, methods=["GET"]),
    ])
    app.state.console = console
    return app


def _text(form: FormData, name: str) -> str | None:
    value = form.get(name)
    return value if isinstance(value, str) else None


def _set_cookie(response: Response, value: str, request: Request) -> None:
    response.set_cookie(COOKIE, value, httponly=True, samesite="strict", path="/",
                        secure=request.url.scheme == "https")


def _load_filtered(console: Console, filters: Mapping[str, str],
                   coordinates: Sequence[tuple[str, int, int]],
                   include_purged: bool = False) -> Loaded:
    topics = [filters["topic"]] if filters.get("topic") else []
    selection = selection_from(
        owner=filters.get("owner"), stage=filters.get("stage"),
        categories=[filters["category"]] if filters.get("category") else [],
        since=filters.get("since"), until=filters.get("until"),
        key_contains=filters.get("key"), error_contains=filters.get("error"),
        coordinates=coordinates, now_ms=now_ms())
    return load(console.config.endpoints.kafka, console.scope(topics), selection,
                include_purged)


def _picked(form: FormData) -> dict[str, Any]:
    """What a selection form posted: the filters, and the ticked letters or "all"."""
    return {"filters": _filters({k: v for k, v in form.items() if isinstance(v, str)}),
            "coordinates": [v for v in form.getlist("pick") if isinstance(v, str)],
            "all": _text(form, "all") == "1"}


def _load_picked(console: Console, form: FormData) -> Loaded:
    picked = _picked(form)
    coordinates = _coordinates(picked["coordinates"])
    if not coordinates and not picked["all"]:
        raise OperatorError("nothing selected: tick the dead letters, or choose “all "
                            "matching”")
    return _load_filtered(console, picked["filters"], [] if picked["all"] else coordinates)


def _inspect(console: Console, loaded: Loaded) -> tuple[dict[str, Any], Any]:
    letter = loaded.letters[0]
    shown = document(letter, loaded, console.serde)
    try:
        return shown, predictions_for(loaded, owner_of_selection(loaded), console.serde,
                                      console.config.settings)[0]
    except OperatorError as error:
        return shown, str(error)


def _run_replay(console: Console, job: ReplayJob, loaded: Loaded, owner: str, rate: float,
                force: bool, reason: str | None) -> None:
    def advance() -> None:
        job.done += 1

    try:
        result = replay_selection(
            loaded, owner=owner, who=job.operator, serde=console.serde,
            max_replays=console.config.replay_max, force=force, rate=rate,
            reason=reason or "console", routes=loaded.scope.routes(), advance=advance)
    except Exception as error:  # shown on the job's page; the console stays up
        log.exception("console: replay %s failed", job.id)
        job.status, job.error = "failed", str(error)
        return
    assert result is not None
    job.summary = result.plan.summary()
    job.result = {"replay_id": result.outcome.replay_id, "destination": result.plan.destination,
                  "counts": result.event["counts"], "failed": result.outcome.failed}
    job.status = result.event["status"]
    log.info("console: %s replayed %s (%s)", job.operator, result.event["counts"], job.id)
