"""``necroflow gui``: a local browser GUI to watch pipelines run live and launch them.

:func:`serve` loads the job files, then serves the page and its JSON API (see
:mod:`necroflow.gui.server`) on loopback until interrupted.  Everything it needs ships in the
package: Starlette and uvicorn, and the page's own script and style (no CDN, no build step).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .auth import new_token

if TYPE_CHECKING:
    from ..jobs import JobSet
    from ..schemas import RunSettings


@dataclass
class Gui:
    """A built GUI: the ASGI app and its parts (tests serve ``app`` themselves)."""

    app: Any
    token: str
    model: Any
    runs: Any
    feed: Any


def build(jobset: JobSet, settings: RunSettings, token: str | None = None) -> Gui:
    from .feed import Feed
    from .model import GuiModel
    from .runs import Runs
    from .server import make_app

    token = token or new_token()
    model = GuiModel(jobset)
    feed = Feed(model)
    def changed(run: Any) -> None:
        if run.state != "running":
            model.replan()  # the records changed: classify again (the feed may not have read the end yet)
        feed.publish({"run": run.id, "state": run.state})

    runs = Runs(jobset, settings, changed)
    return Gui(make_app(model, runs, feed, token), token, model, runs, feed)


def serve(gui: Gui, host: str = "127.0.0.1", port: int = 8765,
          on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until Ctrl-C; ``on_ready(url)`` is called once the socket listens."""
    import socket

    import uvicorn

    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    config = uvicorn.Config(gui.app, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    server = uvicorn.Server(config)
    from .auth import LOOPBACK_NAMES

    bare = host.strip("[]").lower()
    # On a wildcard address the names clients use are unknown: the token alone guards it.
    gui.app.hosts = frozenset() if bare in ("0.0.0.0", "::", "") else LOOPBACK_NAMES | {bare}
    gui.feed.start()
    try:
        if on_ready is not None:
            on_ready(f"http://{shown}:{bound}/?token={gui.token}")
        server.run(sockets=[sock])
    finally:
        gui.feed.stop()
        gui.runs.stop_all()  # Ctrl-C on the GUI stops its run like Ctrl-C on a run
