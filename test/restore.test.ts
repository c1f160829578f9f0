import fs from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createActivities } from '../src/activities';
import { libpqEnv } from '../src/activities/pgTools';
import type { Config } from '../src/config';
import { diffFingerprints, fingerprintDatabase } from './compare';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { backupDatabase, cancelRestore, confirmRestore, restoreDatabase } from '../src/workflows';
import { temporalDriver, type Driver, type Runner } from './drivers';
import { createDatabase, dropDatabasesLike, fingerprint, restoreFileIntoNewDatabase, runActivity, testConfig, uniqueName, withAdmin, withServer } from './helpers';

const driver = temporalDriver();
afterAll(async () => {
  await driver.release();
  // Every database this file made, live, aside or restored, has "rst" in its name.
  await dropDatabasesLike('fbb_rst');
});

/** A workflow ID no other run on the dev server has. */
const workflowId = (label = 'rst') => uniqueName(label).replace(/_/g, '-');

/** Makes a verified backup of `config`'s database on `driver` (its runner stays up for the restore); returns its file name. */
async function backupOf(driver: Driver, config: Config, input: Record<string, unknown> = {}): Promise<string> {
  const runner = await driver.runner(config);
  const result = await runner.execute(backupDatabase, { args: [{ cleanup_old: false, ...input }], workflowId: workflowId('rst-backup') });
  return result.filename;
}

/** Deletes, updates and adds rows: the "damage" a restore must undo. */
async function change(database: string): Promise<void> {
  await withAdmin(async (c) => {
    await c.query('DELETE FROM chat_messages WHERE id % 3 = 0');
    await c.query("UPDATE tenants SET name = name || ' (edited)'");
    await c.query("INSERT INTO system_logs (level, source, message, details) VALUES ('warn', 'app', 'after the backup', '{}')");
  }, database);
}

function failureType(err: unknown): string | undefined {
  let e: unknown = err;
  while (e instanceof WorkflowFailedError || e instanceof ActivityFailure) e = e.cause;
  return e instanceof ApplicationFailure ? (e.type ?? undefined) : undefined;
}

describe('restoreDatabase on the Temporal dev server', () => {
  afterEach(() => driver.release());
  const runnerFor = (config: Config, overrides: Record<string, unknown> = {}): Promise<Runner> => driver.runner(config, overrides);
  it('after a confirm signal, brings the database back to the moment of the backup; the pre-restore backup holds the state it replaced', async () => {
    const db = await createDatabase('rst_main');
    const config = testConfig({ database: db });
    const atBackup = await fingerprint(db);
    const filename = await backupOf(driver, config);
    await change(db);
    const changed = await fingerprint(db);

    const runner = await runnerFor(config);
    const handle = await runner.start(restoreDatabase, { args: [{ backup_filename: filename }], workflowId: workflowId() });
    const waiting = await handle.awaitingConfirmation();
    expect(waiting).toMatchObject({ status: 'running', phase: 'awaiting_confirmation', restored_from: filename, strategy: null });
    // The pre-restore backup is made once confirmed, right before the change.
    expect(waiting.pre_restore_backup).toBeNull();
    expect(waiting.confirm_by).not.toBeNull();
    // Untouched while it waits.
    expect(diffFingerprints(changed, await fingerprint(db))).toEqual([]);

    await handle.signal(confirmRestore, { confirmed_by: 'grace@example.org' });
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'success', strategy: 'swap', confirmed_by: 'grace@example.org', rollback: null, error: null });
    expect(result.pre_restore_backup).toMatch(/^family_brain_pre_restore_\d{8}_\d{6}\.sql\.gz$/);
    expect(result.verification?.ok).toBe(true);
    expect(result.verification?.tables.tenants).toEqual({ expected: 5, actual: 5 });
    expect(result.aside_database).toMatch(new RegExp(`^${db}_pre_restore_\\d{8}_\\d{6}$`));
    expect(diffFingerprints(atBackup, await fingerprint(db))).toEqual([]);

    const preRestored = await restoreFileIntoNewDatabase(path.join(config.backup.dir, result.pre_restore_backup!), 'rst_pre');
    expect(diffFingerprints(changed, await fingerprint(preRestored))).toEqual([]);
    // The database renamed aside is the changed one, kept; it also got the pre-restore backup's system_logs row.
    expect(diffFingerprints(changed, await fingerprint(result.aside_database!))).toEqual(RECORD_ROW);
    await expectBackupRecord(result.aside_database!, result.pre_restore_backup!);
  });

  it('restores from S3 when the local copy is gone', async () => {
    const db = await createDatabase('rst_s3');
    const config = testConfig({ database: db, s3: true });
    const atBackup = await fingerprint(db);
    const filename = await backupOf(driver, config, { upload_to_s3: true });
    fs.rmSync(path.join(config.backup.dir, filename));
    fs.rmSync(path.join(config.backup.dir, `${filename}.manifest.json`));
    await change(db);
    const runner = await runnerFor(config);
    const result = await runner.execute(restoreDatabase, { args: [{ backup_filename: filename, backup_source: 's3', confirm_restore: true }], workflowId: workflowId() });
    expect(result).toMatchObject({ status: 'success', backup_source: 's3', confirmed_by: 'input: confirm_restore' });
    expect(diffFingerprints(atBackup, await fingerprint(db))).toEqual([]);
  });

  // Found by the soak (seed 2626, cycle 29: restore × S3 down): S3 not answering was ManifestUnreadable, for good, "pick another backup".
  it('from S3 while S3 does not answer fails with a retryable S3Unavailable naming the endpoint, not an unreadable manifest; nothing is written', async () => {
    const config = testConfig({ s3: true });
    const down: Config = { ...config, s3: { ...config.s3!, endpoint: 'http://127.0.0.1:1' } };
    const failed = (await runActivity(createActivities({ config: down }).prepareRestore, 'family_brain_manual_20261206_010203.sql.gz', 's3').catch((e: unknown) => e)) as ApplicationFailure;
    expect(failed).toBeInstanceOf(ApplicationFailure);
    expect({ type: failed.type, nonRetryable: failed.nonRetryable }).toEqual({ type: 'S3Unavailable', nonRetryable: false });
    expect(failed.message).toContain('cannot read the manifest of "family_brain_manual_20261206_010203.sql.gz" in s3://');
    expect(failed.message).toContain('at http://127.0.0.1:1 (');
    expect(failed.message).toContain('check S3_ENDPOINT (scheme, host and port) and that the store is running; nothing was changed');
    expect(fs.readdirSync(config.backup.dir)).toEqual([]);
  });

  it.each([
    ['plain_zstd', /\.sql\.zst$/],
    ['custom', /\.dump$/],
  ])('restores a %s backup exactly (zstd through psql; custom with pg_restore --jobs beside the live database)', async (format, extension) => {
    const db = await createDatabase(`rst_${format}`);
    const config = testConfig({ database: db });
    const atBackup = await fingerprint(db);
    const filename = await backupOf(driver, config, { format });
    expect(filename).toMatch(extension);
    await change(db);
    const runner = await runnerFor(config);
    const result = await runner.execute(restoreDatabase, { args: [{ backup_filename: filename, confirm_restore: true, create_pre_restore_backup: false }], workflowId: workflowId() });
    expect(result).toMatchObject({ status: 'success', strategy: 'swap' });
    expect(diffFingerprints(atBackup, await fingerprint(db))).toEqual([]);
  });

  it('restores a Windmill-era file made with plain pg_dump | gzip, recording the counts it finds', async () => {
    const db = await createDatabase('rst_legacy');
    const config = testConfig({ database: db });
    const atBackup = await fingerprint(db);
    const legacy = 'family_brain_daily_20251208_020000.sql.gz';
    await execa('bash', ['-o', 'pipefail', '-c', `"${config.pgBinDir}/pg_dump" | gzip > "${path.join(config.backup.dir, legacy)}"`], { env: libpqEnv(config.database), extendEnv: false });
    await change(db);
    const runner = await runnerFor(config);
    const result = await runner.execute(restoreDatabase, { args: [{ backup_filename: legacy, confirm_restore: true, create_pre_restore_backup: false }], workflowId: workflowId() });
    expect(result).toMatchObject({ status: 'success', pre_restore_backup: null });
    expect(result.verification?.tables.tenants).toEqual({ expected: 5, actual: 5 });
    expect(diffFingerprints(atBackup, await fingerprint(db))).toEqual([]);
  });

  describe('leaves the database exactly as it was', () => {
    it('when cancelled by signal', async () => {
      const db = await createDatabase('rst_cancel');
      const config = testConfig({ database: db });
      const filename = await backupOf(driver, config);
      await change(db);
      const before = await fingerprint(db);
      const handle = await (await runnerFor(config)).start(restoreDatabase, { args: [{ backup_filename: filename, create_pre_restore_backup: false }], workflowId: workflowId() });
      await handle.awaitingConfirmation();
      await handle.signal(cancelRestore, { cancelled_by: 'ops', reason: 'wrong file' });
      const result = await handle.result();
      expect(result).toMatchObject({ status: 'cancelled', strategy: null, error: { type: 'RestoreCancelled', message: 'cancelled by ops: wrong file; the database was not changed' } });
      expect(diffFingerprints(before, await fingerprint(db))).toEqual([]);
    });

    it('when nobody confirms before the deadline', async () => {
      const db = await createDatabase('rst_expire');
      const config = testConfig({ database: db });
      const filename = await backupOf(driver, config);
      const before = await fingerprint(db);
      const runner = await runnerFor(config);
      const result = await runner.execute(restoreDatabase, {
        args: [{ backup_filename: filename, create_pre_restore_backup: false, confirmation_timeout: '3 seconds' }],
        workflowId: workflowId(),
      });
      expect(result).toMatchObject({ status: 'expired', error: { type: 'RestoreExpired', message: 'no confirmRestore signal within 3 seconds; the database was not changed' } });
      expect(diffFingerprints(before, await fingerprint(db))).toEqual([]);
    });

    it.each([
      ['a corrupted file', 'BackupCorrupted'],
      ['a missing file', 'BackupNotFound'],
      ['a bad name', 'InvalidBackupName'],
    ])('on %s, failing with %s', async (what, type) => {
      const db = await createDatabase('rst_bad');
      const config = testConfig({ database: db });
      let filename = await backupOf(driver, config);
      if (what === 'a corrupted file') {
        const file = path.join(config.backup.dir, filename);
        const bytes = fs.readFileSync(file);
        bytes[100] = bytes[100]! ^ 0x01;
        fs.writeFileSync(file, bytes);
      }
      if (what === 'a missing file') filename = 'family_brain_daily_20200101_020000.sql.gz';
      if (what === 'a bad name') filename = '../etc/passwd';
      await change(db);
      const before = await fingerprint(db);
      const handle = await (await runnerFor(config)).start(restoreDatabase, { args: [{ backup_filename: filename, confirm_restore: true }], workflowId: workflowId() });
      const err = await handle.result().catch((e: unknown) => e);
      expect(failureType(err)).toBe(type);
      expect(diffFingerprints(before, await fingerprint(db))).toEqual([]);
      if (what === 'a bad name') expect(handle.attempts()).toEqual([]);
    });

    it('on a server without pgvector, failing with ExtensionUnavailable before any change', async () => {
      const db = await createDatabase('rst_novec');
      const config = testConfig({ database: db });
      const filename = await backupOf(driver, config);
      let bare: PgCluster | undefined;
      try {
        bare = await startPgCluster({ withoutExtensions: ['vector'] });
        await withServer(bare, 'postgres', (c) => c.query('CREATE DATABASE family_brain'));
        await withServer(bare, 'family_brain', (c) => c.query('CREATE TABLE notes (id int primary key, body text); INSERT INTO notes VALUES (1, \'keep me\')'));
        const target: Config = { ...config, database: { ...config.database, host: bare.host, port: bare.port, password: bare.password, database: 'family_brain' } };
        const conn = { host: bare.host, port: bare.port, user: bare.user, password: bare.password, database: 'family_brain' };
        const before = await fingerprintDatabase(conn);
        const err = await (await runnerFor(target)).execute(restoreDatabase, { args: [{ backup_filename: filename, confirm_restore: true }], workflowId: workflowId() }).catch((e: unknown) => e);
        expect(failureType(err)).toBe('ExtensionUnavailable');
        expect(String((err as Error & { cause?: { cause?: Error } }).cause?.cause?.message)).toMatch(/needs extension\(s\) vector, which this server does not offer/);
        expect(diffFingerprints(before, await fingerprintDatabase(conn))).toEqual([]);
      } finally {
        await bare?.stop();
      }
    });
  });

  it('rolls back automatically when the check after the swap fails, leaving the database as before the restore', async () => {
    const db = await createDatabase('rst_rollback');
    const config = testConfig({ database: db });
    const filename = await backupOf(driver, config);
    await change(db);
    const before = await fingerprint(db);
    const real = createActivities({ config });
    // The injected failure: the live check after the swap finds a wrong count.
    const verifyLiveDatabase = async (expected: Record<string, number> | null, extensions: string[]) => {
      const check = await real.verifyLiveDatabase(expected, extensions);
      return { ...check, tables: { ...check.tables, tenants: { expected: 5, actual: 4 } }, ok: false };
    };
    const runner = await runnerFor(config, { verifyLiveDatabase });
    const result = await runner.execute(restoreDatabase, { args: [{ backup_filename: filename, confirm_restore: true }], workflowId: workflowId() });
    expect(result).toMatchObject({ status: 'rolled_back', strategy: 'swap', aside_database: null, error: { type: 'RestoreVerificationFailed' } });
    expect(result.rollback).toMatchObject({ strategy: 'swap_back', verification: { ok: true } });
    expect(result.rollback?.failed_database).toMatch(new RegExp(`^${db}_failed_restore_\\d{8}_\\d{6}$`));
    // As before the restore, plus the one system_logs row the pre-restore backup wrote.
    expect(diffFingerprints(before, await fingerprint(db))).toEqual(RECORD_ROW);
    await expectBackupRecord(db, result.pre_restore_backup!);
  });

  it('succeeds when the application writes to the database the moment it is swapped in: the check is that the live database is the copy checked beside it, and the write stays', async () => {
    const db = await createDatabase('rst_busy');
    const config = testConfig({ database: db });
    const filename = await backupOf(driver, config);
    await change(db);
    const real = createActivities({ config });
    // The application, connected again as soon as the renames committed, writes before the check runs.
    const swapDatabases = async (names: { live: string; incoming: string; aside: string }) => {
      const swapped = await real.swapDatabases(names);
      await withAdmin((c) => c.query("INSERT INTO system_logs (level, source, message) VALUES ('info', 'app', 'written right after the swap')"), db);
      return swapped;
    };
    const runner = await runnerFor(config, { swapDatabases });
    const result = await runner.execute(restoreDatabase, { args: [{ backup_filename: filename, confirm_restore: true }], workflowId: workflowId() });
    expect(result).toMatchObject({ status: 'success', strategy: 'swap', verification: { ok: true } });
    const identity = result.verification?.identity;
    expect(identity?.live_oid).toBe(identity?.restored_oid);
    expect(typeof identity?.live_oid).toBe('number');
    const logs = result.verification!.tables['public.system_logs'] ?? result.verification!.tables.system_logs;
    expect(logs!.actual).toBe(logs!.expected! + 1);
    const kept = await withAdmin(async (c) => (await c.query("SELECT count(*)::int AS n FROM system_logs WHERE message = 'written right after the swap'")).rows[0].n, db);
    expect(kept).toBe(1);
  });

  it('rolls back when the worker dies right after the renames, before the swap reported back', async () => {
    const db = await createDatabase('rst_swapcrash');
    const config = testConfig({ database: db });
    const filename = await backupOf(driver, config);
    await change(db);
    const before = await fingerprint(db);
    const real = createActivities({ config });
    // The renames commit, then the activity fails (as if the worker died); every retry fails too.
    const swapDatabases = async (names: { live: string; incoming: string; aside: string }) => {
      await real.swapDatabases(names);
      throw ApplicationFailure.create({ type: 'WorkerLost', message: 'simulated: the worker died after the swap', nonRetryable: true });
    };
    const runner = await runnerFor(config, { swapDatabases });
    const result = await runner.execute(restoreDatabase, { args: [{ backup_filename: filename, confirm_restore: true }], workflowId: workflowId() });
    expect(result).toMatchObject({ status: 'rolled_back', error: { type: 'WorkerLost' }, rollback: { strategy: 'swap_back', verification: { ok: true, swapped_back: true } } });
    expect(result.rollback?.failed_database).toMatch(new RegExp(`^${db}_failed_restore_`));
    expect(diffFingerprints(before, await fingerprint(db))).toEqual(RECORD_ROW);
  });

  describe('in place, when the server does not let us create databases (simulated: restoreIntoNewDatabase reports CannotCreateDatabase)', () => {
    const cannotCreate = async () => {
      throw ApplicationFailure.create({ type: 'CannotCreateDatabase', nonRetryable: true, message: 'simulated: no CREATEDB' });
    };

    it('replays the backup into the live database in one transaction', async () => {
      const db = await createDatabase('rst_inplace');
      const config = testConfig({ database: db });
      const atBackup = await fingerprint(db);
      const filename = await backupOf(driver, config);
      await change(db);
      const runner = await runnerFor(config, { restoreIntoNewDatabase: cannotCreate });
      const result = await runner.execute(restoreDatabase, { args: [{ backup_filename: filename, confirm_restore: true }], workflowId: workflowId() });
      expect(result).toMatchObject({ status: 'success', strategy: 'in_place', aside_database: null, verification: { ok: true } });
      expect(diffFingerprints(atBackup, await fingerprint(db))).toEqual([]);
    });

    it('rolls back to the pre-restore backup when the check afterwards fails', async () => {
      const db = await createDatabase('rst_inplace_rb');
      const config = testConfig({ database: db });
      const filename = await backupOf(driver, config);
      await change(db);
      const before = await fingerprint(db);
      const real = createActivities({ config });
      let checks = 0;
      // Fails the first live check (after the restore), passes the second (after the rollback).
      const verifyLiveDatabase = async (expected: Record<string, number> | null, extensions: string[]) => {
        const check = await real.verifyLiveDatabase(expected, extensions);
        return ++checks === 1 ? { ...check, ok: false } : check;
      };
      const runner = await runnerFor(config, { restoreIntoNewDatabase: cannotCreate, verifyLiveDatabase });
      const result = await runner.execute(restoreDatabase, { args: [{ backup_filename: filename, confirm_restore: true }], workflowId: workflowId() });
      expect(result).toMatchObject({ status: 'rolled_back', strategy: 'in_place', rollback: { strategy: 'pre_restore_backup', verification: { ok: true } } });
      // The pre-restore backup was dumped before it recorded itself in system_logs: exactly the state before the restore.
      expect(diffFingerprints(before, await fingerprint(db))).toEqual([]);
    });

    it('is refused without a pre-restore backup to roll back to', async () => {
      const db = await createDatabase('rst_inplace_nopre');
      const config = testConfig({ database: db });
      const filename = await backupOf(driver, config);
      const before = await fingerprint(db);
      const runner = await runnerFor(config, { restoreIntoNewDatabase: cannotCreate });
      const result = await runner.execute(restoreDatabase, { args: [{ backup_filename: filename, confirm_restore: true, create_pre_restore_backup: false }], workflowId: workflowId() });
      expect(result).toMatchObject({ status: 'failed', strategy: 'in_place', error: { type: 'CannotCreateDatabase' } });
      expect(diffFingerprints(before, await fingerprint(db))).toEqual([]);
    });
  });

  it('into a fresh server without the app\'s roles, creates them and restores exactly', async () => {
    const db = await createDatabase('rst_roles');
    const config = testConfig({ database: db });
    const atBackup = await fingerprint(db);
    const filename = await backupOf(driver, config);
    let fresh: PgCluster | undefined;
    try {
      fresh = await startPgCluster();
      await withServer(fresh, 'postgres', (c) => c.query('CREATE DATABASE family_brain'));
      const target: Config = { ...config, database: { ...config.database, host: fresh.host, port: fresh.port, password: fresh.password, database: 'family_brain' } };
      const result = await (await runnerFor(target)).execute(restoreDatabase, { args: [{ backup_filename: filename, confirm_restore: true }], workflowId: workflowId() });
      expect(result).toMatchObject({ status: 'success', roles_created: ['family_brain_app'] });
      const restored = await fingerprintDatabase({ host: fresh.host, port: fresh.port, user: fresh.user, password: fresh.password, database: 'family_brain' });
      expect(diffFingerprints(atBackup, restored)).toEqual([]);
    } finally {
      await fresh?.stop();
    }
  });

  it('refuses a second restore of the same database while one waits for confirmation', async () => {
    const db = await createDatabase('rst_twice');
    const config = testConfig({ database: db });
    const filename = await backupOf(driver, config);
    const runner = await runnerFor(config);
    const first = await runner.start(restoreDatabase, { args: [{ backup_filename: filename, create_pre_restore_backup: false }], workflowId: workflowId() });
    await first.awaitingConfirmation();
    const err = await runner.execute(restoreDatabase, { args: [{ backup_filename: filename, confirm_restore: true }], workflowId: workflowId() }).catch((e: unknown) => e);
    expect(failureType(err)).toBe('DatabaseBusy');
    expect(String((err as Error & { cause?: { cause?: Error } }).cause?.cause?.message)).toMatch(new RegExp(`^a restore of database "${db}" is already running \\(workflow ${first.workflowId}`));
    await first.signal(cancelRestore, {});
    await expect(first.result()).resolves.toMatchObject({ status: 'cancelled' });
  });
});

/** The difference one backup's system_logs record makes (source = 'backup'). */
const RECORD_ROW = ['table public.system_logs: row count 202 vs 203', 'sequence public.system_logs_id_seq: last value 202 vs 203'];

async function expectBackupRecord(database: string, filename: string): Promise<void> {
  const { rowCount } = await withAdmin((c) => c.query("SELECT 1 FROM system_logs WHERE source = 'backup' AND details->>'filename' = $1", [filename]), database);
  expect(rowCount).toBe(1);
}
