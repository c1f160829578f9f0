// Issue 26 (found by the soak in per-host mode): with one BACKUP_DIR per host and S3, the WAL archive
// stores on the host whose worker runs it, and a base backup taken on another host waited for that WAL
// in its own directory only, and failed WalArchiveNotRunning. It now copies the WAL it needs from S3.
// Real PostgreSQL (durable), pg_receivewal, pg_basebackup, s3rver, two workers on the Temporal dev server.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/client/cli';
import type { Config } from '../src/config';
import { walDir } from '../src/wal/layout';
import type { BaseBackupResult } from '../src/workflows/baseBackup';
import { eventually } from './eventually';
import { captured, tempDir, userEnvFor, withServer } from './helpers';
import { startPitrSetup, type PitrSetup } from './pitrCluster';
import { onTemporal, startTestWorker, temporalInfo, type TestWorker } from './temporal';

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
