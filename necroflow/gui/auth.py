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


def presented(request: Request) -> tuple[str | None, str]:
    """(the token a request carries, where: ``header`` | ``cookie`` | ``query`` | ``none``)."""
    auth = request.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip(), "header"
    cookie = request.cookies.get(COOKIE)
    if cookie:
        return cookie, "cookie"
    query = request.query_params.get("token")
    if query:
        return query, "query"
    return None, "none"


def same_origin(request: Request) -> bool:
    """True when the request says it comes from a page of this server (Origin, else Referer)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return False
    parts = urlsplit(origin)
    return f"{parts.scheme}://{parts.netloc}" == f"{request.url.scheme}://{request.url.netloc}"


def check(request: Request, token: str) -> tuple[int, str] | None:
    """None when the request may go on, else (HTTP status, why not)."""
    given, where = presented(request)
    if not _same(given, token):
        return 401, "missing or wrong token: open the URL necroflow gui printed"
    if request.method not in ("GET", "HEAD"):
        if where == "query":
            return 403, "a change needs the token in the Authorization header or the cookie, not in the URL"
        if where == "cookie" and not same_origin(request):
            return 403, "cross-site request refused (the Origin is not this server)"
    return None
