"""Join every sample's featureCounts output into one genes x samples table (a necroflow script rule).

featureCounts writes two header lines, then gene_id in column 1 and the count in column 7.
All samples are counted against the same GTF, so their rows come in the same order; the
script checks that instead of assuming it.
"""

from __future__ import annotations

from necroflow.script import job


def column(path: str) -> list[tuple[str, str]]:
    with open(path) as f:
        rows = [line.rstrip("\n").split("\t") for line in f.readlines()[2:] if line.strip()]
    return [(r[0], r[6]) for r in rows]


def main() -> None:
    samples = job.params.samples
    columns = [column(p) for p in job.inputs.counts]
    genes = [g for g, _ in columns[0]]
    for name, col in zip(samples, columns, strict=True):
        if [g for g, _ in col] != genes:
            raise SystemExit(f"join_counts: {name}'s genes differ from {samples[0]}'s; were they counted "
                             "against the same annotation?")
    with open(job.outputs.table, "w") as out:
        out.write("\t".join(["gene_id", *samples]) + "\n")
        for i, gene in enumerate(genes):
            out.write("\t".join([gene, *(col[i][1] for col in columns)]) + "\n")


main()
