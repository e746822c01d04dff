"""Generate a small, deterministic RNA-seq data set for the necroflow example.

Why this exists: the example must run real aligners on real files in seconds, on any
machine, without downloading a genome. So we simulate one: a random reference of a few tens
of kb, a GTF with a handful of spliced genes, and single-end reads drawn from the genes'
transcripts with a known expression level per sample. Because the truth is known (it is
written to ``truth.tsv``), a test can check that the pipeline's counts table points the right
way: gene ``alpha`` is high in the control samples and low in the treated one, ``delta`` the
opposite.

One twist makes a featureCounts setting matter: the first exon of ``epsilon`` is copied, byte
for byte, into an unannotated region (a "pseudogene"). Reads from that exon align equally
well to both copies, so bwa gives them mapping quality 0, and counting with ``-Q 10`` drops
them while ``-Q 0`` keeps them.

Everything is drawn from one seeded ``random.Random`` and gzip headers carry no timestamp,
so the same seed writes byte-identical files; a rerun of the pipeline then stays a no-op.

Usage::

    python examples/rnaseq/make_data.py examples/rnaseq/data           # default set
    python examples/rnaseq/make_data.py DIR --reads 20000 --seed 1
    python examples/rnaseq/make_data.py DIR --depth ctrl_2=30000       # ctrl_2 "resequenced"

``--depth`` changes one sample's read count and nothing else: every other file is rewritten
with the same bytes as before, which is how the example shows that only that sample's chain
reruns.

Pure standard library; takes well under a few seconds.
"""

from __future__ import annotations

import argparse
import gzip
import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path

CHROM = "chr1"
REFERENCE_LENGTH = 40_000
READ_LENGTH = 75
ERROR_RATE = 0.005  # per-base substitution rate of the simulated sequencer
INTERGENIC_FRACTION = 0.03  # reads from outside any gene (featureCounts: Unassigned_NoFeatures)

# Relative molar abundance of each gene's transcript per sample. The number of reads a gene
# gets is proportional to abundance x transcript length, as in a real library.
EXPRESSION: dict[str, dict[str, float]] = {
    "ctrl_1": {"alpha": 50, "beta": 10, "gamma": 20, "delta": 5, "epsilon": 10},
    "ctrl_2": {"alpha": 45, "beta": 10, "gamma": 22, "delta": 6, "epsilon": 10},
    "treat_1": {"alpha": 5, "beta": 10, "gamma": 20, "delta": 60, "epsilon": 10},
}
SAMPLES = tuple(EXPRESSION)


@dataclass(frozen=True)
class Gene:
    """A gene with one transcript: its exons as 1-based inclusive (start, end) on CHROM."""

    name: str
    strand: str
    exons: tuple[tuple[int, int], ...]

    def transcript(self, reference: str) -> str:
        """The spliced transcript sequence, 5' to 3' on the gene's strand."""
        seq = "".join(reference[start - 1 : end] for start, end in self.exons)
        return seq if self.strand == "+" else reverse_complement(seq)


# Gene models laid out on the 40 kb reference, with gaps between them for intergenic reads.
# The region PSEUDOGENE_AT..+len(epsilon exon 1) receives a copy of epsilon's first exon.
GENES = (
    Gene("alpha", "+", ((1_001, 1_400), (2_001, 2_500), (3_101, 3_400))),
    Gene("beta", "-", ((6_001, 6_600), (7_201, 7_700))),
    Gene("gamma", "+", ((11_001, 11_300), (12_001, 12_400), (13_001, 13_250), (14_001, 14_500))),
    Gene("delta", "-", ((18_001, 18_500), (19_301, 19_900))),
    Gene("epsilon", "+", ((24_001, 24_500), (25_201, 25_700))),
)
PSEUDOGENE_AT = 32_001

COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def reverse_complement(seq: str) -> str:
    """Reverse complement of a DNA string (upper-case ACGTN)."""
    return seq.translate(COMPLEMENT)[::-1]


def make_reference(rng: random.Random) -> str:
    """A random 45 % GC sequence, with epsilon's first exon duplicated at PSEUDOGENE_AT."""
    bases = rng.choices("ACGT", weights=(27.5, 22.5, 22.5, 27.5), k=REFERENCE_LENGTH)
    reference = "".join(bases)
    start, end = next(g for g in GENES if g.name == "epsilon").exons[0]
    exon = reference[start - 1 : end]
    at = PSEUDOGENE_AT - 1
    return reference[:at] + exon + reference[at + len(exon) :]


def write_fasta(path: Path, reference: str) -> None:
    """Write the reference as a one-sequence FASTA with 60-column lines."""
    lines = [f">{CHROM} simulated reference for the necroflow RNA-seq example"]
    lines += [reference[i : i + 60] for i in range(0, len(reference), 60)]
    path.write_text("\n".join(lines) + "\n")


def write_gtf(path: Path) -> None:
    """Write gene, transcript and exon records (featureCounts counts 'exon' by 'gene_id')."""
    rows = []
    for gene in GENES:
        attrs = f'gene_id "{gene.name}"; gene_name "{gene.name}";'
        tx_attrs = f'{attrs} transcript_id "{gene.name}.1";'
        first, last = gene.exons[0][0], gene.exons[-1][1]
        rows.append((CHROM, "simulated", "gene", first, last, ".", gene.strand, ".", attrs))
        rows.append((CHROM, "simulated", "transcript", first, last, ".", gene.strand, ".", tx_attrs))
        for number, (start, end) in enumerate(gene.exons, start=1):
            exon_attrs = f'{tx_attrs} exon_number "{number}";'
            rows.append((CHROM, "simulated", "exon", start, end, ".", gene.strand, ".", exon_attrs))
    path.write_text("".join("\t".join(map(str, row)) + "\n" for row in rows))


def mutate(read: str, rng: random.Random) -> str:
    """Apply the simulated sequencer's substitution errors.

    Error positions are found by geometric skips (one draw per error, not one per base), which
    keeps generation fast in pure Python.
    """
    log_keep = math.log(1.0 - ERROR_RATE)
    pos = int(math.log(1.0 - rng.random()) / log_keep)
    if pos >= len(read):
        return read
    bases = list(read)
    while pos < len(bases):
        bases[pos] = rng.choice("ACGT".replace(bases[pos], ""))
        pos += 1 + int(math.log(1.0 - rng.random()) / log_keep)
    return "".join(bases)


def simulate_reads(
    reference: str, expression: dict[str, float], n_reads: int, rng: random.Random
) -> tuple[list[str], dict[str, int]]:
    """Draw reads from transcripts (unstranded library) and a few from intergenic space.

    Returns the reads and how many were drawn from each gene (the truth).
    """
    transcripts = {gene.name: gene.transcript(reference) for gene in GENES}
    names = list(transcripts)
    weights = [expression[name] * (len(transcripts[name]) - READ_LENGTH) for name in names]
    n_intergenic = round(n_reads * INTERGENIC_FRACTION)
    origins = rng.choices(names, weights=weights, k=n_reads - n_intergenic)
    truth = dict.fromkeys(names, 0)
    reads = []
    for name in origins:
        truth[name] += 1
        tx = transcripts[name]
        pos = rng.randrange(len(tx) - READ_LENGTH + 1)
        read = tx[pos : pos + READ_LENGTH]
        reads.append(read if rng.random() < 0.5 else reverse_complement(read))
    intergenic_start = 35_001  # after the pseudogene, before the end: no annotation there
    for _ in range(n_intergenic):
        pos = rng.randrange(intergenic_start, REFERENCE_LENGTH - READ_LENGTH)
        read = reference[pos : pos + READ_LENGTH]
        reads.append(read if rng.random() < 0.5 else reverse_complement(read))
    rng.shuffle(reads)
    return [mutate(read, rng) for read in reads], truth


def write_fastq(path: Path, sample: str, reads: list[str]) -> None:
    """Write gzipped FASTQ with a fixed header timestamp so equal input gives equal bytes."""
    quality = "I" * READ_LENGTH
    text = "".join(f"@{sample}.{i}\n{read}\n+\n{quality}\n" for i, read in enumerate(reads, 1))
    with path.open("wb") as raw, gzip.GzipFile(
        filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0
    ) as gz:
        gz.write(text.encode("ascii"))


def generate(
    outdir: Path, n_reads: int = 20_000, seed: int = 1, depth: dict[str, int] | None = None
) -> dict[str, Path]:
    """Write reference.fa, genes.gtf, truth.tsv and one FASTQ per sample into outdir.

    ``depth`` overrides the number of reads of some samples. Returns the path of every file
    written, keyed by a short name (sample names for reads).
    """
    depth = depth or {}
    unknown = sorted(set(depth) - set(SAMPLES))
    if unknown:
        raise ValueError(f"unknown sample(s) {', '.join(unknown)}; samples are {', '.join(SAMPLES)}")
    outdir.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    reference = make_reference(rng)
    written = {"reference": outdir / "reference.fa", "annotation": outdir / "genes.gtf"}
    write_fasta(written["reference"], reference)
    write_gtf(written["annotation"])
    truth_rows = ["sample\t" + "\t".join(gene.name for gene in GENES)]
    for sample in SAMPLES:
        # One generator per sample, derived from the seed: changing one sample's settings
        # never changes another sample's reads.
        sample_rng = random.Random(f"{seed}:{sample}")
        sample_reads = depth.get(sample, n_reads)
        reads, truth = simulate_reads(reference, EXPRESSION[sample], sample_reads, sample_rng)
        written[sample] = outdir / f"{sample}.fastq.gz"
        write_fastq(written[sample], sample, reads)
        truth_rows.append(sample + "\t" + "\t".join(str(truth[gene.name]) for gene in GENES))
    written["truth"] = outdir / "truth.tsv"
    written["truth"].write_text("\n".join(truth_rows) + "\n")
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: parse arguments, generate, say what was written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path, help="folder to write into (created if missing)")
    parser.add_argument("--reads", type=int, default=20_000, help="reads per sample")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same bytes)")
    parser.add_argument(
        "--depth",
        action="append",
        default=[],
        metavar="SAMPLE=N",
        help=f"reads for one sample (repeatable); samples: {', '.join(SAMPLES)}",
    )
    args = parser.parse_args(argv)
    depth: dict[str, int] = {}
    for item in args.depth:
        name, _, number = item.partition("=")
        if name not in SAMPLES or not number.isdigit():
            parser.error(f"--depth {item!r}: write SAMPLE=N with SAMPLE one of {', '.join(SAMPLES)}")
        depth[name] = int(number)
    if min([args.reads, *depth.values()]) < 100:
        parser.error("every sample needs at least 100 reads so every gene gets some")
    written = generate(args.outdir, n_reads=args.reads, seed=args.seed, depth=depth)
    for path in written.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
