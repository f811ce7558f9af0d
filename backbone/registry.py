"""A small client for the Confluent-compatible schema registry REST API, with caches.

Only what backbone needs: register a schema under a subject, set its compatibility, fetch a
schema by id, and know which ids a subject holds (decoding accepts only those). Works with
Apicurio's /apis/ccompat/v7, Confluent Schema Registry, Karapace, Redpanda.
"""

from __future__ import annotations

import contextlib
import json
import time
from typing import TYPE_CHECKING, Any

import httpx

from backbone.errors import TransientError

if TYPE_CHECKING:
    from backbone.clients import RegistryAuth

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
_AUTH_HINT = {
    401: "(unauthenticated): check SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO or "
         "BACKBONE_REGISTRY_BEARER_TOKEN[_FILE]",
    403: "(forbidden): these credentials lack the role for this call (a read-only client "
         "cannot register schemas)",
}


class RegistryError(RuntimeError):
    """The registry answered with an error; ``status`` is the HTTP status (409: incompatible)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RegistryAuthError(RegistryError):
    """The registry refused our credentials (401) or their rights (403): a configuration
    problem of this process, never a fault of the record in hand (so never a dead letter)."""


class SchemaRegistry:
    """One registry at ``url``; caches schemas by id and ids by subject."""

    def __init__(self, url: str, timeout_s: float = 10.0, subject_refresh_s: float = 30.0,
                 *, auth: RegistryAuth | None = None) -> None:
        self.url = url.rstrip("/")
        options = auth.httpx_options() if auth is not None else {}
        headers = {"Content-Type": CONTENT_TYPE, **options.pop("headers", {})}
        self._http = httpx.Client(timeout=timeout_s, headers=headers, **options)
        self._schemas: dict[int, str] = {}
        self._subject_ids: dict[str, tuple[float, frozenset[int]]] = {}
        self._subject_refresh_s = subject_refresh_s

    def close(self) -> None:
        self._http.close()

    def __del__(self) -> None:
        # A registry dropped without close() (a serde built for one command) must not leave
        # its keep-alive socket for the garbage collector to find unclosed.
        with contextlib.suppress(Exception):
            self._http.close()

    def __enter__(self) -> SchemaRegistry:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- writing ----------------------------------------------------------------------------

    def register(self, subject: str, schema_text: str) -> int:
        """Register (or find) ``schema_text`` under ``subject``; its id."""
        body = self._request(
            "POST", f"/subjects/{subject}/versions", {"schema": schema_text, "schemaType": "AVRO"}
        )
        schema_id = int(body["id"])
        self._schemas.setdefault(schema_id, schema_text)
        self._subject_ids.pop(subject, None)
        return schema_id

    def lookup(self, subject: str, schema_text: str) -> int | None:
        """The id of ``schema_text`` if ``subject`` already holds it, else None."""
        try:
            body = self._request("POST", f"/subjects/{subject}",
                                 {"schema": schema_text, "schemaType": "AVRO"})
        except RegistryError as error:
            if error.status == 404:
                return None
            raise
        return int(body["id"])

    def set_compatibility(self, subject: str, mode: str) -> None:
        self._request("PUT", f"/config/{subject}", {"compatibility": mode})

    def compatibility(self, subject: str) -> str | None:
        try:
            body = self._request("GET", f"/config/{subject}")
        except RegistryError as error:
            if error.status == 404:
                return None
            raise
        value = body.get("compatibilityLevel") or body.get("compatibility")
        return str(value) if value else None

    # -- reading ----------------------------------------------------------------------------

    def schema(self, schema_id: int) -> str:
        """The schema text registered with ``schema_id`` (cached forever: ids are immutable)."""
        cached = self._schemas.get(schema_id)
        if cached is None:
            cached = str(self._request("GET", f"/schemas/ids/{schema_id}")["schema"])
            self._schemas[schema_id] = cached
        return cached

    def subject_ids(self, subject: str, *, refresh: bool = False) -> frozenset[int]:
        """Every schema id registered under ``subject`` (empty when the subject is unknown)."""
        now = time.monotonic()
        cached = self._subject_ids.get(subject)
        if cached is not None and not refresh and now - cached[0] < self._subject_refresh_s:
            return cached[1]
        try:
            versions = self._request("GET", f"/subjects/{subject}/versions")
        except RegistryError as error:
            if error.status != 404:
                raise
            versions = []
        ids = set()
        for version in versions:
            body = self._request("GET", f"/subjects/{subject}/versions/{version}")
            ids.add(int(body["id"]))
            self._schemas.setdefault(int(body["id"]), str(body["schema"]))
        found = frozenset(ids)
        self._subject_ids[subject] = (now, found)
        return found

    def subjects(self) -> list[str]:
        return [str(subject) for subject in self._request("GET", "/subjects")]

    def _request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        try:
            response = self._http.request(
                method, f"{self.url}{path}", content=None if body is None else json.dumps(body)
            )
        except httpx.HTTPError as error:
            raise TransientError(
                f"schema registry {self.url} did not answer {method} {path}: {error}. "
                "Is it running (`backbone stack status`) and is SCHEMA_REGISTRY_URL right?"
            ) from error
        if response.status_code >= 400:
            try:
                detail = response.json().get("message", response.text)
            except ValueError:
                detail = response.text
            if response.status_code >= 500:
                raise TransientError(
                    f"schema registry {self.url} failed {method} {path}: "
                    f"{response.status_code} {detail}"
                )
            if response.status_code in (401, 403):
                raise RegistryAuthError(
                    f"schema registry {self.url} refused {method} {path} with "
                    f"{response.status_code} {_AUTH_HINT[response.status_code]}",
                    response.status_code,
                )
            raise RegistryError(
                f"schema registry refused {method} {path}: {response.status_code} {detail}",
                response.status_code,
            )
        return response.json()
