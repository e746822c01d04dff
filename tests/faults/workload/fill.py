# ruff: noqa: F821  - output labels in return annotations are names, not variables
"""Disk-full workload: ``fill`` writes ``nbytes`` zeros, ``size`` reports how many it got.

``fill`` prints a line first, as real tools print progress: that gives its log a block
before the disk fills, so the tool's own "No space left on device" can land there.
"""

from __future__ import annotations

from necroflow import NodeType, Pipeline, Rules


class Blob(NodeType):
    """Zeros."""

    filename = "blob.bin"


class Size(NodeType):
    """Byte count of a blob."""

    filename = "size.txt"


R = Rules()


@R.command('echo "start $PWD" >> "$NF_FAULT_LOG"; echo "writing {nbytes} bytes"; head -c {nbytes} /dev/zero > {blob}')
def fill(nbytes: int) -> Blob[blob]:
    """Needs ``nbytes`` of free space."""


@R.command('echo "start $PWD" >> "$NF_FAULT_LOG"; wc -c < {blob} > {size}')
def size(blob: Blob) -> Size[size]:
    """Consumer: must not start when ``fill`` failed."""


def fill_up(config: dict, R: Rules) -> Pipeline:
    P = Pipeline()
    P.blob = R.fill(nbytes=config["nbytes"])
    P.size = R.size(P.blob)
    return P
