"""The README's quick example, end to end through the Python API (no bioinformatics tools needed).

    python examples/quickstart.py [OUTDIR]

Three samples share one reference index: 3 x 3 + 1 = 10 jobs on the first run, none on the next.
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

from necroflow import DAG, NodeType, Pipeline, Rules, resolve_command


class Fastq(NodeType):
    """Raw sequencing reads."""

    filename = "reads.fastq"


class Index(NodeType):
    """Reference index."""

    filename = "ref.idx"


class Bam(NodeType):
    """Aligned reads."""

    filename = "aligned.bam"


class Counts(NodeType):
    """Per-gene read counts."""

    filename = "counts.txt"


r = Rules()


@r.command("printf '@%s\\nACGT\\n+\\nIIII\\n' {sample} > {fastq}")
def raw_fastq(sample: str) -> Fastq[fastq]:
    """Stand-in for a sequencer: one read per sample."""


@r.command("printf 'reference %s\\n' {ref} > {index}")
def index(ref: str) -> Index[index]:
    """Stand-in for `bwa index`."""


@r.command("cat {fastq} {index} > {bam}", threads=1)
def align(fastq: Fastq, index: Index) -> Bam[bam]:
    """Stand-in for `bwa mem`."""


@r.command("wc -l < {bam} > {counts}")
def count(bam: Bam, gene_model: str) -> Counts[counts]:
    """Stand-in for featureCounts."""


def rna_pipeline(config: SimpleNamespace, R: Rules) -> Pipeline:
    P = Pipeline()
    P.fastq = R.raw_fastq(sample=config.sample)
    P.index = R.index(ref=config.ref)
    P.bam = R.align(P.fastq, P.index)
    P.counts = R.count(P.bam, gene_model=config.gene_model)
    return P


def main(outdir: str) -> None:
    configs = [SimpleNamespace(sample=s, ref="hg38", gene_model="gencode_v44") for s in ("s1", "s2", "s3")]
    dag = DAG(outdir)
    pipelines = [rna_pipeline(c, r) for c in configs]
    for P in pipelines:
        dag.add(P)
    print(pipelines[0])
    print("command of the first count job:", resolve_command(pipelines[0].counts))
    report = dag.execute()
    print(f"ran {len(report.ran)} jobs, {report.up_to_date} already up to date")
    for c, P in zip(configs, pipelines, strict=True):
        path = P.counts.path
        assert path is not None
        print(f"{c.sample}: {Path(path).relative_to(Path(outdir).absolute())} = {path.read_text().strip()} lines")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo-results")
