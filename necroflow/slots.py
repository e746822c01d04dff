"""Resource slots of a run: what is free under the caps, and whether a job fits.

A job whose demand exceeds a cap runs alone once nothing else runs (``SOLO``): it is never
starved, and never shares the machine it overfills.  A cap that is absent is unlimited
(cluster backends place jobs themselves).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FITS, WAIT, SOLO = "fits", "wait", "solo"


class Slots:
    def __init__(self, caps: Mapping[str, int]) -> None:
        self.caps = dict(caps)
        self.used = dict.fromkeys(self.caps, 0)
        self.running = 0
        self.solo = False  # an oversized job runs: nothing else may start

    def fit_threads(self, values: dict[str, Any]) -> dict[str, Any]:
        """A job's threads capped at the run's thread cap: ``threads=8`` with ``-c 2`` runs with 2
        (and ``{threads}`` says 2)."""
        cap = self.caps.get("threads")
        threads = values.get("threads", 1)
        values["threads"] = min(threads, cap) if cap is not None else threads
        return values

    def demand(self, values: Mapping[str, Any]) -> dict[str, int]:
        """How much of each capped resource a job takes (threads default to 1, the rest to 0)."""
        out = {}
        for key in self.caps:
            v = values.get(key, 1 if key == "threads" else 0)
            out[key] = v if type(v) is int else 0
        return out

    def fits(self, demand: Mapping[str, int]) -> str:
        """FITS now, WAIT for running jobs to end, or SOLO: larger than a cap, runs alone now."""
        if self.solo:
            return WAIT
        caps, used = self.caps, self.used
        if any(demand[k] > caps[k] for k in caps):
            return WAIT if self.running else SOLO
        if all(used[k] + demand[k] <= caps[k] for k in caps):
            return FITS
        return WAIT

    def full(self) -> bool:
        """True when not even the smallest job (one thread) can start."""
        t = self.caps.get("threads")
        return self.solo or (t is not None and self.used["threads"] >= t)

    def take(self, demand: Mapping[str, int], solo: bool = False) -> None:
        for k, v in demand.items():
            self.used[k] += v
        self.running += 1
        self.solo = self.solo or solo

    def give(self, demand: Mapping[str, int]) -> None:
        for k, v in demand.items():
            self.used[k] -= v
        self.running -= 1
        self.solo = False
