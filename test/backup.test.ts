import fs from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure, CancelledFailure } from '@temporalio/common';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireLock, lockPath } from '../src/activities/backup/lock';
import { manifestName, type BackupManifest } from '../src/backup/manifest';
import { libpqEnv } from '../src/activities/pgTools';
import type { Config } from '../src/config';
import { LocalStore } from '../src/storage/localStore';
import { createS3Client } from '../src/storage/s3Client';
import { diffFingerprints } from './compare';
import { backupDatabase, progressQuery } from '../src/workflows';
import type { BackupResult } from '../src/workflows/backupDatabase';
import { temporalDriver, type Driver } from './drivers';
import { createDatabase, dropDatabase, fingerprint, restoreFileIntoNewDatabase, tempDir, testConfig, uniqueName, withAdmin, withEmptyPath } from './helpers';

let source: string;
const made: string[] = [];
const driver = temporalDriver();

beforeAll(async () => {
  source = await createDatabase('backup_src');
  made.push(source);
});
afterAll(async () => {
  await driver.release();
  await Promise.all(made.map(dropDatabase));
});

/** Three dump attempts with real backoffs (30 s + 60 s) on the server, while other test files load the machine. */
const RETRYING_TIMEOUT_MS = 300_000;

/** A workflow ID no other run on the dev server has. */
const workflowId = (label: string) => uniqueName(label).replace(/_/g, '-');

/** Runs the real backupDatabase workflow on `driver` with real activities against `config`. */
async function backup(driver: Driver, config: Config, input: Record<string, unknown> = {}): Promise<{ result?: BackupResult; error?: unknown; attempts: string[] }> {
  const runner = await driver.runner(config);
  try {
    const handle = await runner.start(backupDatabase, { args: [input], workflowId: workflowId('backup') });
    try {
      return { result: await handle.result(), attempts: handle.attempts() };
    } catch (error) {
      return { error, attempts: handle.attempts() };
    }
  } finally {
    await runner.stop();
  }
}

/** The ApplicationFailure at the bottom of a workflow failure. */
function rootFailure(error: unknown): ApplicationFailure {
  expect(error).toBeInstanceOf(WorkflowFailedError);
  let cause = (error as WorkflowFailedError).cause;
  if (cause instanceof ActivityFailure) cause = cause.cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

function backupFilesIn(dir: string): string[] {
  return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => !f.startsWith('.') || f.includes('partial')) : [];
}

describe('backupDatabase on the Temporal dev server', () => {
  it('makes a verified backup that restores into a fresh database identical to the source, embeddings included', async () => {
    const before = await fingerprint(source);
    const config = testConfig({ database: source });
    const { result, error } = await backup(driver, config, { backup_type: 'manual', upload_to_s3: false, cleanup_old: true, dry_run: false });
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ status: 'success', dry_run: false, backup_type: 'manual', uploaded: null, pruned: [] });
    expect(result!.filename).toMatch(/^family_brain_manual_\d{8}_\d{6}\.sql\.gz$/);
    expect(result!.tables_backed_up).toBe(15);
    expect(result!.table_details).toMatchObject({ tenants: 5, users: 15, family_documents: 300, chat_messages: 600 });
    expect(result!.total_rows).toBe(Object.values(result!.table_details).reduce((a, b) => a + b, 0));
    expect(result!.verified).toMatchObject({ ok: true, tables_checked: 15 });
    expect(result!.sha256).toMatch(/^[0-9a-f]{64}$/);

    const file = path.join(config.backup.dir, result!.filename);
    expect(result!.size_mb).toBe(Math.round((fs.statSync(file).size / 1024 / 1024) * 100) / 100);
    const manifest = JSON.parse(fs.readFileSync(path.join(config.backup.dir, manifestName(result!.filename)), 'utf8')) as BackupManifest;
    expect(manifest).toMatchObject({ status: 'verified', type: 'manual', format: 'plain_gzip', database: source, sha256: result!.sha256, table_details: result!.table_details });
    expect(manifest.extensions.map((e) => e.name)).toEqual(['vector']);
    expect(manifest.server_version).toMatch(/^15\./);
    expect(manifest.pg_dump_version).toMatch(/^15\./);

    const restored = await restoreFileIntoNewDatabase(file, 'restored');
    made.push(restored);
    expect(diffFingerprints(before, await fingerprint(restored))).toEqual([]);

    const logged = await withAdmin(
      (c) => c.query<{ level: string; details: { filename: string; status: string } }>("SELECT level, details FROM system_logs WHERE source = 'backup' AND details->>'filename' = $1", [result!.filename]),
      source,
    );
    expect(logged.rows).toEqual([{ level: 'info', details: expect.objectContaining({ filename: result!.filename, status: 'success' }) }]);
  });

  it('reports exact counts of what is in the file while the app keeps writing', async () => {
    const busy = await createDatabase('busy');
    made.push(busy);
    let writing = true;
    let inserted = 0;
    const writer = withAdmin(async (c) => {
      // Rows land in two tables during the whole backup; the snapshot must cover both alike.
      while (writing) {
        await c.query("INSERT INTO system_logs (level, source, message, details) VALUES ('info', 'app', 'tick', '{}')");
        await c.query(
          "INSERT INTO chat_messages (session_id, position, role, content) SELECT session_id, max(position) + 1, 'user', 'still typing' FROM chat_messages GROUP BY session_id ORDER BY session_id LIMIT 1",
        );
        inserted++;
      }
    }, busy);
    const config = testConfig({ database: busy });
    const { result, error } = await backup(driver, config);
    writing = false;
    await writer;
    expect(error).toBeUndefined();
    expect(inserted).toBeGreaterThan(10);
    const restored = await restoreFileIntoNewDatabase(path.join(config.backup.dir, result!.filename), 'busy_restored');
    made.push(restored);
    const inFile = await fingerprint(restored);
    const counts = Object.fromEntries(Object.entries(inFile.tables).map(([t, v]) => [t.replace(/^public\./, ''), v.rows]));
    expect(result!.table_details).toEqual(counts);
    // The writer went on after the snapshot: the live table has more rows than the file, and the counts did not follow it.
    const live = await withAdmin((c) => c.query<{ n: string }>('SELECT count(*) AS n FROM chat_messages'), busy);
    expect(Number(live.rows[0]!.n)).toBeGreaterThan(result!.table_details.chat_messages!);
  });

  // dumpDatabase retries after 30 s and 60 s (src/workflows/pipeline.ts). On the server those are real
  // seconds, so these runs overlap.
  describe.concurrent('after every retry of the dump', () => {
    it.each(['plain_gzip', 'plain_zstd'])('fails with DumpFailed and leaves no file when pg_dump is killed mid-way, on every attempt (%s)', async (format) => {
      const config = testConfig({ database: source });
      config.pgBinDir = killingPgDumpDir(config.pgBinDir!);
      const { error, attempts } = await backup(driver, config, { format });
      const failure = rootFailure(error);
      expect(failure.type).toBe('DumpFailed');
      expect(failure.message).toMatch(/^pg_dump was killed by SIGKILL(: .*)?; no backup file was written$/);
      expect(attempts.filter((a) => a.startsWith('dumpDatabase'))).toEqual(['dumpDatabase:failed', 'dumpDatabase:failed', 'dumpDatabase:failed']);
      expect(backupFilesIn(config.backup.dir)).toEqual([]);
      expect(await new LocalStore(config.backup.dir, 'family_brain').list()).toEqual([]);
    }, RETRYING_TIMEOUT_MS);

    it('fails with DatabaseUnreachable after its retries when the database does not answer', async () => {
      const config = testConfig({ database: source });
      config.database = { ...config.database, port: 1 };
      const { error, attempts } = await backup(driver, config);
      const failure = rootFailure(error);
      expect(failure.type).toBe('DatabaseUnreachable');
      expect(failure.message).toMatch(/nothing accepts connections at 127\.0\.0\.1:1/);
      expect(attempts.filter((a) => a.startsWith('dumpDatabase'))).toHaveLength(3);
      expect(backupFilesIn(config.backup.dir)).toEqual([]);
    }, RETRYING_TIMEOUT_MS);
  });

  // On the server the workflow closes (lock released, failure recorded) before the dump has stopped: the
  // activity is cancelled with the default TRY_CANCEL and learns of it only from a heartbeat response, so
  // its partial file stays until then.
  it('ends as cancelled when cancelled while dumping; once the dump has stopped, no file and no lock are left', async () => {
    const config = testConfig({ database: source });
    const stalled = path.join(tempDir('stall'), 'stalled');
    config.pgBinDir = stallingPgDumpDir(config.pgBinDir!, stalled);
    const runner = await driver.runner(config);
    try {
      const handle = await runner.start(backupDatabase, { args: [{ cleanup_old: false }], workflowId: workflowId('backup-cancel') });
      await until(() => fs.existsSync(stalled), 'pg_dump to stall');
      expect((await handle.query(progressQuery)).step).toBe('dumping');
      await handle.cancel();
      const error = await handle.result().then(() => undefined, (e: unknown) => e);
      expect(error).toBeInstanceOf(WorkflowFailedError);
      expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
      await until(() => handle.attempts().includes('dumpDatabase:cancelled'), 'the dump to stop');
      expect(backupFilesIn(config.backup.dir)).toEqual([]);
      expect(fs.existsSync(lockPath(config))).toBe(false);
    } finally {
      await runner.stop();
    }
  }, RETRYING_TIMEOUT_MS);

  it('makes a verified custom-format (.dump) backup that pg_restore turns back into the same database', async () => {
    const before = await fingerprint(source);
    const config = testConfig({ database: source });
    const { result, error } = await backup(driver, config, { format: 'custom' });
    expect(error).toBeUndefined();
    expect(result!.filename).toMatch(/^family_brain_manual_\d{8}_\d{6}\.dump$/);
    expect(result!.verified?.ok).toBe(true);
    const target = await createDatabase('custom_restored', false);
    made.push(target);
    const env = libpqEnv(testConfig({ database: target }).database);
    await execa(`${config.pgBinDir!}/pg_restore`, ['--exit-on-error', `--dbname=${target}`, path.join(config.backup.dir, result!.filename)], { env, extendEnv: false });
    expect(diffFingerprints(before, await fingerprint(target))).toEqual([]);
  });

  it('makes a verified zstd (.sql.zst) backup that plain zstd -dc | psql turns back into the same database', async () => {
    const before = await fingerprint(source);
    const config = testConfig({ database: source });
    const { result, error } = await backup(driver, config, { format: 'plain_zstd' });
    expect(error).toBeUndefined();
    expect(result!.filename).toMatch(/^family_brain_manual_\d{8}_\d{6}\.sql\.zst$/);
    expect(result!.verified?.ok).toBe(true);
    const file = path.join(config.backup.dir, result!.filename);
    // A zstd frame, not gzip: the magic number 28 b5 2f fd.
    expect(fs.readFileSync(file).subarray(0, 4).toString('hex')).toBe('28b52ffd');
    const target = await createDatabase('zstd_restored', false);
    made.push(target);
    const env = libpqEnv(testConfig({ database: target }).database);
    await execa('bash', ['-o', 'pipefail', '-c', `zstd -dc "${file}" | "${config.pgBinDir!}/psql" -X -q -v ON_ERROR_STOP=1 -o /dev/null`], { env: { ...env, PATH: process.env.PATH! }, extendEnv: false });
    expect(diffFingerprints(before, await fingerprint(target))).toEqual([]);
  });

  it('fails at once with DumpFailed, saying what to install, when a plain_zstd backup finds no zstd', async () => {
    const config = testConfig({ database: source });
    await withEmptyPath(async () => {
      const { error, attempts } = await backup(driver, config, { format: 'plain_zstd' });
      const failure = rootFailure(error);
      expect(failure.type).toBe('DumpFailed');
      expect(failure.nonRetryable).toBe(true);
      expect(failure.message).toBe('zstd is not installed, so a plain_zstd backup cannot be made; install it (Debian: apt-get install zstd) or set BACKUP_FORMAT=plain_gzip');
      expect(attempts.filter((a) => a.startsWith('dumpDatabase'))).toEqual(['dumpDatabase:failed']);
      expect(backupFilesIn(config.backup.dir)).toEqual([]);
    });
  });

  it('fails with BackupDirNotWritable, without retrying, when the backup directory cannot be written', async () => {
    const file = path.join(tempDir(), 'a-file');
    fs.writeFileSync(file, '');
    const config = testConfig({ database: source, backupDir: path.join(file, 'backups') });
    const { error, attempts } = await backup(driver, config);
    const failure = rootFailure(error);
    expect(failure.type).toBe('BackupDirNotWritable');
    expect(failure.message).toMatch(/^cannot write the backup into .*a-file\/backups \(ENOTDIR/);
    expect(attempts.filter((a) => a.startsWith('acquireBackupLock'))).toEqual(['acquireBackupLock:failed']);
  });

  it('rejects bad input with InvalidBackupInput before running anything', async () => {
    const config = testConfig({ database: source });
    const { error, attempts } = await backup(driver, config, { backup_type: 'hourly', dry_run: 'yes', upload: true });
    const failure = rootFailure(error);
    expect(failure.type).toBe('InvalidBackupInput');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toBe(
      'invalid backup input: unknown key "upload" (known: backup_type, upload_to_s3, cleanup_old, dry_run, format); ' +
        '"backup_type" must be one of "daily", "weekly", "monthly", "manual", got "hourly"; "dry_run" must be true or false, got "yes". ' +
        'Nothing was backed up. Example input: {"backup_type": "manual", "upload_to_s3": false, "cleanup_old": true, "dry_run": false}',
    );
    expect(attempts).toEqual([]);
  });

  it('refuses a second backup of the same database while one holds the lock', async () => {
    const config = testConfig({ database: source });
    await acquireLock(config, { workflow_id: 'backup-other-run', kind: 'backup' });
    const { error, attempts } = await backup(driver, config);
    const failure = rootFailure(error);
    expect(failure.type).toBe('DatabaseBusy');
    expect(failure.message).toMatch(new RegExp(`^a backup of database "${source}" is already running \\(workflow backup-other-run, .*since .*\\); wait for it to finish`));
    expect(attempts).not.toContain('dumpDatabase:completed');
  });

  it('dry_run reports tables, counts, size and what retention would prune, and changes nothing on disk, in S3 or in the database', async () => {
    const config = testConfig({ database: source, s3: true });
    const old = 'family_brain_daily_20200101_020000.sql.gz';
    const newest = 'family_brain_daily_20200102_020000.sql.gz';
    fs.mkdirSync(config.backup.dir, { recursive: true });
    fs.writeFileSync(path.join(config.backup.dir, old), 'legacy');
    fs.writeFileSync(path.join(config.backup.dir, newest), 'legacy, newest of its type');
    const s3 = createS3Client(config.s3!);
    for (const key of [old, newest]) await s3.send(new PutObjectCommand({ Bucket: config.s3!.bucket, Key: `${config.s3!.prefix}${key}`, Body: 'legacy' }));
    const s3Listing = async () => (await s3.send(new ListObjectsV2Command({ Bucket: config.s3!.bucket, Prefix: config.s3!.prefix }))).Contents?.map((o) => `${o.Key}:${o.Size}`).sort();
    const s3Before = await s3Listing();
    const dirBefore = fs.readdirSync(config.backup.dir).sort();
    const dbBefore = await fingerprint(source);
    const { result, error } = await backup(driver, config, { backup_type: 'daily', dry_run: true });
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ status: 'dry_run', dry_run: true, sha256: null, verified: null, pruned: [] });
    expect(result!.table_details).toMatchObject({ tenants: 5, family_documents: 300 });
    expect(result!.estimated_size_mb).toBeGreaterThan(1);
    const reason = expect.stringMatching(/^older than daily retention \(7 days\)/);
    expect(result!.would_prune).toEqual([
      { filename: old, location: 'local', reason },
      { filename: old, location: 's3', reason },
    ]);
    expect(fs.readdirSync(config.backup.dir).sort()).toEqual(dirBefore);
    expect(await s3Listing()).toEqual(s3Before);
    s3.destroy();
    expect(diffFingerprints(dbBefore, await fingerprint(source))).toEqual([]);
  });

  describe('with upload_to_s3, verifies and uploads at the same time', () => {
    const objects = async (config: Config) => {
      const s3 = createS3Client(config.s3!);
      try {
        const listing = await s3.send(new ListObjectsV2Command({ Bucket: config.s3!.bucket, Prefix: config.s3!.prefix }));
        return (listing.Contents ?? []).map((o) => o.Key!.slice(config.s3!.prefix.length)).sort();
      } finally {
        s3.destroy();
      }
    };

    it('and the manifest in S3 says verified once both are done', async () => {
      const config = testConfig({ database: source, s3: true });
      const runner = await driver.runner(config);
      try {
        const handle = await runner.start(backupDatabase, { args: [{ upload_to_s3: true, cleanup_old: false }], workflowId: workflowId('backup-overlap') });
        const result = await handle.result();
        expect(result.uploaded).toEqual({ bucket: config.s3!.bucket, key: `${config.s3!.prefix}${result.filename}` });
        expect(await objects(config)).toEqual([result.filename, manifestName(result.filename)]);
        const s3 = createS3Client(config.s3!);
        const body = await s3.send(new GetObjectCommand({ Bucket: config.s3!.bucket, Key: `${config.s3!.prefix}${manifestName(result.filename)}` }));
        const manifest = JSON.parse(await body.Body!.transformToString()) as BackupManifest;
        s3.destroy();
        expect(manifest).toMatchObject({ status: 'verified', sha256: result.sha256, verification: { ok: true } });
        expect((await handle.query(progressQuery)).steps_done).toEqual(['dumping', 'verifying', 'uploading', 'recording']);
      } finally {
        await runner.stop();
      }
    });

    it('and deletes the uploaded copy when verification fails', async () => {
      // Verified after the dump, while the upload runs (in one pass nothing is uploaded before verification).
      const config = testConfig({ database: source, s3: true, verify: 'after_dump' });
      const failing = async () => {
        throw ApplicationFailure.create({ type: 'BackupVerificationFailed', nonRetryable: true, message: 'restored counts differ (injected)' });
      };
      const runner = await driver.runner(config, { verifyBackup: failing });
      try {
        const handle = await runner.start(backupDatabase, { args: [{ upload_to_s3: true, cleanup_old: false }], workflowId: workflowId('backup-retract') });
        const error = await handle.result().then(() => undefined, (e: unknown) => e);
        expect(rootFailure(error).type).toBe('BackupVerificationFailed');
        expect(rootFailure(error).message).toBe('restored counts differ (injected)');
        const outcomes = handle.attempts();
        expect(outcomes).toContain('uploadBackup:completed');
        expect(outcomes).toContain('retractUpload:completed');
        expect(await objects(config)).toEqual([]);
      } finally {
        await runner.stop();
      }
    });
  });

  it('answers the progress query with the step and the steps done', async () => {
    const config = testConfig({ database: source });
    const runner = await driver.runner(config);
    try {
      const handle = await runner.start(backupDatabase, { args: [{ cleanup_old: false }], workflowId: workflowId('backup-progress') });
      const early = await handle.query(progressQuery);
      expect(['starting', 'dumping']).toContain(early.step);
      const result = await handle.result();
      expect(await handle.query(progressQuery)).toEqual({
        step: 'done',
        filename: result.filename,
        size_bytes: expect.any(Number),
        steps_done: ['dumping', 'verifying', 'recording'],
      });
    } finally {
      await runner.stop();
    }
  });
});

/** A pg_dump that writes 200 kB of the real dump, touches `marker`, then hangs until it is killed. */
function stallingPgDumpDir(realBinDir: string, marker: string): string {
  const dir = tempDir('fake-bin');
  for (const tool of ['psql', 'pg_restore']) fs.symlinkSync(path.join(realBinDir, tool), path.join(dir, tool));
  fs.writeFileSync(
    path.join(dir, 'pg_dump'),
    `#!/bin/bash\nif [ "$1" = "--version" ]; then exec "${realBinDir}/pg_dump" --version; fi\n"${realBinDir}/pg_dump" "$@" | head -c 200000\ntouch "${marker}"\nexec sleep 600\n`,
    { mode: 0o755 },
  );
  return dir;
}

/** Waits until `done()` holds, checking every 200 ms; fails after 90 s saying what it waited for. */
async function until(done: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`waited 90 s for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** A pg_dump that is killed with SIGKILL after it has written some of its output. */
function killingPgDumpDir(realBinDir: string): string {
  const dir = tempDir('fake-bin');
  for (const tool of ['psql', 'pg_restore']) fs.symlinkSync(path.join(realBinDir, tool), path.join(dir, tool));
  fs.writeFileSync(
    path.join(dir, 'pg_dump'),
    // Passes the first 200 kB of the real dump through, then dies by SIGKILL: a dump cut off mid-way, every time.
    `#!/bin/bash\nif [ "$1" = "--version" ]; then exec "${realBinDir}/pg_dump" --version; fi\n"${realBinDir}/pg_dump" "$@" | { head -c 200000; kill -9 $$; }\n`,
    { mode: 0o755 },
  );
  return dir;
}
