#!/usr/bin/env bash
# Bring up a real dockerd with the lxbrand runtime registered, and a busybox test image.
#
# Idempotent: safe to run again on a machine where it already ran (packages present,
# dockerd running, image built).  Called by .ci/run before pytest; usable by hand.
#
#   bash .ci/setup-docker.sh          # CI, and by hand after .ci/setup
#
# Registers four runtimes: lxbrand (default policy), lxbrand-strict (--policy strict),
# lxbrand-trace (--policy trace-all --trace: /var/log/lxbrand/<id>.trace) and lxbrand-paths
# (bench/apps/paths-policy.toml), and gVisor's
# runsc (ptrace platform) for the benchmarks.
# Environment:
#   LXBRAND_IMAGE          tag of the busybox image (default: lxbrand-test/busybox)
#   LXBRAND_DEBIAN_IMAGE   tag of the Debian minbase + python3 image (default: lxbrand-test/debian)
#   LXBRAND_DEBUG_IMAGE    tag of the Debian minbase + strace + gdb image (default: lxbrand-test/debug)
set -euo pipefail

IMAGE=${LXBRAND_IMAGE:-lxbrand-test/busybox}
DOCKERD_LOG=/var/log/lxbrand-ci-dockerd.log
log() { printf 'setup-docker: %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
    log "needs root (installs packages, starts dockerd); skipping"
    exit 0
fi

# 1. packages -------------------------------------------------------------------------------
need=()
command -v dockerd >/dev/null || need+=(docker.io)
command -v runc >/dev/null || need+=(runc)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)  # /bin/busybox, static
command -v iptables >/dev/null || need+=(iptables)
command -v runsc >/dev/null || need+=(runsc)  # gVisor: a peer for python -m bench
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends "${need[@]}" >/dev/null
fi

# 2. + 3. register the runtime in daemon.json, keeping every other key ------------------------
# `lxbrand install` writes the binary dockerd runs (a C front end plus a `python -IS` launcher
# of this checkout's lxbrand: no pyenv shim, no site processing, as containerd calls the
# runtime 3-4 times per container).  Run as a module so a missing console script does not
# matter; lxbrand must be importable with its engine built (.ci/setup: pip install -e .).
REPO=$(cd "$(dirname "$0")/.." && pwd)
LXBRAND=(python3 -m lxbrand.cli.runtime)
mkdir -p /etc/docker
changed=0
if (cd "$REPO" && python3 -c 'import lxbrand._core, lxbrand.oci' 2>/dev/null); then
    before=$(cat /etc/docker/daemon.json 2>/dev/null || true)
    (
        cd "$REPO"
        "${LXBRAND[@]}" install --runtime-name lxbrand >/dev/null
        # a second entry choosing the engine policy with runtimeArgs (tests/oci/test_docker.py)
        "${LXBRAND[@]}" install --runtime-name lxbrand-strict -- --policy strict >/dev/null
        # and one that records every syscall of each container in /var/log/lxbrand/<id>.trace
        "${LXBRAND[@]}" install --runtime-name lxbrand-trace -- --policy trace-all --trace \
            --trace-dir /var/log/lxbrand >/dev/null
        # and one with a [[path]] policy: python -m bench --suite apps's lxbrand-paths runner
        "${LXBRAND[@]}" install --runtime-name lxbrand-paths -- --policy "$REPO/bench/apps/paths-policy.toml" >/dev/null
    )
    # gVisor's runsc beside them, ptrace platform (what bench/ compares against)
    if command -v runsc >/dev/null; then
        python3 - <<'PY'
import json
p = "/etc/docker/daemon.json"
d = json.load(open(p))
d.setdefault("runtimes", {}).setdefault("runsc", {
    "path": "/usr/bin/runsc", "runtimeArgs": ["--platform=ptrace", "--network=host", "--ignore-cgroups"]})
with open(p + ".tmp", "w") as f:
    json.dump(d, f, indent=2)
import os
os.replace(p + ".tmp", p)
PY
    fi
    after=$(cat /etc/docker/daemon.json)
    [ "$before" != "$after" ] && changed=1
else
    log "lxbrand (with its engine) is not importable: run .ci/setup first; registering nothing"
fi

# 4. dockerd ---------------------------------------------------------------------------------
docker_ok() { timeout 10 docker info >/dev/null 2>&1; }
if docker_ok; then
    if [ "$changed" = 1 ]; then
        log "daemon.json changed: reloading dockerd"
        pkill -HUP -x dockerd || true
        sleep 1
    fi
else
    log "starting dockerd (log: $DOCKERD_LOG)"
    # setsid + no stdin: dockerd outlives this script and never holds CI's terminal
    setsid dockerd >"$DOCKERD_LOG" 2>&1 </dev/null &
    for _ in $(seq 1 120); do
        docker_ok && break
        sleep 0.5
    done
    if ! docker_ok; then
        log "WARNING: dockerd did not come up; the Docker tests will skip. Last log lines:"
        tail -n 30 "$DOCKERD_LOG" >&2 || true
        exit 0
    fi
fi

# 5. the busybox image --------------------------------------------------------------------------
if ! docker image inspect "$IMAGE" >/dev/null 2>&1; then
    log "building $IMAGE from busybox-static"
    tree=$(mktemp -d)
    trap 'rm -rf "$tree"' EXIT
    mkdir -p "$tree"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,home,proc,sys,dev,var/tmp}
    chmod 1777 "$tree/tmp" "$tree/var/tmp"
    cp /bin/busybox "$tree/bin/busybox"
    for applet in $(/bin/busybox --list); do
        [ "$applet" = busybox ] || ln -sf busybox "$tree/bin/$applet"
    done
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nuser:x:1000:1000:user:/home:/bin/sh\n' >"$tree/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\nuser:x:1000:\n' >"$tree/etc/group"
    tar -C "$tree" -c . | docker import -c 'CMD ["/bin/sh"]' -c 'ENV PATH=/bin:/sbin:/usr/bin:/usr/sbin' - "$IMAGE" >/dev/null
fi

# 6. a Debian image with python3 (debootstrap --variant=minbase; about a minute) ---------------
DEBIAN_IMAGE=${LXBRAND_DEBIAN_IMAGE:-lxbrand-test/debian}
if ! docker image inspect "$DEBIAN_IMAGE" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null || {
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -q --no-install-recommends debootstrap >/dev/null
    }
    log "building $DEBIAN_IMAGE with debootstrap (bookworm, minbase, python3)"
    deb=$(mktemp -d)
    if debootstrap --variant=minbase --include=python3 bookworm "$deb" http://deb.debian.org/debian \
            >/var/log/lxbrand-ci-debootstrap.log 2>&1; then
        tar -C "$deb" -c . | docker import -c 'CMD ["/bin/bash"]' \
            -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$DEBIAN_IMAGE" >/dev/null
    else
        log "WARNING: debootstrap failed (see /var/log/lxbrand-ci-debootstrap.log); the Debian tests will fail"
    fi
    rm -rf "$deb"
fi
# 6b. the Debian image with debuggers (tests/oci/test_debuggers_docker.py: strace and gdb inside a
# container, issue 12): the Debian image above plus strace and gdb, installed by apt-get in a
# chroot of its files (debootstrap --include=gdb fails configuring libsource-highlight4v5)
DEBUG_IMAGE=${LXBRAND_DEBUG_IMAGE:-lxbrand-test/debug}
if ! docker image inspect "$DEBUG_IMAGE" >/dev/null 2>&1 && docker image inspect "$DEBIAN_IMAGE" >/dev/null 2>&1; then
    log "building $DEBUG_IMAGE: $DEBIAN_IMAGE + strace, gdb"
    dbg=$(mktemp -d)
    cid=$(docker create "$DEBIAN_IMAGE" true)
    docker export "$cid" | tar -C "$dbg" -x
    docker rm "$cid" >/dev/null
    cp /etc/resolv.conf "$dbg/etc/resolv.conf"
    if { chroot "$dbg" apt-get update -q && DEBIAN_FRONTEND=noninteractive chroot "$dbg" apt-get install -y -q \
            --no-install-recommends strace gdb && chroot "$dbg" apt-get clean; } \
            >/var/log/lxbrand-ci-debug-image.log 2>&1; then
        : >"$dbg/etc/resolv.conf"
        tar -C "$dbg" -c . | docker import -c 'CMD ["/bin/bash"]' \
            -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' - "$DEBUG_IMAGE" >/dev/null
    else
        log "WARNING: apt-get failed (see /var/log/lxbrand-ci-debug-image.log); the container debugger tests will skip"
    fi
    rm -rf "$dbg"
fi
# 7. the bench's apps image (python -m bench --suite apps; tests/bench/test_bench_apps_docker.py):
# debootstrap + chroot apt-get of redis, nginx, postgres, gunicorn, gcc; about 70 s; cached by
# the hash of its recipe, so this is a no-op when the image is there.
if ! (cd "$REPO" && python3 -m bench.apps.image >/dev/null); then
    log "WARNING: the apps image did not build (see /var/log/lxbench-apps-image.log); its tests will skip"
fi
registered=$(python3 -c 'import json; print(json.load(open("/etc/docker/daemon.json"))["runtimes"]["lxbrand"]["path"])' 2>/dev/null || echo "<none>")
log "ready: dockerd up, runtime lxbrand -> $registered, image $IMAGE"
