"""The "chain" workload written against necroflow's public Python API.

Run as a whole process by ``bench/run.py`` so that interpreter start-up and imports are
counted, as they are for Snakemake.  N samples share one reference job (deduplicated by
fingerprint across the N pipelines); each sample then runs raw -> align -> count, so the
DAG holds 3N+1 jobs.  Mirrors ``bench/Snakefile``.

Usage: python bench/necroflow_chain.py --samples N --outdir DIR [--dry-run] [--threads 2]
"""

from __future__ import annotations

import argparse

from necroflow import DAG, NodeType, Pipeline, Rules


class Ref(NodeType):
    """The shared reference index, built once for all samples."""

    filename = "ref.idx"


class Raw(NodeType):
    """One sample's raw data."""

    filename = "raw.txt"


class Aligned(NodeType):
    """A sample's data joined with the reference."""

    filename = "aligned.txt"


class Counts(NodeType):
    """Byte count of the aligned file."""

    filename = "counts.txt"


r = Rules()


@r.command("printf 'reference %s\\n' {genome} > {ref}")
def reference(genome: str) -> Ref[ref]:  # noqa: F821
    """Write the shared reference index."""


@r.command("printf '%s\\n' {sample} > {raw}")
def raw(sample: str) -> Raw[raw]:  # noqa: F821
    """Write one sample's raw data."""


@r.command("cat {raw} {ref} > {aligned}")
def align(raw: Raw, ref: Ref) -> Aligned[aligned]:  # noqa: F821
    """Join the sample with the reference."""


@r.command("wc -c < {aligned} > {counts}")
def count(aligned: Aligned) -> Counts[counts]:  # noqa: F821
    """Count the bytes of the aligned file."""


def sample_names(n: int) -> list[str]:
    """Sample names shared with the Snakefile (s000000, s000001, ...)."""
    return [f"s{i:06d}" for i in range(n)]


def chain_pipeline(sample: str, rules: Rules) -> Pipeline:
    """One sample's pipeline; the reference node is identical in every pipeline."""
    P = Pipeline()
    P.ref = rules.reference(genome="hg38")
    P.raw = rules.raw(sample=sample)
    P.aligned = rules.align(P.raw, P.ref)
    P.counts = rules.count(P.aligned)
    return P


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, required=True)
    parser.add_argument("--outdir", required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()

    dag = DAG(args.outdir)
    for sample in sample_names(args.samples):
        dag.add(chain_pipeline(sample, r))
    dag.execute(resource_caps={"threads": args.threads}, dry_run=args.dry_run)


if __name__ == "__main__":
    main()
