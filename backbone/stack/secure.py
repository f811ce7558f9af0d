"""The secured local stack (``backbone stack up --secure``): TLS, SCRAM, mTLS, ACLs, registry auth.

The same Kafka jars as the plain stack, with

- a ``SASL_SSL`` listener (SCRAM-SHA-512) and an ``SSL`` listener that requires a client
  certificate (mTLS); the broker talks to itself and to its controller over mTLS as
  ``User:broker``;
- KRaft's ``StandardAuthorizer``, ``allow.everyone.if.no.acl.found=false``, and only
  ``User:admin`` and ``User:broker`` as super users; every other principal gets exactly the ACLs
  of ``backbone acls plan``, applied when the stack starts;
- one principal per component (backbone/acls.py): a SCRAM user (created when the storage is
  formatted), a client certificate whose CN is the principal (backbone/stack/pki.py), and a
  Keycloak client with the same secret;
- Apicurio Registry on HTTPS with OpenID Connect against Keycloak (backbone/stack/keycloak.py)
  and role-based authorization; it accepts HTTP basic credentials and exchanges them as client
  credentials.

It lives in ``<state_dir>/secure/run`` on its own ports (``BACKBONE_SECURE_PORT_BASE`` and the
six after it), so it runs next to the plain stack. Secrets are files in ``secrets/`` (0600);
a secret already there is kept, which is how the tests plant a canary password.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import secrets
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx
from confluent_kafka import KafkaException
from confluent_kafka.admin import (
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialUpsertion,
)

from backbone import acls
from backbone.clients import Endpoints, KafkaClients, endpoints_for, kafka_clients
from backbone.settings import Settings
from backbone.stack import keycloak, pki, processes
from backbone.stack.errors import NO_STACK_HINT, StackError
from backbone.stack.install import (
    install,
    install_keycloak,
    is_installed,
    kafka_lib,
    keycloak_installed,
    registry_jar,
)
from backbone.stack.local import (
    CCOMPAT_PATH,
    KAFKA_MARKER,
    KAFKA_MIN_JAVA,
    LOG4J2,
    REGISTRY_MARKER,
    REGISTRY_MIN_JAVA,
    ComponentStatus,
    cluster_id,
    run_java,
)
from backbone.topics import CATALOG

KEYCLOAK_MIN_JAVA = 21
SCRAM_MECHANISM = "SCRAM-SHA-512"
REGISTRY_CERT = "registry"
KEYCLOAK_ADMIN_SECRET = "keycloak-admin"
# What a secret may be made of: it goes into Kafka's --add-scram and Keycloak's realm as is.
_SECRET_FORM = re.compile(r"[A-Za-z0-9._~-]{12,128}")
# The settings that say how a client logs in (not where the local stack listens: kafka_port,
# registry_port are settings too).
_CLIENT_SECURITY_FIELDS = ("kafka_config", "kafka_security", "kafka_sasl", "kafka_ssl",
                           "kafka_oauth", "registry_basic", "registry_bearer", "registry_ca",
                           "registry_certificate", "registry_key")
_PORT_NAMES = ("kafka", "mtls", "controller", "registry", "registry_management", "keycloak",
               "keycloak_management")


@dataclass(frozen=True)
class SecurePorts:
    kafka: int  # SASL_SSL
    mtls: int  # SSL with client certificates
    controller: int
    registry: int  # HTTPS
    registry_management: int
    keycloak: int
    keycloak_management: int


@dataclass(frozen=True)
class _State:
    ports: SecurePorts
    kafka_pid: int
    registry_pid: int
    keycloak_pid: int

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> _State:
        raw = json.loads(text)
        return cls(SecurePorts(**raw["ports"]), int(raw["kafka_pid"]), int(raw["registry_pid"]),
                   int(raw["keycloak_pid"]))


@dataclass(frozen=True)
class SecureEndpoints:
    """Where the secured stack answers and where its credentials are, per principal."""

    ports: SecurePorts
    run_dir: Path

    @property
    def pki(self) -> pki.Pki:
        return pki.Pki(self.run_dir / "pki")

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.ports.kafka}"

    @property
    def mtls_bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.ports.mtls}"

    @property
    def registry_url(self) -> str:
        return f"https://127.0.0.1:{self.ports.registry}{CCOMPAT_PATH}"

    @property
    def oidc_issuer(self) -> str:
        return keycloak.issuer(self.ports.keycloak)

    def password_file(self, principal: str) -> Path:
        return self.run_dir / "secrets" / f"{principal}.password"

    def registry_user_info_file(self, principal: str) -> Path:
        return self.run_dir / "secrets" / f"{principal}.registry"

    def kafka_security(self, principal: str, *, mtls: bool = False) -> Mapping[str, str]:
        """The librdkafka security keys of ``principal`` (SCRAM, or its certificate)."""
        return self.kafka(principal, mtls=mtls).security

    def kafka(self, principal: str = acls.ADMIN, *, mtls: bool = False) -> KafkaClients:
        bootstrap = self.mtls_bootstrap_servers if mtls else self.bootstrap_servers
        # through the same settings and the same module as every client of backbone
        return kafka_clients(self.client_settings(principal, mtls=mtls), bootstrap)

    def client_settings(self, principal: str = acls.ADMIN, *, mtls: bool = False) -> Settings:
        """The settings :meth:`env` gives a command, as an object (nothing from the
        environment's own security settings leaks in: each is given, None when unused)."""
        unused: dict[str, Any] = {name: None for name in Settings.model_fields
                                     if name.startswith(_CLIENT_SECURITY_FIELDS)}
        return Settings.model_validate({**unused, **self._fields(principal, mtls=mtls)})

    def env(self, principal: str = acls.ADMIN, *, mtls: bool = False) -> dict[str, str]:
        """The variables that make every backbone command (and kcat, through the same keys)
        act as ``principal``, with the registry credentials' value (for child processes)."""
        variables = self._variables(principal, mtls=mtls)
        variables["SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO"] = \
            self.registry_user_info_file(principal).read_text()
        return variables

    def env_lines(self, principal: str = acls.ADMIN, *, mtls: bool = False) -> str:
        """:meth:`env` as ``export`` lines; secrets stay in their files."""
        text = "".join(f"export {name}={value}\n"
                       for name, value in self._variables(principal, mtls=mtls).items())
        # The shell reads the registry credentials from their file when it evaluates the line:
        # the secret itself is never printed.
        return text + (f'export SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO="$(cat '
                       f'{self.registry_user_info_file(principal)})"\n')

    def client_endpoints(self, principal: str = acls.ADMIN) -> Endpoints:
        """What ``backbone.cli.context.endpoints`` would build from :meth:`env`."""
        settings = self.client_settings(principal).model_copy(update={
            "registry_basic_auth_user_info_file": self.registry_user_info_file(principal)})
        return endpoints_for(settings, self.bootstrap_servers, self.registry_url)

    def _fields(self, principal: str, *, mtls: bool) -> dict[str, str]:
        """The client security settings of ``principal`` by field name (backbone/settings.py)."""
        ca = str(self.pki.ca_certificate)
        fields = {"kafka_ssl_ca_location": ca, "registry_ca_location": ca}
        if mtls:
            fields.update({
                "kafka_security_protocol": "SSL",
                "kafka_ssl_certificate_location": str(self.pki.certificate(principal)),
                "kafka_ssl_key_location": str(self.pki.key(principal)),
            })
        else:
            fields.update({
                "kafka_security_protocol": "SASL_SSL",
                "kafka_sasl_mechanism": SCRAM_MECHANISM,
                "kafka_sasl_username": principal,
                "kafka_sasl_password_file": str(self.password_file(principal)),
            })
        return fields

    def _variables(self, principal: str, *, mtls: bool) -> dict[str, str]:
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.mtls_bootstrap_servers if mtls
            else self.bootstrap_servers,
            "SCHEMA_REGISTRY_URL": self.registry_url,
            **{f"BACKBONE_{name.upper()}": value
               for name, value in self._fields(principal, mtls=mtls).items()},
        }


class SecureStack:
    """The secured stack of ``settings``: ``up``, ``down``, ``status``, ``endpoints``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.run_dir = settings.state_dir.resolve() / "secure" / "run"
        self.lib_dir = settings.resolved_lib_dir.resolve()

    # -- public -----------------------------------------------------------------------------

    def up(self) -> SecureEndpoints:
        """Start what is not running, wait until all three answer, apply the ACLs."""
        state = self._read_state()
        if state is not None and self._all_running(state):
            # running: give a busy machine the start timeout to answer rather than restart
            self._wait(state, ("keycloak", "kafka", "schema-registry"))
            endpoints = SecureEndpoints(state.ports, self.run_dir)
            # the catalog may have grown since the stack started: new principals, new grants
            _, secret_of = self.prepare()
            ensure_scram_users(endpoints.kafka(acls.ADMIN), secret_of)
            self._import_realm_if_changed(state.ports, secret_of)
            apply_acls(endpoints.kafka(acls.ADMIN))
            return endpoints
        if state is not None:
            self._stop_recorded(state)
        if not is_installed(self.lib_dir):
            install(self.lib_dir)
        if not keycloak_installed(self.lib_dir):
            install_keycloak(self.lib_dir)
        ports = self._choose_ports()
        kafka_java = processes.find_java(KAFKA_MIN_JAVA, "Kafka", self.settings.java_home)
        modern_java = processes.find_java(
            max(REGISTRY_MIN_JAVA, KEYCLOAK_MIN_JAVA), "Apicurio Registry 3.3 and Keycloak 26",
            self.settings.java_home)
        keycloak.build(self.lib_dir, modern_java.executable.resolve().parent.parent)
        certificates, secret_of = self.prepare()
        endpoints = SecureEndpoints(ports, self.run_dir)
        bootstrap_password = secret_of[KEYCLOAK_ADMIN_SECRET]
        keycloak_pid = processes.spawn(
            keycloak.start_command(self.lib_dir, ports.keycloak, ports.keycloak_management),
            self.run_dir / "keycloak.log",
            env={"JAVA_HOME": str(modern_java.executable.resolve().parent.parent),
                 "KC_BOOTSTRAP_ADMIN_USERNAME": keycloak.BOOTSTRAP_ADMIN,
                 "KC_BOOTSTRAP_ADMIN_PASSWORD": bootstrap_password,
                 "JAVA_OPTS_KC_HEAP": "-Xms64m -Xmx384m",
                 # transaction logs in this stack's folder, not in the shared distribution
                 "JAVA_OPTS_APPEND": "-Dquarkus.transaction-manager.object-store.directory="
                                     f"{self.run_dir / 'keycloak-transactions'}"},
        )
        kafka_pid = self._start_kafka(kafka_java, ports, certificates, secret_of)
        state = _State(ports, kafka_pid, 0, keycloak_pid)
        self._write_state(state)
        try:
            self._wait(state, ("keycloak",))
            self._import_realm_if_changed(ports, secret_of, always=True)
            state = _State(ports, kafka_pid,
                           self._start_registry(modern_java, ports, certificates), keycloak_pid)
            self._write_state(state)
            self._wait(state, ("kafka", "schema-registry"))
            ensure_scram_users(endpoints.kafka(acls.ADMIN), secret_of)
            apply_acls(endpoints.kafka(acls.ADMIN))
        except BaseException:  # half a secured stack is no use: stop what was started
            self.down()
            raise
        return endpoints

    def prepare(self) -> tuple[pki.Pki, dict[str, str]]:
        """Certificates, secrets and the Keycloak realm on disk (kept while valid); what ``up``
        starts from, and what deploy/compose.yaml's secure profile mounts."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.chmod(0o700)
        principals = acls.principals()
        certificates = pki.ensure(self.run_dir / "pki", principals)
        pki.ensure_server(certificates, REGISTRY_CERT)
        secret_of = self._ensure_secrets(principals)
        keycloak.write_realm(self.run_dir / "realm.json", {p: secret_of[p] for p in principals},
                             _registry_roles())
        self._write_compose_files()
        return certificates, secret_of

    def _write_compose_files(self) -> None:
        """The broker configuration and SCRAM-user script of the Docker variant (paths as
        deploy/compose.yaml mounts them; no secret in them)."""
        folder = self.run_dir / "compose"
        folder.mkdir(exist_ok=True)
        ports = SecurePorts(*(self.settings.secure_port_base + offset
                              for offset in range(len(_PORT_NAMES))))
        (folder / "server.properties").write_text(server_properties(
            ports, Path("/var/lib/kafka/data"), pki.Pki(Path("/pki")), bind="0.0.0.0"))
        (folder / "admin-mtls.properties").write_text(
            "# kafka-configs.sh as User:admin over the mTLS listener\n"
            "security.protocol=SSL\nssl.keystore.type=PEM\n"
            "ssl.keystore.location=/pki/admin.keystore.pem\n"
            "ssl.truststore.type=PEM\nssl.truststore.location=/pki/ca.pem\n")
        users = " ".join(acls.principals())
        (folder / "scram-users.sh").write_text(
            "#!/bin/sh\n# The SCRAM users of deploy/compose.yaml's secure profile, from the "
            "mounted secrets.\nset -e\n"
            f"for user in {users}; do\n"
            "  /opt/kafka/bin/kafka-configs.sh --bootstrap-server "
            f"127.0.0.1:{ports.mtls} --command-config /compose/admin-mtls.properties "
            "--alter --entity-type users --entity-name \"$user\" --add-config "
            f"\"{SCRAM_MECHANISM}=[password=$(cat /secrets/$user.password)]\"\n"
            "done\n")

    def _import_realm_if_changed(self, ports: SecurePorts, secret_of: Mapping[str, str], *,
                                 always: bool = False) -> None:
        """Import realm.json into Keycloak when it started, or when it changed since (a new
        principal); replacing the realm otherwise would only rotate its signing keys."""
        realm = self.run_dir / "realm.json"
        stamp = self.run_dir / "realm.imported"
        digest = hashlib.sha256(realm.read_bytes()).hexdigest()
        if always or not stamp.is_file() or stamp.read_text().strip() != digest:
            keycloak.import_realm(ports.keycloak, secret_of[KEYCLOAK_ADMIN_SECRET], realm)
            stamp.write_text(digest + "\n")

    def down(self) -> list[str]:
        """Stop the three processes; the names of those that had to be killed."""
        state = self._read_state()
        if state is None:
            return []
        killed = self._stop_recorded(state)
        (self.run_dir / "stack.json").unlink(missing_ok=True)
        return killed

    def endpoints(self) -> SecureEndpoints | None:
        """The running stack's endpoints, without probing the network."""
        state = self._read_state()
        if state is None or not processes.is_running(state.kafka_pid, KAFKA_MARKER):
            return None
        return SecureEndpoints(state.ports, self.run_dir)

    def status(self) -> list[ComponentStatus]:
        state = self._read_state()
        endpoints = SecureEndpoints(state.ports, self.run_dir) if state else None
        rows = []
        for name, (pid, marker, answers, address, log) in self._components(state).items():
            running = pid is not None and processes.is_running(pid, marker)
            rows.append(ComponentStatus(
                name, pid, running, running and endpoints is not None and answers(endpoints),
                address, log))
        return rows

    # -- starting ---------------------------------------------------------------------------

    def _choose_ports(self) -> SecurePorts:
        base = self.settings.secure_port_base
        chosen = [processes.free_port() if base == 0 else base + offset
                  for offset in range(len(_PORT_NAMES))]
        ports = SecurePorts(*chosen)
        taken = [f"{port} ({name})" for name, port in asdict(ports).items()
                 if not processes.port_is_free(port)]
        if taken:
            raise StackError(
                f"port {', '.join(taken)} is in use on 127.0.0.1 by another program. Stop it, "
                "or move the secured stack with BACKBONE_SECURE_PORT_BASE (it uses that port "
                f"and the six after it; 0 picks free ones). {NO_STACK_HINT}")
        return ports

    def _ensure_secrets(self, principals: tuple[str, ...]) -> dict[str, str]:
        folder = self.run_dir / "secrets"
        folder.mkdir(exist_ok=True)
        folder.chmod(0o700)
        found: dict[str, str] = {}
        for name in (*principals, KEYCLOAK_ADMIN_SECRET):
            path = folder / f"{name}.password"
            if not path.is_file():
                _write_secret(path, secrets.token_urlsafe(24))
            value = path.read_text(encoding="utf-8").strip()
            if not _SECRET_FORM.fullmatch(value):
                raise StackError(f"{path}: a secret must be 12-128 characters of "
                                 "A-Z a-z 0-9 . _ ~ - (delete the file to get a new one)")
            found[name] = value
            if name != KEYCLOAK_ADMIN_SECRET:
                user_info = folder / f"{name}.registry"
                if not user_info.is_file() or user_info.read_text() != f"{name}:{value}":
                    _write_secret(user_info, f"{name}:{value}")
        return found

    def _start_kafka(self, java: processes.Java, ports: SecurePorts, certificates: pki.Pki,
                     secret_of: Mapping[str, str]) -> int:
        home = self.run_dir / "kafka"
        data = home / "data"
        (home / "logs").mkdir(parents=True, exist_ok=True)
        properties = home / "server.properties"
        properties.write_text(server_properties(ports, data, certificates))
        log_config = home / "log4j2.properties"
        log_config.write_text(LOG4J2)
        classpath = f"{kafka_lib(self.lib_dir)}/*"
        if not (data / "meta.properties").is_file():
            # SCRAM users are part of the formatted metadata: the broker starts with them.
            scram = [argument for principal in acls.principals() for argument in (
                "--add-scram",
                f"{SCRAM_MECHANISM}=[name={principal},password={secret_of[principal]}]")]
            failure = run_java(
                [str(java.executable), "-Xmx256m", "-cp", classpath, "kafka.tools.StorageTool",
                 "format", "-t", cluster_id(), "-c", str(properties), *scram])
            if failure:
                for secret in secret_of.values():
                    failure = failure.replace(secret, "***")
                raise StackError(f"formatting Kafka storage in {data} failed:\n{failure}")
        return processes.spawn(
            [str(java.executable), "-Xms256m", "-Xmx512m", "-XX:+UseG1GC",
             "-Djava.awt.headless=true", f"-Dkafka.logs.dir={home / 'logs'}",
             f"-Dlog4j2.configurationFile={log_config}", "-cp", classpath, KAFKA_MARKER,
             str(properties)],
            home / "kafka.out",
        )

    def _start_registry(self, java: processes.Java, ports: SecurePorts,
                        certificates: pki.Pki) -> int:
        storage = self.run_dir / "registry"
        storage.mkdir(parents=True, exist_ok=True)
        issuer = keycloak.issuer(ports.keycloak)
        return processes.spawn(
            [
                str(java.executable), "-Xmx384m",
                "-Djava.util.logging.manager=org.jboss.logmanager.LogManager",
                "-Dquarkus.http.host=127.0.0.1",
                # HTTPS only: basic credentials never cross the wire in clear
                f"-Dquarkus.http.ssl-port={ports.registry}",
                "-Dquarkus.http.insecure-requests=disabled",
                f"-Dquarkus.http.ssl.certificate.files={certificates.certificate(REGISTRY_CERT)}",
                f"-Dquarkus.http.ssl.certificate.key-files={certificates.key(REGISTRY_CERT)}",
                "-Dquarkus.management.host=127.0.0.1",
                f"-Dquarkus.management.port={ports.registry_management}",
                f"-Dapicurio.datasource.url=jdbc:h2:file:{storage / 'registry'}",
                "-Dquarkus.oidc.tenant-enabled=true",
                f"-Dquarkus.oidc.auth-server-url={issuer}",
                f"-Dquarkus.oidc.token-path={issuer}/protocol/openid-connect/token",
                f"-Dquarkus.oidc.client-id={keycloak.REGISTRY_CLIENT}",
                "-Dapicurio.authn.basic-client-credentials.enabled=true",
                "-Dapicurio.auth.role-based-authorization=true",
                "-jar", str(registry_jar(self.lib_dir)),
            ],
            self.run_dir / "registry.log",
        )

    def _components(self, state: _State | None) -> dict[
            str, tuple[int | None, str, Callable[[SecureEndpoints], bool], str, Path]]:
        endpoints = SecureEndpoints(state.ports, self.run_dir) if state else None
        return {
            "keycloak": (state.keycloak_pid if state else None, keycloak.MARKER,
                         _keycloak_answers, endpoints.oidc_issuer if endpoints else "-",
                         self.run_dir / "keycloak.log"),
            "kafka": (state.kafka_pid if state else None, KAFKA_MARKER, _kafka_answers,
                      (f"{endpoints.bootstrap_servers} (SASL_SSL), "
                       f"{endpoints.mtls_bootstrap_servers} (mTLS)") if endpoints else "-",
                      self.run_dir / "kafka" / "kafka.out"),
            "schema-registry": (state.registry_pid if state and state.registry_pid else None,
                                REGISTRY_MARKER, _registry_answers,
                                endpoints.registry_url if endpoints else "-",
                                self.run_dir / "registry.log"),
        }

    def _wait(self, state: _State, names: tuple[str, ...]) -> None:
        endpoints = SecureEndpoints(state.ports, self.run_dir)
        components = self._components(state)
        deadline = time.monotonic() + self.settings.stack_start_timeout_s
        waiting = set(names)
        while waiting:
            for name in sorted(waiting):
                pid, marker, answers, _, log = components[name]
                if pid is None or not processes.is_running(pid, marker):
                    raise StackError(f"{name} exited during start-up; last lines of {log}:\n"
                                     f"{processes.tail(log)}")
                if answers(endpoints):
                    waiting.discard(name)
            if waiting and time.monotonic() > deadline:
                raise StackError(
                    f"{', '.join(sorted(waiting))} did not answer within "
                    f"{self.settings.stack_start_timeout_s:.0f}s (BACKBONE_STACK_START_TIMEOUT_S)"
                    f"; see {self.run_dir}. {NO_STACK_HINT}")
            if waiting:
                time.sleep(0.5)

    # -- state ------------------------------------------------------------------------------

    def _all_running(self, state: _State) -> bool:
        return all(pid is not None and processes.is_running(pid, marker)
                   for pid, marker, _, _, _ in self._components(state).values())

    def _stop_recorded(self, state: _State) -> list[str]:
        killed = []
        for name, pid, marker in (("schema-registry", state.registry_pid, REGISTRY_MARKER),
                                  ("kafka", state.kafka_pid, KAFKA_MARKER),
                                  ("keycloak", state.keycloak_pid, keycloak.MARKER)):
            if pid and processes.stop(pid, marker, self.settings.stack_stop_timeout_s):
                killed.append(name)
        return killed

    def _write_state(self, state: _State) -> None:
        (self.run_dir / "stack.json").write_text(state.to_json())

    def _read_state(self) -> _State | None:
        try:
            return _State.from_json((self.run_dir / "stack.json").read_text())
        except (OSError, ValueError, KeyError, TypeError):
            return None


def server_properties(ports: SecurePorts, data: Path, certificates: pki.Pki,
                      bind: str = "127.0.0.1") -> str:
    """The broker's configuration: two client listeners, mTLS inside, default deny."""
    return f"""\
# Written by `backbone stack up --secure`: one KRaft node, secured, loopback only.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{ports.controller}
controller.listener.names=CONTROLLER
listeners=SASL_SSL://{bind}:{ports.kafka},SSL://{bind}:{ports.mtls},\
CONTROLLER://{bind}:{ports.controller}
advertised.listeners=SASL_SSL://127.0.0.1:{ports.kafka},SSL://127.0.0.1:{ports.mtls}
listener.security.protocol.map=SASL_SSL:SASL_SSL,SSL:SSL,CONTROLLER:SSL
# The broker reaches itself and its controller over mTLS, as User:broker (a super user).
inter.broker.listener.name=SSL
ssl.keystore.type=PEM
ssl.keystore.location={certificates.keystore(pki.BROKER_NAME)}
ssl.truststore.type=PEM
ssl.truststore.location={certificates.ca_certificate}
ssl.client.auth=required
# SCRAM clients authenticate with their password; only the SSL listener asks for certificates.
listener.name.sasl_ssl.ssl.client.auth=none
listener.name.sasl_ssl.sasl.enabled.mechanisms={SCRAM_MECHANISM}
listener.name.sasl_ssl.{SCRAM_MECHANISM.lower()}.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required;
sasl.enabled.mechanisms={SCRAM_MECHANISM}
# A certificate's CN is its principal: CN=edi-x12 acts as User:edi-x12, like its SCRAM user.
ssl.principal.mapping.rules=RULE:^(?:.*,)?CN=([^,]+)(?:,.*)?$/$1/,DEFAULT
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:{acls.ADMIN};User:{pki.BROKER_NAME}
log.dirs={data}
num.partitions=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=3
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=3
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
"""


def ensure_scram_users(kafka: KafkaClients, secret_of: Mapping[str, str]) -> None:
    """A SCRAM user for every principal that has none yet (those formatted with the storage
    have one; a principal the catalog gained since gets its own here)."""
    admin = AdminClient(kafka.admin())
    try:
        described = admin.describe_user_scram_credentials().result(timeout=15)
    except KafkaException as error:
        raise StackError(f"could not list the SCRAM users: {error}") from None
    missing = [name for name in acls.principals() if name not in described]
    if not missing:
        return
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 8192)
    futures = admin.alter_user_scram_credentials(
        [UserScramCredentialUpsertion(name, info, secret_of[name].encode()) for name in missing])
    for name, future in futures.items():
        try:
            future.result(timeout=15)
        except KafkaException as error:
            raise StackError(f"could not create the SCRAM user {name}: {error}") from None


def apply_acls(kafka: KafkaClients) -> None:
    """The catalog's ACLs on the stack (what `backbone acls apply` does), or StackError."""
    from backbone.acl_admin import AclError, apply

    admin = AdminClient(kafka.admin())
    try:
        changes = apply(admin, acls.plan())
    except AclError as error:
        raise StackError(f"could not apply the ACLs: {error}") from None
    failed = [change for change in changes if change.action == "failed"]
    if failed:
        raise StackError("could not apply the ACLs: " + "; ".join(
            f"{change.binding.row()}: {change.detail}" for change in failed[:3]))


def _registry_roles() -> dict[str, str]:
    """Apicurio's role per principal: the admin registers and configures, the producers of Avro
    topics register their writer schemas, everyone else (the operator) reads."""
    writers = {principal for topic in CATALOG if topic.record is not None
               for party in topic.producers for principal in acls.roles_of(party, topic.name)}
    return {principal: keycloak.ROLE_ADMIN if principal == acls.ADMIN
            else keycloak.ROLE_DEVELOPER if principal in writers
            else keycloak.ROLE_READONLY
            for principal in acls.principals()}


def _write_secret(path: Path, text: str) -> None:
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


def _kafka_answers(endpoints: SecureEndpoints) -> bool:
    quiet = logging.getLogger("backbone.stack.probe")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    admin = AdminClient({**endpoints.kafka(acls.ADMIN).admin(), "logger": quiet})
    try:
        admin.list_topics(timeout=2)
    except Exception:
        return False
    return True


def _registry_answers(endpoints: SecureEndpoints) -> bool:
    user, _, password = endpoints.registry_user_info_file(acls.ADMIN).read_text().partition(":")
    try:
        return httpx.get(f"{endpoints.registry_url}/subjects", auth=(user, password),
                         verify=ssl.create_default_context(
                             cafile=str(endpoints.pki.ca_certificate)),
                         timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def _keycloak_answers(endpoints: SecureEndpoints) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{endpoints.ports.keycloak_management}/health/ready",
                         timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
