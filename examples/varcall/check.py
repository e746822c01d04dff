"""Score a multi-sample VCF against make_data.py's truth: recall and precision per sample.

Usage::

    python examples/varcall/check.py TRUTH.tsv CALLS.vcf[.gz] [--min-recall 0.9] [--min-precision 0.9]

Prints one tab-separated row per truth sample::

    sample  truth  called  tp  fp  fn  recall  precision  genotype_match

For a sample, a *truth variant* is a row of truth.tsv where its genotype is 0/1 or 1/1, and a
*call* is a VCF record where its GT carries a non-reference allele; they match when contig,
position and the alt base agree (so a hom-alt called as het still counts as found).
``genotype_match`` is the share of matches whose zygosity (het / hom-alt) is right too.
Exits 1 when any sample's recall or precision is below the given minimum, or when the VCF
lacks a truth sample; 0 otherwise.

Tests import :func:`evaluate` instead of parsing the printout.
"""

from __future__ import annotations

import argparse
import gzip
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

Key = tuple[str, int, str]  # chrom, 1-based position, alt base

# The small VCF reader is repeated from scripts/summarise.py on purpose: that script is a
# pipeline step and will change shape; this checker must not depend on it.


def open_text(path: Path) -> IO[str]:
    """Open a VCF as text, gunzipping when it starts with the gzip magic bytes."""
    with path.open("rb") as raw:
        magic = raw.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(path, "rt", encoding="ascii")
    return path.open(encoding="ascii")


def records(path: Path) -> tuple[list[str], Iterator[list[str]]]:
    """The sample names and an iterator over the data lines, split on tabs."""
    handle = open_text(path)
    for line in handle:
        if line.startswith("#CHROM"):
            samples = line.rstrip("\n").split("\t")[9:]
            break
    else:
        handle.close()
        raise ValueError(f"{path}: no #CHROM header line; is this a VCF?")

    def rows() -> Iterator[list[str]]:
        with handle:
            for data in handle:
                if data.strip():
                    yield data.rstrip("\n").split("\t")

    return samples, rows()


def zygosity(gt: str) -> str:
    """'het', 'hom_alt', 'hom_ref' or 'missing' for a GT value such as 0/1, 1|1 or ./."""
    alleles = gt.replace("|", "/").split("/")
    if "." in alleles:
        return "missing"
    if all(a == "0" for a in alleles):
        return "hom_ref"
    return "hom_alt" if len(set(alleles)) == 1 else "het"


@dataclass(frozen=True)
class Score:
    """How one sample's calls compare with its truth."""

    sample: str
    truth: int
    called: int
    tp: int
    genotype_match: int

    @property
    def fp(self) -> int:
        return self.called - self.tp

    @property
    def fn(self) -> int:
        return self.truth - self.tp

    @property
    def recall(self) -> float:
        return self.tp / self.truth if self.truth else 1.0

    @property
    def precision(self) -> float:
        return self.tp / self.called if self.called else 1.0


def read_truth(path: Path) -> dict[str, dict[Key, str]]:
    """Each sample's planted variants: (chrom, pos, alt) -> 'het' or 'hom_alt'."""
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    samples = header[5:]
    truth: dict[str, dict[Key, str]] = {s: {} for s in samples}
    for line in lines[1:]:
        chrom, pos, _ref, alt, _kind, *gts = line.split("\t")
        for sample, gt in zip(samples, gts, strict=True):
            kind = zygosity(gt)
            if kind in ("het", "hom_alt"):
                truth[sample][(chrom, int(pos), alt)] = kind
    return truth


def read_calls(path: Path) -> dict[str, dict[Key, str]]:
    """Each VCF sample's non-reference calls: (chrom, pos, alt) -> 'het' or 'hom_alt'.

    A genotype with two different alt alleles (1/2) contributes both alt bases as het.
    """
    samples, rows = records(path)
    calls: dict[str, dict[Key, str]] = {s: {} for s in samples}
    for row in rows:
        chrom, pos, alts = row[0], int(row[1]), row[4].split(",")
        gt_at = row[8].split(":").index("GT")
        for sample, field in zip(samples, row[9:], strict=True):
            gt = field.split(":")[gt_at]
            kind = zygosity(gt)
            if kind not in ("het", "hom_alt"):
                continue
            indices = {int(a) for a in gt.replace("|", "/").split("/") if a not in ("0", ".")}
            for i in indices:
                calls[sample][(chrom, pos, alts[i - 1])] = kind
    return calls


def evaluate(truth_path: Path, vcf_path: Path) -> dict[str, Score]:
    """Score every truth sample; raises ValueError when the VCF lacks one of them."""
    truth = read_truth(truth_path)
    calls = read_calls(vcf_path)
    absent = [s for s in truth if s not in calls]
    if absent:
        raise ValueError(f"{vcf_path} has no sample(s) {', '.join(absent)}; it has {', '.join(calls)}")
    scores = {}
    for sample, planted in truth.items():
        called = calls[sample]
        found = planted.keys() & called.keys()
        scores[sample] = Score(
            sample,
            truth=len(planted),
            called=len(called),
            tp=len(found),
            genotype_match=sum(planted[k] == called[k] for k in found),
        )
    return scores


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point: print the scores, fail below the minimums."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("truth", type=Path, help="truth.tsv written by make_data.py")
    parser.add_argument("calls", type=Path, help="the pipeline's VCF (plain or gzipped)")
    parser.add_argument("--min-recall", type=float, default=0.0)
    parser.add_argument("--min-precision", type=float, default=0.0)
    args = parser.parse_args(argv)
    try:
        scores = evaluate(args.truth, args.calls)
    except ValueError as err:
        print(f"check: {err}", file=sys.stderr)
        return 1
    print("sample\ttruth\tcalled\ttp\tfp\tfn\trecall\tprecision\tgenotype_match")
    ok = True
    for s in scores.values():
        gt_share = s.genotype_match / s.tp if s.tp else 1.0
        print(f"{s.sample}\t{s.truth}\t{s.called}\t{s.tp}\t{s.fp}\t{s.fn}\t"
              f"{s.recall:.3f}\t{s.precision:.3f}\t{gt_share:.3f}")
        ok &= s.recall >= args.min_recall and s.precision >= args.min_precision
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
