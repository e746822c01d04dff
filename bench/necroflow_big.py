"""The "big" workload written against necroflow's public Python API.

One job writes a large file, one job reads it.  ``bench/run.py`` runs it once, then touches
the large file and runs it again: the content is unchanged, so necroflow must re-hash the
file and rerun nothing.  Mirrors ``bench/Snakefile_big``.

Usage: python bench/necroflow_big.py --bytes N --outdir DIR [--threads 2]
"""

from __future__ import annotations

import argparse

from necroflow import DAG, NodeType, Pipeline, Rules


class Big(NodeType):
    """A large file whose content never changes between runs."""

    filename = "big.bin"


class Size(NodeType):
    """The size of the large file, as read by a downstream job."""

    filename = "size.txt"


r = Rules()


@r.command("head -c {nbytes} /dev/zero > {big}")
def make_big(nbytes: str) -> Big[big]:  # noqa: F821
    """Write nbytes zero bytes."""


@r.command("wc -c < {big} > {size}")
def read_big(big: Big) -> Size[size]:  # noqa: F821
    """Read the whole large file."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bytes", type=int, required=True)
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()

    P = Pipeline()
    P.big = r.make_big(nbytes=str(args.bytes))
    P.size = r.read_big(P.big)
    dag = DAG(args.outdir)
    dag.add(P)
    dag.execute(resource_caps={"threads": args.threads}, dry_run=args.dry_run)


if __name__ == "__main__":
    main()
