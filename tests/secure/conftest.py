"""The secured stack for tests/secure: SASL_SSL + mTLS Kafka with ACLs, Apicurio behind Keycloak.

``BACKBONE_TEST_SECURE_STATE_DIR`` names the state folder of a running ``stack up --secure`` to
reuse; otherwise the session starts its own in a temporary folder (ports from
``BACKBONE_TEST_SECURE_PORT_BASE``, else free ones) with a canary planted in every secret, and
stops it at the end. Under CI=true a stack that cannot start fails the run, never skips.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from backbone import acls
from backbone.acl_admin import apply
from backbone.kafka import apply_topics
from backbone.settings import load_settings
from backbone.stack import StackError
from backbone.stack.secure import SecureEndpoints, SecureStack
from backbone.topics import CATALOG
from backbone.topics import topic as catalog_topic
from tests.stack import lib_dir

BACKBONE = str(Path(sys.executable).with_name("backbone"))
CANARY = f"cnry{uuid.uuid4().hex}"


@dataclass
class SecureSession:
    """The secured stack and what the tests ran against it (for the canary check)."""

    endpoints: SecureEndpoints
    outputs: list[str] = field(default_factory=list)  # stdout + stderr of every command run

    def admin(self) -> AdminClient:
        return AdminClient(self.endpoints.kafka(acls.ADMIN).admin())

    def secrets(self) -> dict[str, str]:
        folder = self.endpoints.run_dir / "secrets"
        return {path.stem: path.read_text().strip() for path in folder.glob("*.password")}

    def env(self, principal: str, *, mtls: bool = False, **extra: str) -> dict[str, str]:
        """The environment a command of ``principal`` gets from ``stack up --secure``."""
        env = {key: value for key, value in os.environ.items()
               if not key.startswith(("BACKBONE_KAFKA_", "BACKBONE_REGISTRY_", "SCHEMA_REGISTRY_",
                                      "KAFKA_BOOTSTRAP"))}
        env.update(self.endpoints.env(principal, mtls=mtls))
        env["BACKBONE_LOG_FORMAT"] = "text"
        env.update(extra)
        return env

    def run(self, args: list[str], env: Mapping[str, str],
            timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        """``backbone ARGS`` as a child process; its output is kept for the canary check."""
        result = subprocess.run([BACKBONE, *args], env=dict(env), capture_output=True, text=True,
                                timeout=timeout_s)
        self.outputs.append(result.stdout + result.stderr)
        return result


@pytest.fixture
def granted_prefix(secure: SecureSession) -> tuple[str, str]:
    """A fresh topic prefix and group prefix, with the catalog's ACLs granted on them."""
    topics, groups = f"sec{uuid.uuid4().hex[:8]}", f"sec{uuid.uuid4().hex[:8]}."
    changes = apply(secure.admin(), acls.plan(topic_prefix=topics, group_prefix=groups))
    assert not [change for change in changes if change.action == "failed"]
    return topics, groups


def create_topics(admin: AdminClient, names: Mapping[str, str]) -> None:
    """Create ``actual name -> catalog name`` topics with the catalog's settings."""
    new = [NewTopic(actual, catalog_topic(name).partitions, 1,
                    config=catalog_topic(name).config()) for actual, name in names.items()]
    for future in admin.create_topics(new).values():
        future.result(30)


def _plant_canary(run_dir: Path) -> None:
    folder = run_dir / "secrets"
    folder.mkdir(parents=True, exist_ok=True)
    for principal in acls.principals():
        path = folder / f"{principal}.password"
        path.write_text(f"{CANARY}-{principal}")
        path.chmod(0o600)


@pytest.fixture(scope="session")
def secure() -> Iterator[SecureSession]:
    try:
        with _secure_stack() as endpoints:
            # the catalog's topics, as `backbone topics apply` creates them (as the admin)
            admin = AdminClient(endpoints.kafka(acls.ADMIN).admin())
            apply_topics(admin, CATALOG)
            _wait_for_leaders(admin)
            yield SecureSession(endpoints)
    except StackError as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the secured stack did not start: {error}")
        pytest.skip(f"the secured stack did not start: {error}")


def _wait_for_leaders(admin: AdminClient, timeout_s: float = 30.0) -> None:
    """Until every catalog topic just created has a leader for each partition."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        topics = admin.list_topics(timeout=10).topics
        if all(name in topics and all(p.leader >= 0 for p in topics[name].partitions.values())
               for name in (t.name for t in CATALOG)):
            return
        time.sleep(0.5)
    raise StackError(f"catalog topics without a leader after {timeout_s:.0f}s")


@contextlib.contextmanager
def _secure_stack() -> Iterator[SecureEndpoints]:
    reuse = os.environ.get("BACKBONE_TEST_SECURE_STATE_DIR")
    if reuse:
        # a running stack: `up` only re-applies the ACLs
        yield SecureStack(load_settings(state_dir=Path(reuse), lib_dir=lib_dir(),
                                        stack_start_timeout_s=300)).up()
        return
    base = int(os.environ.get("BACKBONE_TEST_SECURE_PORT_BASE", "0"))
    with tempfile.TemporaryDirectory(prefix="backbone-secure-test-") as folder:
        # three JVMs start at once: on a loaded two-core CI machine that can take minutes
        stack = SecureStack(load_settings(state_dir=Path(folder), lib_dir=lib_dir(),
                                          secure_port_base=base, stack_start_timeout_s=300))
        _plant_canary(stack.run_dir)
        try:
            yield stack.up()
        finally:
            stack.down()
