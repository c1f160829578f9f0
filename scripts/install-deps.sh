#!/usr/bin/env bash
# Installs what family-brain-backup needs outside npm on Debian/Ubuntu: PostgreSQL 15
# (server, client, server-dev) and pgvector built from Debian's source package.
# Idempotent: a second run only checks and exits in well under a second.
set -euo pipefail

PG_MAJOR="${PG_MAJOR:-15}"
PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
PG_CONFIG="${PG_BIN}/pg_config"
PGVECTOR_SUITE="${PGVECTOR_SUITE:-trixie}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

log() { printf 'install-deps: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else log "need root to run: $*  (re-run this script as root or install sudo)"; exit 1
  fi
}

apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    # A failing third-party list must not stop us from installing Debian's packages.
    as_root apt-get update -qq || log "apt-get update reported errors; trying to install anyway"
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# 1. PostgreSQL server, client tools and headers for building extensions.
missing=()
[ -x "${PG_BIN}/postgres" ] || missing+=("postgresql-${PG_MAJOR}")
[ -x "${PG_BIN}/pg_dump" ] || missing+=("postgresql-client-${PG_MAJOR}")
[ -x "${PG_CONFIG}" ] && [ -f "$("${PG_CONFIG}" --includedir-server 2>/dev/null)/postgres.h" ] \
  || missing+=("postgresql-server-dev-${PG_MAJOR}")
command -v make >/dev/null 2>&1 || missing+=(make)
command -v gcc >/dev/null 2>&1 || missing+=(gcc)
command -v zstd >/dev/null 2>&1 || missing+=(zstd)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  apt_install "${missing[@]}"
fi

# 2. pgvector, built from Debian's source package (not packaged for bookworm).
sharedir="$("${PG_CONFIG}" --sharedir)"
pkglibdir="$("${PG_CONFIG}" --pkglibdir)"
if [ -f "${sharedir}/extension/vector.control" ] && [ -f "${pkglibdir}/vector.so" ]; then
  exit 0
fi

log "building pgvector from Debian ${PGVECTOR_SUITE}'s source package"
work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
mkdir -p "${work}/lists/partial" "${work}/archives/partial"
cat >"${work}/sources.list" <<LIST
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${DEBIAN_MIRROR} ${PGVECTOR_SUITE} main
LIST
# A private source list and list directory: the system's apt configuration is never touched,
# so later `apt-get update` runs do not fetch the trixie indexes again.
apt_opts=(
  -o "Dir::Etc::SourceList=${work}/sources.list"
  -o "Dir::Etc::SourceParts=/dev/null"
  -o "Dir::State::Lists=${work}/lists"
  -o "APT::Get::List-Cleanup=0"
  -o "APT::Sandbox::User=root"
)
as_root apt-get "${apt_opts[@]}" update -qq
(cd "${work}" && as_root apt-get "${apt_opts[@]}" source --download-only -qq pgvector)
orig="$(ls "${work}"/pgvector_*.orig.tar.* | head -n 1)"
mkdir -p "${work}/src"
tar -xf "${orig}" -C "${work}/src" --strip-components=1
make -s -C "${work}/src" OPTFLAGS="" PG_CONFIG="${PG_CONFIG}" >/dev/null
as_root make -s -C "${work}/src" OPTFLAGS="" PG_CONFIG="${PG_CONFIG}" install >/dev/null
log "pgvector $(sed -n "s/^default_version = '\(.*\)'/\1/p" "${sharedir}/extension/vector.control") installed"
