"""Backends by name: ``make_backend("slurm", options)``; register your own with :func:`register_backend`.

A factory takes the run's backend options (a mapping: ``slurm_partition``,
``dask_scheduler``, ...; see :class:`necroflow.schemas.RunSettings`) and returns a
:class:`~necroflow.backends.base.Backend`.  Built-in backends are imported only when chosen.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .base import Backend, BackendUnavailable, Task, TaskResult

BackendFactory = Callable[[Mapping[str, Any]], Backend]
_REGISTRY: dict[str, BackendFactory] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make ``--backend NAME`` / ``execute(backend=NAME)`` build a backend with ``factory(options)``."""
    _REGISTRY[name] = factory


def backend_names() -> list[str]:
    return sorted(_REGISTRY)


def make_backend(spec: Backend | str | None, options: Mapping[str, Any] | None = None) -> Backend:
    """A backend instance from a name (default ``local``) or an instance (returned as is)."""
    if isinstance(spec, Backend):
        return spec
    name = spec or "local"
    factory = _REGISTRY.get(name)
    if factory is None:
        raise ValueError(f"unknown backend {name!r}: use one of {', '.join(backend_names())} or a Backend instance")
    return factory(options or {})


def _local(options: Mapping[str, Any]) -> Backend:
    from .local import LocalBackend

    return LocalBackend()


def _slurm(options: Mapping[str, Any]) -> Backend:
    from .slurm import SlurmBackend

    return SlurmBackend.from_options(options)


def _dask(options: Mapping[str, Any]) -> Backend:
    from .dask import DaskBackend

    return DaskBackend(scheduler_address=options.get("dask_scheduler"))


register_backend("local", _local)
register_backend("slurm", _slurm)
register_backend("dask", _dask)

__all__ = ["Backend", "BackendUnavailable", "Task", "TaskResult", "backend_names", "make_backend", "register_backend"]
