#!/usr/bin/env bash
# tools/deps.sh - install the Debian packages troupe needs, only those
# missing, and say what was done. Idempotent. Run as root or with sudo.
set -euo pipefail

# build + runtime libraries (DESIGN.md "Dependencies"); postgresql-client:
# pg_dump / pg_restore for `troupe backup` / `troupe restore`
PKGS=(build-essential cmake pkg-config clang libclang-rt-14-dev
      libczmq-dev libzmq3-dev liblmdb-dev libmsgpack-dev libjwt-dev libcurl4-openssl-dev libssl-dev
      libpq-dev libcriterion-dev libmicrohttpd-dev libjansson-dev libsodium-dev
      postgresql postgresql-client gcovr python3 python3-yaml python3-msgpack python3-zmq curl cppcheck flawfinder prometheus)
# benchmarks only (make bench): anchors and load generators
BENCH_PKGS=(wrk nginx-light python3-zmq python3-hnswlib)

want=("${PKGS[@]}")
if [ "${1:-}" = "--bench" ]; then
  want+=("${BENCH_PKGS[@]}")
fi

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#want[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "deps: missing packages: ${missing[*]}" >&2
    echo "deps: not root and no sudo: install them and run again" >&2
    exit 1
  fi
fi
echo "deps: installing ${#missing[@]} missing packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "deps: installed ${missing[*]}"
