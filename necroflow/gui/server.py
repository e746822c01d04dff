"""The GUI's web app: the page, its assets, and the JSON API the page (and scripts) use.

Routes (every one behind the token, see :mod:`necroflow.gui.auth`)::

    GET  /                         the page (a ?token= visit sets the cookie)
    GET  /static/{file}            its script and style (shipped in the package, no CDN)
    GET  /api/combos               [{name, job_file, requests, jobs}]
    GET  /api/jobs[?combo=]        [{id, rule, state, reason, parents}]
    GET  /api/jobs/{rule}/{hash}   that plus command, params, metrics, outputs, provenance
    GET  /api/jobs/{rule}/{hash}/log    the job's log as text
    GET  /api/graph[?combo=&rule=] nodes with positions (the rule graph for big DAGs)
    GET  /api/files/{path}         an output file (only inside the outdir)
    GET  /api/status               the outdir, who holds its lock, the GUI's active run
    POST /api/runs                 {combos, targets, cores, keep_going, dry_run} -> {id, state, to_run}
    GET  /api/runs/{id}            {id, state, ran, failed}
    POST /api/runs/{id}/cancel
    GET  /api/events               server-sent events: {"job", "state"} and {"run", "state"}
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    JSONResponse,
    PlainTextResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route

from ..store import OutdirLocked
from . import auth
from .feed import DROPPED, Feed
from .model import GuiModel, NotFound
from .runs import GuiRun, Runs

STATIC = Path(__file__).parent / "static-files"  # not a package name: setuptools ships it as data
_TYPES = {".js": "text/javascript", ".css": "text/css"}
ASSETS = {p.name: _TYPES[p.suffix] for p in sorted(STATIC.iterdir()) if p.suffix in _TYPES}  # the page's modules


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class Api:
    def __init__(self, model: GuiModel, runs: Runs, feed: Feed, token: str) -> None:
        self.model, self.runs, self.feed, self.token = model, runs, feed, token

    async def page(self, request: Request) -> Response:
        html = (STATIC / "index.html").read_text()
        response = Response(html, media_type="text/html")
        response.set_cookie(auth.cookie_name(request), self.token, httponly=True, samesite="strict")
        return response

    async def asset(self, request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            return error(404, f"no asset {name!r}")
        # a few KiB read at once, no thread hop; "no-cache": a browser asks again, gets the new page after an upgrade
        return Response((STATIC / name).read_bytes(), media_type=ASSETS[name], headers={"Cache-Control": "no-cache"})

    # Planning a big DAG takes a while: off the event loop, so event streams keep flowing.
    async def combos(self, request: Request) -> Response:
        return JSONResponse(self.model.combos())

    async def jobs(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(self.model.jobs, request.query_params.get("combo")))

    async def job(self, request: Request) -> Response:
        return JSONResponse(await run_in_threadpool(self.model.detail, _key(request)))

    async def log(self, request: Request) -> Response:
        return PlainTextResponse(await run_in_threadpool(self.model.log, _key(request)))

    async def graph(self, request: Request) -> Response:
        q = request.query_params
        return JSONResponse(await run_in_threadpool(self.model.graph, q.get("combo"), q.get("rule")))

    async def file(self, request: Request) -> Response:
        fd, name = self.model.file(request.path_params["path"])
        size = os.fstat(fd).st_size
        return StreamingResponse(_chunks(fd), media_type="application/octet-stream", headers={
            "Content-Length": str(size), "Content-Disposition": _attachment(name)})

    async def status(self, request: Request) -> Response:
        active = self.runs.active()
        return JSONResponse({"outdir": str(self.model.dag.outdir), "locked_by": self.model.locked_by(),
                             "active_run": active.as_dict() if active else None})

    async def start_run(self, request: Request) -> Response:
        body = await _json_body(request)
        combos, targets = _str_list(body, "combos"), _str_list(body, "targets")
        cores, keep_going, dry_run = body.get("cores"), body.get("keep_going", False), body.get("dry_run", False)
        if cores is not None and (isinstance(cores, bool) or not isinstance(cores, int) or cores < 1):
            return error(400, "cores must be a positive integer or null")
        if not isinstance(keep_going, bool) or not isinstance(dry_run, bool):
            return error(400, "keep_going and dry_run must be true or false")
        if combos == [] or targets == []:  # a filter that came out empty must not mean "everything"
            return error(400, "an empty list of combos or targets names nothing to run; send null for all")
        keys = self.model.targets(combos, targets)
        to_run = await run_in_threadpool(self.model.preview, keys)
        if dry_run:
            return JSONResponse({"id": None, "state": "dry_run", "to_run": to_run})
        try:
            run = self.runs.start(keys, cores, keep_going)
        except OutdirLocked as e:
            return error(409, str(e))
        return JSONResponse({"id": run.id, "state": run.state, "to_run": to_run})

    async def run(self, request: Request) -> Response:
        run = self.runs.get(request.path_params["id"])
        if run is None:
            return error(404, f"no run {request.path_params['id']!r}")
        return JSONResponse(run.as_dict())

    async def cancel(self, request: Request) -> Response:
        run = self.runs.get(request.path_params["id"])
        if run is None:
            return error(404, f"no run {request.path_params['id']!r}")
        run.cancel.cancel()
        return JSONResponse(run.as_dict())

    async def events(self, request: Request) -> Response:
        sub = self.feed.subscribe()

        async def stream() -> Any:
            try:
                yield ": necroflow events\n\n"
                while True:
                    try:
                        ev = await asyncio.wait_for(sub[1].get(), timeout=15)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
                        continue
                    if ev is DROPPED:
                        return  # too far behind: the page's EventSource reconnects and reloads
                    batch = [ev]  # whatever else is queued goes in the same write
                    while not sub[1].empty() and len(batch) < 1000:
                        nxt = sub[1].get_nowait()
                        if nxt is DROPPED:
                            return
                        batch.append(nxt)
                    yield "".join(f"data: {json.dumps(e)}\n\n" for e in batch)
            finally:
                self.feed.unsubscribe(sub)

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


async def _chunks(fd: int) -> Any:
    """The bytes of an open file (the one the model checked), closed at the end."""
    try:
        while chunk := await run_in_threadpool(os.read, fd, 1 << 20):
            yield chunk
    finally:
        os.close(fd)


def _attachment(name: str) -> str:
    quoted = quote(name)
    return f'attachment; filename="{name}"' if quoted == name else f"attachment; filename*=utf-8''{quoted}"


def _key(request: Request) -> str:
    return f"{request.path_params['rule']}/{request.path_params['hash']}"


MAX_BODY = 1 << 20  # a run request is a few lists of names
MAX_DEPTH = 64
RUN_FIELDS = frozenset({"combos", "targets", "cores", "keep_going", "dry_run"})


def _depth(body: bytes) -> int:
    """How deep the arrays and objects of a JSON text nest (strings skipped): refused before
    parsing, so the parser never hits the recursion limit."""
    depth = deepest = 0
    in_string = escaped = False
    for b in body:
        if in_string:
            if escaped:
                escaped = False
            elif b == 0x5C:  # backslash
                escaped = True
            elif b == 0x22:  # quote
                in_string = False
        elif b == 0x22:
            in_string = True
        elif b in (0x5B, 0x7B):  # [ {
            depth += 1
            deepest = max(deepest, depth)
        elif b in (0x5D, 0x7D):
            depth -= 1
    return deepest


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if len(raw) > MAX_BODY:
        raise HTTPException(413, f"the body is too large (over {MAX_BODY} bytes)")
    if _depth(raw) > MAX_DEPTH:
        raise HTTPException(400, f"the body is nested too deeply (over {MAX_DEPTH} levels)")
    try:
        body = json.loads(raw or b"{}")
    except (ValueError, RecursionError):
        raise HTTPException(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise HTTPException(400, "the body must be a JSON object")
    unknown = sorted(set(body) - RUN_FIELDS)
    if unknown:
        raise HTTPException(400, f"unknown field {unknown[0]!r} (known: {', '.join(sorted(RUN_FIELDS))})")
    return body


def _str_list(body: dict[str, Any], key: str) -> list[str] | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise HTTPException(400, f"{key} must be a list of strings or null")
    return value


def make_app(model: GuiModel, runs: Runs, feed: Feed, token: str) -> Guard:
    api = Api(model, runs, feed, token)
    routes = [
        Route("/", api.page), Route("/static/{name}", api.asset),
        Route("/api/combos", api.combos), Route("/api/jobs", api.jobs),
        Route("/api/jobs/{rule}/{hash}", api.job), Route("/api/jobs/{rule}/{hash}/log", api.log),
        Route("/api/graph", api.graph), Route("/api/files/{path:path}", api.file), Route("/api/status", api.status),
        Route("/api/runs", api.start_run, methods=["POST"]), Route("/api/runs/{id}", api.run),
        Route("/api/runs/{id}/cancel", api.cancel, methods=["POST"]), Route("/api/events", api.events),
    ]

    async def not_found(request: Request, exc: Exception) -> Response:
        return error(404, str(exc.args[0]) if exc.args else "not found")

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return error(exc.status_code, str(exc.detail))

    app = Starlette(routes=routes, exception_handlers={NotFound: not_found, HTTPException: http_error})
    return Guard(app, token)


HEADERS = [(b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                          b"script-src 'self'; frame-ancestors 'none'"),
           (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin"),
           (b"x-frame-options", b"DENY")]


class Guard:
    """ASGI middleware: the token check before anything, safety headers on every answer."""

    def __init__(self, app: Any, token: str, hosts: frozenset[str] = frozenset()) -> None:
        self.app, self.token, self.hosts = app, token, hosts

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        async def with_headers(message: Any) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + HEADERS
            await send(message)

        request = Request(scope)
        why = auth.check(request, self.token)
        if why is None and not auth.known_host(request, self.hosts):
            why = 421, "unexpected Host header: open the URL necroflow gui printed"
        if why is not None:
            await error(*why)(scope, receive, with_headers)
            return
        await self.app(scope, receive, with_headers)


__all__ = ["GuiRun", "make_app"]
