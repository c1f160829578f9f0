// `fbb doctor` checks the WAL archive's prerequisites on a real server and says how to fix each:
// on a PostgreSQL of this file's own, whose roles, pg_hba.conf and slots it changes.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkWalPrerequisites } from '../src/activities/doctor/wal';
import type { Config } from '../src/config';
import type { CheckResult } from '../src/doctor/report';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { sql, walConfigFor } from './wal';

let cluster: PgCluster;
let config: Config;

const byName = (checks: CheckResult[]) => Object.fromEntries(checks.map((c) => [c.name, c]));

beforeAll(async () => {
  cluster = await startPgCluster();
  config = walConfigFor(cluster);
});

afterAll(async () => {
  await cluster?.stop();
});

describe('fbb doctor: the WAL archive prerequisites', () => {
  it('are all ok on a default server with a superuser: wal_level, REPLICATION, pg_hba, senders, slot', async () => {
    const checks = byName(await checkWalPrerequisites(config));
    expect(Object.keys(checks)).toEqual(['wal_level', 'wal_replication_role', 'wal_pg_hba', 'wal_senders', 'wal_slot']);
    for (const c of Object.values(checks)) expect(c.status, JSON.stringify(c)).toBe('ok');
    expect(checks.wal_level!.detail).toBe('wal_level is replica');
    expect(checks.wal_slot!.detail).toMatch(/^slot fbb_postgres does not exist yet \("fbb wal start" creates it; \d+ of max_replication_slots = 10 taken\); max_slot_wal_keep_size = unlimited$/);
  });

  it('warn, with the ALTER ROLE to run, when the role has no REPLICATION attribute', async () => {
    await sql(cluster, "CREATE ROLE walless LOGIN PASSWORD 'walless-pw'");
    const checks = byName(await checkWalPrerequisites({ ...config, database: { ...config.database, user: 'walless', password: 'walless-pw' } }));
    expect(checks.wal_replication_role).toEqual({
      name: 'wal_replication_role',
      status: 'warn',
      detail: 'role walless has no REPLICATION attribute',
      hint: 'needed for the WAL archive (fbb wal start, point-in-time recovery): ALTER ROLE walless REPLICATION; (as a superuser)',
    });
    expect(checks.wal_pg_hba).toMatchObject({ status: 'warn', hint: 'needed for the WAL archive (fbb wal start, point-in-time recovery): ALTER ROLE walless REPLICATION;' });
    expect(checks.wal_pg_hba!.detail).toContain('must be superuser or replication role');
  });

  it('warn, with the pg_hba.conf line to add, when the server refuses replication connections', async () => {
    const hba = path.join(cluster.dataDir, 'pg_hba.conf');
    const original = fs.readFileSync(hba, 'utf8');
    fs.writeFileSync(hba, original.split('\n').filter((l) => !/^\s*(local|host)\s+replication\b/.test(l)).join('\n'));
    try {
      await sql(cluster, 'SELECT pg_reload_conf()');
      const checks = byName(await checkWalPrerequisites(config));
      expect(checks.wal_pg_hba!.status).toBe('warn');
      expect(checks.wal_pg_hba!.detail).toMatch(/^a replication connection as postgres to 127\.0\.0\.1:\d+ is refused: no pg_hba\.conf entry for replication connection from host "127\.0\.0\.1", user "postgres"/);
      expect(checks.wal_pg_hba!.hint).toBe(
        `needed for the WAL archive (fbb wal start, point-in-time recovery): add "host replication postgres <this worker's address>/32 scram-sha-256" to the server's pg_hba.conf and reload it (SELECT pg_reload_conf())`,
      );
    } finally {
      fs.writeFileSync(hba, original);
      await sql(cluster, 'SELECT pg_reload_conf()');
    }
  });

  it('warn when the slot exists but nothing consumes it: the WAL it keeps, and how to drop it', async () => {
    await sql(cluster, "SELECT pg_create_physical_replication_slot('fbb_postgres', true)");
    try {
      await sql(cluster, 'CREATE TABLE grow AS SELECT g FROM generate_series(1, 50000) g');
      const { wal_slot } = byName(await checkWalPrerequisites(config));
      expect(wal_slot!.status).toBe('warn');
      expect(wal_slot!.detail).toMatch(/^slot fbb_postgres exists but nothing streams through it: the server keeps [\d.]+ [KMG]?i?B of WAL for it, growing with every write \(max_slot_wal_keep_size = unlimited\)$/);
      expect(wal_slot!.hint).toBe("start the archive (fbb wal start), or drop the slot (fbb wal stop --drop-slot); set max_slot_wal_keep_size (e.g. 10GB) so that a slot nobody consumes cannot fill the server's disk");
    } finally {
      await sql(cluster, "SELECT pg_drop_replication_slot('fbb_postgres')");
    }
  });
});
