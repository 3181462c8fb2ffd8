#!/usr/bin/env bash
# Makes real Consul, etcd and Redis binaries available in .meridian/bin (git-ignored).
# A binary already on PATH is used as it is. Otherwise, on Debian: etcd-server and
# redis-server from Debian's packages; consul 1.8.7 from the previous release (bullseye),
# fetched with a private apt sources list and lists folder so the system's apt set-up is
# untouched, then unpacked with dpkg -x into the project. Idempotent; quick when done.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="$root/.meridian/bin"
work="$root/.meridian/apt"
mkdir -p "$bin"

say() { printf '[setup] %s\n' "$*" >&2; }
die() { printf '[setup] error: %s\n' "$*" >&2; exit 1; }

# link NAME PATH: expose a binary under .meridian/bin
link() { ln -sf "$2" "$bin/$1"; say "$1 -> $2"; }

have() { [ -x "$bin/$1" ] && [ -e "$bin/$1" ]; }

# The Debian mirror the system already uses (no host is hard-coded here).
mirror() {
  if [ -n "${MERIDIAN_DEBIAN_MIRROR:-}" ]; then echo "$MERIDIAN_DEBIAN_MIRROR"; return; fi
  local m=""
  if compgen -G "/etc/apt/sources.list.d/*.sources" >/dev/null; then
    m=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}' | grep -v security | head -n1 || true)
  fi
  if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
    m=$(grep -E '^deb ' /etc/apt/sources.list | grep -v security | sed -E 's/^deb (\[[^]]*\] )?//' | awk '{print $1}' | head -n1 || true)
  fi
  [ -n "$m" ] || die "cannot find a Debian mirror in /etc/apt; set MERIDIAN_DEBIAN_MIRROR"
  echo "$m"
}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else die "need root to run: $*"; fi; }

apt_updated=""
apt_install() {
  command -v apt-get >/dev/null || die "no apt-get: install $* yourself and put the binaries on PATH (see README)"
  if [ -z "$apt_updated" ]; then say "apt-get update"; as_root apt-get update -qq >/dev/null; apt_updated=1; fi
  say "apt-get install $*"
  # policy-rc.d keeps Debian's postinst from starting system services we don't want.
  as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_debian_pkg() { # NAME BINARY PACKAGE
  local name=$1 binary=$2 pkg=$3 p
  have "$name" && return 0
  if p=$(command -v "$binary" 2>/dev/null) && [ "$p" != "$bin/$name" ]; then link "$name" "$p"; return 0; fi
  apt_install "$pkg"
  p=$(command -v "$binary" 2>/dev/null) || p="/usr/bin/$binary"
  [ -x "$p" ] || die "$pkg installed but $binary not found"
  link "$name" "$p"
}

ensure_consul() {
  have consul && return 0
  local p
  if p=$(command -v consul 2>/dev/null) && [ "$p" != "$bin/consul" ]; then link consul "$p"; return 0; fi
  command -v apt-get >/dev/null || die "no apt-get: put a consul binary on PATH (see README)"
  local m; m=$(mirror)
  mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/deb"
  local list="$work/sources.list"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $m bullseye main" > "$list"
  local opts=(-o "Dir::Etc::SourceList=$list" -o "Dir::Etc::SourceParts=/dev/null"
              -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "Debug::NoLocking=1")
  if ! compgen -G "$work/deb/consul_*.deb" >/dev/null; then
    say "fetching consul from Debian bullseye (private apt lists in .meridian/apt)"
    apt-get "${opts[@]}" update -qq >/dev/null || die "apt-get update of the bullseye list failed"
    (cd "$work/deb" && apt-get "${opts[@]}" download consul >/dev/null) || die "apt-get download consul failed"
  fi
  local deb; deb=$(ls "$work/deb"/consul_*.deb | head -n1)
  rm -rf "$work/consul" && mkdir -p "$work/consul"
  dpkg -x "$deb" "$work/consul"
  [ -x "$work/consul/usr/bin/consul" ] || die "consul binary missing from $deb"
  link consul "$work/consul/usr/bin/consul"
}

ensure_debian_pkg etcd etcd etcd-server
ensure_debian_pkg etcdctl etcdctl etcd-client
ensure_debian_pkg redis-server redis-server redis-server
ensure_consul
# Optional tools, installed only as root (never by sudo): nft for the region-partition chaos
# scenario (which needs root anyway), dig for the commands `npm start` prints, and Debian's
# chromium for the web console's browser tests (test/controller/console.test.ts skips without it).
if [ "$(id -u)" = 0 ]; then
  ( ensure_debian_pkg nft nft nftables ) || say "nftables not installed: the region-partition chaos scenario will be skipped"
  command -v dig >/dev/null || ( apt_install bind9-dnsutils ) || say "dig not installed: install Debian's bind9-dnsutils to run the dig commands"
  [ -x /usr/bin/chromium ] || ( apt_install chromium ) || say "chromium not installed: the web console's browser tests will be skipped"
fi
say "ready: $("$bin/consul" --version | head -n1), etcd $("$bin/etcd" --version | head -n1 | awk '{print $3}'), $("$bin/redis-server" --version | awk '{print $3}')"
