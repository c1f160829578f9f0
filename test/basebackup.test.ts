// Issue 24, base backups: a base backup killed mid-stream (SIGKILL of the process running the worker)
// leaves no file that looks like a backup; an encrypted one is uploaded to S3 with its sidecars,
// refused before anything changes when the age key is wrong, and restored with the right one.
import { execSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applicationFailureOf } from '../src/client/failures';
import { parseBaseBackupName } from '../src/basebackup/naming';
import type { Config } from '../src/config';
import { createS3Client } from '../src/storage/s3Client';
import { baseBackup, restoreToTime } from '../src/workflows';
import { temporalDriver } from './drivers';
import { buildWorker, killAllWorkers, startWorker } from './durability';
import { fbbEnv, startFbb, waitFor, outcome } from './faults';
import { onTemporal, testClient } from './temporal';
import { tempDir, uniqueName, withServer } from './helpers';
import { startPitrSetup, startRestored, switchAndArchive, type PitrSetup } from './pitrCluster';

const driver = temporalDriver();
const id = (label: string) => uniqueName(label).replace(/_/g, '-');

/** A temporary directory the postgres user can reach (tests run as root; the restored server runs as postgres). */
function openTempDir(label: string): string {
  const dir = tempDir(label);
  fs.chmodSync(dir, 0o755);
  return dir;
}

/** A fresh age key pair: the identity file and its public key. */
function ageKey(): { file: string; recipient: string } {
  const file = path.join(tempDir('age'), 'key.txt');
  execSync(`age-keygen -o ${file}`, { stdio: 'ignore' });
  return { file, recipient: execSync(`age-keygen -y ${file}`).toString().trim() };
}

/** All descendants of `pid` (children first found, then theirs). */
async function descendants(pid: number): Promise<number[]> {
  const { stdout } = await execa('ps', ['-o', 'pid=', '--ppid', String(pid)], { reject: false });
  const children = stdout.split('\n').map((s) => Number(s.trim())).filter((n) => n > 0);
  return [...children, ...(await Promise.all(children.map(descendants))).flat()];
}

/** A PG_BIN_DIR whose pg_basebackup passes the first 2 MB of its tar stream, touches `mark`, then holds the rest back for a minute: killed then, the backup is mid-stream. */
function slowBasebackup(): { slow: string; mark: string } {
  const real = setup.cluster.binDir;
  const slow = tempDir('slowbin');
  const mark = path.join(slow, 'streaming');
  for (const tool of fs.readdirSync(real)) if (tool !== 'pg_basebackup') fs.symlinkSync(path.join(real, tool), path.join(slow, tool));
  fs.writeFileSync(path.join(slow, 'pg_basebackup'), `#!/bin/bash\nset -o pipefail\n${JSON.stringify(path.join(real, 'pg_basebackup'))} "$@" | { head -c 2000000; touch ${mark}; sleep 60; cat; }\n`, { mode: 0o755 });
  return { slow, mark };
}

/** SIGKILLs `pid` and the processes it started (found before the kill). */
async function killTree(pid: number): Promise<void> {
  const children = await descendants(pid);
  for (const p of [pid, ...children]) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

let setup: PitrSetup;
/** The encrypted base backup's file name and the config (with the right key) that restored it. */
let encrypted: { filename: string; reader: Config } | undefined;
beforeAll(async () => {
  [setup] = await Promise.all([startPitrSetup({ s3: true }), buildWorker()]);
}, 600_000);
afterAll(async () => {
  await killAllWorkers();
  await driver.release();
  await setup?.archive.stop().catch(() => undefined);
  await setup?.cluster.stop();
});

describe('a base backup killed mid-stream', () => {
  it('leaves no file that looks like a backup (no .tar.gz, manifest or sidecar), and the next base backup succeeds', async () => {
    const { slow, mark } = slowBasebackup();
    const config: Config = { ...setup.config, s3: undefined };
    const run = startFbb(['basebackup', '--local', '--json'], fbbEnv(config, { PG_BIN_DIR: slow }));
    await waitFor('pg_basebackup to be mid-stream', () => (fs.existsSync(mark) ? true : undefined), run, 120_000);
    await killTree(run.pid!);
    expect((await run).signal).toBe('SIGKILL');

    const dir = path.join(config.backup.dir, 'base', setup.archive.systemIdentifier);
    const left = fs.readdirSync(dir);
    expect(left.filter((f) => parseBaseBackupName(f) !== undefined || /\.(manifest\.json|sha256|backup_manifest)$/.test(f))).toEqual([]);
    expect(left.every((f) => /^\.family_brain_base_\d{8}_\d{6}\.tar\.gz\.partial-[0-9a-f]{8}$/.test(f))).toBe(true);

    const next = await startFbb(['basebackup', '--local', '--json'], fbbEnv(config));
    expect(outcome(next)).toMatchObject({ exit: 0 });
    const { manifest } = JSON.parse(next.stdout) as { manifest: { filename: string } };
    expect(fs.readdirSync(dir).filter((f) => parseBaseBackupName(f) !== undefined)).toEqual([manifest.filename]);
  }, 300_000);
});

describe('a worker SIGKILLed while pg_basebackup streams', () => {
  it('leaves no backup-looking file; the retry on another worker takes the same backup and removes the partial file', async () => {
    const { slow, mark } = slowBasebackup();
    const retryDir = tempDir('bb-retry');
    // Its own directory for base backups; the archive's WAL (which the verification restores with) is shared.
    fs.symlinkSync(path.join(setup.config.backup.dir, 'wal'), path.join(retryDir, 'wal'));
    const config = onTemporal({ ...setup.config, s3: undefined, backup: { ...setup.config.backup, dir: retryDir } });
    const worker = startWorker(config, { PG_BIN_DIR: slow });
    const client = await testClient();
    const handle = await client.workflow.start(baseBackup, { taskQueue: config.temporal.taskQueue, workflowId: id('bb-killed-worker'), args: [{}] });
    await waitFor('pg_basebackup to be mid-stream', () => (fs.existsSync(mark) ? true : undefined), worker, 120_000);
    await killTree(worker.pid!);
    const dir = path.join(config.backup.dir, 'base', setup.archive.systemIdentifier);
    const left = fs.readdirSync(dir);
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(/^\.family_brain_base_\d{8}_\d{6}\.tar\.gz\.partial-[0-9a-f]{8}$/);

    // Another worker process of the same build (the same version of the worker deployment): the
    // run, routed to that version, is retried there.
    const replacement = startWorker(config);
    try {
      const { manifest } = await handle.result();
      expect(left[0]!.startsWith(`.${manifest.filename}.partial-`)).toBe(true);
      expect(fs.readdirSync(dir).sort()).toEqual([manifest.filename, `${manifest.filename}.backup_manifest`, `${manifest.filename}.manifest.json`, `${manifest.filename}.sha256`].sort());
    } finally {
      await killTree(replacement.pid!);
    }
  }, 300_000);
});

// Before the S3 test below stops the WAL archive: a base backup is verified with its archived WAL.
describe('fbb basebackup --incremental on PostgreSQL 15', () => {
  it('takes a full backup and says why in the manifest', async () => {
    const runner = await driver.runner({ ...setup.config, s3: undefined });
    const { manifest } = await runner.execute(baseBackup, { args: [{ incremental: true }], workflowId: id('bb-incr15') });
    expect(manifest).toMatchObject({ backup_type: 'full', parent: null, pg_major: 15, note: 'PostgreSQL 15 has no incremental base backups (17 and later do); taken full' });
  }, 120_000);
});

describe('an encrypted base backup', () => {
  it('is uploaded with its sidecars; a wrong age key is refused before anything changes; the right key restores it', async () => {
    const key = ageKey();
    const wrong = ageKey();
    // The worker that takes it also verifies it (restores it): it needs the identity; another worker has the wrong one.
    const writer: Config = { ...setup.config, backup: { ...setup.config.backup, ageRecipients: [key.recipient], ageIdentityFile: key.file } };
    const runner = await driver.runner(writer);
    const wrongReader = await driver.runner({ ...writer, backup: { ...writer.backup, ageIdentityFile: wrong.file } });
    const result = await runner.execute(baseBackup, { args: [{}], workflowId: id('bb-age') });
    const m = result.manifest;
    expect(m.filename).toMatch(/^family_brain_base_\d{8}_\d{6}\.tar\.gz\.age$/);
    expect(m.encryption).toEqual({ format: 'age', recipients: [key.recipient] });
    expect(m.verification?.checks.amcheck).toEqual({ database: 'family_brain', problems: 0 });
    const rel = `base/${m.system_identifier}/${m.filename}`;
    expect(result.uploaded).toEqual({ bucket: writer.s3!.bucket, key: `${writer.s3!.prefix}${rel}` });
    const s3 = createS3Client(writer.s3!);
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: writer.s3!.bucket, Key: `${writer.s3!.prefix}${rel}` }));
      expect(head.ContentLength).toBe(m.size_bytes);
      for (const suffix of ['.sha256', '.manifest.json', '.backup_manifest']) await s3.send(new HeadObjectCommand({ Bucket: writer.s3!.bucket, Key: `${writer.s3!.prefix}${rel}${suffix}` }));
    } finally {
      s3.destroy();
    }
    await withServer(setup.cluster, 'family_brain', (c) => c.query("CREATE TABLE after_age_backup AS SELECT 'written after the encrypted base backup' AS note"));
    await switchAndArchive(setup);

    const target = path.join(openTempDir('pitr-age'), 'restored');
    const refused = applicationFailureOf(await wrongReader.execute(restoreToTime, { args: [{ to_time: 'latest', target_dir: target }], workflowId: id('pitr-wrongkey') }).catch((e: unknown) => e));
    expect(refused?.type).toBe('EncryptionKeyMismatch');
    expect(refused?.message).toMatch(new RegExp(`^backup "${m.filename.replace(/\./g, '\\.')}" was not encrypted to the key in BACKUP_AGE_IDENTITY_FILE \\(its public key: ${wrong.recipient}\\);.*nothing was changed$`));
    expect(fs.existsSync(target)).toBe(false);
    expect(fs.readdirSync(path.dirname(target))).toEqual([]);

    const reader = await driver.runner({ ...writer, backup: { ...writer.backup, ageIdentityFile: key.file } });
    const restoredRun = await reader.execute(restoreToTime, { args: [{ to_time: 'latest', target_dir: target }], workflowId: id('pitr-rightkey') });
    expect(restoredRun.chain).toEqual([m.filename]);
    encrypted = { filename: m.filename, reader: { ...writer, backup: { ...writer.backup, ageIdentityFile: key.file } } };
    const restored = await startRestored(setup.cluster.binDir, target, setup.cluster.password);
    try {
      expect(await restored.query('SELECT note FROM after_age_backup')).toEqual([{ note: 'written after the encrypted base backup' }]);
    } finally {
      await restored.stop();
    }
  }, 300_000);

  it('restores from S3 when BACKUP_DIR went with the server (--source s3 copies the base backup and WAL the moment needs down first)', async () => {
    const { filename, reader } = encrypted!;
    // The stand-in archives locally only; the real archive mirrors wal/ to S3 the same way.
    await setup.archive.stop();
    const s3 = createS3Client(reader.s3!);
    try {
      for (const f of fs.readdirSync(setup.archive.dir)) {
        await s3.send(new PutObjectCommand({ Bucket: reader.s3!.bucket, Key: `${reader.s3!.prefix}wal/${setup.archive.systemIdentifier}/${f}`, Body: fs.readFileSync(path.join(setup.archive.dir, f)) }));
      }
    } finally {
      s3.destroy();
    }
    const lost: Config = { ...reader, backup: { ...reader.backup, dir: tempDir('empty-backup-dir') } };
    const runner = await driver.runner(lost);
    const target = path.join(openTempDir('pitr-s3'), 'restored');
    const result = await runner.execute(restoreToTime, { args: [{ to_time: 'latest', target_dir: target, source: 's3' }], workflowId: id('pitr-s3') });
    expect(result.chain).toEqual([filename]);
    expect(fs.existsSync(path.join(lost.backup.dir, 'base', setup.archive.systemIdentifier, filename))).toBe(true);
    const restored = await startRestored(setup.cluster.binDir, target, setup.cluster.password);
    try {
      expect(await restored.query('SELECT note FROM after_age_backup')).toEqual([{ note: 'written after the encrypted base backup' }]);
    } finally {
      await restored.stop();
    }
  }, 300_000);
});
