#!/bin/sh
# Runs once, when the db volume is first initialised (/docker-entrypoint-initdb.d): lets the backup
# worker stream WAL into the archive (fbb wal start) from the compose network, with its password.
# An existing volume keeps its pg_hba.conf: add the same line by hand (docs/operations.md,
# "Point-in-time recovery").
set -e
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
