// Issue 24, the disaster runbook from an empty machine: the database server, its volume and the worker's
// BACKUP_DIR are gone; only S3 remains. The real archive (`fbb wal start`) and `fbb basebackup` on a real
// worker fill S3; then the runbook's commands, as docs/operations.md writes them, run in a spawned `fbb`
// with an empty BACKUP_DIR and give data directories that start with pg_ctl and hold exactly the state at T
// and at the end of the archive (its .partial segment included).
import fs from 'node:fs';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RecoveryResult } from '../src/activities/basebackup/recover';
import { createActivities } from '../src/activities';
import type { Config } from '../src/config';
import { createS3Client } from '../src/storage/s3Client';
import { diffFingerprints, type DatabaseFingerprint } from './compare';
import { buildWorker, kill, s3Env, startWorker } from './durability';
import { eventually } from './eventually';
import { ensureBuilt, fbbEnv, startFbb } from './faults';
import { tempDir, uniqueName, withServer } from './helpers';
import { temporalDriver } from './drivers';
import { scheduled, temporalInfo, testClient } from './temporal';
import { restoreToTime } from '../src/workflows';
import { crashAndDeleteDataDir, startPitrCli, startPitrSetup, startRestored, type PitrCli, type PitrSetup } from './pitrCluster';

/** A temporary directory the postgres user can reach (tests run as root; the restored server runs as postgres). */
const openTempDir = (label: string) => {
  const dir = tempDir(label);
  fs.chmodSync(dir, 0o755);
  return dir;
};

const driver = temporalDriver();
let setup: PitrSetup;
let cli: PitrCli;
/** family_brain at T, and at the end (the last commit before the crash). */
let atT: DatabaseFingerprint;
let atEnd: DatabaseFingerprint;
let t: string;

/** `config` on a new machine: an empty BACKUP_DIR, the same S3 (or none). */
const emptyMachine = (s3: Config['s3']): Config => ({ ...setup.config, backup: { ...setup.config.backup, dir: tempDir('empty-machine') }, s3 });

/** The S3 keys under the setup's prefix. */
async function s3Keys(): Promise<string[]> {
  const s3 = setup.config.s3!;
  const client = createS3Client(s3);
  try {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: s3.prefix }));
    return (listed.Contents ?? []).map((o) => o.Key!.slice(s3.prefix.length));
  } finally {
    client.destroy();
  }
}

/** The same moment-of-state comparison as test/pitr.test.ts: sequences only "not behind" (PostgreSQL WAL-logs them 32 ahead). */
function expectSameState(expected: DatabaseFingerprint, got: DatabaseFingerprint): void {
  expect(diffFingerprints({ ...expected, sequences: {} }, { ...got, sequences: {} })).toEqual([]);
  for (const [name, value] of Object.entries(expected.sequences)) expect(Number(got.sequences[name] ?? 0)).toBeGreaterThanOrEqual(Number(value ?? 0));
}

/** Starts the restored data directory in `target`, checks it holds `expected` (and, given, these pitr_marks labels), stops it. */
async function expectRestoredAs(target: string, expected: DatabaseFingerprint, labels?: string[]): Promise<void> {
  const restored = await startRestored(setup.cluster.binDir, target, setup.cluster.password);
  try {
    expectSameState(expected, await restored.fingerprint());
    if (labels !== undefined) expect((await restored.query<{ label: string }>('SELECT label FROM pitr_marks ORDER BY id')).map((r) => r.label)).toEqual(labels);
  } finally {
    await restored.stop();
  }
}

beforeAll(async () => {
  [setup] = await Promise.all([startPitrSetup({ settings: ['autovacuum=off'], archive: 'real', s3: true }), ensureBuilt()]);
  cli = await startPitrCli(setup);
  await withServer(setup.cluster, 'family_brain', async (c) => {
    await c.query("UPDATE chat_messages SET content = content || ' (edited before T)' WHERE id IN (SELECT id FROM chat_messages ORDER BY id LIMIT 5)");
    await c.query('CREATE TABLE pitr_marks (id serial PRIMARY KEY, label text, at timestamptz DEFAULT clock_timestamp())');
    await c.query("INSERT INTO pitr_marks (label) VALUES ('before T')");
  });
  atT = await setup.fingerprintFamilyBrain();
  await new Promise((r) => setTimeout(r, 1_000));
  t = await withServer(setup.cluster, 'postgres', async (c) => (await c.query<{ t: Date }>('SELECT clock_timestamp() AS t')).rows[0]!.t.toISOString());
  await new Promise((r) => setTimeout(r, 1_000));
  // After T, and never switched out of its segment: these commits reach S3 only in the .partial copy.
  const end = await withServer(setup.cluster, 'family_brain', async (c) => {
    await c.query("INSERT INTO pitr_marks (label) VALUES ('after T')");
    await c.query('DELETE FROM chat_messages WHERE id IN (SELECT id FROM chat_messages ORDER BY id DESC LIMIT 3)');
    return (await c.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn')).rows[0]!.lsn;
  });
  atEnd = await setup.fingerprintFamilyBrain();
  const flushed = () => withServer(setup.cluster, 'postgres', async (c) => (await c.query<{ ok: boolean }>('SELECT flush_lsn >= $1::pg_lsn AS ok FROM pg_stat_replication', [end])).rows);
  await eventually('pg_receivewal flushed the last commit', flushed, (rows) => rows.some((r) => r.ok), 60_000);
  // The disaster: the server and its volume go; the archive stores what pg_receivewal received (locally and in S3) and stops.
  await crashAndDeleteDataDir(setup.cluster);
  const stopped = await cli.fbb(['wal', 'stop', '--json']);
  expect(stopped.code, stopped.stderr).toBe(0);
}, 600_000);
afterAll(async () => {
  await driver.release();
  await cli?.stop();
  await setup?.cluster.stop().catch(() => undefined);
});

describe('the disaster runbook from S3 alone (docs/operations.md), on a machine with an empty BACKUP_DIR', () => {
  it('S3 holds the base backup and the WAL with its .partial segment', async () => {
    const keys = await s3Keys();
    const sysid = setup.archive.systemIdentifier;
    expect(keys).toContain(`base/${sysid}/${cli.backup.manifest.filename}`);
    expect(keys).toContain(`base/${sysid}/${cli.backup.manifest.filename}.manifest.json`);
    expect(keys.filter((k) => k.startsWith(`wal/${sysid}/`) && k.endsWith('.partial.gz'))).toHaveLength(1);
  });

  it('restore --to-time T --source s3 gives a data directory that starts with pg_ctl and holds exactly the state at T', async () => {
    const machine = emptyMachine(setup.config.s3);
    const env = fbbEnv(machine, s3Env(machine));
    const target = path.join(openTempDir('pitr-s3-t'), 'restored');
    const run = await startFbb(['restore', '--to-time', t, '--target-dir', target, '--source', 's3', '--local', '--json'], env);
    expect(run.exitCode, run.all).toBe(0);
    const result = JSON.parse(run.stdout) as RecoveryResult;
    expect(result).toMatchObject({ target_dir: target, to_time: t, base_backup: cli.backup.manifest.filename });
    expect(result.recovered_to! <= t).toBe(true);
    // After the copy, the runbook's `fbb list --local` shows the window the restore used.
    const listed = await startFbb(['list', '--local'], env);
    expect(listed.exitCode, listed.all).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`restorable to any moment from ${cli.backup.manifest.end_time} to \\S+ \\(1 base backup with their WAL\\)`));
    await expectRestoredAs(target, atT, ['before T']);
  }, 300_000);

  it('restore --to-time latest --source s3 replays the .partial segment: the state at the last commit before the crash', async () => {
    const machine = emptyMachine(setup.config.s3);
    const target = path.join(openTempDir('pitr-s3-latest'), 'restored');
    const run = await startFbb(['restore', '--to-time', 'latest', '--target-dir', target, '--source', 's3', '--local'], fbbEnv(machine, s3Env(machine)));
    expect(run.exitCode, run.all).toBe(0);
    expect(run.stdout).toContain(`restored to latest: a promoted data directory in ${target}`);
    const result = JSON.parse(fs.readFileSync(path.join(target, 'fbb_restore.json'), 'utf8')) as RecoveryResult;
    expect(result.wal_range.partial).toBe(true);
    expect(result.wal_fetched.files).toBeGreaterThan(0);
    expect(run.stdout).toMatch(new RegExp(`\\n {2}WAL +${result.wal_range.first} \\.\\. ${result.wal_range.last} \\(the last from its \\.partial copy\\)\\n {2}WAL fetched +${result.wal_fetched.files} files \\(at most ${result.wal_fetched.spool_max} held in the working directory at once\\)\\n`));
    await expectRestoredAs(target, atEnd, ['before T', 'after T']);
  }, 300_000);

  it('on a worker (the Temporal dev server, not --local) with an empty BACKUP_DIR, restoreToTime from S3 to T holds exactly the state at T', async () => {
    const machine = emptyMachine(setup.config.s3);
    const runner = await driver.runner(machine);
    const target = path.join(openTempDir('pitr-s3-worker'), 'restored');
    const result = await runner.execute(restoreToTime, { args: [{ to_time: t, target_dir: target, source: 's3' }], workflowId: uniqueName('pitr-s3-worker').replace(/_/g, '-') });
    expect(result).toMatchObject({ target_dir: target, to_time: t, base_backup: cli.backup.manifest.filename });
    await expectRestoredAs(target, atT);
  }, 300_000);

  // Found by the soak in per-host mode (seed 12): the copy from S3, the plan and the recovery were three
  // activities on the shared queue, so with a BACKUP_DIR per host they could run on three hosts, and the
  // recovery read WAL its host never copied (WalArchiveDamaged).
  it('with two worker processes on one queue, each its own empty BACKUP_DIR, plans and recovers on the worker that copied S3 down', async () => {
    await buildWorker();
    const queue = uniqueName('pitr-hosts').replace(/_/g, '-');
    const hosts = [0, 1].map(() => ({ ...emptyMachine(setup.config.s3), temporal: { ...setup.config.temporal, address: temporalInfo.address, namespace: temporalInfo.namespace, taskQueue: queue } }));
    const workers = hosts.map((h) => startWorker(h));
    try {
      const client = await testClient();
      const target = path.join(openTempDir('pitr-s3-hosts'), 'restored');
      const handle = await client.workflow.start(restoreToTime, { taskQueue: queue, workflowId: uniqueName('pitr-s3-hosts').replace(/_/g, '-'), args: [{ to_time: t, target_dir: target, source: 's3' }] });
      expect(await handle.result()).toMatchObject({ target_dir: target, to_time: t, base_backup: cli.backup.manifest.filename });

      const steps = await scheduled(handle);
      const pulled = steps.find((s) => s.name === 'pullPhysicalBackupsFromS3')!.result as { worker_queue?: string };
      expect(pulled.worker_queue).toMatch(new RegExp(`^${queue}@`));
      expect(steps.filter((s) => s.name === 'planPointInTime' || s.name === 'recoverToDirectory').map((s) => [s.name, s.queue])).toEqual([
        ['planPointInTime', pulled.worker_queue],
        ['recoverToDirectory', pulled.worker_queue],
      ]);
      await expectRestoredAs(target, atT);
    } finally {
      for (const w of workers) await kill(w);
    }
  }, 300_000);

  it('when the worker that copied S3 down is lost before the recovery, another copies it down and the restore goes on there', async () => {
    const machine: Config = { ...emptyMachine(setup.config.s3), worker: { ...setup.config.worker, activityTuning: { heartbeat_timeout_seconds: null, retry_interval_seconds: 1, worker_lost_seconds: 3 } } };
    const real = createActivities({ config: machine });
    // The first copy answers with an own queue nobody polls: its worker restarted right after it (a new process, a new queue).
    const gone = `${machine.temporal.taskQueue}@gone-host-1-000000`;
    let pulls = 0;
    const pullPhysicalBackupsFromS3 = async () => ({ ...(await real.pullPhysicalBackupsFromS3()), ...(++pulls === 1 ? { worker_queue: gone } : {}) });
    const runner = await driver.runner(machine, { pullPhysicalBackupsFromS3 });
    const target = path.join(openTempDir('pitr-s3-lost'), 'restored');
    const workflowId = uniqueName('pitr-s3-lost').replace(/_/g, '-');
    const result = await runner.execute(restoreToTime, { args: [{ to_time: t, target_dir: target, source: 's3' }], workflowId });

    expect(result).toMatchObject({ target_dir: target, to_time: t, base_backup: cli.backup.manifest.filename });
    expect(pulls).toBe(2);
    const steps = await scheduled((await testClient()).workflow.getHandle(workflowId));
    expect(steps.map((s) => [s.name, s.queue === gone])).toEqual([
      ['backupSettings', false],
      ['pullPhysicalBackupsFromS3', false],
      ['planPointInTime', true],
      ['pullPhysicalBackupsFromS3', false],
      ['planPointInTime', false],
      ['recoverToDirectory', false],
    ]);
    await expectRestoredAs(target, atT);
  }, 300_000);

  // Found by the soak (seed 303, cycle 36): a BACKUP_DIR that filled up during the copy down was reported
  // as S3Unavailable ("check S3_BUCKET, S3_ENDPOINT ..."): the write error of a full disk names no path.
  it('--source s3 into a BACKUP_DIR that fills up during the copy is BackupDirFull, not S3Unavailable; nothing written to the target', async () => {
    const disk = tempDir('pitr-s3-full');
    await execa('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', disk]);
    try {
      const machine: Config = { ...setup.config, backup: { ...setup.config.backup, dir: disk } };
      const target = path.join(openTempDir('pitr-s3-full-target'), 'restored');
      const run = await startFbb(['restore', '--to-time', 'latest', '--target-dir', target, '--source', 's3', '--local'], fbbEnv(machine, s3Env(machine)));
      expect(run.exitCode, run.stderr).not.toBe(0);
      expect(run.stderr).toContain(`BackupDirFull: ${disk} is full (ENOSPC`);
      expect(run.stderr).not.toContain('S3Unavailable');
      expect(fs.readdirSync(path.dirname(target))).toEqual([]);
    } finally {
      await execa('umount', ['-l', disk]);
    }
  }, 300_000);

  it('--source s3 without S3_BUCKET is S3NotConfigured, saying what to set: exit 2, nothing written', async () => {
    const machine = emptyMachine(undefined);
    const target = path.join(openTempDir('pitr-s3-none'), 'restored');
    const run = await startFbb(['restore', '--to-time', 'latest', '--target-dir', target, '--source', 's3', '--local'], fbbEnv(machine));
    expect(run.exitCode, run.all).toBe(2);
    expect(run.stderr).toContain('S3NotConfigured: the restore was asked to read S3 (--source s3), but S3_BUCKET is not set; set S3_BUCKET, S3_PREFIX, S3_ENDPOINT and the AWS credentials the backups were written with, or restore from BACKUP_DIR; nothing was changed');
    expect(fs.readdirSync(path.dirname(target))).toEqual([]);
    expect(fs.readdirSync(machine.backup.dir)).toEqual([]);
  }, 120_000);

  it('--source s3 with S3 unreachable is S3Unavailable, naming the endpoint and what to check: nothing written', async () => {
    const machine = emptyMachine({ ...setup.config.s3!, endpoint: 'http://127.0.0.1:1' });
    const target = path.join(openTempDir('pitr-s3-down'), 'restored');
    const run = await startFbb(['restore', '--to-time', 'latest', '--target-dir', target, '--source', 's3', '--local'], fbbEnv(machine, { ...s3Env(machine), ACTIVITY_RETRY_INTERVAL_SECONDS: '1' }));
    expect(run.exitCode, run.all).toBe(1);
    expect(run.stderr).toContain(`S3Unavailable: cannot read the base backups and WAL in s3://${machine.s3!.bucket}/${machine.s3!.prefix} at http://127.0.0.1:1 (`);
    expect(run.stderr).toContain('ECONNREFUSED); check S3_ENDPOINT (scheme, host and port) and that the store is running; nothing was written to the target directory');
    expect(fs.readdirSync(path.dirname(target))).toEqual([]);
    expect(fs.readdirSync(machine.backup.dir)).toEqual([]);
  }, 180_000);

  it('--source s3 with a prefix that holds no base backup is BackupNotFound, naming the prefix: nothing written', async () => {
    const machine = emptyMachine({ ...setup.config.s3!, prefix: 'nothing-here/' });
    const target = path.join(openTempDir('pitr-s3-empty'), 'restored');
    const run = await startFbb(['restore', '--to-time', 'latest', '--target-dir', target, '--source', 's3', '--local'], fbbEnv(machine, s3Env(machine)));
    expect(run.exitCode, run.all).toBe(1);
    expect(run.stderr).toContain(`BackupNotFound: s3://${machine.s3!.bucket}/nothing-here/ at ${machine.s3!.endpoint} holds no base backup (nothing under base/); check S3_BUCKET and S3_PREFIX (the ones the backups were written with); nothing was changed`);
    expect(fs.readdirSync(path.dirname(target))).toEqual([]);
  }, 120_000);

  it('--source s3 into a BACKUP_DIR that cannot be written is BackupDirNotWritable (not blamed on S3): nothing written', async () => {
    const machine = emptyMachine(setup.config.s3);
    const notADir = path.join(machine.backup.dir, 'a-file');
    fs.writeFileSync(notADir, 'not a directory\n');
    const target = path.join(openTempDir('pitr-s3-notdir'), 'restored');
    const run = await startFbb(['restore', '--to-time', 'latest', '--target-dir', target, '--source', 's3', '--local'], fbbEnv({ ...machine, backup: { ...machine.backup, dir: notADir } }, s3Env(machine)));
    expect(run.exitCode, run.all).toBe(1);
    expect(run.stderr).toContain(`BackupDirNotWritable: cannot write the backup into ${notADir} (ENOTDIR: `);
    expect(fs.readdirSync(path.dirname(target))).toEqual([]);
  }, 120_000);
});
