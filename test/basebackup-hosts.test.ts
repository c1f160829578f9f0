// Issue 26 (found by the soak in per-host mode): with one BACKUP_DIR per host and S3, the WAL archive
// stores on the host whose worker runs it, and a base backup taken on another host waited for that WAL
// in its own directory only, and failed WalArchiveNotRunning. It now copies the WAL it needs from S3.
// Real PostgreSQL (durable), pg_receivewal, pg_basebackup, s3rver, two workers on the Temporal dev server.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../src/activities';
import { runCli } from '../src/client/cli';
import type { Config } from '../src/config';
import { parseArchivedWal, segnoOfLsn } from '../src/basebackup/naming';
import { walDir } from '../src/wal/layout';
import type { BaseBackupResult } from '../src/workflows/baseBackup';
import { confirmRestore, restoreDatabase, statusQuery } from '../src/workflows/restoreDatabase';
import { buildWorker, kill, startWorker } from './durability';
import { pollAwaitingConfirmation } from './drivers';
import { eventually } from './eventually';
import { captured, tempDir, uniqueName, userEnvFor, withServer } from './helpers';
import { startPitrSetup, type PitrSetup } from './pitrCluster';
import { onTemporal, scheduled, startTestWorker, temporalInfo, testClient, type TestWorker } from './temporal';

let setup: PitrSetup;
let hostA: Config;
let hostB: Config;
const workers: TestWorker[] = [];

/** `fbb <args>` as run on `host` (its BACKUP_DIR and task queue). */
async function fbb(host: Config, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...userEnvFor(host), PGDATABASE: 'family_brain', TEMPORAL_ADDRESS: temporalInfo.address, TEMPORAL_NAMESPACE: temporalInfo.namespace, TEMPORAL_TASK_QUEUE: host.temporal.taskQueue };
  const io = captured();
  const code = await runCli(args, { stdout: io.stdout, stderr: io.stderr, env });
  return { code, ...io.text() };
}

/**
 * A moment T with a base backup (on host B) before it: `table` holds 'before T' at T and 'after T' since;
 * returns once T is archived (a segment switched after it is on host A, where the archive runs).
 */
async function momentAfterBaseBackup(table: string) {
  const live = (text: string) => withServer(setup.cluster, 'family_brain', (c) => c.query(text));
  await live(`CREATE TABLE ${table} (id serial PRIMARY KEY, label text); INSERT INTO ${table} (label) VALUES ('before T')`);
  const based = await fbb(hostB, ['basebackup', '--json']);
  expect(based.code, based.stderr).toBe(0);
  await new Promise((r) => setTimeout(r, 1_000));
  const t = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 1_000));
  await live(`INSERT INTO ${table} (label) VALUES ('after T')`);
  const switched = await withServer(setup.cluster, 'postgres', async (c) => (await c.query<{ f: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS f')).rows[0]!.f);
  await eventually(`${switched} archived`, () => Promise.resolve(fs.existsSync(path.join(hostA.backup.dir, walDir(setup.archive.systemIdentifier), `${switched}.gz`))), (yes) => yes, 60_000);
  return { t, based, live };
}

beforeAll(async () => {
  setup = await startPitrSetup({ archive: 'real', s3: true });
  // Two hosts: the same database and S3 prefix, each its own BACKUP_DIR and worker (its own queue, so
  // that the archive runs on A and the base backup on B, as it happens by chance with one shared queue).
  hostA = onTemporal(setup.config);
  hostB = { ...onTemporal(setup.config), backup: { ...setup.config.backup, dir: tempDir('host-b') } };
  workers.push(await startTestWorker(hostA), await startTestWorker(hostB));
  const started = await fbb(hostA, ['wal', 'start', '--json']);
  expect(started.code, started.stderr).toBe(0);
  const slot = () => withServer(setup.cluster, 'postgres', async (c) => (await c.query<{ active: boolean }>("SELECT active FROM pg_replication_slots WHERE slot_name = 'fbb_family_brain'")).rows);
  await eventually('the archive streams through slot fbb_family_brain', slot, (rows) => rows[0]?.active === true, 60_000);
}, 240_000);
afterAll(async () => {
  await fbb(hostA, ['wal', 'stop']).catch(() => undefined);
  for (const w of workers) await w.stop();
  await setup?.cluster.stop();
});

describe('a base backup on a host whose BACKUP_DIR the WAL archive does not write to', () => {
  it('is verified with the WAL copied from S3 (the archive runs on another host), and the WAL it copied is the archive\'s', async () => {
    const made = await fbb(hostB, ['basebackup', '--json']);

    expect(made.code, made.stderr).toBe(0);
    const result = JSON.parse(made.stdout) as BaseBackupResult;
    expect(result.manifest.verification).not.toBeNull();
    const sysid = result.manifest.system_identifier;
    expect(fs.existsSync(path.join(hostB.backup.dir, 'base', sysid, result.manifest.filename))).toBe(true);
    expect(fs.existsSync(path.join(hostA.backup.dir, 'base'))).toBe(false);
    // B's wal/ holds copies of what A archived (same bytes), taken from S3; A's archive is where the archive writes.
    const copied = fs.readdirSync(path.join(hostB.backup.dir, walDir(sysid))).filter((f) => /^[0-9A-F]{24}\.gz$/.test(f));
    expect(copied.length).toBeGreaterThan(0);
    for (const f of copied) expect(fs.readFileSync(path.join(hostB.backup.dir, walDir(sysid), f))).toEqual(fs.readFileSync(path.join(hostA.backup.dir, walDir(sysid), f)));
    expect(fs.readdirSync(path.join(hostB.backup.dir, walDir(sysid))).filter((f) => f.includes('.s3-'))).toEqual([]);
  }, 300_000);
});

// Issue 26 (the soak, seed 1717 per host, cycle 33: restore to a moment from S3 × SIGTERM of the worker
// that made the moment's file): the steps after went to another worker, whose BACKUP_DIR lacked the
// file, and the restore failed BackupNotFound. From S3 any worker can make the same moment again.
describe('a restore to a moment from S3 whose maker is lost before the restore reads the file (a BACKUP_DIR per host)', () => {
  it('makes the moment again on another worker from S3, under the same name, and restores it', async () => {
    const { t, based, live } = await momentAfterBaseBackup('host_marks');

    // Host C (its own BACKUP_DIR) makes the moment; its maker then answers from a host that is gone: the
    // file is there, not here, and the worker's own queue is polled by nobody (restarted: a new queue).
    const hostC: Config = { ...onTemporal(setup.config), backup: { ...setup.config.backup, dir: tempDir('host-c') }, worker: { ...setup.config.worker, activityTuning: { heartbeat_timeout_seconds: null, retry_interval_seconds: 1, worker_lost_seconds: 3 } } };
    const real = createActivities({ config: hostC });
    const lostHost = tempDir('host-lost');
    const gone = `${hostC.temporal.taskQueue}@gone-host-1-000000`;
    let makes = 0;
    const materializeMoment = async (req: Parameters<typeof real.materializeMoment>[0]) => {
      const made = await real.materializeMoment(req);
      if (++makes > 1) return made;
      for (const f of fs.readdirSync(hostC.backup.dir).filter((n) => n.startsWith(req.filename))) fs.renameSync(path.join(hostC.backup.dir, f), path.join(lostHost, f));
      return { ...made, worker_queue: gone };
    };
    workers.push(await startTestWorker(hostC, { materializeMoment }));
    const client = await testClient();
    const workflowId = `hosts-moment-lost-${Date.now()}`;
    const result = await client.workflow.execute(restoreDatabase, { taskQueue: hostC.temporal.taskQueue, workflowId, args: [{ to_time: t, backup_source: 's3', confirm_restore: true }] });

    expect(result).toMatchObject({ status: 'success', to_time: t, error: null });
    expect((await live('SELECT label FROM host_marks ORDER BY id')).rows.map((r: { label: string }) => r.label)).toEqual(['before T']);
    expect(makes).toBe(2);
    // What host C copied down: the newest base backup and its WAL, not the older base backup and WAL S3 also holds.
    const newest = (JSON.parse(based.stdout) as BaseBackupResult).manifest;
    const sysid = setup.archive.systemIdentifier;
    expect(fs.readdirSync(path.join(hostC.backup.dir, 'base', sysid)).filter((f) => f.endsWith('.tar.gz'))).toEqual([newest.filename]);
    const copied = fs.readdirSync(path.join(hostC.backup.dir, walDir(sysid))).flatMap((f) => parseArchivedWal(f, newest.wal_segment_bytes) ?? []);
    expect(copied.length).toBeGreaterThan(0);
    expect(copied.filter((w) => w.kind !== 'history' && w.segno < segnoOfLsn(newest.start_lsn, newest.wal_segment_bytes))).toEqual([]);
    // The same name, made again here; the lost host's copy untouched.
    expect(fs.existsSync(path.join(hostC.backup.dir, result.restored_from!))).toBe(true);
    expect(fs.existsSync(path.join(lostHost, result.restored_from!))).toBe(true);
    const history = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const scheduled = history.flatMap((e) => (e.activityTaskScheduledEventAttributes ? [[e.activityTaskScheduledEventAttributes.activityType?.name, e.activityTaskScheduledEventAttributes.taskQueue?.name === gone]] : []));
    const from = scheduled.findIndex(([name, onGone]) => onGone === true && name !== undefined);
    expect(scheduled.slice(from, from + 4)).toEqual([
      [scheduled[from]![0], true],
      ['pullPhysicalBackupsFromS3', false],
      ['planMomentRestore', false],
      ['materializeMoment', false],
    ]);
  }, 400_000);
});

// The soak (seed 2626, per host, cycle 19: pitr_restore × SIGKILL): the worker that made the moment and
// read it for the confirmation was killed before the restore loaded it; another made the moment again
// under the same name (another file, its own checksum), and the load checked it against the first one's.
describe('a restore to a moment from S3 whose maker is killed while the restore waits for the confirmation (a BACKUP_DIR per host)', () => {
  it('makes the moment again on another worker and restores that file, checked against its own checksum', async () => {
    await buildWorker();
    const { t, live } = await momentAfterBaseBackup('confirm_marks');

    // Two worker processes of their own queue, each its own BACKUP_DIR: D alone first, then E once D is killed.
    const queue = uniqueName('hosts-confirm').replace(/_/g, '-');
    const host = (label: string): Config => ({ ...onTemporal(setup.config), backup: { ...setup.config.backup, dir: tempDir(label) }, temporal: { ...onTemporal(setup.config).temporal, taskQueue: queue } });
    const lostAfter = { WORKER_LOST_AFTER_SECONDS: '5' };
    const maker = startWorker(host('host-d'), lostAfter);
    let other: ReturnType<typeof startWorker> | undefined;
    try {
      const client = await testClient();
      const handle = await client.workflow.start(restoreDatabase, { taskQueue: queue, workflowId: queue, args: [{ to_time: t, backup_source: 's3' }] });
      await pollAwaitingConfirmation(queue, () => handle.query(statusQuery));
      await kill(maker);
      other = startWorker(host('host-e'), lostAfter);
      await handle.signal(confirmRestore, { confirmed_by: 'basebackup-hosts test' });
      const result = await handle.result();

      expect(result, JSON.stringify(result.error)).toMatchObject({ status: 'success', to_time: t, error: null });
      expect((await live('SELECT label FROM confirm_marks ORDER BY id')).rows.map((r: { label: string }) => r.label)).toEqual(['before T']);
      const steps = await scheduled(handle);
      const made = steps.filter((s) => s.name === 'materializeMoment').map((s) => s.result as { filename: string; sha256: string });
      expect(made).toHaveLength(2);
      expect(made[1]!.filename).toBe(made[0]!.filename);
      expect(made[1]!.sha256).not.toBe(made[0]!.sha256);
      const loaded = steps.filter((s) => s.name === 'restoreIntoNewDatabase' && s.result !== undefined);
      expect(loaded.map((s) => s.queue)).toEqual([steps.filter((s) => s.name === 'materializeMoment')[1]!.queue]);
    } finally {
      await kill(maker);
      if (other) await kill(other);
    }
  }, 400_000);
});
