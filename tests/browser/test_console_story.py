"""The operator story in a real browser: Debian's headless Chromium, driven by Playwright.

A carrier sends a status code no mapping knows; the running shipment_status processor
dead-letters it. In the console the operator finds it, sees the dry-run still fail, writes the
override file (BACKBONE_STATUS_MAPPINGS) and stops the processor, sees the dry-run succeed,
replays it (confirmation, rate, progress), watches the retry backlog appear and, once the
processor runs again with the fix, the lag return to 0; the audit trail names them. A second
dead letter carries a ``<script>`` in its payload: it shows as text and never runs.

Screenshots of each page go to tests/artifacts/console/ (git-ignored); docs/console.png in the
README is one of them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from backbone.errors import DecodeError
from backbone.samples import sample_shipment_milestone
from processors.dead_letters import dead_letter_record
from processors.shipment_status import processor as shipment_status
from tests.conftest import TopicFactory
from tests.reliability.processor_harness import (
    decoded,
    free_port,
    fresh_topics,
    processor_env,
    produce_events,
    read_committed,
    serde_for,
    start_processor,
)

pytestmark = pytest.mark.integration

CHROMIUM = Path(os.environ.get("BACKBONE_CHROMIUM", "/usr/bin/chromium"))
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "console"
README_SHOT = Path(__file__).resolve().parents[2] / "docs" / "console.png"
PASSWORD = "browser-story-password"
RAW = "logistics.shipment-milestone.raw.v1"
STATUS = "logistics.shipment-status.v1"
CODE = "HELD-BY-BROKER-77"
SCRIPT = b"<script>window.pwned = 1; alert('pwned')</script>"


def _need(condition: bool, why: str) -> None:
    if not condition:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need(False, "the playwright package is missing: pip install -e '.[dev]'")
    _need(CHROMIUM.is_file(), f"no browser at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def _wait_for(check: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.5)


def _up(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def test_operator_story_in_the_browser(
        chromium: object, bootstrap_servers: str, registry_url: str, admin: AdminClient,
        topic_factory: TopicFactory, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    topics = fresh_topics(admin, shipment_status.SPEC)
    prefix = topics.name(RAW)[: -len(RAW) - 1]
    audit = topic_factory(1)
    serde = serde_for(registry_url)
    request.addfinalizer(serde.registry.close)
    first = sample_shipment_milestone(5)
    pill = first.model_copy(update={"raw_status": first.raw_status.model_copy(
        update={"code": CODE})})
    source = pill.raw_status.source.value
    overrides = tmp_path / "status-overrides.yaml"
    overrides.write_text(f'{source}:\n  "SOME-OTHER-CODE": IN_TRANSIT\n')
    group_prefix = f"story-{prefix}."
    env = processor_env(bootstrap_servers, registry_url, prefix, tmp_path / "state",
                        group_prefix, BACKBONE_STATUS_MAPPINGS=str(overrides))
    logs = tmp_path / "logs"
    logs.mkdir()
    processes: list[subprocess.Popen[bytes]] = []

    def stop(process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)

    request.addfinalizer(lambda: [stop(p) for p in processes])
    worker = start_processor(shipment_status.SPEC.name, env, log=logs / "processor.log")
    processes.append(worker)
    port = free_port()
    with (logs / "console.log").open("ab") as out:
        processes.append(subprocess.Popen(
            [sys.executable, "-m", "backbone", "console", "--port", str(port),
             "--audit-topic", audit],
            env={**env, "BACKBONE_CONSOLE_PASSWORD": PASSWORD}, stdout=out,
            stderr=subprocess.STDOUT))
    base = f"http://127.0.0.1:{port}"
    _wait_for(lambda: _up(f"{base}/healthz"), "the console to answer", 60)

    # the poison pill arrives, and a dead letter whose payload carries a script
    produce_events(bootstrap_servers, serde, topics, RAW, [pill])
    dlq = topics.name(shipment_status.SPEC.dlq_topic)
    read_committed(bootstrap_servers, dlq, expect=1, timeout_s=90)
    try:
        raise DecodeError("magic byte 0x3c, expected 0x00")
    except DecodeError as error:
        key, value, headers = dead_letter_record(
            key=b"<b>HOSTILE</b>", value=SCRIPT, original_topic=topics.name(RAW), partition=0,
            offset=99, timestamp_ms=None, processor=shipment_status.SPEC.name,
            stage="decode", error=error, attempt=1, first_failure_ms=None,
            business_key=None, correlation_id=None)
    producer = Producer({"bootstrap.servers": bootstrap_servers})
    producer.produce(dlq, key=key, value=value, headers=headers)
    assert producer.flush(30) == 0

    context = chromium.new_context(viewport={"width": 1400, "height": 900})  # type: ignore[attr-defined]
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    def shot(name: str, full_page: bool = True) -> Path:
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    request.addfinalizer(lambda: shot("last-page") if not page.is_closed() else None)
    page.goto(f"{base}/")
    assert "/login" in page.url
    page.fill("input[name=operator]", "admin")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Log in')")
    page.wait_for_url(f"{base}/")
    rows = page.locator("#letters tr")
    assert rows.count() == 3  # header + the pill + the hostile one
    assert page.locator("#letters").inner_text().count("UNKNOWN_CODE") == 1
    assert "<b>HOSTILE</b>" in page.locator("#letters").inner_text()  # text, not markup
    shot("01-dead-letters")
    hostile = page.locator("#letters tr", has_text="HOSTILE").locator("a").inner_text()
    poison = page.locator("#letters tr", has_text="UNKNOWN_CODE").locator("a").inner_text()

    # the hostile payload: shown as text, never run
    page.goto(f"{base}/letter?where={hostile}")
    assert SCRIPT.decode() in page.locator("#payload").inner_text()
    assert page.evaluate("typeof window.pwned") == "undefined" and dialogs == []
    shot("02-script-payload-as-text")

    # the poison pill: the dry-run still fails
    page.goto(f"{base}/letter?where={poison}")
    assert f"code '{CODE}'" in page.locator("#failure").inner_text()
    assert "still fails: UNKNOWN_CODE" in page.locator("#dry-run").inner_text()
    shot("03-dry-run-still-fails")

    # the fix: the operator writes the override and stops the processor to restart it later
    overrides.write_text(f'{source}:\n  "{CODE}": {{milestone: IN_TRANSIT, exception: true}}\n')
    stop(worker)
    page.reload()
    dry_run = page.locator("#dry-run").inner_text()
    assert "would succeed" in dry_run, dry_run
    shot("04-dry-run-would-succeed")
    shot("readme-candidate", full_page=False)

    page.click("text=Replay this one…")
    assert "1 to replay to" in page.locator("#plan").inner_text()
    assert "would succeed" in page.locator("#predictions").inner_text()
    page.fill("input[name=rate]", "10")
    page.fill("input[name=reason]", "INC-2041 customs code mapped")
    shot("05-replay-confirm")
    page.click("button:has-text('Replay 1 dead letter')")
    page.wait_for_url(f"{base}/jobs/*")
    def job_status() -> str:
        page.reload()
        return str(page.locator("#status").inner_text())

    _wait_for(lambda: job_status() == "completed", "the replay job", 60)
    assert "replayed\t1" in page.locator("#result").inner_text().replace(" ", "\t")
    shot("06-replay-done")

    def lag_cells() -> list[str]:
        page.goto(f"{base}/processors")
        row = page.locator("#processors tr", has_text="shipment-status")
        return [cell.strip() for cell in row.locator("td.num").all_inner_texts()]

    assert lag_cells()[:2] == ["1", "1"]  # the replayed record waits on the retry topic
    shot("07-processors-retry-backlog")
    processes.append(start_processor(shipment_status.SPEC.name, env,
                                     log=logs / "processor-after-fix.log"))
    _wait_for(lambda: lag_cells()[:2] == ["0", "0"], "the lag to return to 0", 90)
    shot("08-processors-lag-0")

    page.goto(f"{base}/audit")
    trail = page.locator("#audit").inner_text()
    assert "admin" in trail and "INC-2041 customs code mapped" in trail and "replay" in trail
    shot("09-audit-trail")

    statuses = decoded(serde, topics, STATUS, read_committed(
        bootstrap_servers, topics.name(STATUS), expect=1))
    assert [(s.tracking_number, s.milestone.value) for s in statuses] == [  # type: ignore[attr-defined]
        (pill.tracking_number, "IN_TRANSIT")]
    page.goto(f"{base}/")
    assert dialogs == []
    context.close()
    if os.environ.get("BACKBONE_UPDATE_README_SHOT"):
        README_SHOT.parent.mkdir(exist_ok=True)
        shutil.copyfile(ARTIFACTS / "readme-candidate.png", README_SHOT)
