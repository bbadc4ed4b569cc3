#!/usr/bin/env bash
# Installs what originwatch needs to build, test and run its demo on Debian 12.
# Idempotent: installs only the packages that are missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache git python3 openssl ca-certificates
  liburing-dev libssl-dev libtomlplusplus-dev libsqlite3-dev sqlite3 libc-ares-dev
  libcurl4-openssl-dev libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev
  libcli11-dev dnsmasq-base libjemalloc-dev nginx-light prometheus-blackbox-exporter
  # The agent's HTTP endpoint (/metrics, the status page), systemd notify, and
  # the peers its tests run: Alertmanager and a headless browser.
  libmicrohttpd-dev libsystemd-dev prometheus-alertmanager chromium
  # The fuzz stage: clang++ (package clang, clang 14 on Debian 12) and the
  # libFuzzer and sanitizer runtimes it links (libclang_rt.fuzzer-x86_64.a).
  clang libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: everything is installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# bench/compare starts its own nginx and blackbox_exporter on loopback. On a
# host running systemd the packages start their system services (nginx on
# port 80, the exporter on 9115); stop and disable the ones installed just now
# so a benchmark or test host does not keep them running. Without systemd
# (containers, CI) nothing was started.
if [ -d /run/systemd/system ]; then
  for p in "${missing[@]}"; do
    case "$p" in
      nginx-light) unit=nginx ;;
      prometheus-blackbox-exporter) unit=prometheus-blackbox-exporter ;;
      prometheus-alertmanager) unit=prometheus-alertmanager ;;
      *) continue ;;
    esac
    if systemctl is-active --quiet "$unit"; then
      $SUDO systemctl disable --now --quiet "$unit"
      echo "install-deps: stopped and disabled the $unit service (bench/compare runs its own)"
    fi
  done
fi
echo "install-deps: done"
