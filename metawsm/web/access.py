"""Who may use the dashboard.

Three checks, each cheap and each on every request:

- **Host** must name the address the dashboard is bound to (``127.0.0.1:PORT``, and for a
  loopback bind also ``localhost:PORT`` and ``[::1]:PORT``). A page on another site that has
  its DNS name point at 127.0.0.1 (DNS rebinding) sends its own name in ``Host`` and is refused.
- **Origin**, when a browser sends one, must be the dashboard's own origin; cross-site
  requests are refused before any handler runs (no CORS is ever answered).
- **Token**: a random token made at each supervisor start and printed with the URL. A browser
  presents it once as ``?token=`` and gets it back as an ``HttpOnly``, ``SameSite=Strict``
  cookie; reads accept the cookie, the ``X-Metawsm-Token`` header or the query parameter;
  writes (``POST``) need the header, which a cross-site form cannot set.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field

TOKEN_HEADER = "x-metawsm-token"
TOKEN_COOKIE = "metawsm_token"
TOKEN_QUERY = "token"


def new_token() -> str:
    """A fresh random token (URL-safe, 32 bytes of entropy)."""
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an IP literal or ``localhost``) is a loopback address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _host_literal(host: str) -> str:
    """``host`` as it appears in a ``Host`` header (IPv6 in brackets)."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]"
    return host


@dataclass(frozen=True)
class Access:
    """The dashboard's bound address and token, and the checks made from them."""

    host: str
    port: int
    token: str = field(repr=False)

    @property
    def allowed_hosts(self) -> frozenset[str]:
        """Every ``Host`` header value that names this dashboard."""
        names = {_host_literal(self.host)}
        if is_loopback(self.host):
            names |= {"127.0.0.1", "localhost", "[::1]"}
        return frozenset(f"{name}:{self.port}" for name in names)

    @property
    def allowed_origins(self) -> frozenset[str]:
        return frozenset(f"http://{host}" for host in self.allowed_hosts)

    @property
    def url(self) -> str:
        """The URL to open, token included (what ``serve --web`` prints)."""
        return f"http://{_host_literal(self.host)}:{self.port}/?{TOKEN_QUERY}={self.token}"

    def host_ok(self, header: str | None) -> bool:
        return header is not None and header.lower() in self.allowed_hosts

    def origin_ok(self, header: str | None) -> bool:
        """No ``Origin`` (not a cross-site browser request) or this dashboard's own."""
        return header is None or header.lower() in self.allowed_origins

    def token_ok(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(
            presented.encode(), self.token.encode()
        )
