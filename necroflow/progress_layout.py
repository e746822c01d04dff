"""Layout of the live progress block: counts in, lines that fit the terminal out.

Pure functions, so the fitting rules are easy to read and to test: a line is a list of
``(text, style)`` segments, and :func:`fit` joins them, painted, cut to a width (a line that
wrapped would break the cursor arithmetic of the redraw).  The total line gives way in a fixed
order when the terminal is narrow, and the elapsed time and the ETA go last: first the bar
shrinks, then it goes, then the per-state counts shrink to the running and failed ones.
"""

from __future__ import annotations

from collections.abc import Callable

from .reporting import format_duration

Segment = tuple[str, str]  # text, style ("" for plain)
Paint = Callable[[str, str], str]


def width_of(segments: list[Segment]) -> int:
    return sum(len(text) for text, _ in segments)


def fit(segments: list[Segment], width: int, paint: Paint) -> str:
    """Join styled segments, cut to ``width`` visible columns."""
    out: list[str] = []
    left = width
    for text, style in segments:
        if left <= 0:
            break
        piece = text[:left]
        left -= len(piece)
        out.append(paint(piece, style) if style and piece else piece)
    return "".join(out)


def bar(done: int, failed: int, total: int, width: int, chars: tuple[str, str]) -> list[Segment]:
    full, empty = chars
    if total <= 0:
        return [(empty * width, "todo")]
    d = done * width // total
    f = min(width - d, (failed * width + total - 1) // total) if failed else 0
    return [(full * d, "done"), (full * f, "failed"), (empty * (width - d - f), "todo")]


def counts(done: int, running: int, failed: int, todo: int, w: int) -> list[Segment]:
    return [(f"{done:>{w}} done", "done" if done else ""), ("  ", ""),
            (f"{running:>{w}} running", "running" if running else ""), ("  ", ""),
            (f"{failed:>{w}} failed", "failed" if failed else ""), ("  ", ""),
            (f"{todo:>{w}} to do", "")]


def head_line(c: tuple[int, int, int, int], total: int, tail: str, namew: int, width: int,
              chars: tuple[str, str]) -> tuple[list[Segment], int]:
    """The total line for counts ``c`` = (done, running, failed, to do): the widest layout
    that fits ``width``, so that the time and the ETA (``tail``) stay on screen; and the bar
    width it chose (20, 10 or 0), for the rule lines to follow."""
    done, running, failed, todo = c
    w = len(str(total))
    full = counts(done, running, failed, todo, w)
    end: list[Segment] = [(f"  {tail}", "head")]
    for n in BAR_WIDTHS:
        layout = [(f"{'total':<{namew}} ", "head")] + bar(done, failed, total, n, chars)
        layout += [(f" {done + failed:>{w}}/{total}  ", "")] + full + end
        if width_of(layout) <= width:
            return layout, n
    short = [(f"{running} running", "running" if running else ""), (", ", ""),
             (f"{failed} failed", "failed" if failed else "")]
    frac = f"{done + failed}/{total}"
    layouts = [[("total ", "head"), (f"{frac}  ", "")] + full + end,
               [("total ", "head"), (f"{frac}  ", "")] + short + end,
               [(f"{frac}  ", "")] + short + end,
               [(frac, "")] + end]
    return _widest(layouts, width, [(tail, "head")]), 0


BAR_WIDTHS = (20, 10)


def rule_line(name: str, c: tuple[int, int, int, int], total: int, w: int, namew: int, barw: int,
              chars: tuple[str, str]) -> list[Segment]:
    """One rule's line, with a bar of ``barw`` columns (none for 0)."""
    done, running, failed, todo = c
    label = name if len(name) <= namew else name[: namew - 1] + "~"
    seg: list[Segment] = [(f"{label:<{namew}} ", "")]
    if barw:
        seg += bar(done, failed, total, barw, chars) + [(" ", "")]
    return seg + [(f"{done + failed:>{w}}/{total:<{w}}  ", "")] + counts(done, running, failed, todo, w)


def _widest(layouts: list[list[Segment]], width: int, last: list[Segment]) -> list[Segment]:
    """The first layout that fits ``width``, else ``last`` (to be cut by :func:`fit`)."""
    for layout in layouts:
        if width_of(layout) <= width:
            return layout
    return last


def running_line(started: dict[str, float], now: float, width: int) -> list[Segment]:
    """``running: align/3f…  12.0s, count/…  0.4s  (+3 more)``: the longest-running first,
    as many as fit; empty when nothing runs."""
    if not started:
        return []
    jobs = sorted(started.items(), key=lambda kv: kv[1])
    label = "running: "
    shown: list[str] = []
    for i, (key, t0) in enumerate(jobs):
        item = f"{key} {format_duration(max(0.0, now - t0))}"
        more = len(jobs) - i - 1
        suffix = f"  (+{more} more)" if more else ""
        if shown and len(label) + len(", ".join([*shown, item])) + len(suffix) > width:
            break
        shown.append(item)
    rest = len(jobs) - len(shown)
    text = ", ".join(shown) + (f"  (+{rest} more)" if rest else "")
    return [(label, "running"), (text, "")]
