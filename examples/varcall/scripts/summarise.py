"""Summarise a multi-sample VCF: how many het and hom-alt calls each sample has.

As a necroflow script rule (``@r.script("scripts/summarise.py")``), it reads its input and
output paths from ``necroflow.script.job``; by hand::

    python summarise.py CALLS.vcf[.gz] SUMMARY.tsv

Writes one row per sample, in the VCF's sample order::

    sample  variants  het  hom_alt  hom_ref  missing  mean_depth

``variants`` = ``het`` + ``hom_alt``: the records where the sample's genotype carries a
non-reference allele. ``mean_depth`` is the mean of the sample's FORMAT/DP over those records
(empty when the VCF has no DP or the sample has no variant). Reads plain or gzip/bgzip
compressed VCF (bcftools ``-Oz`` output is a series of gzip members, which ``gzip`` reads).

Standard library only, so it runs wherever Python does.
"""

from __future__ import annotations

import gzip
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

COLUMNS = ("sample", "variants", "het", "hom_alt", "hom_ref", "missing", "mean_depth")


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


def summarise(vcf: Path) -> list[dict[str, str]]:
    """One summary row per sample, values as the strings written to the TSV."""
    samples, rows = records(vcf)
    counts = {s: dict.fromkeys(("het", "hom_alt", "hom_ref", "missing"), 0) for s in samples}
    depth = {s: [0, 0] for s in samples}  # sum of DP, number of variant records with a DP
    for row in rows:
        keys = row[8].split(":")
        gt_at = keys.index("GT")
        dp_at = keys.index("DP") if "DP" in keys else None
        for sample, field in zip(samples, row[9:], strict=True):
            values = field.split(":")
            kind = zygosity(values[gt_at])
            counts[sample][kind] += 1
            if kind in ("het", "hom_alt") and dp_at is not None and dp_at < len(values):
                if values[dp_at] != ".":
                    depth[sample][0] += int(values[dp_at])
                    depth[sample][1] += 1
    result = []
    for sample in samples:
        c = counts[sample]
        total, n = depth[sample]
        result.append({
            "sample": sample,
            "variants": str(c["het"] + c["hom_alt"]),
            "het": str(c["het"]),
            "hom_alt": str(c["hom_alt"]),
            "hom_ref": str(c["hom_ref"]),
            "missing": str(c["missing"]),
            "mean_depth": f"{total / n:.1f}" if n else "",
        })
    return result


def write_tsv(path: Path, rows: list[dict[str, str]]) -> None:
    """Write the rows under a header line, tab-separated."""
    lines = ["\t".join(COLUMNS)] + ["\t".join(row[c] for c in COLUMNS) for row in rows]
    path.write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Entry point: the necroflow job's paths when run as a script rule, else CALLS.vcf SUMMARY.tsv."""
    args = sys.argv[1:] if argv is None else argv
    if not args and os.environ.get("NECROFLOW_JOB"):
        from necroflow.script import job

        write_tsv(Path(job.outputs.summary), summarise(Path(job.inputs.calls)))
        return 0
    if len(args) != 2:
        print("usage: summarise.py CALLS.vcf[.gz] SUMMARY.tsv", file=sys.stderr)
        return 2
    write_tsv(Path(args[1]), summarise(Path(args[0])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
