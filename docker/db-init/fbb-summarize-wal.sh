#!/bin/sh
# Runs once, when the db volume is first initialised (/docker-entrypoint-initdb.d): on PostgreSQL 17
# and later, turns on WAL summarization, which incremental base backups need (the daily
# schedule_basebackup_incremental; on 15/16 each run is taken full). An existing volume: run
# ALTER SYSTEM SET summarize_wal = on; SELECT pg_reload_conf(); as a superuser (docs/operations.md).
set -e
if [ "${PG_MAJOR:-0}" -ge 17 ]; then
  psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -c 'ALTER SYSTEM SET summarize_wal = on'
fi
