"""The GUI's HTTP API, route by route, through Starlette's TestClient (and a real uvicorn where
the raw request matters): every route, the token rules, outdir confinement, and bad input
answered with a status and a message, never a 500."""

from __future__ import annotations

import http.client
import inspect
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from gui_helpers import Setup, client, wait_until

from necroflow.gui import auth, server


def _run_to_end(c: Any, body: dict[str, Any] | None = None) -> dict[str, Any]:
    r = c.post("/api/runs", json=body or {})
    assert r.status_code == 200, r.text
    run_id = r.json()["id"]
    return wait_until(lambda: (s := c.get(f"/api/runs/{run_id}").json())["state"] != "running" and s, 30, "the run")


def test_the_page_and_its_assets(make_gui: Any) -> None:
    s = make_gui()
    c = client(s)
    r = c.get(f"/?token={s.gui.token}")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    assert r.headers["x-content-type-options"] == "nosniff"
    cookie = r.headers["set-cookie"]
    assert cookie.startswith(auth.COOKIE) and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert '<script type="module" src="/static/app.js">' in r.text
    assert "<style" not in r.text and " style=" not in r.text and "onclick" not in r.text  # nothing inline
    # every module the page imports is served, with a script type; nothing from another host
    static = Path(server.STATIC)
    for name in server.ASSETS:
        a = c.get(f"/static/{name}", headers=s.auth)
        assert a.status_code == 200 and a.text, name
        assert a.headers["content-type"].startswith("text/javascript" if name.endswith(".js") else "text/css")
        for imported in re.findall(r'from "\./([\w.]+)"', a.text):
            assert imported in server.ASSETS, f"{name} imports {imported}, which is not served"
        hosts = set(re.findall(r"https?://[^\s\"'`)]+", a.text)) - {"http://www.w3.org/2000/svg"}  # a namespace
        assert not hosts, f"{name} names another host: {hosts}"
        assert not re.search(r"\beval\(|\.innerHTML\b|\bnew Function\b|\.style\s*=|setAttribute\(\"style", a.text), name
    assert {p.name for p in static.iterdir() if p.suffix in (".js", ".css")} == set(server.ASSETS)
    assert c.get("/static/index.html", headers=s.auth).status_code == 404
    assert c.get("/static/../model.py", headers=s.auth).status_code == 404


def test_every_api_route(make_gui: Any) -> None:
    s = make_gui()
    c = client(s, headers=s.auth)
    combos = c.get("/api/combos").json()
    assert [sorted(x) for x in combos] == [["job_file", "jobs", "name", "requests"]] * 3
    alpha = next(x for x in combos if "alpha" in x["name"])
    assert alpha["jobs"] == 2 and alpha["job_file"] == str(s.job)
    (request,) = alpha["requests"].values()
    assert re.fullmatch(r"slow/[0-9a-f]{16}/copy\.txt", request)

    jobs = c.get("/api/jobs").json()
    assert len(jobs) == 6 and {j["state"] for j in jobs} == {"missing"}
    assert all(sorted(j) == ["id", "parents", "reason", "rule", "state"] for j in jobs)
    by_id = {j["id"]: j for j in jobs}
    slow = request.rsplit("/", 1)[0]
    (make,) = by_id[slow]["parents"]
    assert by_id[make]["rule"] == "make" and by_id[make]["parents"] == []
    assert {j["id"] for j in c.get("/api/jobs", params={"combo": alpha["name"]}).json()} == {make, slow}

    d = c.get(f"/api/jobs/{slow}").json()
    assert d["command"] == s.gui.model.dag.command(s.gui.model.by_key[slow])
    assert "sleep 0" in d["command"] and str(s.outdir) in d["command"]
    assert d["params"] == {"word": "alpha", "secs": 0} and d["cause"]["kind"] == "absent"
    assert d["reason"] == "output absent" and d["outputs"] == [
        {"name": "copy.txt", "path": f"{slow}/copy.txt", "exists": False, "size": None}]

    g = c.get("/api/graph").json()
    assert g["kind"] == "jobs" and g["box"] == [150, 42] and len(g["nodes"]) == 6 and len(g["edges"]) == 3
    assert all(isinstance(n["x"], float | int) and isinstance(n["y"], float | int) for n in g["nodes"])
    assert len(c.get("/api/graph", params={"combo": alpha["name"]}).json()["nodes"]) == 2
    assert {n["rule"] for n in c.get("/api/graph", params={"rule": "make"}).json()["nodes"]} == {"make"}
    assert c.get("/api/status").json() == {"outdir": str(s.outdir), "locked_by": None, "active_run": None}

    preview = c.post("/api/runs", json={"combos": [alpha["name"]], "dry_run": True}).json()
    assert preview == {"id": None, "state": "dry_run", "to_run": {"missing": 2}}
    assert c.post("/api/runs", json={"targets": [make], "dry_run": True}).json()["to_run"] == {"missing": 1}
    done = _run_to_end(c, {"cores": 2, "keep_going": True})
    assert done["state"] == "succeeded" and sorted(done["ran"]) == sorted(by_id) and done["failed"] == []

    assert {j["state"] for j in c.get("/api/jobs").json()} == {"up_to_date"}  # planned again after the run
    d = c.get(f"/api/jobs/{slow}").json()
    assert d["recorded_state"] == "up_to_date" and d["metrics"]["exit_code"] == 0
    assert {"wall", "cpu", "max_rss"} <= set(d["metrics"]) and d["provenance"]["inputs"]["text"]["job"] == make
    log = c.get(f"/api/jobs/{slow}/log")
    assert log.headers["content-type"].startswith("text/plain") and "start alpha" in log.text and "done alpha" in log.text
    f = c.get(f"/api/files/{slow}/copy.txt")
    assert f.status_code == 200 and f.text == "alpha\n" and 'filename="copy.txt"' in f.headers["content-disposition"]
    cancelled = c.post(f"/api/runs/{done['id']}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "succeeded"  # too late: nothing to stop
    assert c.post("/api/runs", json={"dry_run": True}).json()["to_run"] == {}


def test_the_rule_graph_above_300_jobs(make_gui: Any) -> None:
    s = make_gui([f"w{i:03d}" for i in range(151)])  # 302 jobs
    c = client(s, headers=s.auth)
    g = c.get("/api/graph").json()
    assert g["kind"] == "rules" and [(n["id"], n["jobs"], n["counts"]) for n in g["nodes"]] == [
        ("make", 151, {"missing": 151}), ("slow", 151, {"missing": 151})]
    assert g["edges"] == [["make", "slow"]] and all(n["state"] == "missing" for n in g["nodes"])
    one = c.get("/api/graph", params={"rule": "make"}).json()
    assert one["kind"] == "jobs" and len(one["nodes"]) == 151 and one["edges"] == []
    assert c.get("/api/graph", params={"combo": c.get("/api/combos").json()[0]["name"]}).json()["kind"] == "jobs"


# -- the token -------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/static/app.js", "/api/combos", "/api/jobs", "/api/graph", "/api/status",
                                  "/api/events", "/api/files/x/y/z", "/api/nothing"])
def test_no_token_is_401(make_gui: Any, path: str) -> None:
    s = make_gui()
    c = client(s)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {s.gui.token}"}):
        r = c.get(path, headers=headers)
        assert r.status_code == 401 and "token" in r.json()["error"], (path, headers)
    r = c.get(path, params={"token": s.gui.token[:-1]})
    assert r.status_code == 401
    c.cookies.set(auth.COOKIE + "_0", "wrong")
    assert c.get(path).status_code == 401
    assert c.post("/api/runs", json={"dry_run": True}).status_code == 401


def test_the_token_in_the_query_header_or_cookie(make_gui: Any) -> None:
    s = make_gui()
    c = client(s)
    assert c.get("/api/combos", params={"token": s.gui.token}).status_code == 200
    assert c.get("/api/combos", headers=s.auth).status_code == 200
    assert c.get("/api/combos", headers={"Authorization": f"bearer  {s.gui.token} "}).status_code == 200
    assert c.get(f"/?token={s.gui.token}").status_code == 200  # sets the cookie
    assert c.get("/api/combos").status_code == 200  # the cookie alone


def test_a_change_needs_the_header_or_a_same_origin_cookie(make_gui: Any) -> None:
    s = make_gui()
    dry = {"dry_run": True}
    c = client(s)
    r = c.post("/api/runs", params={"token": s.gui.token}, json=dry)
    assert r.status_code == 403 and "not in the URL" in r.json()["error"]
    r = c.post("/api/runs", params={"token": s.gui.token}, json=dry, headers={"Origin": "http://testserver"})
    assert r.status_code == 403
    assert c.post("/api/runs", headers=s.auth, json=dry).status_code == 200
    c.get(f"/?token={s.gui.token}")  # the cookie
    for origin in ({"Origin": "http://evil.example"}, {"Origin": "http://testserver:8080"},
                   {"Referer": "http://evil.example/page"}, {"Origin": "null"}, {}):
        r = c.post("/api/runs", json=dry, headers=origin)
        assert r.status_code == 403 and "cross-site" in r.json()["error"], origin
        assert c.post("/api/runs/r1/cancel", headers=origin).status_code == 403
    assert c.post("/api/runs", json=dry, headers={"Origin": "http://testserver"}).status_code == 200
    assert c.post("/api/runs", json=dry, headers={"Referer": "http://testserver/"}).status_code == 200


def test_a_stale_cookie_does_not_hide_the_right_token(make_gui: Any) -> None:
    """A GUI restarted on the same port has a new token; the browser still sends the old cookie."""
    s = make_gui()
    c = client(s)
    c.cookies.set(auth.COOKIE + "_0", "the-token-of-an-earlier-gui")
    assert c.get(f"/?token={s.gui.token}").status_code == 200
    assert c.get("/api/combos").status_code == 200  # the page's visit replaced the cookie


def test_two_guis_on_one_host_keep_their_own_cookies(make_gui: Any, serve: Any, tmp_path: Path) -> None:
    import httpx

    a = serve(make_gui())
    b = serve(make_gui(outdir=tmp_path / "other"))
    with httpx.Client() as browser:  # one cookie jar, as a browser has for 127.0.0.1
        assert browser.get(a.url).status_code == 200
        assert browser.get(b.url).status_code == 200
        assert browser.get(f"{a.base}/api/combos").status_code == 200
        assert browser.get(f"{b.base}/api/combos").status_code == 200


def test_the_token_is_compared_in_constant_time(make_gui: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    source = inspect.getsource(auth)
    assert "hmac.compare_digest" in inspect.getsource(auth._same)
    assert not re.search(r"token\s*[!=]=|[!=]=\s*token", source), "a plain comparison of the token"
    calls: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    s = make_gui()
    assert client(s).get("/api/combos", headers={"Authorization": "Bearer nope"}).status_code == 401
    assert calls == [(b"nope", s.gui.token.encode())]
    assert len(s.gui.token) >= 40  # 256 random bits, url-safe


# -- files: only job outputs inside the outdir --------------------------------------------------


def _raw_get(base: str, path: str, token: str) -> tuple[int, bytes]:
    """A GET with the path exactly as written (no client-side normalisation of .. or //)."""
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    conn.putrequest("GET", path, skip_accept_encoding=True)
    conn.putheader("Authorization", f"Bearer {token}")
    conn.endheaders()
    r = conn.getresponse()
    body = r.read()
    conn.close()
    return r.status, body


def test_files_stay_inside_the_outdir(make_gui: Any, serve: Any) -> None:
    s = make_gui()
    served = serve(s)
    c = client(s, headers=s.auth)
    _run_to_end(c)
    make = s.keys("make")[0]
    slow = s.keys("slow")[0]
    folder = s.outdir / make
    assert _raw_get(served.base, f"/api/files/{make}/word.txt", s.gui.token)[0] == 200
    (folder / "leak.txt").symlink_to("/etc/passwd")
    (s.outdir / slow / "copy.txt").unlink()
    (s.outdir / slow / "copy.txt").symlink_to("/etc/passwd")  # an output that is a link out
    rip = sorted(p for p in (folder / ".rip").iterdir() if p.is_file())
    assert rip, "no record files to try"
    os.symlink(rip[0], s.outdir / make / "record-link.txt")  # a link to a record, inside the outdir
    bad = ["/api/files/../../etc/passwd", "/api/files/..%2F..%2Fetc%2Fpasswd", "/api/files/%2e%2e/%2e%2e/etc/passwd",
           f"/api/files/{make}/../../../../etc/passwd", "/api/files//etc/passwd", "/api/files/%2Fetc%2Fpasswd",
           f"/api/files/{make}/leak.txt", f"/api/files/{slow}/copy.txt", f"/api/files/{make}/record-link.txt",
           f"/api/files/{make}", f"/api/files/{make}/", "/api/files/", "/api/files/.rip/events.log",
           f"/api/files/{make}/word.txt%00.png"]
    bad += [f"/api/files/{make}/.rip/{p.name}" for p in rip]
    for path in bad:
        status, body = _raw_get(served.base, path, s.gui.token)
        assert status == 404, (path, status, body[:200])
        assert b"root:" not in body and "error" in json.loads(body), path


# -- bad input: a status and a message, never a 500 ----------------------------------------------

BAD = [
    ("POST", "/api/runs", b"{bad", 400, "not valid JSON"),
    ("POST", "/api/runs", b"[1]", 400, "JSON object"),
    ("POST", "/api/runs", b"null", 400, "JSON object"),
    ("POST", "/api/runs", b'"text"', 400, "JSON object"),
    ("POST", "/api/runs", b"\xff\xfe", 400, "JSON"),
    ("POST", "/api/runs", b"[" * 100_000, 400, "nested too deeply"),
    ("POST", "/api/runs", b'{"combos": ' + b"[" * 65 + b"]" * 65 + b"}", 400, "nested too deeply"),
    ("POST", "/api/runs", b'{"combos": ["' + b"[{" * 5000 + b'"], "dry_run": true}', 404, "no combo named '[{[{"),
    ("POST", "/api/runs", b'{"dry_run": true, "keepgoing": true}', 400, "unknown field 'keepgoing'"),
    ("POST", "/api/runs", b" " * (1 << 20 | 1), 413, "too large"),
    ("POST", "/api/runs", b'{"combos": "a"}', 400, "combos"),
    ("POST", "/api/runs", b'{"combos": [1]}', 400, "combos"),
    ("POST", "/api/runs", b'{"targets": "make/x"}', 400, "targets"),
    ("POST", "/api/runs", b'{"targets": [null]}', 400, "targets"),
    ("POST", "/api/runs", b'{"cores": 0}', 400, "cores"),
    ("POST", "/api/runs", b'{"cores": "2"}', 400, "cores"),
    ("POST", "/api/runs", b'{"cores": true}', 400, "cores"),
    ("POST", "/api/runs", b'{"cores": 1.5}', 400, "cores"),
    ("POST", "/api/runs", b'{"keep_going": "yes"}', 400, "keep_going"),
    ("POST", "/api/runs", b'{"dry_run": 1}', 400, "dry_run"),
    ("POST", "/api/runs", b'{"combos": ["nope"], "dry_run": true}', 404, "no combo named 'nope'"),
    ("POST", "/api/runs", b'{"targets": ["make/0000000000000000"], "dry_run": true}', 404, "no job"),
    ("POST", "/api/runs", b'{"targets": ["../../etc"]}', 404, "no job"),
    ("GET", "/api/jobs?combo=nope", b"", 404, "no combo named 'nope'"),
    ("GET", "/api/jobs/make/0000000000000000", b"", 404, "no job"),
    ("GET", "/api/jobs/nope/x/log", b"", 404, "no job"),
    ("GET", "/api/graph?combo=nope", b"", 404, "no combo"),
    ("GET", "/api/graph?rule=nope", b"", 404, "rule 'nope'"),
    ("GET", "/api/runs/nope", b"", 404, "no run 'nope'"),
    ("POST", "/api/runs/nope/cancel", b"", 404, "no run"),
    ("GET", "/api/runs", b"", 405, "Method Not Allowed"),
    ("PUT", "/api/combos", b"{}", 405, "Method Not Allowed"),
    ("DELETE", "/api/runs/r1", b"", 405, "Method Not Allowed"),
    ("GET", "/api/nothing", b"", 404, "Not Found"),
    ("GET", "/api/files/nope/x/y", b"", 404, "no file"),
]


@pytest.mark.parametrize(("method", "path", "body", "status", "message"), BAD,
                         ids=[f"{m} {p} {b[:20]!r}" for m, p, b, _, _ in BAD])
def test_bad_requests_get_a_status_and_a_message(make_gui: Any, method: str, path: str, body: bytes, status: int,
                                                  message: str) -> None:
    s = make_gui()
    r = client(s, headers=s.auth).request(method, path, content=body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    assert message in r.json()["error"] and "Traceback" not in r.text
    assert r.headers["content-security-policy"]


def test_the_model_refuses_unknown_combos_and_jobs(make_gui: Any) -> None:
    from necroflow.gui.model import NotFound

    m: Setup = make_gui()
    with pytest.raises(NotFound):
        m.gui.model.targets(["nope"], None)
    with pytest.raises(NotFound):
        m.gui.model.detail("make/nope")
