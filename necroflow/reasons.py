"""Why a job is in its state: structured values (kind, cause, detail) with a sentence for people.

Faces (``status``, the GUI) read the fields; only people read ``str(reason)``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_SLOT = re.compile(r"^(\w+)\[(\d+)\]$")

# Kinds of reasons; the cause and detail each kind carries are in ``_TEXT``'s comments.
ABSENT = "absent"  # never built
OUTPUT_ABSENT = "output_absent"  # cause: the missing file
NO_STATE = "no_state"  # an output exists with no state record
LEFT_STATE = "left_state"  # detail: running | interrupted
FAILED_BEFORE = "failed_before"
UNKNOWN_STATE = "unknown_state"  # detail: the state word found
RECORDS_INCOMPLETE = "records_incomplete"
CLEANED_REQUESTED = "cleaned_requested"
CLEANED_NEEDED = "cleaned_needed"  # cause: the job key that needs it
PARENT_RUNS = "parent_runs"  # cause: the parent's job key; detail: the input slot
INPUT_CHANGED = "input_changed"  # cause: the input slot ("bam", "bams[2]"); detail: key/file read
RUNNING_ELSEWHERE = "running_elsewhere"  # detail: pid of the process that holds the outdir


@dataclass(frozen=True, slots=True)
class Reason:
    kind: str
    cause: str = ""
    detail: str = ""

    def __str__(self) -> str:
        k = self.kind
        if k == ABSENT:
            return "output absent"
        if k == OUTPUT_ABSENT:
            return f"output {self.cause} absent"
        if k == NO_STATE:
            return "no state record: output of unknown origin"
        if k == LEFT_STATE:
            return f"previous run left state={self.detail}"
        if k == FAILED_BEFORE:
            return "previous run failed"
        if k == UNKNOWN_STATE:
            return f"unknown state {self.detail!r}"
        if k == RECORDS_INCOMPLETE:
            return "records incomplete"
        if k == CLEANED_REQUESTED:
            return "cleaned by autoclean, now requested"
        if k == CLEANED_NEEDED:
            return f"cleaned intermediate needed by {self.cause}"
        if k == PARENT_RUNS:
            return f"parent {self.cause} will run"
        if k == INPUT_CHANGED:
            m = _SLOT.match(self.cause)
            if m:
                return f"element {int(m.group(2)) + 1} of `{m.group(1)}` content changed ({self.detail})"
            return f"input {self.cause} ({self.detail}) content changed"
        if k == RUNNING_ELSEWHERE:
            who = f"necroflow process {self.detail}" if not self.detail.startswith("-") else "another necroflow process"
            return f"running now, in {who}"
        return k

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "cause": self.cause, "detail": self.detail, "text": str(self)}


NONE = Reason("")
