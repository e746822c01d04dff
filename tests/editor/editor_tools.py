"""Drive the real TOML language servers and linters the job-file schemas are written for.

* Taplo, as Even Better TOML runs it: the ``@taplo/lsp`` wasm build served over stdio by
  ``taplo_lsp_stdio.js``, and the ``taplo lint`` command of ``@taplo/cli`` (both from npm,
  installed by the ``taplo`` fixture into a cache folder of the test suite's own).
* tombi (from PyPI, in the ``test`` extra): ``tombi lsp`` and ``tombi lint``.

:class:`LspClient` is a small JSON-RPC client (Content-Length framing over a child's
stdin/stdout); ``taplo_lint`` and ``tombi_lint`` run a linter once over many files and
return each file's diagnostics.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
TAPLO_LSP_SERVER = HERE / "taplo_lsp_stdio.js"


@dataclass(frozen=True)
class Diagnostic:
    """One reported problem: 0-based line of its start, and the tool's message."""

    line: int
    message: str


class LspClient:
    """Start a language server and talk JSON-RPC to it; notifications are collected."""

    def __init__(self, argv: Sequence[str | Path], cwd: Path, env: dict[str, str] | None = None):
        self.proc = subprocess.Popen(
            [str(a) for a in argv],
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.configuration: Any = {}  # the answer to each workspace/configuration item
        self.notifications: list[dict[str, Any]] = []
        self.stderr_lines: list[bytes] = []
        self._next_id = 0
        self._responses: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self._changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    # -- wire format -------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        self.proc.stdin.flush()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = None
            while True:
                line = out.readline()
                if not line:
                    with self._changed:
                        self._changed.notify_all()
                    return
                line = line.strip()
                if not line:
                    break
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length is None:
                continue
            msg = json.loads(out.read(length))
            if "id" in msg and "method" in msg:  # a request from the server
                self._answer(msg)
            elif "id" in msg:
                with self._lock:
                    self._responses.setdefault(msg["id"], queue.Queue()).put(msg)
            else:
                with self._changed:
                    self.notifications.append(msg)
                    self._changed.notify_all()

    def _answer(self, msg: dict[str, Any]) -> None:
        result: Any = None
        if msg["method"] == "workspace/configuration":
            result = [self.configuration for _ in (msg.get("params") or {}).get("items", [])]
        self._send({"id": msg["id"], "result": result})

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def stderr(self) -> str:
        return b"".join(self.stderr_lines[-30:]).decode(errors="replace")

    # -- requests and notifications ----------------------------------------------------
    def request(self, method: str, params: Any, timeout: float = 30) -> Any:
        with self._lock:
            self._next_id += 1
            rid = self._next_id
            answer = self._responses.setdefault(rid, queue.Queue())
        self._send({"id": rid, "method": method, "params": params})
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = answer.get(timeout=0.2)
                break
            except queue.Empty:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    why = "the server exited" if self.proc.poll() is not None else "no answer"
                    raise TimeoutError(f"{method}: {why}\n{self.stderr()}") from None
        if "error" in msg:
            raise RuntimeError(f"{method}: {msg['error']}")
        return msg.get("result")

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def initialize(self, root: Path, options: Any = None) -> Any:
        result = self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": root.as_uri(),
                "workspaceFolders": [{"uri": root.as_uri(), "name": root.name}],
                "initializationOptions": options,
                "capabilities": {
                    "textDocument": {
                        "completion": {"completionItem": {"snippetSupport": True}},
                        "publishDiagnostics": {},
                    },
                    "workspace": {"configuration": True, "workspaceFolders": True},
                },
            },
        )
        self.notify("initialized", {})
        return result

    def open(self, path: Path) -> str:
        uri = path.resolve().as_uri()
        document = {"uri": uri, "languageId": "toml", "version": 1, "text": path.read_text()}
        self.notify("textDocument/didOpen", {"textDocument": document})
        return uri

    def published(self, uri: str) -> list[list[dict[str, Any]]]:
        """Every list of diagnostics published for ``uri`` so far, oldest first."""
        return [
            n["params"]["diagnostics"]
            for n in self.notifications
            if n.get("method") == "textDocument/publishDiagnostics" and n["params"]["uri"] == uri
        ]

    def diagnostics(
        self,
        uri: str,
        done: Callable[[list[list[dict[str, Any]]]], bool],
        timeout: float = 30,
    ) -> list[Diagnostic]:
        """The diagnostics of ``uri`` once ``done(rounds published so far)`` says they are final."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                rounds = self.published(uri)
                if rounds and done(rounds):
                    return [
                        Diagnostic(d["range"]["start"]["line"], d["message"]) for d in rounds[-1]
                    ]
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    raise TimeoutError(f"no final diagnostics for {uri}\n{self.stderr()}")
                self._changed.wait(min(left, 0.5))

    def completion(self, uri: str, line: int, character: int) -> list[str]:
        """The labels offered at a position (quotes Taplo puts around a key removed)."""
        result = self.request(
            "textDocument/completion",
            {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}},
        )
        items = (result or {}).get("items", []) if isinstance(result, dict) else (result or [])
        return [item["label"].strip("'\"") for item in items]

    def close(self) -> None:
        try:
            self.request("shutdown", None, timeout=5)
            self.notify("exit", None)
            self.proc.wait(timeout=5)
        except (OSError, TimeoutError, RuntimeError, subprocess.TimeoutExpired):
            pass
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


# -- Taplo -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Taplo:
    """The npm packages ``@taplo/cli`` and ``@taplo/lsp`` installed under ``prefix``."""

    node: str
    prefix: Path

    @property
    def cli(self) -> Path:
        return self.prefix / "node_modules" / ".bin" / "taplo"

    def env(self) -> dict[str, str]:
        return {**os.environ, "NODE_PATH": str(self.prefix / "node_modules")}

    def lsp(self, root: Path) -> LspClient:
        """The Taplo language server as Even Better TOML runs it (wasm, in node).

        Started, not yet initialized (``initialize(root)``): node compiles the 26 MB of
        wasm meanwhile.
        """
        client = LspClient([self.node, TAPLO_LSP_SERVER], cwd=root, env=self.env())
        client.configuration = {"schema": {"enabled": True, "catalogs": []}}
        return client

    def start_lint(self, files: Sequence[Path], cwd: Path) -> subprocess.Popen[str]:
        """``taplo lint`` over ``files`` in the background (one start-up of the wasm for all)."""
        return subprocess.Popen(
            [self.cli, "lint", "--colors", "never", "--no-auto-config", *map(str, files)],
            cwd=cwd,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )


# Taplo's lint report: "error: MESSAGE" then "  ┌─ /path/file.toml:LINE:COL".
_TAPLO_ERROR = re.compile(r"^error: (?P<message>.*)\n\s*┌─ (?P<path>.*):(?P<line>\d+):\d+$", re.M)


def taplo_lint_results(
    proc: subprocess.Popen[str], timeout: float = 120
) -> dict[Path, list[Diagnostic]]:
    """Each file's diagnostics from a finished :meth:`Taplo.start_lint`."""
    out, err = proc.communicate(timeout=timeout)
    found: dict[Path, list[Diagnostic]] = {}
    for m in _TAPLO_ERROR.finditer(out + err):
        diag = Diagnostic(int(m["line"]) - 1, m["message"])
        found.setdefault(Path(m["path"]).resolve(), []).append(diag)
    if proc.returncode not in (0, 1) or (proc.returncode == 1 and not found):
        raise RuntimeError(f"taplo lint failed ({proc.returncode}):\n{out}\n{err}")
    return found


def taplo_lsp_done(rounds: list[list[dict[str, Any]]]) -> bool:
    """Taplo publishes syntax errors, then DOM errors, then schema errors, and stops early
    after the first round that has any."""
    return bool(rounds[-1]) or len(rounds) >= 3


# -- tombi -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Tombi:
    exe: str

    def lsp(self, root: Path) -> LspClient:
        """``tombi lsp``, started, not yet initialized (``initialize(root)``)."""
        return LspClient([self.exe, "lsp", "--offline"], cwd=root)

    def lint(self, files: Sequence[Path], cwd: Path) -> dict[Path, list[Diagnostic]]:
        """``tombi lint --offline`` over ``files``: each file's diagnostics (0-based lines)."""
        proc = subprocess.run(
            [
                self.exe,
                "lint",
                "--offline",
                "--quiet",
                "--diagnostics-format",
                "json",
                "--diagnostics-file",
                "/dev/stdout",
                *map(str, files),
            ],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if proc.returncode not in (0, 1):
            raise RuntimeError(
                f"tombi lint failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
            )
        found: dict[Path, list[Diagnostic]] = {}
        for d in json.loads(proc.stdout or "[]"):
            diag = Diagnostic(d["range"]["start"]["line"] - 1, d["message"])
            found.setdefault((cwd / d["path"]).resolve(), []).append(diag)
        return found
