// The torture schema (test/fixtures/torture.sql, on top of the sample database) through every path,
// on the real Temporal dev server with real Workers: backups in every format and verification mode,
// a drill, a tenant restore and table restores (one beside, with --as), whole restores by swap, in
// place and onto a brand-new server. Each round-trip is compared table by table with a content hash
// that works on every type and any column order (test/compare.ts).
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowStartOptions } from '@temporalio/client';
import type { Workflow, WorkflowResultType } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreFileInto } from '../src/activities/restoreFile';
import { formatRestoreResult } from '../src/client/commands/restore';
import { manifestName, parseManifest, type BackupManifest } from '../src/backup/manifest';
import type { BackupFormat } from '../src/backup/naming';
import type { Config } from '../src/config';
import { diffFingerprints, fingerprintDatabase, type DatabaseFingerprint } from './compare';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { backupDatabase, restoreDatabase, restoreDrill, restoreTable, restoreTenant } from '../src/workflows';
import { createDatabase, dropDatabase, fingerprint, runActivity, testConfig, uniqueName, withAdmin } from './helpers';
import { onTemporal, startTestWorker, testClient, type TestWorker } from './temporal';
import { notOf, of, tenantHashes } from './tenantHashes';

const TORTURE_SQL = fs.readFileSync(path.join(__dirname, 'fixtures', 'torture.sql'), 'utf8');
const id = (label: string) => uniqueName(label).replace(/_/g, '-');
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
});

let live: string;
let during: Config;
let after: Config;

async function worker(config: Config, overrides: Record<string, unknown> = {}): Promise<TestWorker> {
  const started = await startTestWorker(config, overrides);
  cleanups.push(() => started.stop());
  return started;
}

async function run<W extends Workflow>(config: Config, workflow: W, args: Parameters<W>, label: string): Promise<WorkflowResultType<W>> {
  return (await testClient()).workflow.execute(workflow, { taskQueue: config.temporal.taskQueue, workflowId: id(label), args } as unknown as WorkflowStartOptions<W>);
}

const manifestOf = (config: Config, filename: string): BackupManifest => parseManifest(fs.readFileSync(path.join(config.backup.dir, manifestName(filename)), 'utf8'), filename);
const childColumns = (database: string) =>
  withAdmin(async (c) => (await c.query<{ n: string }>("SELECT attname AS n FROM pg_attribute WHERE attrelid = 'torture.child'::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum")).rows.map((r) => r.n), database);
const tenants = () => withAdmin(async (c) => (await c.query<{ id: string }>('SELECT id::text FROM tenants ORDER BY slug')).rows.map((r) => r.id), live);

/** A backup in `format` by the worker of `config`, with the fingerprint of what it holds (taken just before: the run records itself in system_logs after dumping). */
async function backup(config: Config, format: BackupFormat): Promise<{ filename: string; atBackup: DatabaseFingerprint }> {
  const atBackup = await fingerprint(live);
  const result = await run(config, backupDatabase, [{ cleanup_old: false, format }], `tort-${format}`);
  expect(result.verified?.ok).toBe(true);
  return { filename: result.filename, atBackup };
}

beforeAll(async () => {
  live = await createDatabase('tort');
  cleanups.push(() => dropDatabase(live));
  await withAdmin((c) => c.query(TORTURE_SQL), live);
  during = onTemporal(testConfig({ database: live, verify: 'during_dump' }));
  after = onTemporal(testConfig({ database: live, verify: 'after_dump', backupDir: during.backup.dir }));
  await worker(during);
  await worker(after);
});

describe('the torture schema', () => {
  let newest: { filename: string; atBackup: DatabaseFingerprint };

  // Both verification modes and every format (the custom format is always verified after the dump).
  it.each([
    ['during_dump', 'plain_gzip'],
    ['during_dump', 'plain_zstd'],
    ['after_dump', 'plain_gzip'],
    ['after_dump', 'custom'],
  ] as const)('backs up with BACKUP_VERIFY=%s as %s; the file restores to the same content, table by table, and the manifest names the reordered child', async (mode, format) => {
    const config = mode === 'during_dump' ? during : after;
    const made = await backup(config, format);
    const manifest = manifestOf(config, made.filename);
    expect(manifest.verification?.method).toBe(mode === 'during_dump' && (format as BackupFormat) !== 'custom' ? 'restore_during_dump' : 'restore');
    expect(manifest.column_order).toEqual([{ table: 'torture.child', dumped: ['a', 'b', 'c', 'd'], restored: ['a', 'b', 'd', 'c'] }]);
    expect(manifest.skipped_steps).toBeUndefined();
    expect(manifest.verification?.sample_failures).toBeUndefined();
    expect(Object.keys(manifest.verification?.sample_hashes ?? {}).sort()).toEqual(Object.keys(manifest.table_details).sort());
    // The parent's count includes its child's rows (count(*) without ONLY), as before.
    expect(manifest.table_details).toMatchObject({ 'torture.shapes': 10, 'torture.nothing': 3, 'torture.child': 2, 'torture.parent': 3, 'torture.events_other': 5, 'torture.events_2026': 5, 'torture.singleton': 1 });

    const copy = uniqueName('tort_copy');
    await withAdmin((c) => c.query(`CREATE DATABASE ${copy}`));
    cleanups.push(() => dropDatabase(copy));
    await runActivity(restoreFileInto, config, copy, { filename: made.filename, file: path.join(config.backup.dir, made.filename), format, sha256: manifest.sha256 }, { step: 'verify', failureType: 'RestoreFailed', target: 'scratch' });
    expect(diffFingerprints(made.atBackup, await fingerprint(copy))).toEqual([]);
    // The measurement: pg_dump's limitation holds for the plain and the custom format alike.
    expect(await childColumns(copy)).toEqual(['a', 'b', 'd', 'c']);
    newest = made;
  });

  it('drills the newest backup: every table counted and its sample matched, the reordered child named', async () => {
    const result = await run(during, restoreDrill, [{ source: 'local' }], 'tort-drill');
    expect(result).toMatchObject({ status: 'passed', filename: newest.filename, samples_missing: [], count_only: {}, column_order_changed: ['torture.child'] });
    expect(result.samples_checked).toBe(result.tables_checked);
  });

  it('restores one tenant whose rows reach the box-keyed, json, xml, partitioned and exclusion-constrained tables; the other tenant keeps its changes', async () => {
    const { filename } = newest;
    const [a, b] = await tenants();
    const atBackup = await tenantHashes(live);
    await withAdmin(async (c) => {
      for (const t of [a!, b!]) {
        await c.query(`UPDATE torture.shapes SET j = '{"changed": true}', x = '<changed/>', p = point(-1, -1) WHERE tenant_id = $1`, [t]);
        await c.query('DELETE FROM torture.notes WHERE code = (SELECT min(code) FROM torture.notes WHERE tenant_id = $1)', [t]);
        await c.query(`INSERT INTO torture.circles (tenant_id, c) SELECT $1, circle(point(9000 + 10 * count(*), 9000), 1) FROM torture.circles`, [t]);
        await c.query(`UPDATE torture.events SET payload = '{"changed": 1}' WHERE tenant_id = $1`, [t]);
        await c.query(`UPDATE torture.shape_notes SET note = 'changed' WHERE shape IN (SELECT b FROM torture.shapes WHERE tenant_id = $1)`, [t]);
      }
    }, live);
    const changed = await tenantHashes(live);
    expect(of(changed, a!)).not.toEqual(of(atBackup, a!));

    const result = await run(during, restoreTenant, [{ backup_filename: filename, tenant_id: a!, confirm_restore: true }], 'tort-tenant');
    expect(result.error).toBeNull();
    expect(result.status).toBe('success');
    expect(result.plan?.tables.find((t) => t.table === 'torture.shapes')).toMatchObject({ update: 2, compared_as_text: ['b (box)'] });
    expect(result.plan?.tables.map((t) => t.table)).toEqual(expect.arrayContaining(['torture.shapes', 'torture.shape_notes', 'torture.notes', 'torture.circles', 'torture.events']));
    const now = await tenantHashes(live);
    expect(of(now, a!)).toEqual(of(atBackup, a!));
    expect(notOf(now, a!)).toEqual(notOf(changed, a!));
  });

  it('restores tables beside the live ones (--as; one without columns) and a composite-keyed table in place, each to the backup\'s rows', async () => {
    const { filename, atBackup } = newest;
    const beside = await run(during, restoreTable, [{ backup_filename: filename, table: 'torture.shapes', as: 'shapes_from_backup', confirm_restore: true }], 'tort-as');
    expect(beside).toMatchObject({ status: 'success', beside: { table: 'torture.shapes_from_backup', rows: 10 } });
    const empty = await run(during, restoreTable, [{ backup_filename: filename, table: 'torture.nothing', as: 'nothing_from_backup', confirm_restore: true }], 'tort-as-empty');
    expect(empty).toMatchObject({ status: 'success', beside: { table: 'torture.nothing_from_backup', rows: 3 } });
    await withAdmin((c) => c.query("UPDATE torture.singleton SET note = 'changed'"), live);
    const replaced = await run(during, restoreTable, [{ backup_filename: filename, table: 'torture.singleton', confirm_restore: true }], 'tort-table');
    expect(replaced.error).toBeNull();
    expect(replaced).toMatchObject({ status: 'success', plan: { tables: [{ table: 'torture.singleton', update: 1, compared_as_text: ['k (torture.shape)'] }] } });
    const now = await fingerprint(live);
    expect(now.tables['torture.shapes_from_backup']).toEqual(atBackup.tables['torture.shapes']);
    expect(now.tables['torture.singleton']).toEqual(atBackup.tables['torture.singleton']);
    expect(now.tables['torture.nothing_from_backup']).toEqual(atBackup.tables['torture.nothing']);
  });

  it('restores the whole database by swap, then in place, each to exactly the backup', async () => {
    const { filename, atBackup } = newest;
    await withAdmin((c) => c.query('DROP TABLE IF EXISTS torture.shapes_from_backup, torture.nothing_from_backup; DELETE FROM torture.child; UPDATE torture.shapes SET x = NULL'), live);
    const swapped = await run(during, restoreDatabase, [{ backup_filename: filename, confirm_restore: true }], 'tort-swap');
    expect(swapped).toMatchObject({ status: 'success', strategy: 'swap', verification: { ok: true } });
    expect(swapped.notes).toEqual([
      "torture.child: restored with the columns in another order (pg_dump recreates an inheritance child with its parents' columns first); the content is the same, and SELECT * lists the columns differently (docs/operations.md)",
    ]);
    expect(formatRestoreResult(swapped, live)).toMatch(/\n {2}note +torture\.child: restored with the columns in another order/);
    expect(diffFingerprints(atBackup, await fingerprint(live))).toEqual([]);

    await withAdmin((c) => c.query('DELETE FROM torture.nothing; DELETE FROM torture.files'), live);
    const inPlaceConfig = onTemporal(during);
    const cannotCreate = async () => {
      throw ApplicationFailure.create({ type: 'CannotCreateDatabase', nonRetryable: true, message: 'simulated: no CREATEDB' });
    };
    await worker(inPlaceConfig, { restoreIntoNewDatabase: cannotCreate });
    const inPlace = await run(inPlaceConfig, restoreDatabase, [{ backup_filename: filename, confirm_restore: true }], 'tort-inplace');
    expect(inPlace.error).toBeNull();
    expect(inPlace).toMatchObject({ status: 'success', strategy: 'in_place', verification: { ok: true } });
    expect(diffFingerprints(atBackup, await fingerprint(live))).toEqual([]);
  });

  it('restores onto a brand-new server (no such database there), recreating the roles, to exactly the backup', async () => {
    const { filename, atBackup } = newest;
    let fresh: PgCluster | undefined;
    try {
      fresh = await startPgCluster();
      const target = onTemporal({ ...during, database: { ...during.database, host: fresh.host, port: fresh.port, password: fresh.password, database: 'family_brain' } });
      const started = await startTestWorker(target);
      try {
        const result = await run(target, restoreDatabase, [{ backup_filename: filename, confirm_restore: true }], 'tort-fresh');
        expect(result).toMatchObject({ status: 'success', strategy: 'create', roles_created: ['family_brain_app'], verification: { ok: true } });
      } finally {
        await started.stop();
      }
      const restored = await fingerprintDatabase({ host: fresh.host, port: fresh.port, user: fresh.user, password: fresh.password, database: 'family_brain' });
      expect(diffFingerprints(atBackup, restored)).toEqual([]);
    } finally {
      await fresh?.stop();
    }
  });
});
