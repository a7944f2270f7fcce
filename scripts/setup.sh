#!/usr/bin/env bash
# Installs every dependency from Debian 12's archive and builds jaclip twice:
#   build/       optimised (-O2), the one to use
#   build-asan/  with AddressSanitizer + UBSan, the one the test suite runs
# The package lists live in .ci/packages.d/*.txt (one package per line, # comments),
# one file per area so that each says why it needs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${JACLIP_SKIP_APT:-0}" != 1 ]; then
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  pkgs=$(sed -e 's/#.*//' .ci/packages.d/*.txt | tr -s ' \n' '\n' | sed '/^$/d' | sort -u)
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends $pkgs
fi

jobs=$(nproc)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DJACLIP_SANITIZE=ON
cmake --build build-asan -j "$jobs"
echo "built: build/jaclip (optimised), build-asan/jaclip (sanitizers, used by the tests)"
