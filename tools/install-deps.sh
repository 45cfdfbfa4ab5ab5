#!/usr/bin/env bash
# Installs every Debian package hopless needs to build, test, demo and benchmark.
# Idempotent: packages already present are skipped by apt.
set -euo pipefail
if [[ $EUID -ne 0 ]]; then echo "install-deps: run as root (apt-get)" >&2; exit 1; fi
PKGS=(
  # build
  build-essential cmake ccache pkg-config clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
  libboost-dev libspdlog-dev libfmt-dev libyaml-dev nlohmann-json3-dev
  libgtest-dev libgmock-dev linux-libc-dev libldns-dev libsystemd-dev
  # the etcd transport: gRPC and protobuf (proto/ is compiled at build time)
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  # packaging: the .deb (dpkg-shlibdeps computes Depends), man pages, the unit's checks
  dpkg-dev scdoc man-db bash-completion systemd
  # runtime peers for tests, demo and benchmarks
  iproute2 curl nginx-light dnsmasq-base dnsutils ldnsutils haproxy wrk iperf3 nftables procps psmisc jq
  socat util-linux tmux
  etcd-server etcd-client
  runc busybox-static
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# nginx, haproxy and etcd packages start system services; hopless only runs its own instances.
for svc in nginx haproxy etcd; do
  if command -v systemctl >/dev/null 2>&1; then systemctl disable --now "$svc" >/dev/null 2>&1 || true; fi
done
