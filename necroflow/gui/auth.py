"""Who may use the GUI: whoever has the token printed at start (in the URL once, then a cookie).

It is a web server that runs shell commands, so: every request carries the token (query
``?token=``, ``Authorization: Bearer``, or the cookie the first page visit sets), compared in
constant time; a request that changes something (a POST) must carry it in the header or the
cookie, and with the cookie only from a page of this very origin (no cross-site form or
script can start a run).
"""

from __future__ import annotations

import hmac
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request

COOKIE = "necroflow_token"


def new_token() -> str:
    return secrets.token_urlsafe(32)  # 256 bits


def _same(a: str | None, b: str) -> bool:
    return a is not None and hmac.compare_digest(a.encode(), b.encode())


def cookie_name(request: Request) -> str:
    """One cookie per port: two GUIs on one host (cookies ignore ports) do not log each other out."""
    return f"{COOKIE}_{request.url.port or 0}"


def presented(request: Request) -> list[tuple[str, str]]:
    """Every token a request carries, with where: ``header`` | ``cookie`` | ``query``."""
    found = []
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        found.append((auth[7:].strip(), "header"))
    cookie = request.cookies.get(cookie_name(request))
    if cookie:
        found.append((cookie, "cookie"))
    query = request.query_params.get("token")
    if query:
        found.append((query, "query"))
    return found


def same_origin(request: Request) -> bool:
    """True when the request says it comes from a page of this server (Origin, else Referer)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return False
    parts = urlsplit(origin)
    return f"{parts.scheme}://{parts.netloc}" == f"{request.url.scheme}://{request.url.netloc}"


def check(request: Request, token: str) -> tuple[int, str] | None:
    """None when the request may go on, else (HTTP status, why not).

    Any one right token will do: a cookie left by an earlier GUI on this port does not hide
    the right token in the URL."""
    where = next((w for given, w in presented(request) if _same(given, token)), None)
    if where is None:
        return 401, "missing or wrong token: open the URL necroflow gui printed"
    if request.method not in ("GET", "HEAD"):
        if where == "query":
            return 403, "a change needs the token in the Authorization header or the cookie, not in the URL"
        if where == "cookie" and not same_origin(request):
            return 403, "cross-site request refused (the Origin is not this server)"
    return None


LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


def known_host(request: Request, hosts: frozenset[str]) -> bool:
    """The Host header names this server (a loopback name, or the ``--host`` it listens on):
    a page of another site whose name was rebound to 127.0.0.1 is refused even with a token.
    An empty ``hosts`` checks nothing (an app served by tests)."""
    if not hosts:
        return True
    name = urlsplit("//" + request.headers.get("host", "")).hostname or ""
    return name.lower() in hosts

