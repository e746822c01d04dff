"""Joint variant calling over many samples with real tools: bwa, samtools, bcftools.

Per sample: ``bwa mem | samtools sort``, then ``samtools index`` (in its own folder, beside a
link to the BAM); then ONE ``bcftools mpileup | bcftools call`` over every sample's BAM (a
list input); then a Python script step summarising the calls.  Reads and reference are
``SourceFile`` params: identified by their content, so moving the data folder reruns nothing.
Data: ``python examples/varcall/make_data.py examples/varcall/data``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel

from necroflow import Log, NodeType, Pipeline, Rules, SourceFile


class Genome(NodeType):
    """The reference FASTA with bwa's index and samtools' .fai beside it."""

    filename = "genome.fa"
    companions = (".amb", ".ann", ".bwt", ".pac", ".sa", ".fai")


class SortedBam(NodeType):
    """One sample's alignments, coordinate-sorted."""

    filename = "sorted.bam"


class IndexedBam(SortedBam):
    """A sorted BAM with its .bai beside it (a link to the parent's BAM, indexed here)."""

    filename = "indexed.bam"
    companions = (".bai",)


class AlignLog(Log):
    """What bwa printed while aligning (shown when the step fails)."""

    filename = "bwa.log"


class Calls(NodeType):
    """Joint SNP calls of every sample, bgzipped, with its .csi index."""

    filename = "calls.vcf.gz"
    companions = (".csi",)


class Summary(NodeType):
    """Per-sample counts of het and hom-alt calls."""

    filename = "summary.tsv"


R = Rules()


# A copy, not a link: the reference is a SourceFile (identified by content), so the data folder
# may move; a link would then dangle.  --reflink=auto makes the copy free where the file
# system shares blocks (btrfs, xfs).
@R.command("cp --reflink=auto {fasta} {genome} && bwa index {genome} && samtools faidx {genome}")
def index_genome(fasta: SourceFile) -> Genome[genome]:
    """Index the reference where its consumers look: beside its own copy of the FASTA."""


@R.command("bwa mem -t {threads} -R {read_group} {genome} {reads} 2> {log} "
           "| samtools sort --no-PG -@ {threads} -o {bam} -", threads=2)
def align(genome: Genome, reads: SourceFile, read_group: str) -> tuple[SortedBam[bam], AlignLog[log]]:
    """Align one sample's reads and sort them."""


@R.command("ln -s {bam} {indexed} && samtools index {indexed}")
def index_bam(bam: SortedBam) -> IndexedBam[indexed]:
    """Index a BAM without touching its producer's folder."""


@R.command("bcftools mpileup --no-version -Ou -f {genome} -a AD,DP {bams} "
           "| bcftools call --no-version -mv -Oz -o {calls} && bcftools index {calls}")
def joint_call(genome: Genome, bams: list[IndexedBam]) -> Calls[calls]:
    """Call SNPs jointly over every sample's BAM, in one command."""


@R.script("scripts/summarise.py")
def summarise(calls: Calls) -> Summary[summary]:
    """Count het and hom-alt calls per sample."""


class VarcallConfig(BaseModel):
    data: str  # the folder make_data.py wrote (relative to where necroflow runs)
    samples: list[str]


def varcall(config: VarcallConfig, R: Rules) -> Pipeline:
    data = Path(config.data)
    P = Pipeline()
    P.genome = R.index_genome(fasta=data / "genome.fa")
    bams = []
    for s in config.samples:
        bam, _log = R.align(P.genome, reads=data / f"{s}.fastq.gz", read_group=f"@RG\\tID:{s}\\tSM:{s}")
        setattr(P, f"indexed_{s}", R.index_bam(bam))
        bams.append(P[f"indexed_{s}"])
    P.calls = R.joint_call(P.genome, bams)
    P.summary = R.summarise(P.calls)
    return P
