#!/usr/bin/env bash
# Make rootful podman usable for necroflow's container tests (Debian 12, run as root, no
# registry reachable), and build a tiny busybox image locally.
#
#   scripts/podman-up.sh [DIR]                   # the base image
#   scripts/podman-up.sh --variant alt [DIR]     # a different image under the SAME tag
#   scripts/podman-up.sh --import [DIR]          # base content via `podman import`: new Id
#   eval "$(scripts/podman-up.sh)"               # stdout is only: export CONTAINERS_CONF=...
#
#   DIR   default ${NECROFLOW_PODMAN_DIR:-/tmp/necroflow-podman}; holds containers.conf
#   NECROFLOW_PODMAN_IMAGE   image name, default localhost/necroflow-test:1
#
# What it does, each step skipped when already done (a second call takes under a second):
# - installs podman, runc and busybox-static from apt when one is missing (apt-get update first);
# - writes DIR/containers.conf (only when its content changes).  Use it with CONTAINERS_CONF,
#   which makes podman read that file alone.  This sandbox needs:
#     [containers] default_ulimits = []   podman otherwise raises RLIMIT_NOFILE, which fails
#                                         here ("error setting rlimit type 7: operation not
#                                         permitted": the sandbox lacks CAP_SYS_RESOURCE);
#     [containers] netns = "none"         no network unless a run asks (no bridge, no CNI);
#     [engine] runtime = "runc", cgroup_manager = "cgroupfs"   (no crun, no systemd here);
# - builds the image from /bin/busybox (static) plus a symlink in /bin for every applet, as a
#   hand-made OCI archive (fixed timestamps, sorted tar) loaded with `podman load`.  The image
#   Id is the sha256 of that config, so the same busybox gives the same Id on every call and
#   every machine, and nothing is loaded when the tagged image already has it.
#   --variant WORD adds /etc/necroflow-variant (containing WORD): a different, equally stable
#   Id under the same tag.  Calling without --variant moves the tag back to the base image.
#   --import loads the base content with `podman import` instead: identical files, but a new
#   Id and Digest on every call (import stamps the current time into the image config).
#   An image the tag moved away from is removed when no other tag or container holds it.
# - checks that `podman run --rm IMAGE true` works, so a broken setup fails here, clearly.
# Messages go to stderr, and only when something is installed or fails.
set -euo pipefail

say() { echo "podman-up: $*" >&2; }
die() { say "ERROR: $*"; exit 1; }

variant="" mode=load dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --variant) [ $# -ge 2 ] || die "--variant needs a word"; variant=$2; shift 2 ;;
    --variant=*) variant=${1#--variant=}; shift ;;
    --import) mode=import; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) [ -z "$dir" ] || die "only one DIR argument"; dir=$1; shift ;;
  esac
done
case "$variant" in *[!A-Za-z0-9._-]*) die "--variant takes letters, digits, '.', '_', '-'" ;; esac
[ "$mode" = import ] && [ -n "$variant" ] && die "--import and --variant do not combine"
dir=${dir:-${NECROFLOW_PODMAN_DIR:-/tmp/necroflow-podman}}
IMAGE=${NECROFLOW_PODMAN_IMAGE:-localhost/necroflow-test:1}

[ "$(id -u)" = 0 ] || die "must run as root (rootful podman; it installs packages with apt)"

# --- packages ---
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=""
for p in podman runc busybox-static; do installed "$p" || missing="$missing $p"; done
if [ -n "$missing" ]; then
  command -v apt-get >/dev/null || die "podman is missing and there is no apt-get to install$missing"
  say "installing$missing from apt"
  apt-get update -qq >/dev/null || die "apt-get update failed; is the Debian mirror reachable?"
  # shellcheck disable=SC2086  # $missing is a word list on purpose
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $missing \
    >/dev/null || die "apt-get install$missing failed"
fi
[ -x /bin/busybox ] || die "/bin/busybox is missing although busybox-static is installed"

mkdir -p "$dir" || die "cannot create $dir"
dir=$(cd "$dir" && pwd -P)
exec 9>"$dir/.lock"
flock 9 || die "cannot lock $dir/.lock"   # concurrent callers (pytest-xdist) take turns

# --- containers.conf ---
conf="$dir/containers.conf"
want=$(cat <<'EOF'
# Written by necroflow scripts/podman-up.sh; use with CONTAINERS_CONF (podman then reads only
# this file).
[containers]
# podman raises RLIMIT_NOFILE by default, which this sandbox refuses (no CAP_SYS_RESOURCE).
default_ulimits = []
# No network namespace wiring unless a run asks for one (--network ...).
netns = "none"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
EOF
)
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$want" ]; then
  { printf '%s\n' "$want" >"$conf.tmp" && mv -f "$conf.tmp" "$conf"; } || die "cannot write $conf"
fi
export CONTAINERS_CONF="$conf"

# --- image ---
work=$(mktemp -d "$dir/build.XXXXXX")
trap 'rm -rf "$work"' EXIT

ocitar() { tar -C "$1" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=gnu -cf "$2" .; }
# Move a blob into the OCI layout under its digest; sets $sha and $size.
blob() { sha=$(sha256sum "$1" | cut -d' ' -f1); size=$(stat -c %s "$1"); mv "$1" "$work/oci/blobs/sha256/$sha"; }

root="$work/rootfs"
mkdir -p "$root/bin" "$root/etc" "$root/tmp" "$root/root"
cp /bin/busybox "$root/bin/busybox"
for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$root/bin/$a"; done
if [ -n "$variant" ]; then
  printf '%s\n' "$variant" >"$root/etc/necroflow-variant"
  chmod 644 "$root/etc/necroflow-variant"
fi
chmod 755 "$root" "$root/bin" "$root/etc" "$root/bin/busybox"
chmod 700 "$root/root"
chmod 1777 "$root/tmp"

old=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)

if [ "$mode" = import ]; then
  ocitar "$root" "$work/layer.tar"
  new=$(podman import -q --change 'ENV PATH=/bin' --change 'CMD ["/bin/sh"]' "$work/layer.tar" "$IMAGE" 2>&1) \
    || die "podman import failed: $new"
  new=$(podman image inspect --format '{{.Id}}' "$IMAGE")
else
  case "$(dpkg --print-architecture)" in
    amd64) arch=amd64 ;; arm64) arch=arm64 ;; armhf|armel) arch=arm ;; i386) arch=386 ;;
    ppc64el) arch=ppc64le ;; s390x) arch=s390x ;; riscv64) arch=riscv64 ;;
    *) die "unknown architecture $(dpkg --print-architecture)" ;;
  esac
  mkdir -p "$work/oci/blobs/sha256"
  ocitar "$root" "$work/layer.tar"
  blob "$work/layer.tar"; layer=$sha layer_size=$size
  printf '{"created":"1970-01-01T00:00:00Z","architecture":"%s","os":"linux","config":{"Env":["PATH=/bin"],"Cmd":["/bin/sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' \
    "$arch" "$layer" >"$work/config.json"
  blob "$work/config.json"; config=$sha config_size=$size
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
    "$config" "$config_size" "$layer" "$layer_size" >"$work/manifest.json"
  blob "$work/manifest.json"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"%s"}}]}' \
    "$sha" "$size" "$IMAGE" >"$work/oci/index.json"
  printf '{"imageLayoutVersion":"1.0.0"}' >"$work/oci/oci-layout"
  new=$config
  if [ "$old" != "$new" ]; then
    ocitar "$work/oci" "$work/image.tar"
    out=$(podman load -q -i "$work/image.tar" 2>&1) || die "podman load failed: $out"
    got=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
    [ "$got" = "$new" ] || die "after podman load, $IMAGE has Id '$got', expected $new"
  fi
fi

# The image the tag moved away from: remove it unless another tag or a container holds it.
if [ -n "$old" ] && [ "$old" != "$new" ] \
   && [ "$(podman image inspect --format '{{len .RepoTags}}' "$old" 2>/dev/null)" = 0 ]; then
  podman rmi "$old" >/dev/null 2>&1 || true
fi

out=$(podman run --rm --network none "$IMAGE" true 2>&1) \
  || die "podman run --rm $IMAGE true failed (CONTAINERS_CONF=$conf): $out"

echo "export CONTAINERS_CONF=$conf"
