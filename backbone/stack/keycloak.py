"""The secured stack's OpenID Connect server: Keycloak, with a realm backbone writes.

The realm ``backbone`` has one confidential client per principal (client id = principal name,
secret = the principal's secret, service account on), and Apicurio Registry's three roles:
``sr-admin`` for the admin (the schema registrar of ``schemas register``), ``sr-developer`` for
the components that produce events (their serializers register the writer schema) and
``sr-readonly`` for the rest. Apicurio accepts HTTP basic credentials and exchanges them at
Keycloak's token endpoint as client credentials, so every client keeps the Confluent
convention ``SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO=<principal>:<secret>``.

Keycloak runs with an in-memory database (built once by :func:`build`); :func:`import_realm`
posts the realm through the admin REST API after every start, so the realm always matches the
secrets on disk.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from backbone.stack.errors import StackError
from backbone.stack.install import keycloak_home as home

REALM = "backbone"
REGISTRY_CLIENT = "registry-api"
BOOTSTRAP_ADMIN = "bootstrap-admin"
ROLE_ADMIN, ROLE_DEVELOPER, ROLE_READONLY = "sr-admin", "sr-developer", "sr-readonly"
# What `kc.sh build` bakes in; `start --optimized` then starts without re-augmenting.
BUILD_OPTIONS = ("--db=dev-mem", "--health-enabled=true")
MARKER = "kc.sh"


def is_built(lib_dir: Path) -> bool:
    stamp = home(lib_dir) / "built.stamp"
    return stamp.is_file() and stamp.read_text().strip() == " ".join(BUILD_OPTIONS)


def build(lib_dir: Path, java_home: Path) -> None:
    """``kc.sh build`` with :data:`BUILD_OPTIONS`, once per unpacked distribution."""
    if is_built(lib_dir):
        return
    result = subprocess.run(
        [str(home(lib_dir) / "bin" / "kc.sh"), "build", *BUILD_OPTIONS],
        capture_output=True, text=True, env={"JAVA_HOME": str(java_home), "PATH": "/usr/bin:/bin"},
    )
    if result.returncode != 0:
        raise StackError(f"`kc.sh build` failed in {home(lib_dir)}:\n"
                         + (result.stdout + result.stderr)[-2000:])
    (home(lib_dir) / "built.stamp").write_text(" ".join(BUILD_OPTIONS) + "\n")


def start_command(lib_dir: Path, port: int, management_port: int) -> list[str]:
    return [
        str(home(lib_dir) / "bin" / "kc.sh"), "start", "--optimized",
        "--http-enabled=true", "--http-host=127.0.0.1", f"--http-port={port}",
        f"--http-management-port={management_port}", "--hostname-strict=false",
        # one node: production mode would otherwise look for cluster peers (and bind a port on
        # every interface for them)
        "--cache=local",
    ]


def realm(secrets: Mapping[str, str], roles: Mapping[str, str]) -> dict[str, Any]:
    """The realm: a client per principal in ``secrets`` with the registry role in ``roles``."""
    clients: list[dict[str, Any]] = [{
        # The registry itself: it only verifies tokens, nobody logs in as it.
        "clientId": REGISTRY_CLIENT, "enabled": True, "bearerOnly": True,
        "protocol": "openid-connect",
    }]
    users = []
    for principal, secret in sorted(secrets.items()):
        clients.append({
            "clientId": principal, "enabled": True, "protocol": "openid-connect",
            "publicClient": False, "secret": secret, "clientAuthenticatorType": "client-secret",
            "serviceAccountsEnabled": True, "standardFlowEnabled": False,
            "directAccessGrantsEnabled": False, "implicitFlowEnabled": False,
        })
        users.append({
            "username": f"service-account-{principal}", "enabled": True,
            "serviceAccountClientId": principal, "realmRoles": [roles[principal]],
        })
    return {
        "realm": REALM, "enabled": True,
        # Tokens live 5 minutes; Apicurio caches the exchanged token for less than that.
        "accessTokenLifespan": 300,
        "roles": {"realm": [{"name": role} for role in (ROLE_ADMIN, ROLE_DEVELOPER,
                                                          ROLE_READONLY)]},
        "clients": clients, "users": users,
    }


def issuer(port: int) -> str:
    return f"http://127.0.0.1:{port}/realms/{REALM}"


def import_realm(port: int, bootstrap_password: str, realm_json: Path,
                 timeout_s: float = 30.0) -> None:
    """Replace the realm with ``realm_json`` through the admin REST API."""
    base = f"http://127.0.0.1:{port}"
    try:
        _import_realm(base, bootstrap_password, realm_json, timeout_s)
    except httpx.HTTPError as error:
        raise StackError(f"Keycloak at {base} did not take the realm: {error}") from None


def _import_realm(base: str, bootstrap_password: str, realm_json: Path,
                  timeout_s: float) -> None:
    with httpx.Client(base_url=base, timeout=timeout_s) as http:
        token = http.post(
            "/realms/master/protocol/openid-connect/token",
            data={"grant_type": "password", "client_id": "admin-cli",
                  "username": BOOTSTRAP_ADMIN, "password": bootstrap_password},
        )
        if token.status_code != 200:
            raise StackError(f"Keycloak at {base} refused its bootstrap admin "
                             f"(HTTP {token.status_code}); see its log")
        headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
        http.delete(f"/admin/realms/{REALM}", headers=headers)
        created = http.post("/admin/realms", content=realm_json.read_bytes(),
                            headers={**headers, "Content-Type": "application/json"})
        if created.status_code != 201:
            raise StackError(f"Keycloak did not import the realm {realm_json} "
                             f"(HTTP {created.status_code}: {created.text[:300]})")


def client_token(port: int, client_id: str, secret: str, timeout_s: float = 10.0) -> str:
    """An access token for ``client_id`` (client credentials): what Apicurio does with basic
    credentials; the tests use it to check the realm."""
    response = httpx.post(
        f"{issuer(port)}/protocol/openid-connect/token",
        data={"grant_type": "client_credentials", "client_id": client_id,
              "client_secret": secret},
        timeout=timeout_s,
    )
    if response.status_code != 200:
        raise StackError(f"Keycloak refused client {client_id} (HTTP {response.status_code})")
    token: str = response.json()["access_token"]
    return token


def write_realm(path: Path, secrets: Mapping[str, str], roles: Mapping[str, str]) -> Path:
    """The realm JSON on disk (0600: it holds the client secrets)."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        json.dump(realm(secrets, roles), file, indent=2)
    return path
