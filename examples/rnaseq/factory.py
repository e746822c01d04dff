"""RNA-seq with real tools: reads in, alignments, per-gene counts, one table out.

The chain per sample is the classic one::

    raw_fastq ─► align (bwa mem | samtools sort) ─► count (featureCounts) ─┐
                   ▲                                   ▲                    ├─► counts table
    raw_reference ─► bwa_index (built once)            raw_annotation        ┘

The table is one join over all samples: ``join_counts`` takes a *list* input
(``counts: list[Counts]``) holding every sample's featureCounts output, in sample order, and a
small Python script (a script rule, ``scripts/join_counts.py``) pastes them side by side. The
factory puts every sample of the job into ONE pipeline; the grid runs over the settings that
apply to all samples at once (bwa's minimum seed length and featureCounts' minimum mapping
quality), which gives one complete table per combination of settings.

What the cache does with that shape:

* the reference index depends only on the reference, so every sample and every grid combo
  shares one ``bwa_index`` node: it is built once;
* ``align`` depends on the reads, the index and ``min_seed``, not on ``min_mapq``: the two
  ``min_mapq`` combos reuse the same alignments;
* when one sample's reads change, that sample's ``align`` and ``count`` rerun (for each
  setting) and so does each table's one join; the other samples' work is untouched.

Input files are symlinked into the output tree by ``raw_*`` rules, so necroflow hashes their
content: editing a FASTQ in place marks what was computed from it as stale.
"""

# Output labels in return annotations (``SortedBam[bam]``) are names that exist only in the
# command template; linters cannot know that, so undefined-name warnings are off here.
# ruff: noqa: F821

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

from necroflow import NodeType, Pipeline, Rules, check_input_file

# --------------------------------------------------------------------------- types


class Fastq(NodeType):
    """Raw single-end sequencing reads, gzipped FASTQ (a symlink to the input file)."""

    filename = "reads.fastq.gz"


class Fasta(NodeType):
    """Reference genome sequence (a symlink to the input file)."""

    filename = "reference.fa"


class Gtf(NodeType):
    """Gene model: exons grouped into genes by gene_id (a symlink to the input file)."""

    filename = "genes.gtf"


class BwaIndex(NodeType):
    """A directory holding the BWA index files, all named with the prefix ``ref``."""

    filename = "bwa_index"


class SortedBam(NodeType):
    """Reads aligned to the reference, sorted by coordinate."""

    filename = "aligned.bam"


class Counts(NodeType):
    """featureCounts output for one sample: one row per gene, the count in column 7."""

    filename = "counts.txt"


class CountsTable(NodeType):
    """Tab-separated genes x samples table: a ``gene_id`` column, then one column per sample."""

    filename = "counts_table.tsv"


# --------------------------------------------------------------------------- rules

r = Rules()


@r.command("ln -s {path} {fastq}")
def raw_fastq(path: str) -> Fastq[fastq]:
    """Bring a sample's reads into the output tree, so their content is tracked."""


@r.command("ln -s {path} {fasta}")
def raw_reference(path: str) -> Fasta[fasta]:
    """Bring the reference FASTA into the output tree, so its content is tracked."""


@r.command("ln -s {path} {gtf}")
def raw_annotation(path: str) -> Gtf[gtf]:
    """Bring the GTF gene model into the output tree, so its content is tracked."""


@r.command("mkdir -p {index} && bwa index -p {index}/ref {fasta}")
def bwa_index(fasta: Fasta) -> BwaIndex[index]:
    """Build the BWA index once; every sample's alignment reads it."""


# -M marks the shorter parts of split reads (exon junctions) as secondary, so that with
# featureCounts --primary each read is counted once.
@r.command(
    "bwa mem -M -t {threads} -k {min_seed} {index}/ref {fastq}"
    " | samtools sort -@ {threads} -o {bam} -",
    threads=2,
)
def align(fastq: Fastq, index: BwaIndex, min_seed: int) -> SortedBam[bam]:
    """Align reads with BWA-MEM (seeds of at least min_seed bases) and sort them by position."""


@r.command(
    "featureCounts --primary -T {threads} -Q {min_mapq} -a {gtf} -o {counts} {bam}",
    threads=1,
)
def count(bam: SortedBam, gtf: Gtf, min_mapq: int) -> Counts[counts]:
    """Count reads per gene, ignoring alignments with mapping quality below min_mapq."""


@r.script("scripts/join_counts.py")
def join_counts(counts: list[Counts], samples: list[str]) -> CountsTable[table]:
    """Join every sample's counts into one table, one column per sample (in the given order)."""


# --------------------------------------------------------------------------- config

SAMPLE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def existing_file(path: Path) -> Path:
    """Refuse a missing input before anything runs, and say how to make the example's data.

    ``necroflow validate`` only warns about a missing one (on a fresh clone the data is not
    made yet): ``check_input_file`` knows which of the two is asking.
    """
    return check_input_file(
        path, hint="For the example data run: python examples/rnaseq/make_data.py examples/rnaseq/data"
    )


InputFile = Annotated[Path, AfterValidator(existing_file)]


class RnaseqConfig(BaseModel):
    """The user keys of the job TOML, checked before any node is built.

    Paths are relative to the directory necroflow is invoked from (or absolute) and must
    exist; the factory turns them into absolute paths for the symlinks.
    """

    model_config = ConfigDict(extra="forbid")

    reference: InputFile = Field(description="reference genome FASTA")
    annotation: InputFile = Field(description="GTF gene model with gene_id attributes")
    samples: dict[str, InputFile] = Field(
        min_length=1, description="sample name -> gzipped FASTQ of single-end reads"
    )
    min_seed: int = Field(19, ge=10, le=64, description="bwa mem -k: minimum seed length")
    min_mapq: int = Field(0, ge=0, le=255, description="featureCounts -Q: minimum mapping quality")

    @field_validator("samples")
    @classmethod
    def _sample_names(cls, samples: dict[str, Path]) -> dict[str, Path]:
        """Sample names become table headers and pipeline labels: keep them plain."""
        for name in samples:
            if not SAMPLE_NAME.fullmatch(name):
                raise ValueError(
                    f"sample name {name!r} must start with a letter and contain only "
                    "letters, digits and '_'"
                )
        return samples


def absolute(path: Path) -> str:
    """The absolute path a symlink must point to, whatever folder the command runs in."""
    return str(path.resolve())


# --------------------------------------------------------------------------- factory


def rnaseq(config: RnaseqConfig, R: Rules) -> Pipeline:
    """One pipeline for all samples of a job, ending in one genes x samples counts table.

    Labels: ``counts_table`` (the only sink, so the default request), ``reference``,
    ``annotation``, ``index``, and per sample ``fastq_<name>``, ``bam_<name>`` and
    ``counts_<name>``.
    """
    if not isinstance(config, RnaseqConfig):  # a plain dict when called from Python
        config = RnaseqConfig.model_validate(config)
    P = Pipeline()
    P.reference = R.raw_reference(path=absolute(config.reference))
    P.annotation = R.raw_annotation(path=absolute(config.annotation))
    P.index = R.bwa_index(P.reference)
    counts = []
    for sample, fastq_path in config.samples.items():
        fastq = R.raw_fastq(path=absolute(fastq_path))
        bam = R.align(fastq, P.index, min_seed=config.min_seed)
        counts.append(R.count(bam, P.annotation, min_mapq=config.min_mapq))
        setattr(P, f"fastq_{sample}", fastq)
        setattr(P, f"bam_{sample}", bam)
        setattr(P, f"counts_{sample}", counts[-1])
    P.counts_table = R.join_counts(counts, samples=list(config.samples))
    return P
