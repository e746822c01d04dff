#!/usr/bin/env bash
# The variant-calling chain of COMMANDS.md run by hand, laid out the way necroflow lays
# it out: every step in its own folder, writing only there, reading its parents by absolute
# path, and symlinking a parent's file in when it must put a companion file (an index) beside
# it. This is the reference the factory is checked against; it is not used by necroflow.
#
#   examples/varcall/by_hand.sh DATA RUNDIR [--path-stable] [SAMPLE...]
#
# DATA is a make_data.py folder; RUNDIR must not exist yet. Samples default to s1 s2 s3.
# --path-stable drops the two lines that embed absolute paths (bwa's @PG, bcftools'
# ##reference), so outputs are byte-identical even between different RUNDIRs.
# Prints each step's wall time, then check.py's recall/precision table.
set -euo pipefail

if [ $# -lt 2 ]; then
    sed -n '2,12p' "$0" >&2
    exit 2
fi
HERE=$(cd "$(dirname "$0")" && pwd)
DATA=$(cd "$1" && pwd)
RUN=$2
shift 2
STABLE=0
if [ "${1:-}" = "--path-stable" ]; then STABLE=1; shift; fi
SAMPLES=("$@")
[ ${#SAMPLES[@]} -eq 0 ] && SAMPLES=(s1 s2 s3)
THREADS=2

if [ -e "$RUN" ]; then echo "by_hand: $RUN exists; give a new folder" >&2; exit 2; fi
mkdir -p "$RUN"
RUN=$(cd "$RUN" && pwd)

# step NAME COMMAND: run COMMAND with bash -c inside $RUN/NAME (created), stderr to NAME/log
step() {
    local name=$1 command=$2 start=$EPOCHREALTIME
    mkdir "$RUN/$name"
    (cd "$RUN/$name" && bash -o pipefail -c "$command" 2>log)
    printf '  %-14s %5.2fs\n' "$name" "$(echo "$EPOCHREALTIME - $start" | awk '{print $1 - $3}')"
}

if [ $STABLE -eq 1 ]; then DROP_PG="| grep -v '^@PG'"; DROP_REF="-Ov | grep -v '^##reference=' | bcftools view --no-version"; else DROP_PG=""; DROP_REF=""; fi

total=$EPOCHREALTIME
step raw_genome "ln -s $DATA/genome.fa genome.fa"
step ref_index "ln -s $RUN/raw_genome/genome.fa genome.fa && bwa index genome.fa && samtools faidx genome.fa"
BAMS=()
for s in "${SAMPLES[@]}"; do
    step "raw_$s" "ln -s $DATA/$s.fastq.gz reads.fastq.gz"
    step "align_$s" "bwa mem -t $THREADS -R '@RG\tID:$s\tSM:$s' $RUN/ref_index/genome.fa $RUN/raw_$s/reads.fastq.gz $DROP_PG | samtools sort --no-PG -@ $THREADS -o sorted.bam -"
    step "index_$s" "ln -s $RUN/align_$s/sorted.bam indexed.bam && samtools index indexed.bam"
    BAMS+=("$RUN/index_$s/indexed.bam")
done
step call "bcftools mpileup --no-version -Ou -f $RUN/ref_index/genome.fa -a AD,DP ${BAMS[*]} | bcftools call --no-version -mv $DROP_REF -Oz -o calls.vcf.gz && bcftools index calls.vcf.gz"
step summary "python3 $HERE/scripts/summarise.py $RUN/call/calls.vcf.gz summary.tsv"
printf '  %-14s %5.2fs\n' total "$(echo "$EPOCHREALTIME - $total" | awk '{print $1 - $3}')"
cat "$RUN/summary/summary.tsv"
python3 "$HERE/check.py" "$DATA/truth.tsv" "$RUN/call/calls.vcf.gz" --min-recall 0.9 --min-precision 0.9
