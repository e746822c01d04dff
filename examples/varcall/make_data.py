"""Generate a small, deterministic variant-calling data set for the necroflow example.

Why this exists: the example must run a real aligner and a real variant caller on real files
in seconds, on any machine, without downloading a genome. So we simulate one: a random
two-contig reference, a set of planted SNPs with a known genotype in every sample, and
single-end reads drawn from each sample's two haplotypes. Because the truth is known (it is
written to ``truth.tsv``), ``check.py`` can measure the pipeline's recall and precision.

Files written into OUTDIR (names are stable; the test and the job file rely on them)::

    genome.fa        reference: contigs chr1 (30 kb) and chr2 (20 kb), 60-column lines
    truth.tsv        the planted SNPs, VCF-like, one row per site, sorted by contig/position:
                     chrom  pos  ref  alt  kind  s1  s2  s3 ...
                     pos is 1-based; kind is "shared" (every sample carries the alt allele)
                     or "private:<sample>" (only that sample does); sample columns hold the
                     genotype 0/0, 0/1 (het) or 1/1 (hom-alt)
    s1.fastq.gz      single-end 100 bp reads of sample s1 (then s2.fastq.gz, s3.fastq.gz...)

The reads are single-end because one FASTQ per sample keeps the commands and the
factory simple, and on a random (repeat-free) genome pairs would not improve mapping. They
are gzipped, like real sequencer output: bwa reads .gz directly, and the files are ~3x
smaller. The gzip header carries no timestamp and no file name, so equal content gives equal
bytes.

The planted SNPs: 30 shared sites (each sample het or hom-alt there, drawn per sample) and
10 private sites per sample (het or hom-alt in that sample, 0/0 in the others). Sites sit in
fixed 250 bp slots, at least 150 bp from a contig end and at least 100 bp from each other, so
every site is covered like the rest of the genome and no two SNPs share a read's worth of
context closely enough to confuse the caller.

Determinism and stability. Everything comes from seeded ``random.Random`` generators, each
derived from the seed and a purpose, never from a shared stream:

* the genome, the slot positions and the alt bases come from the seed alone;
* a sample's genotypes come from the seed and the sample name;
* a sample's reads come from the seed, the sample name and its *read seed* (default 0).

So ``--samples 4`` adds ``s4.fastq.gz`` and s4's rows/column to truth.tsv and leaves genome.fa
and the other samples' FASTQs byte-identical; ``--reseed s2=7`` "resequences" s2 (same
genotypes, new reads) and changes only ``s2.fastq.gz``.

Usage::

    python examples/varcall/make_data.py examples/varcall/data             # s1, s2, s3
    python examples/varcall/make_data.py DIR --samples 4                   # adds s4
    python examples/varcall/make_data.py DIR --reseed s2=7                 # new reads for s2
    python examples/varcall/make_data.py DIR --seed 5 --coverage 30

Pure standard library; three samples take well under a second.
"""

from __future__ import annotations

import argparse
import gzip
import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path

CONTIGS = (("chr1", 30_000), ("chr2", 20_000))
READ_LENGTH = 100
COVERAGE = 25  # mean read depth per sample
# Per-base substitution rate of the simulated sequencer, and the matching base quality: the
# caller weighs mismatches by the quality, so the two must agree or coinciding errors start
# to look like variants.
ERROR_RATE = 0.001
QUALITY_CHAR = chr(33 + 30)  # Phred 30 = 0.1 % error
SLOT = 250  # one candidate SNP per slot
EDGE = 150  # no SNP closer than this to a contig end
N_SHARED = 30
N_PRIVATE = 10  # per sample
HOM_FRACTION = 0.35  # share of carriers that are hom-alt (1/1) rather than het (0/1)
MAX_SAMPLES = 16  # (number of slots - N_SHARED) // N_PRIVATE, rounded down to a tidy bound

COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


def sample_names(n: int) -> list[str]:
    """The names of the first n samples: s1, s2, ..."""
    return [f"s{i}" for i in range(1, n + 1)]


def reverse_complement(seq: str) -> str:
    """Reverse complement of a DNA string (upper-case ACGTN)."""
    return seq.translate(COMPLEMENT)[::-1]


@dataclass(frozen=True)
class Site:
    """A planted SNP: 1-based position on a contig, reference and alternative base."""

    chrom: str
    pos: int
    ref: str
    alt: str
    kind: str  # "shared" or "private:<sample>"


def make_genome(seed: int) -> dict[str, str]:
    """Random 45 % GC contigs, keyed by name, in CONTIGS order."""
    rng = random.Random(f"{seed}:genome")
    return {
        name: "".join(rng.choices("ACGT", weights=(27.5, 22.5, 22.5, 27.5), k=length))
        for name, length in CONTIGS
    }


def candidate_sites(genome: dict[str, str], seed: int) -> list[tuple[str, int, str]]:
    """Every slot's candidate SNP (chrom, pos, alt), in a seeded order.

    Each slot gets its position and alt base whether or not it is used, and the order is
    fixed by the seed alone, so the sites a sample gets never depend on how many samples
    there are.
    """
    rng = random.Random(f"{seed}:sites")
    slots = []
    for chrom, seq in genome.items():
        for start in range(EDGE, len(seq) - EDGE - SLOT + 1, SLOT):
            # keep 50 bp of margin inside the slot: neighbouring sites are >= 100 bp apart
            pos = start + rng.randrange(50, SLOT - 50) + 1
            ref = seq[pos - 1]
            alt = rng.choice("ACGT".replace(ref, ""))
            slots.append((chrom, pos, alt))
    rng.shuffle(slots)
    return slots


def plan_sites(
    genome: dict[str, str], samples: list[str], seed: int
) -> tuple[list[Site], dict[str, dict[Site, str]]]:
    """The planted sites (sorted) and each sample's non-reference genotypes at them.

    Slots are dealt in blocks from the seeded order: the first N_SHARED are shared, then
    sample s<i> takes the i-th block of N_PRIVATE. Genotypes are drawn per sample.
    """
    order = candidate_sites(genome, seed)
    if N_SHARED + N_PRIVATE * len(samples) > len(order):
        raise ValueError(f"at most {(len(order) - N_SHARED) // N_PRIVATE} samples fit the genome")
    index = {name: i for i, name in enumerate(sample_names(MAX_SAMPLES))}

    def site(slot: tuple[str, int, str], kind: str) -> Site:
        chrom, pos, alt = slot
        return Site(chrom, pos, genome[chrom][pos - 1], alt, kind)

    shared = [site(slot, "shared") for slot in order[:N_SHARED]]
    sites = list(shared)
    genotypes: dict[str, dict[Site, str]] = {}
    for sample in samples:
        at = N_SHARED + N_PRIVATE * index[sample]
        private = [site(slot, f"private:{sample}") for slot in order[at : at + N_PRIVATE]]
        sites += private
        rng = random.Random(f"{seed}:{sample}:genotypes")
        genotypes[sample] = {
            s: ("1/1" if rng.random() < HOM_FRACTION else "0/1") for s in shared + private
        }
    sites.sort(key=lambda s: ([c for c, _ in CONTIGS].index(s.chrom), s.pos))
    return sites, genotypes


def haplotypes(genome: dict[str, str], genotype: dict[Site, str]) -> list[dict[str, str]]:
    """The sample's two haplotypes: hom-alt sites on both, het sites on the second only."""
    result = []
    for copy in (0, 1):
        contigs = {name: list(seq) for name, seq in genome.items()}
        for site, gt in genotype.items():
            if gt == "1/1" or copy == 1:
                contigs[site.chrom][site.pos - 1] = site.alt
        result.append({name: "".join(bases) for name, bases in contigs.items()})
    return result


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
    haps: list[dict[str, str]], coverage: float, rng: random.Random
) -> list[str]:
    """Reads drawn uniformly along the contigs, from either haplotype, on either strand."""
    names = [name for name, _ in CONTIGS]
    lengths = [len(haps[0][name]) for name in names]
    n_reads = round(coverage * sum(lengths) / READ_LENGTH)
    # weight by the number of start positions so depth is even across contigs
    contigs = rng.choices(names, weights=[n - READ_LENGTH + 1 for n in lengths], k=n_reads)
    reads = []
    for chrom in contigs:
        seq = haps[rng.getrandbits(1)][chrom]
        pos = rng.randrange(len(seq) - READ_LENGTH + 1)
        read = seq[pos : pos + READ_LENGTH]
        if rng.getrandbits(1):
            read = reverse_complement(read)
        reads.append(mutate(read, rng))
    return reads


def write_fasta(path: Path, genome: dict[str, str]) -> None:
    """Write the contigs as FASTA with 60-column lines."""
    lines = []
    for name, seq in genome.items():
        lines.append(f">{name} simulated contig for the necroflow variant-calling example")
        lines += [seq[i : i + 60] for i in range(0, len(seq), 60)]
    path.write_text("\n".join(lines) + "\n")


def write_truth(path: Path, sites: list[Site], genotypes: dict[str, dict[Site, str]]) -> None:
    """Write truth.tsv: one row per planted site, one genotype column per sample."""
    samples = list(genotypes)
    rows = ["\t".join(["chrom", "pos", "ref", "alt", "kind", *samples])]
    for s in sites:
        gts = [genotypes[sample].get(s, "0/0") for sample in samples]
        rows.append("\t".join([s.chrom, str(s.pos), s.ref, s.alt, s.kind, *gts]))
    path.write_text("\n".join(rows) + "\n")


def write_fastq(path: Path, sample: str, reads: list[str]) -> None:
    """Write gzipped FASTQ with a fixed header timestamp so equal input gives equal bytes."""
    quality = QUALITY_CHAR * READ_LENGTH
    text = "".join(f"@{sample}.{i}\n{read}\n+\n{quality}\n" for i, read in enumerate(reads, 1))
    with path.open("wb") as raw, gzip.GzipFile(
        filename="", mode="wb", fileobj=raw, compresslevel=1, mtime=0
    ) as gz:
        gz.write(text.encode("ascii"))


def generate(
    outdir: Path,
    n_samples: int = 3,
    seed: int = 1,
    coverage: float = COVERAGE,
    reseed: dict[str, int] | None = None,
) -> dict[str, Path]:
    """Write genome.fa, truth.tsv and one FASTQ per sample into outdir.

    ``reseed`` gives some samples a different read seed (new reads, same genotypes). Returns
    the path of every file written, keyed by a short name (sample names for reads).
    """
    if not 1 <= n_samples <= MAX_SAMPLES:
        raise ValueError(f"--samples must be between 1 and {MAX_SAMPLES}")
    samples = sample_names(n_samples)
    reseed = reseed or {}
    unknown = sorted(set(reseed) - set(samples))
    if unknown:
        raise ValueError(f"unknown sample(s) {', '.join(unknown)}; samples are {', '.join(samples)}")
    outdir.mkdir(parents=True, exist_ok=True)
    genome = make_genome(seed)
    sites, genotypes = plan_sites(genome, samples, seed)
    written = {"genome": outdir / "genome.fa", "truth": outdir / "truth.tsv"}
    write_fasta(written["genome"], genome)
    write_truth(written["truth"], sites, genotypes)
    for sample in samples:
        rng = random.Random(f"{seed}:{sample}:reads:{reseed.get(sample, 0)}")
        reads = simulate_reads(haplotypes(genome, genotypes[sample]), coverage, rng)
        written[sample] = outdir / f"{sample}.fastq.gz"
        write_fastq(written[sample], sample, reads)
    return written


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: parse arguments, generate, say what was written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path, help="folder to write into (created if missing)")
    parser.add_argument("--samples", type=int, default=3, help="number of samples s1..sN")
    parser.add_argument("--seed", type=int, default=1, help="random seed (same seed, same bytes)")
    parser.add_argument("--coverage", type=float, default=COVERAGE, help="mean depth per sample")
    parser.add_argument(
        "--reseed",
        action="append",
        default=[],
        metavar="SAMPLE=N",
        help="draw one sample's reads with read seed N (repeatable): same genotypes, new reads",
    )
    args = parser.parse_args(argv)
    reseed: dict[str, int] = {}
    for item in args.reseed:
        name, _, number = item.partition("=")
        if not name or not number.isdigit():
            parser.error(f"--reseed {item!r}: write SAMPLE=N, e.g. s2=7")
        reseed[name] = int(number)
    if args.coverage <= 0:
        parser.error("--coverage must be positive")
    try:
        written = generate(args.outdir, args.samples, args.seed, args.coverage, reseed)
    except ValueError as err:
        parser.error(str(err))
    for path in written.values():
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
