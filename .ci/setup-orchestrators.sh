#!/usr/bin/env bash
# Bring up what tests/orchestrators/ and bench's cri-pod drive lxbrand with: Podman (its
# runtimes registered in a containers.conf of our own) and a second containerd with the CRI
# plugin (its own config, socket, root and state; Docker's containerd is left alone), with the
# runtime handlers runc, lxbrand and lxbrand-strict, CNI's loopback plugin, and the images they
# run: a locally built pause image and the busybox image of .ci/setup-docker.sh.
#
# Idempotent (packages present, containerd running, images imported: nothing is redone).
# Called by .ci/run after .ci/setup-docker.sh; usable by hand.
#
#   bash .ci/setup-orchestrators.sh
#
# What it makes (tests/orchestrators/ and docs/kubernetes.md name the same paths):
#   /etc/lxbrand-cri/config.toml      containerd's config (root /var/lib/lxbrand-cri,
#                                     state and socket under /run/lxbrand-cri)
#   /etc/lxbrand-cri/net.d/           the CNI config: a bridge of its own (lxbrand-cri0), pod
#                                     addresses from host-local, no route or masquerade out
#   /etc/lxbrand-cri/containers.conf  Podman's config for the tests (CONTAINERS_CONF): the
#                                     lxbrand runtimes, and default_ulimits = [] (see README)
#   /etc/lxbrand-cri/registry.yml     a registry on 127.0.0.1:5055 (Debian's docker-registry)
#                                     holding localhost:5055/lxbrand-test/pulled:1, for PullImage
# Environment:
#   LXBRAND_RUNTIME   the runtime binary handlers run (default: the launcher `lxbrand install`
#                     writes, /usr/local/lib/lxbrand/lxbrand-runtime)
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
CONF_DIR=/etc/lxbrand-cri
CRI_ROOT=/var/lib/lxbrand-cri
CRI_STATE=/run/lxbrand-cri
SOCK=$CRI_STATE/containerd.sock
CRI_LOG=/var/log/lxbrand-ci-containerd.log
IMAGE=${LXBRAND_IMAGE:-lxbrand-test/busybox}
PAUSE=localhost/lxbrand-test/pause:3.9
log() { printf 'setup-orchestrators: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
    log "needs root (installs packages, starts containerd); skipping"
    exit 0
fi

# 1. packages -----------------------------------------------------------------------------------
need=()
command -v podman >/dev/null || need+=(podman)
command -v conmon >/dev/null || need+=(conmon)
command -v catatonit >/dev/null || need+=(catatonit)  # podman pod create builds its infra image from it
command -v containerd >/dev/null || need+=(containerd)
command -v runc >/dev/null || need+=(runc)
[ -x /usr/lib/cni/loopback ] || need+=(containernetworking-plugins)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi
# the CRI client (bench/cri.py) and `lxbrand install --podman/--containerd` (tomlkit)
python3 -m pip install -q --disable-pip-version-check grpcio grpcio-tools protobuf tomlkit 2>&1 \
    | grep -v "Running pip as the 'root' user" || true

# 2. the runtime and its registrations ----------------------------------------------------------
LX=(python3 -m lxbrand.cli.runtime)
RUNTIME=${LXBRAND_RUNTIME:-}
mkdir -p "$CONF_DIR/net.d"
if ! (cd "$REPO" && python3 -c 'import lxbrand._core, lxbrand.oci, tomlkit' 2>/dev/null); then
    log "WARNING: lxbrand (with its engine) or tomlkit is not importable (run .ci/setup first);"
    log "registering nothing: the orchestrator tests will skip"
    exit 0
fi
cd "$REPO"
if [ -z "$RUNTIME" ]; then
    RUNTIME=$(python3 -c 'from lxbrand.oci.install import write_launcher; print(write_launcher())')
fi
# Podman: the tests' containers.conf (CONTAINERS_CONF replaces Podman's whole search path, so
# everything the tests need is in it). Podman's default ulimits (nofile/nproc 1048576) need
# CAP_SYS_RESOURCE, which some VMs' root lacks (this one): every runtime fails without this.
PCONF=$CONF_DIR/containers.conf
if [ ! -f "$PCONF" ]; then
    printf '# Podman config of tests/orchestrators (CONTAINERS_CONF=%s)\n[containers]\ndefault_ulimits = []\n' \
        "$PCONF" >"$PCONF"
fi
"${LX[@]}" install --podman --config "$PCONF" --path "$RUNTIME" >/dev/null
"${LX[@]}" install --podman --config "$PCONF" --path "$RUNTIME" --runtime-name lxbrand-strict \
    -- --policy strict >/dev/null

# containerd: the CRI plugin, runc as the default handler, lxbrand and lxbrand-strict beside it.
CCONF=$CONF_DIR/config.toml
before=$(cat "$CCONF" 2>/dev/null || true)
if [ ! -f "$CCONF" ]; then
    cat >"$CCONF" <<TOML
# containerd for tests/orchestrators and bench's cri-pod (not Docker's: its own root, state and
# socket). Made by .ci/setup-orchestrators.sh; docs/kubernetes.md explains each setting.
version = 2
root = "$CRI_ROOT"
state = "$CRI_STATE"

[grpc]
  address = "$SOCK"

[ttrpc]
  address = "$SOCK.ttrpc"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE"
  # The CRI plugin gives a pod's sandbox oom_score_adj -998; lowering it needs
  # CAP_SYS_RESOURCE, which this VM's root lacks ("can't get final child's PID from pipe"
  # from runc). Restricted, the score is clamped to containerd's own.
  restrict_oom_score_adj = true

[plugins."io.containerd.grpc.v1.cri".cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "$CONF_DIR/net.d"

[plugins."io.containerd.grpc.v1.cri".containerd]
  default_runtime_name = "runc"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
  BinaryName = "$(command -v runc)"
TOML
fi
"${LX[@]}" install --containerd --config "$CCONF" --path "$RUNTIME" >/dev/null
"${LX[@]}" install --containerd --config "$CCONF" --path "$RUNTIME" --runtime-name lxbrand-strict \
    -- --policy strict >/dev/null
# A pod network: a bridge of this host's own, pods' addresses from host-local, no gateway
# route, no masquerading (nothing leaves the host; the tests only compare namespaces).
rm -f "$CONF_DIR/net.d/10-loopback.conflist"    # the first version's; it gave no pod address
cat >"$CONF_DIR/net.d/10-lxbrand-cri.conflist" <<'JSON'
{"cniVersion": "0.4.0", "name": "lxbrand-cri",
 "plugins": [{"type": "bridge", "bridge": "lxbrand-cri0", "isGateway": false, "ipMasq": false,
              "ipam": {"type": "host-local", "ranges": [[{"subnet": "10.89.7.0/24"}]]}},
             {"type": "loopback"}]}
JSON
after=$(cat "$CCONF")

# 3. containerd ---------------------------------------------------------------------------------
cri_ok() { timeout 10 ctr -a "$SOCK" version >/dev/null 2>&1; }
pidof_cri() { pgrep -f "^containerd --config $CCONF\$" || true; }
if cri_ok && [ "$before" != "$after" ]; then
    log "$CCONF changed: restarting its containerd"
    kill $(pidof_cri) 2>/dev/null || true
    for _ in $(seq 1 50); do [ -z "$(pidof_cri)" ] && break; sleep 0.2; done
fi
if ! cri_ok; then
    log "starting containerd --config $CCONF (log: $CRI_LOG)"
    mkdir -p "$CRI_STATE"
    setsid containerd --config "$CCONF" >"$CRI_LOG" 2>&1 </dev/null &
    for _ in $(seq 1 100); do cri_ok && break; sleep 0.2; done
    if ! cri_ok; then
        log "WARNING: containerd did not come up; the CRI tests will skip. Last log lines:"
        tail -n 20 "$CRI_LOG" >&2 || true
        exit 0
    fi
fi

# 4. images: the busybox image in Podman and containerd, a pause image built here -------------
if ! podman image exists "$IMAGE"; then
    if docker image inspect "$IMAGE" >/dev/null 2>&1; then
        docker save "$IMAGE" | podman load -q >/dev/null
    else
        log "WARNING: no $IMAGE in Docker (run .ci/setup-docker.sh first); the Podman tests will skip"
    fi
fi
if ! podman image exists "$PAUSE"; then
    tree=$(mktemp -d)
    gcc -O2 -static -o "$tree/pause" "$REPO/tests/orchestrators/pause.c"
    tar -C "$tree" -c pause | podman import -q --change 'ENTRYPOINT ["/pause"]' - "$PAUSE" >/dev/null
    rm -rf "$tree"
fi
have=$(ctr -a "$SOCK" -n k8s.io images ls -q)
for img in "$PAUSE" "localhost/$IMAGE:latest"; do
    if ! grep -qxF "$img" <<<"$have" && podman image exists "$img"; then
        podman save --format docker-archive "$img" | ctr -a "$SOCK" -n k8s.io images import - >/dev/null
    fi
done
# 5. a registry on the loopback address, so PullImage is real (containerd speaks plain HTTP to
# localhost registries), holding an image no other step imports ---------------------------------
REG=127.0.0.1:5055
PULLED=localhost:5055/lxbrand-test/pulled:1
reg_ok() { python3 -c "import urllib.request as u; u.urlopen('http://$REG/v2/', timeout=3)" 2>/dev/null; }
if ! reg_ok; then
    mkdir -p "$CRI_ROOT/registry"
    cat >"$CONF_DIR/registry.yml" <<YAML
version: 0.1
storage:
  filesystem:
    rootdirectory: $CRI_ROOT/registry
http:
  addr: $REG
YAML
    setsid docker-registry serve "$CONF_DIR/registry.yml" >/var/log/lxbrand-ci-registry.log 2>&1 </dev/null &
    for _ in $(seq 1 50); do reg_ok && break; sleep 0.2; done
fi
if reg_ok && ! python3 -c "import urllib.request as u; u.urlopen('http://$REG/v2/lxbrand-test/pulled/manifests/1', timeout=3)" 2>/dev/null; then
    if podman image exists "$IMAGE"; then
        ctx=$(mktemp -d)
        echo "pulled from the registry" >"$ctx/pulled"
        printf 'FROM localhost/%s:latest\nCOPY pulled /pulled\n' "$IMAGE" >"$ctx/Containerfile"
        if ! { CONTAINERS_CONF=$PCONF podman build -q -t "$PULLED" "$ctx" >/dev/null &&
               CONTAINERS_CONF=$PCONF podman push -q --tls-verify=false "$PULLED"; }; then
            log "WARNING: could not push $PULLED to the registry; the PullImage test will fail"
        fi
        rm -rf "$ctx"
    fi
fi
reg_ok || log "WARNING: the registry on $REG did not come up (/var/log/lxbrand-ci-registry.log); the PullImage test will skip"

log "ready: containerd CRI at $SOCK (handlers runc, lxbrand, lxbrand-strict -> $RUNTIME), podman $(podman --version | awk '{print $3}')"
