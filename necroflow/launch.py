"""What a job's task runs: its command rendered for this attempt, a script job's data written,
and the whole wrapped in its container when it has one."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from .command import FolderOf, render
from .containers import find_runtime, wrap
from .script_rules import job_data, script_command, script_library

if TYPE_CHECKING:
    from .nodes import Job
    from .store import NodeFolder


def job_command(job: Job, folder: NodeFolder, folder_of: FolderOf, outdir: str, values: dict[str, Any],
                attempt: int) -> str:
    """The shell command of one attempt of ``job`` (raises OSError if its files cannot be written)."""
    threads = values["threads"]
    script = job.rule.script
    if script is not None:
        data = job_data(job, folder_of, threads)
        json_path = folder.write_script_job(data)
        pylib = folder.write_library(script_library()) if job.container is not None else None
        command = script_command(script, json_path, data, pylib)
    else:
        command = render(job, folder_of, threads, values)
    if job.container is None:
        return command
    rt = find_runtime(job.rule.name, job.container)
    read_only = [outdir, *(job.params[k] for k in sorted(job.rule.sources))]
    if script is not None:
        read_only.append(script.path)
    name = f"necroflow-{job.rule.name}-{job.hash16}-{os.getpid()}-{attempt}"
    # By content id, not tag: exactly the image its fingerprint names, even if the tag moved.
    image = job.container_id.removeprefix("sha256:") if job.container_id and rt.oci else job.container
    return wrap(command, rt, image, folder.path, read_only, name)
