"""The carriers' REST tracking APIs as HTTP requests: where to ask, with which credentials, and
the OAuth client-credentials tokens they need (cached until shortly before they expire).

- ups: token POST {base}/security/v1/oauth/token (HTTP Basic id:secret); tracking
  GET {base}/api/track/v1/details/{n}?locale=en_US;
- fedex: token POST {base}/oauth/token (form client_id, client_secret); tracking
  POST {base}/track/v1/trackingnumbers;
- usps: token POST {base}/oauth2/v3/token (form client_id, client_secret); tracking
  GET {base}/tracking/v3/tracking/{n}?expand=DETAIL;
- dhl: no token, header DHL-API-Key; tracking GET {base}/track/shipments?trackingNumber={n}.

Each answer comes back as it is (status, headers, body): what it means is the parsers' job
(connectors/carriers), the same code the webhooks and ``backbone carriers parse`` use. A 401 on
a tracking request drops the cached token and asks once more with a fresh one (tokens can be
revoked before they expire). Secrets go only into the requests; never into a message or log.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from backbone.settings import Settings

# Renew a token this long before the expiry the carrier announced (clocks, slow requests).
TOKEN_MARGIN_S = 60.0
DEFAULT_TOKEN_LIFETIME_S = 3_000.0
MAX_ANSWER_BYTES = 5_000_000


class TrackingApiError(Exception):
    """No answer at all (network, timeout) or a token request refused; the message names the
    carrier and never a secret."""


@dataclass(frozen=True)
class Answer:
    """A carrier's HTTP answer, as received."""

    status: int
    body: bytes
    retry_after: str | None = None
    url: str = ""


@dataclass
class TokenCache:
    """One carrier's OAuth access token and when it stops being usable."""

    token: str | None = field(default=None, repr=False)
    expires_at: float = 0.0
    fetched: int = 0

    def valid(self, now: float) -> str | None:
        return self.token if self.token and now < self.expires_at - TOKEN_MARGIN_S else None

    def drop(self) -> None:
        self.token, self.expires_at = None, 0.0


@dataclass
class CarrierApi:
    """One carrier's tracking API: ``track(number)`` returns the raw answer."""

    carrier: str
    base_url: str
    client_id: str = ""
    secret: SecretStr | None = field(default=None, repr=False)
    timeout_s: float = 15.0
    clock: Callable[[], float] = time.monotonic
    transport: httpx.BaseTransport | None = None
    tokens: TokenCache = field(default_factory=TokenCache)

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        self._http = httpx.Client(timeout=self.timeout_s, transport=self.transport,
                                  follow_redirects=False)

    def close(self) -> None:
        self._http.close()

    def track(self, tracking_number: str) -> Answer:
        """The carrier's answer for ``tracking_number`` (TrackingApiError: no answer)."""
        answer = self._send(tracking_number, self._token())
        if answer.status == 401 and self.carrier != "dhl":
            self.tokens.drop()
            answer = self._send(tracking_number, self._token())
        return answer

    def _send(self, number: str, token: str | None) -> Answer:
        base, n = self.base_url, quote(number, safe="")
        headers = {"accept": "application/json"}
        if token:
            headers["authorization"] = f"Bearer {token}"
        try:
            if self.carrier == "ups":
                headers.update(transId=uuid.uuid4().hex[:32], transactionSrc="backbone")
                response = self._http.get(f"{base}/api/track/v1/details/{n}",
                                          params={"locale": "en_US"}, headers=headers)
            elif self.carrier == "fedex":
                response = self._http.post(f"{base}/track/v1/trackingnumbers", headers=headers,
                                           json={"includeDetailedScans": True, "trackingInfo": [
                                               {"trackingNumberInfo": {"trackingNumber": number}}]})
            elif self.carrier == "usps":
                response = self._http.get(f"{base}/tracking/v3/tracking/{n}",
                                          params={"expand": "DETAIL"}, headers=headers)
            else:
                headers["DHL-API-Key"] = self._secret()
                response = self._http.get(f"{base}/track/shipments",
                                          params={"trackingNumber": number}, headers=headers)
        except httpx.HTTPError as error:
            raise TrackingApiError(f"{self.carrier}: no answer from {base} for {number}: "
                                   f"{type(error).__name__}: {error}") from None
        return Answer(response.status_code, response.content[:MAX_ANSWER_BYTES],
                      response.headers.get("retry-after"), str(response.request.url))

    def _token(self) -> str | None:
        if self.carrier == "dhl":
            return None
        now = self.clock()
        token = self.tokens.valid(now)
        if token:
            return token
        base = self.base_url
        form = {"grant_type": "client_credentials"}
        try:
            if self.carrier == "ups":
                response = self._http.post(f"{base}/security/v1/oauth/token", data=form,
                                           auth=(self.client_id, self._secret()))
            else:
                path = "/oauth/token" if self.carrier == "fedex" else "/oauth2/v3/token"
                response = self._http.post(f"{base}{path}", data={
                    **form, "client_id": self.client_id, "client_secret": self._secret()})
        except httpx.HTTPError as error:
            raise TrackingApiError(f"{self.carrier}: no answer from the token endpoint at "
                                   f"{base}: {type(error).__name__}") from None
        try:
            body = response.json()
        except ValueError:
            body = {}
        token = body.get("access_token") if isinstance(body, dict) else None
        if response.status_code != 200 or not isinstance(token, str):
            raise TrackingApiError(f"{self.carrier}: token request refused (HTTP "
                                   f"{response.status_code}); check the carrier's client id and "
                                   "secret in settings")
        try:
            lifetime = float(body.get("expires_in") or DEFAULT_TOKEN_LIFETIME_S)
        except (TypeError, ValueError):
            lifetime = DEFAULT_TOKEN_LIFETIME_S
        self.tokens.token, self.tokens.expires_at = token, now + lifetime
        self.tokens.fetched += 1
        return token

    def _secret(self) -> str:
        return self.secret.get_secret_value() if self.secret is not None else ""


# What a shipment's carrier code (SCAC, or the parsers' codes) is asked through.
API_OF_CARRIER = {"UPSN": "ups", "UPS": "ups", "FDX": "fedex", "FDXE": "fedex",
                  "FDXG": "fedex", "FEDEX": "fedex", "USPS": "usps", "DHL": "dhl",
                  "DHLC": "dhl", "DHLE": "dhl"}


def apis_from_settings(settings: Settings, *,
                       transport: httpx.BaseTransport | None = None) -> dict[str, CarrierApi]:
    """Every carrier API whose credentials are configured."""
    apis: dict[str, CarrierApi] = {}
    timeout = settings.tracking_request_timeout_s
    for carrier in ("ups", "fedex", "usps"):
        client_id: str = getattr(settings, f"tracking_{carrier}_client_id")
        secret: SecretStr | None = getattr(settings, f"tracking_{carrier}_client_secret")
        if client_id and secret is not None:
            apis[carrier] = CarrierApi(carrier, getattr(settings, f"tracking_{carrier}_base_url"),
                                       client_id, secret, timeout, transport=transport)
    if settings.tracking_dhl_api_key is not None:
        apis["dhl"] = CarrierApi("dhl", settings.tracking_dhl_base_url,
                                 secret=settings.tracking_dhl_api_key, timeout_s=timeout,
                                 transport=transport)
    return apis
