// Client-side encryption with age, through the real workflows on the Temporal dev server, real
// PostgreSQL, s3rver, and the real age CLI (Debian package `age`, installed by scripts/install-deps.sh).
import fs from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { WorkflowFailedError } from '@temporalio/client';
import { ActivityFailure, ApplicationFailure } from '@temporalio/common';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pruneBackups } from '../src/activities/backup/prune';
import { listCatalog } from '../src/activities/catalog';
import { libpqEnv } from '../src/activities/pgTools';
import { manifestName, type BackupManifest } from '../src/backup/manifest';
import { parseBackupName } from '../src/backup/naming';
import type { Config } from '../src/config';
import { loadConfig } from '../src/config';
import { createS3Client } from '../src/storage/s3Client';
import { diffFingerprints } from './compare';
import { backupDatabase, restoreDatabase, restoreDrill } from '../src/workflows';
import type { BackupResult } from '../src/workflows/backupDatabase';
import { ageKeygen, createDatabase, dropDatabase, fingerprint, runActivity, tempDir, testConfig, uniqueName, withAdmin, withEmptyPath } from './helpers';
import { onTemporal, startTestWorker, testClient } from './temporal';

/** A string that is in the database and must be in no stored byte. */
const MARKER = `plaintext-marker-${uniqueName('m')}`;
const made: string[] = [];
let source: string;
let key: { file: string; recipient: string };
let otherKey: { file: string; recipient: string };

/** `config` encrypting to `k`, decrypting with the private key file `identity` (k's by default; null: none). */
function encrypted(config: Config, k: { file: string; recipient: string }, identity: string | null = k.file): Config {
  return { ...config, backup: { ...config.backup, ageRecipients: [k.recipient], ageIdentityFile: identity ?? undefined } };
}

const workflowId = (label: string) => uniqueName(label).replace(/_/g, '-');

async function onWorker<T>(config: Config, fn: (taskQueue: string) => Promise<T>): Promise<T> {
  const worker = await startTestWorker(onTemporal(config));
  try {
    return await fn(worker.taskQueue);
  } finally {
    await worker.stop();
  }
}

async function backup(config: Config, input: Record<string, unknown> = {}): Promise<{ result: BackupResult; history: string }> {
  const client = await testClient();
  return onWorker(config, async (taskQueue) => {
    const handle = await client.workflow.start(backupDatabase, { taskQueue, workflowId: workflowId('enc-backup'), args: [{ backup_type: 'manual', cleanup_old: false, ...input }] });
    const result = await handle.result();
    return { result, history: JSON.stringify(await handle.fetchHistory()) };
  });
}

async function restore(config: Config, input: Record<string, unknown>): Promise<{ result?: unknown; error?: unknown; history: string }> {
  const client = await testClient();
  return onWorker(config, async (taskQueue) => {
    const handle = await client.workflow.start(restoreDatabase, { taskQueue, workflowId: workflowId('enc-restore'), args: [{ confirm_restore: true, ...input }] });
    const outcome = await handle.result().then(
      (result: unknown) => ({ result }),
      (error: unknown) => ({ error }),
    );
    return { ...outcome, history: JSON.stringify(await handle.fetchHistory()) };
  });
}

function rootFailure(error: unknown): ApplicationFailure {
  expect(error).toBeInstanceOf(WorkflowFailedError);
  let cause = (error as WorkflowFailedError).cause;
  if (cause instanceof ActivityFailure) cause = cause.cause;
  expect(cause).toBeInstanceOf(ApplicationFailure);
  return cause as ApplicationFailure;
}

/** `age -d -i key file | gunzip | psql` into a new, empty database, as a user without fbb would. */
async function restoreWithAgeCli(file: string, identity: string): Promise<string> {
  const name = await createDatabase('enc_cli', false);
  const config = testConfig({ database: name });
  const age = execa('age', ['-d', '-i', identity, file], { buffer: { stdout: false } });
  const psql = execa(`${config.pgBinDir!}/psql`, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null'], { env: libpqEnv(config.database), extendEnv: false, stdin: 'pipe' });
  await Promise.all([pipeline(age.stdout, zlib.createGunzip(), psql.stdin), age, psql]);
  made.push(name);
  return name;
}

beforeAll(async () => {
  [key, otherKey] = await Promise.all([ageKeygen(), ageKeygen()]);
  source = await createDatabase('enc_src');
  made.push(source);
  await withAdmin((c) => c.query(`CREATE TABLE private_notes (id int PRIMARY KEY, body text NOT NULL); INSERT INTO private_notes VALUES (1, '${MARKER}')`), source);
});
afterAll(async () => {
  await Promise.all(made.map(dropDatabase));
});

describe('age encryption', () => {
  it('reads BACKUP_AGE_RECIPIENTS and BACKUP_AGE_IDENTITY_FILE, and names what is wrong with a recipient', () => {
    const config = loadConfig({ BACKUP_AGE_RECIPIENTS: `${key.recipient}, ${otherKey.recipient}`, BACKUP_AGE_IDENTITY_FILE: key.file });
    expect(config.backup.ageRecipients).toEqual([key.recipient, otherKey.recipient]);
    expect(config.backup.ageIdentityFile).toBe(key.file);
    expect(() => loadConfig({ BACKUP_AGE_RECIPIENTS: 'AGE-SECRET-KEY-1QQQ' })).toThrow(/BACKUP_AGE_RECIPIENTS.*must be age X25519 public keys/s);
    expect(() => loadConfig({ BACKUP_AGE_RECIPIENTS: key.recipient, BACKUP_FORMAT: 'custom' })).toThrow(/BACKUP_FORMAT=custom cannot be encrypted .*use BACKUP_FORMAT=plain_gzip or plain_zstd/s);
  });

  it('names encrypted backups <name>.sql.gz.age, and listing, retention and restores still read their prefix, type, time and format', () => {
    expect(parseBackupName('family_brain_daily_20251208_020000.sql.gz.age')).toEqual({ filename: 'family_brain_daily_20251208_020000.sql.gz.age', prefix: 'family_brain', type: 'daily', timestamp: '20251208_020000', format: 'plain_gzip', encrypted: true });
    expect(parseBackupName('family_brain_daily_20251208_020000.sql.gz')).toEqual({ filename: 'family_brain_daily_20251208_020000.sql.gz', prefix: 'family_brain', type: 'daily', timestamp: '20251208_020000', format: 'plain_gzip' });
    expect(parseBackupName('family_brain_daily_20251208_020000.sql.gz.age.manifest.json')).toBeUndefined();
  });

  let filename: string;
  let atBackup: Awaited<ReturnType<typeof fingerprint>>;
  let config: Config;

  it('makes a verified, uploaded backup that is age ciphertext locally and in S3, restorable with age -d | gunzip | psql; no key is in the workflow history', async () => {
    config = encrypted(testConfig({ database: source, s3: true }), key);
    atBackup = await fingerprint(source);
    const { result, history } = await backup(config, { upload_to_s3: true });
    filename = result.filename;
    expect(filename).toMatch(/^family_brain_manual_\d{8}_\d{6}\.sql\.gz\.age$/);
    expect(result).toMatchObject({ status: 'success', verified: { ok: true }, uploaded: { key: `${config.s3!.prefix}${filename}` } });
    expect(history).not.toContain('AGE-SECRET-KEY');

    const local = fs.readFileSync(path.join(config.backup.dir, filename));
    const s3 = createS3Client(config.s3!);
    const object = Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: config.s3!.bucket, Key: `${config.s3!.prefix}${filename}` }))).Body!.transformToByteArray());
    s3.destroy();
    for (const bytes of [local, object]) {
      expect(bytes.subarray(0, 22).toString('latin1')).toBe('age-encryption.org/v1\n');
      expect(bytes.includes(MARKER)).toBe(false);
      expect(() => zlib.gunzipSync(bytes)).toThrow();
    }
    expect(object.equals(local)).toBe(true);

    const manifest = JSON.parse(fs.readFileSync(path.join(config.backup.dir, manifestName(filename)), 'utf8')) as BackupManifest;
    expect(manifest.encryption).toEqual({ format: 'age', recipients: [key.recipient] });
    expect(JSON.stringify(manifest)).not.toContain('AGE-SECRET-KEY');

    // The real age CLI decrypts it; the database it restores is identical (and the marker is back).
    const copy = await restoreWithAgeCli(path.join(config.backup.dir, filename), key.file);
    expect(diffFingerprints(atBackup, await fingerprint(copy))).toEqual([]);
    const marker = await withAdmin((c) => c.query<{ body: string }>('SELECT body FROM private_notes'), copy);
    expect(marker.rows).toEqual([{ body: MARKER }]);
  });

  it('drills the encrypted S3 copy: restored, counted and sample-checked with the key; without it, EncryptionKeyMissing', async () => {
    expect(filename).toBeDefined();
    const client = await testClient();
    const drill = (cfg: Config) =>
      onWorker(cfg, (taskQueue) => client.workflow.execute(restoreDrill, { taskQueue, workflowId: workflowId('enc-drill'), args: [{ source: 's3' }] }).then((r) => ({ result: r }), (error: unknown) => ({ error })));
    const passed = await drill(config);
    expect(passed).toMatchObject({ result: { status: 'passed', filename, source: 's3', samples_missing: [] } });
    expect((passed as { result: { samples_checked: number } }).result.samples_checked).toBeGreaterThan(0);
    const keyless = await drill(encrypted(config, key, null));
    expect(rootFailure((keyless as { error: unknown }).error).type).toBe('EncryptionKeyMissing');
  });

  it('lists encrypted backups, locally and in S3, and retention prunes an old .age backup like any other', async () => {
    expect(filename).toBeDefined();
    const catalog = await runActivity(listCatalog, config, true);
    expect(catalog.backups.find((b) => b.filename === filename)).toMatchObject({ locations: ['local', 's3'] });
    // An old copy of it, by name and manifest, is past the manual retention; the newest verified one is kept.
    const old = 'family_brain_manual_20200101_000000.sql.gz.age';
    fs.copyFileSync(path.join(config.backup.dir, filename), path.join(config.backup.dir, old));
    const manifest = JSON.parse(fs.readFileSync(path.join(config.backup.dir, manifestName(filename)), 'utf8')) as BackupManifest;
    fs.writeFileSync(path.join(config.backup.dir, manifestName(old)), JSON.stringify({ ...manifest, filename: old, created_at: '2020-01-01T05:00:00.000Z' }));
    const local = { ...config, s3: undefined };
    const decisions = await runActivity(pruneBackups, local, { dryRun: true });
    expect(decisions.find((d) => d.filename === old)).toMatchObject({ action: 'remove', location: 'local' });
    expect(decisions.find((d) => d.filename === filename)).toMatchObject({ action: 'keep' });
    fs.rmSync(path.join(config.backup.dir, old));
    fs.rmSync(path.join(config.backup.dir, manifestName(old)));
  });

  it('refuses a restore with the wrong key (EncryptionKeyMismatch) or none (EncryptionKeyMissing) before anything changes', async () => {
    expect(filename).toBeDefined();
    await withAdmin((c) => c.query('DELETE FROM private_notes'), source);
    const before = await fingerprint(source);
    for (const [identity, type, message] of [
      [otherKey.file, 'EncryptionKeyMismatch', `backup "${filename}" was not encrypted to the key in BACKUP_AGE_IDENTITY_FILE (its public key: ${otherKey.recipient}); point BACKUP_AGE_IDENTITY_FILE at the private key of one of the recipients its manifest names; nothing was changed`],
      [null, 'EncryptionKeyMissing', `backup "${filename}" is encrypted with age, but BACKUP_AGE_IDENTITY_FILE is not set on the worker; set it to the file holding the private key (AGE-SECRET-KEY-1…) and run again; nothing was changed`],
    ] as const) {
      const dir = tempDir('enc-wrong');
      const worker = encrypted(config, key, identity);
      const { error } = await restore({ ...worker, backup: { ...worker.backup, dir } }, { backup_filename: filename, backup_source: 's3' });
      const failure = rootFailure(error);
      expect(failure.type).toBe(type);
      expect(failure.message).toBe(message);
      expect(failure.nonRetryable).toBe(true);
      // No pre-restore backup was made, nothing was swapped.
      expect(fs.readdirSync(dir).filter((f) => parseBackupName(f)?.type === 'pre_restore')).toEqual([]);
      expect(diffFingerprints(before, await fingerprint(source))).toEqual([]);
    }
  });

  it('restores the encrypted backup from S3 onto a worker with an empty backup directory, exactly as it was, through the restore workflow', async () => {
    expect(filename).toBeDefined();
    await withAdmin((c) => c.query("UPDATE private_notes SET body = 'changed'; INSERT INTO private_notes VALUES (2, 'new')"), source);
    const elsewhere = { ...config, backup: { ...config.backup, dir: tempDir('enc-restore') } };
    const { result, error, history } = await restore(elsewhere, { backup_filename: filename, backup_source: 's3' });
    expect(error).toBeUndefined();
    expect(result).toMatchObject({ status: 'success', backup_source: 's3' });
    expect(diffFingerprints(atBackup, await fingerprint(source))).toEqual([]);
    expect(history).not.toContain('AGE-SECRET-KEY');
    // The pre-restore backup of the changed database is encrypted too.
    const preRestore = fs.readdirSync(elsewhere.backup.dir).filter((f) => parseBackupName(f)?.type === 'pre_restore');
    expect(preRestore).toHaveLength(1);
    expect(preRestore[0]).toMatch(/\.sql\.gz\.age$/);
    expect(fs.readFileSync(path.join(elsewhere.backup.dir, preRestore[0]!)).includes('changed')).toBe(false);
  });

  // Issue 21, item 7: the one-pass verification decrypted what it restored, so a worker without the private key failed every backup.
  it('makes a backup verified in the same pass on a worker that holds only the public key; the private key decrypts it to the database as it was', async () => {
    const publicOnly = encrypted(testConfig({ database: source }), key, null);
    const at = await fingerprint(source);
    const { result } = await backup(publicOnly);
    expect(result).toMatchObject({ status: 'success', verified: { ok: true } });
    const manifest = JSON.parse(fs.readFileSync(path.join(publicOnly.backup.dir, manifestName(result.filename)), 'utf8')) as BackupManifest;
    expect(manifest).toMatchObject({ status: 'verified', encryption: { format: 'age', recipients: [key.recipient] }, verification: { ok: true, method: 'restore_during_dump' } });
    const copy = await restoreWithAgeCli(path.join(publicOnly.backup.dir, result.filename), key.file);
    expect(diffFingerprints(at, await fingerprint(copy))).toEqual([]);
  });

  it('fails an encrypted backup at once with a DumpFailed that names the missing age binary, and writes nothing', async () => {
    const worker = encrypted(testConfig({ database: source }), key, null);
    const client = await testClient();
    const error = await withEmptyPath(() =>
      onWorker(worker, (taskQueue) => client.workflow.execute(backupDatabase, { taskQueue, workflowId: workflowId('enc-noage'), args: [{ backup_type: 'manual', cleanup_old: false }] }).then(() => undefined, (e: unknown) => e)),
    );
    const failure = rootFailure(error);
    expect(failure.type).toBe('DumpFailed');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(/^backup "family_brain_manual_\d{8}_\d{6}\.sql\.gz\.age" is to be encrypted, but the age binary is not installed on this worker \(not found on PATH .+\); install it \(Debian: apt-get install age\) and run again; nothing was written$/);
    expect(fs.readdirSync(worker.backup.dir)).toEqual([]);
  });
});
