#!/usr/bin/env bash
# Install the Debian packages the bioinformatics examples need:
#   bwa (aligner), samtools (sort/index/quickcheck), subread (featureCounts) for
#   examples/rnaseq/, and bcftools (mpileup/call) for examples/varcall/.
#
# Idempotent and fast: when every tool is already on PATH it does nothing and makes no
# network call. Otherwise it runs `apt-get update` once, then installs only the missing
# packages, non-interactively and quietly. Uses sudo when not root and sudo exists.
#
# Exit codes: 0 tools present (installed now or before); 1 could not install (message says why).
set -euo pipefail

# package -> the command that proves it is installed
declare -A TOOL=( [bwa]=bwa [samtools]=samtools [subread]=featureCounts [bcftools]=bcftools )
PACKAGES=(bwa samtools subread bcftools)

missing=()
for pkg in "${PACKAGES[@]}"; do
    command -v "${TOOL[$pkg]}" >/dev/null 2>&1 || missing+=("$pkg")
done

if [ "${#missing[@]}" -eq 0 ]; then
    echo "install-bio-tools: bwa, samtools, featureCounts and bcftools already installed"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-bio-tools: missing ${missing[*]} and apt-get is not available;" \
         "install them with your package manager (conda: bioconda::bwa bioconda::samtools bioconda::subread bioconda::bcftools)" >&2
    exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
        SUDO=(sudo)
    else
        echo "install-bio-tools: missing ${missing[*]}; run this script as root (no sudo found)" >&2
        exit 1
    fi
fi

export DEBIAN_FRONTEND=noninteractive
echo "install-bio-tools: installing ${missing[*]}"
# Another apt-get (a CI step, a colleague's script) may hold the dpkg lock: wait for it
# instead of failing at once.
LOCK_WAIT=(-o DPkg::Lock::Timeout=600)
"${SUDO[@]}" apt-get "${LOCK_WAIT[@]}" update -qq
"${SUDO[@]}" apt-get "${LOCK_WAIT[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

for pkg in "${missing[@]}"; do
    if ! command -v "${TOOL[$pkg]}" >/dev/null 2>&1; then
        echo "install-bio-tools: apt-get installed $pkg but ${TOOL[$pkg]} is not on PATH" >&2
        exit 1
    fi
done
echo "install-bio-tools: done"
