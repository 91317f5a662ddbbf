#!/usr/bin/env bash
# Run a command with WALLET_TEST_DATABASE_URL pointing at a PostgreSQL server that has PostGIS.
#
# 1. A server already listening on 127.0.0.1:5432 (CI, developer machines) is used as it is;
#    if PostGIS is missing and we are root on Debian, postgresql-<major>-postgis-3 is installed.
# 2. Otherwise, if PostgreSQL binaries are installed, a throwaway server is started in var/pg
#    on a private port and stopped afterwards.
# 3. Otherwise we stop and say exactly what to install. Database tests are never skipped.
set -euo pipefail

PGHOST_TCP=${PGHOST_TCP:-127.0.0.1}
PGPORT_TCP=${PGPORT_TCP:-5432}
PGUSER_NAME=${PGUSER_NAME:-postgres}
ROOT=$(cd "$(dirname "$0")/.." && pwd)

die() { echo "with_test_postgres: $*" >&2; exit 1; }

server_major() {  # $1 = host, $2 = port
    psql -h "$1" -p "$2" -U "$PGUSER_NAME" -d postgres -Atqc "SHOW server_version_num" | cut -c1-2
}

has_postgis() {
    [ "$(psql -h "$1" -p "$2" -U "$PGUSER_NAME" -d postgres -Atqc \
        "SELECT count(*) FROM pg_available_extensions WHERE name = 'postgis'")" = "1" ]
}

install_postgis() {  # $1 = major version
    local package="postgresql-$1-postgis-3"
    if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
        echo "with_test_postgres: installing $package" >&2
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y -qq "$package" >/dev/null 2>&1 \
            || { apt-get update -qq >/dev/null && apt-get install -y -qq "$package" >/dev/null; } \
            || die "could not install $package with apt-get"
    else
        die "PostGIS is not installed for PostgreSQL $1: install it, e.g. 'sudo apt-get install $package'"
    fi
}

cleanup() { :; }
trap 'cleanup' EXIT

if command -v pg_isready >/dev/null && pg_isready -q -h "$PGHOST_TCP" -p "$PGPORT_TCP"; then
    major=$(server_major "$PGHOST_TCP" "$PGPORT_TCP")
    has_postgis "$PGHOST_TCP" "$PGPORT_TCP" || install_postgis "$major"
    url="postgresql+psycopg://$PGUSER_NAME@$PGHOST_TCP:$PGPORT_TCP/postgres"
else
    bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    [ -n "$bindir" ] && [ -x "$bindir/initdb" ] || die "no PostgreSQL server on $PGHOST_TCP:$PGPORT_TCP and no \
PostgreSQL binaries to start one. Install them, e.g. 'sudo apt-get install postgresql-15 postgresql-15-postgis-3', \
or point WALLET_TEST_DATABASE_URL at a server with PostGIS."
    major=$(basename "$(dirname "$bindir")")
    [ -f "/usr/share/postgresql/$major/extension/postgis.control" ] || install_postgis "$major"
    datadir="$ROOT/var/pg"
    port=54329
    run_as=()
    if [ "$(id -u)" = "0" ]; then run_as=(runuser -u postgres --); fi
    rm -rf "$datadir" && mkdir -p "$datadir"
    [ "$(id -u)" = "0" ] && chown postgres "$datadir"
    "${run_as[@]}" "$bindir/initdb" -D "$datadir/data" -U "$PGUSER_NAME" -A trust >/dev/null
    "${run_as[@]}" "$bindir/pg_ctl" -D "$datadir/data" -o "-p $port -k $datadir -c listen_addresses=127.0.0.1" \
        -l "$datadir/log" -w start >/dev/null
    cleanup() { "${run_as[@]}" "$bindir/pg_ctl" -D "$datadir/data" -m fast stop >/dev/null || true; rm -rf "$datadir"; }
    url="postgresql+psycopg://$PGUSER_NAME@127.0.0.1:$port/postgres"
fi

export WALLET_TEST_DATABASE_URL=${WALLET_TEST_DATABASE_URL:-$url}
"$@"
