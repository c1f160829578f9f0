// Issue 24: restore to a moment into the LIVE database (`fbb restore --to-time T [--tenant ID | --table NAME]`):
// the moment is recovered from the base backup + the real WAL archive in a scratch cluster on the worker,
// dumped into a pitr backup file, and restored through the file restores' safe path. Real Temporal dev
// server, real workers, a durable PostgreSQL of this file's own archived by archiveWal (`fbb wal start`).
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../src/activities';
import { momentRoot, OWNER } from '../src/activities/basebackup/moment';
import { clusterAnswers, clusterPaths, initCluster, postmasterPid, startCluster } from '../src/activities/verifyServer/cluster';
import { processAlive } from '../src/activities/verifyServer/lock';
import { parseManifest } from '../src/backup/manifest';
import { installCommand } from '../src/activities/pgToolChoice';
import { applicationFailureOf } from '../src/client/failures';
import { backupDatabase, baseBackup, restoreDatabase, restoreTable, restoreTenant } from '../src/workflows';
import type { Config } from '../src/config';
import type { BaseBackupResult } from '../src/workflows/baseBackup';
import type { RestoreResult } from '../src/workflows/restoreDatabase';
import { diffFingerprints, fingerprintDatabase, type DatabaseFingerprint } from './compare';
import { temporalDriver, type Runner } from './drivers';
import { eventually } from './eventually';
import { ageKeygen, tempDir, uniqueName, withServer } from './helpers';
import { startPitrCli, startPitrSetup, switchAndArchive, type PitrCli, type PitrSetup } from './pitrCluster';
import { testClient } from './temporal';
import { notOf, of, tenantHashesOn } from './tenantHashes';

const driver = temporalDriver();
const id = (label: string) => uniqueName(label).replace(/_/g, '-');
const failureOf = async (p: Promise<unknown>) => applicationFailureOf(await p.then(() => undefined, (e: unknown) => e));
const PITR_FILE = /^family_brain_pitr_\d{8}_\d{6}\.sql\.gz$/;
/** The difference the pre-restore backup makes to the database it backs up: its record in system_logs. */
const RECORD_ROW = [expect.stringMatching(/^table public\.system_logs: row count \d+ vs \d+$/), expect.stringMatching(/^sequence public\.system_logs_id_seq: last value \d+ vs \d+$/)];

let setup: PitrSetup;
let runner: Runner;
let backup: BaseBackupResult;
let cli: PitrCli;

/** `fbb` in this process, on the file's server and worker. */
const fbb = (args: string[]) => cli.fbb(args);

const sql = <T = unknown>(query: string, values: unknown[] = []) => withServer(setup.cluster, 'family_brain', async (c) => (await c.query(query, values)).rows as T[]);
const now = () => withServer(setup.cluster, 'postgres', async (c) => (await c.query<{ t: Date }>('SELECT clock_timestamp() AS t')).rows[0]!.t.toISOString());
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** A moment T with a second of quiet on both sides: no commit lands on it. */
async function moment(): Promise<string> {
  await pause(1_000);
  const t = await now();
  await pause(1_000);
  return t;
}
const databases = () => withServer(setup.cluster, 'postgres', async (c) => (await c.query<{ datname: string }>('SELECT datname FROM pg_database ORDER BY 1')).rows.map((r) => r.datname));
const pitrFiles = () => fs.readdirSync(setup.config.backup.dir).filter((f) => PITR_FILE.test(f));
const hashes = () => tenantHashesOn(setup.cluster, 'family_brain');
/** The scratch clusters of restores to a moment on this file's worker (none once each run has ended). */
const scratchClusters = () => {
  const dir = path.dirname(momentRoot(setup.config, 'any'));
  return fs.existsSync(dir) ? fs.readdirSync(dir) : [];
};

/**
 * A real PostgreSQL install of the live server's major without one extension, as on a worker where it was
 * never installed: the server's bin, lib and share copied (PostgreSQL finds lib and share relative to its
 * own binary), the extension's control, SQL and library files left out. Returns its bin directory.
 */
async function postgresWithout(extension: string): Promise<string> {
  const pgConfig = async (flag: string) => (await execa(path.join(setup.cluster.binDir, 'pg_config'), [flag])).stdout.trim();
  const [bindir, sharedir] = [await pgConfig('--bindir'), await pgConfig('--sharedir')];
  const prefix = /^(.*)\/lib\/postgresql\/\d+\/bin$/.exec(bindir)?.[1];
  expect(prefix, `a Debian layout (<prefix>/lib/postgresql/<major>/bin), not ${bindir}`).toBeDefined();
  const root = tempDir('pg-without');
  fs.chmodSync(root, 0o755);
  const copy = (from: string) => {
    const to = path.join(root, path.relative(prefix!, from));
    fs.mkdirSync(path.dirname(to), { recursive: true, mode: 0o755 });
    fs.cpSync(from, to, { recursive: true, filter: (src) => !path.basename(src).startsWith(`${extension}--`) && !path.basename(src).startsWith(`${extension}.`) && path.basename(src) !== extension });
  };
  copy(path.dirname(bindir));
  copy(sharedir);
  const copied = path.join(root, path.relative(prefix!, bindir));
  expect((await execa(path.join(copied, 'pg_config'), ['--sharedir'])).stdout.trim()).toBe(path.join(root, path.relative(prefix!, sharedir)));
  expect(fs.readdirSync(path.join(root, path.relative(prefix!, sharedir), 'extension')).filter((f) => f.startsWith(extension))).toEqual([]);
  return copied;
}

/** The state at T as the restore must bring it back: sequences only "not behind" (recovery resumes them past what it logged). */
function expectSameAs(atT: DatabaseFingerprint, got: DatabaseFingerprint): void {
  expect(diffFingerprints({ ...atT, sequences: {} }, { ...got, sequences: {} })).toEqual([]);
  for (const [name, value] of Object.entries(atT.sequences)) expect(Number(got.sequences[name] ?? 0)).toBeGreaterThanOrEqual(Number(value ?? 0));
}

beforeAll(async () => {
  setup = await startPitrSetup({ settings: ['autovacuum=off'], archive: 'real' });
  // The scratch clusters go under a directory of this file's own (VERIFY_SERVER_DIR), which the postgres user can reach; scratch databases on the source, as without it.
  const serverDir = tempDir('pitr-live-verify');
  fs.chmodSync(serverDir, 0o755);
  setup.config.verify = { target: 'source', serverDir, idleMs: 60_000, fallback: 'none' };
  runner = await driver.runner(setup.config);
  cli = await startPitrCli(setup);
  backup = cli.backup;
}, 240_000);
afterAll(async () => {
  await cli?.stop();
  await driver.release();
  await setup?.archive.stop().catch(() => undefined);
  await setup?.cluster.stop();
});

describe('fbb restore --to-time T: the whole live database back to a moment', () => {
  it('holds exactly the state at T afterwards, through the safe path: pre-restore backup, swap, verification; the later state is kept aside', async () => {
    await sql("UPDATE chat_messages SET content = content || ' (edited before T)' WHERE id IN (SELECT id FROM chat_messages ORDER BY id LIMIT 5)");
    await sql('CREATE TABLE pitr_marks (id serial PRIMARY KEY, label text)');
    await sql("INSERT INTO pitr_marks (label) VALUES ('before T 1'), ('before T 2')");
    const atT = await setup.fingerprintFamilyBrain();
    const t = await moment();
    await sql("INSERT INTO pitr_marks (label) VALUES ('after T')");
    await sql('DELETE FROM chat_messages WHERE id IN (SELECT id FROM chat_messages ORDER BY id DESC LIMIT 3)');
    const afterT = await setup.fingerprintFamilyBrain();
    await switchAndArchive(setup);

    const run = await fbb(['restore', '--to-time', t, '--yes', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as RestoreResult;
    console.log(`live restore to ${t}: recovered_to ${String(result.recovered_to)}, from ${result.restored_from}, took ${result.duration_ms} ms`);
    expect(result).toMatchObject({ status: 'success', strategy: 'swap', to_time: t, base_backup: backup.manifest.filename, backup_source: 'local', verification: { ok: true }, error: null });
    expect(result.recovered_to! <= t).toBe(true);
    expect(result.restored_from).toMatch(PITR_FILE);
    expectSameAs(atT, await setup.fingerprintFamilyBrain());
    expect((await sql<{ label: string }>('SELECT label FROM pitr_marks ORDER BY id')).map((r) => r.label)).toEqual(['before T 1', 'before T 2']);

    // The pre-restore backup exists, verified; the database as it was before the restore is kept aside.
    const dir = setup.config.backup.dir;
    expect(result.pre_restore_backup).toMatch(/^family_brain_pre_restore_\d{8}_\d{6}\.sql\.gz$/);
    expect(parseManifest(fs.readFileSync(path.join(dir, `${result.pre_restore_backup!}.manifest.json`), 'utf8'), 'pre').status).toBe('verified');
    const conn = { host: setup.cluster.host, port: setup.cluster.port, user: setup.cluster.user, password: setup.cluster.password };
    const aside = await fingerprintDatabase({ ...conn, database: result.aside_database! }, { pgBinDir: setup.cluster.binDir });
    // As it was before the restore, plus the one system_logs row the pre-restore backup wrote.
    expect(diffFingerprints(afterT, aside)).toEqual(RECORD_ROW);
    // The moment's file: type pitr, verified, saying where it came from; no scratch cluster is left.
    const m = parseManifest(fs.readFileSync(path.join(dir, `${result.restored_from}.manifest.json`), 'utf8'), 'pitr');
    expect(m).toMatchObject({ type: 'pitr', status: 'verified', database: 'family_brain', point_in_time: { to_time: t, recovered_to: result.recovered_to, base_backup: backup.manifest.filename } });
    expect(pitrFiles()).toEqual([result.restored_from]);
    expect(scratchClusters()).toEqual([]);
  }, 400_000);
});

describe('fbb restore --to-time T --tenant / --table: one family or one table back to a moment', () => {
  let t: string;
  let ids: string[];
  let atT: Record<string, string>;
  let changed: Record<string, string>;

  beforeAll(async () => {
    ids = (await sql<{ id: string }>('SELECT id FROM tenants ORDER BY slug')).map((r) => r.id);
    await sql("INSERT INTO pitr_marks (label) VALUES ('before T2')");
    atT = await hashes();
    t = await moment();
    for (const [i, tenant] of ids.slice(0, 2).entries()) {
      await sql("UPDATE users SET display_name = display_name || ' (after T)' WHERE tenant_id = $1", [tenant]);
      await sql("INSERT INTO tags (tenant_id, name) VALUES ($1, 'after-t-' || $2)", [tenant, String(i)]);
      await sql('DELETE FROM family_documents WHERE id IN (SELECT id FROM family_documents WHERE tenant_id = $1 ORDER BY id LIMIT 1)', [tenant]);
    }
    await sql("INSERT INTO pitr_marks (label) VALUES ('after T2')");
    changed = await hashes();
    expect(of(changed, ids[0]!)).not.toEqual(of(atT, ids[0]!));
    expect(of(changed, ids[1]!)).not.toEqual(of(atT, ids[1]!));
    await switchAndArchive(setup);
  }, 120_000);

  it('--tenant: that family\'s rows are as they were at T; every other family keeps its later writes', async () => {
    const result = await runner.execute(restoreTenant, { args: [{ to_time: t, tenant_id: ids[0]!, confirm_restore: true }], workflowId: id('pitr-live-tenant') });
    expect(result).toMatchObject({ status: 'success', kind: 'tenant', to_time: t, base_backup: backup.manifest.filename, error: null });
    expect(result.restored_from).toMatch(PITR_FILE);
    expect(result.recovered_to! <= t).toBe(true);
    expect(result.applied?.verification.ok).toBe(true);
    expect(result.pre_restore_backup).toMatch(/^family_brain_pre_restore_/);
    const now = await hashes();
    expect(of(now, ids[0]!)).toEqual(of(atT, ids[0]!));
    expect(notOf(now, ids[0]!)).toEqual(notOf(changed, ids[0]!));
    expect((await sql<{ label: string }>('SELECT label FROM pitr_marks ORDER BY id')).map((r) => r.label)).toContain('after T2');
  }, 400_000);

  it('--table: that table\'s rows are as they were at T; the other tables keep their later writes', async () => {
    const before = await hashes();
    const run = await fbb(['restore', '--to-time', t, '--table', 'public.pitr_marks', '--yes', '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as { status: string; kind: string; to_time: string; restored_from: string; base_backup: string };
    expect(result).toMatchObject({ status: 'success', kind: 'table', to_time: t, base_backup: backup.manifest.filename });
    expect((await sql<{ label: string }>('SELECT label FROM pitr_marks ORDER BY id')).map((r) => r.label)).toEqual(['before T 1', 'before T 2', 'before T2']);
    expect(await hashes()).toEqual(before);
  }, 400_000);
});

describe('refusals before anything runs, and the rollback', () => {
  it('refuses a moment before the window, naming it, and changes nothing (no file made, no pre-restore backup)', async () => {
    const before = await setup.fingerprintFamilyBrain();
    const files = fs.readdirSync(setup.config.backup.dir).sort();
    const dbs = await databases();
    const early = new Date(new Date(backup.manifest.start_time).getTime() - 60_000).toISOString();
    const failure = await failureOf(runner.execute(restoreDatabase, { args: [{ to_time: early, confirm_restore: true }], workflowId: id('pitr-live-early') }));
    expect(failure?.type).toBe('RecoveryTargetOutsideWindow');
    expect(failure?.nonRetryable).toBe(true);
    expect(failure?.message).toMatch(new RegExp(`^--to-time ${early} is before the oldest moment a base backup reaches; the restorable window is ${backup.manifest.end_time} to \\S+; pick a moment inside it`));
    const tenant = await failureOf(runner.execute(restoreTenant, { args: [{ to_time: early, tenant_id: 'x', confirm_restore: true }], workflowId: id('pitr-live-early-tenant') }));
    expect(tenant?.type).toBe('RecoveryTargetOutsideWindow');
    // In the future: refused the same way through the CLI, exit 2.
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const cli = await fbb(['restore', '--to-time', future, '--yes']);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain(`RecoveryTargetOutsideWindow: --to-time ${future} is in the future`);
    expectSameAs(before, await setup.fingerprintFamilyBrain());
    expect(fs.readdirSync(setup.config.backup.dir).sort()).toEqual(files);
    expect(await databases()).toEqual(dbs);
  }, 200_000);

  it('refuses with ExtensionUnavailable when the worker\'s PostgreSQL lacks an extension the database uses (pgvector), before anything changes', async () => {
    const before = await setup.fingerprintFamilyBrain();
    const files = fs.readdirSync(setup.config.backup.dir).sort();
    const dbs = await databases();
    const lacking = await driver.runner({ ...setup.config, pgBinDir: await postgresWithout('vector') });
    const failure = await failureOf(lacking.execute(restoreDatabase, { args: [{ to_time: 'latest', confirm_restore: true }], workflowId: id('pitr-live-novector') }));
    expect(failure?.type).toBe('ExtensionUnavailable');
    expect(failure?.nonRetryable).toBe(true);
    expect(failure?.message).toBe(`database "family_brain" at latest uses the extension(s) vector, which this worker's PostgreSQL 15 does not offer, so it cannot be read out of the recovered cluster; run "${installCommand(15)}" on the worker; nothing was changed`);
    expectSameAs(before, await setup.fingerprintFamilyBrain());
    expect(fs.readdirSync(setup.config.backup.dir).sort()).toEqual(files);
    expect(await databases()).toEqual(dbs);
    expect(scratchClusters()).toEqual([]);
  }, 300_000);

  it('refuses malformed moments and mix-ups with a file or --target-dir: named errors, exit 2, nothing started', async () => {
    const malformed = await fbb(['restore', '--to-time', '2026-12-05 23:10:00', '--yes']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('--to-time "2026-12-05 23:10:00" is not a moment this restore can use: expected "latest" or ISO 8601 with an offset or Z');
    const withDir = await fbb(['restore', '--to-time', 'latest', '--tenant', 'x', '--target-dir', '/tmp/nowhere']);
    expect(withDir.code).toBe(2);
    expect(withDir.stderr).toContain('fbb: --target-dir makes a whole data directory (the disaster path); --tenant, --table, --as and --dry-run restore into the live database');
    const dirAlone = await fbb(['restore', 'family_brain_daily_20261205_020000.sql.gz', '--target-dir', '/tmp/nowhere']);
    expect(dirAlone.code).toBe(2);
    expect(dirAlone.stderr).toContain('fbb: --target-dir goes with --to-time <moment>');
    const both = await failureOf(runner.execute(restoreDatabase, { args: [{ backup_filename: 'family_brain_daily_20261205_020000.sql.gz', to_time: 'latest' }], workflowId: id('pitr-live-both') }));
    expect(both?.type).toBe('InvalidRestoreInput');
    expect(both?.message).toContain('give "backup_filename" (a file) or "to_time" (a moment of the WAL archive), not both');
    const dirKey = await failureOf(runner.execute(restoreTable, { args: [{ to_time: 'latest', table: 'public.tags', target_dir: '/tmp/x' }], workflowId: id('pitr-live-dirkey') }));
    expect(dirKey?.type).toBe('InvalidRestoreInput');
    expect(dirKey?.message).toContain('unknown key "target_dir"');
    const bad = await failureOf(runner.execute(restoreDatabase, { args: [{ to_time: 'yesterday' }], workflowId: id('pitr-live-bad') }));
    expect(bad?.type).toBe('InvalidInput');
  }, 120_000);

  it('rolls back when the check after the swap fails: the database is as before the restore', async () => {
    await sql("INSERT INTO pitr_marks (label) VALUES ('before T3')");
    const t = await moment();
    await sql("INSERT INTO pitr_marks (label) VALUES ('after T3')");
    await switchAndArchive(setup);
    const before = await setup.fingerprintFamilyBrain();
    const real = createActivities({ config: setup.config });
    let checks = 0;
    // The injected failure: the first live check (after the swap) finds a wrong count; the rollback's check is the real one.
    const verifyLiveDatabase = async (expected: Record<string, number> | null, extensions: string[]) => {
      const check = await real.verifyLiveDatabase(expected, extensions);
      return ++checks === 1 ? { ...check, tables: { ...check.tables, pitr_marks: { expected: 5, actual: 4 } }, ok: false } : check;
    };
    const failing = await driver.runner(setup.config, { verifyLiveDatabase });
    const result = await failing.execute(restoreDatabase, { args: [{ to_time: t, confirm_restore: true }], workflowId: id('pitr-live-rollback') });
    expect(result).toMatchObject({ status: 'rolled_back', strategy: 'swap', to_time: t, error: { type: 'RestoreVerificationFailed' }, rollback: { strategy: 'swap_back', verification: { ok: true } } });
    // As before the restore, plus the one system_logs row the pre-restore backup wrote.
    expect(diffFingerprints(before, await setup.fingerprintFamilyBrain())).toEqual(RECORD_ROW);
    expect((await sql<{ label: string }>('SELECT label FROM pitr_marks ORDER BY id')).map((r) => r.label).slice(-2)).toEqual(['before T3', 'after T3']);
  }, 400_000);
});

// Found by the soak (seeds 303 and 404): the worker that made the moment's file was restarted (SIGTERM)
// as the restore went on; the next step waited on that worker's own queue, nobody polled it, and the
// whole restore failed with "Activity task timed out" after WORKER_LOST_AFTER_SECONDS.
describe('the worker that made the moment lost before the restore reads the file', () => {
  it('moves on to another worker (a shared BACKUP_DIR holds the file) and restores the moment', async () => {
    await sql("INSERT INTO pitr_marks (label) VALUES ('before T4')");
    const t = await moment();
    await sql("INSERT INTO pitr_marks (label) VALUES ('after T4')");
    await switchAndArchive(setup);
    const real = createActivities({ config: setup.config });
    // The maker answers with an own queue that no worker polls: as after its restart (a new process, a new queue).
    const gone = `${setup.config.temporal.taskQueue}@gone-host-1-000000`;
    const materializeMoment = async (req: Parameters<typeof real.materializeMoment>[0]) => ({ ...(await real.materializeMoment(req)), worker_queue: gone });
    const config: Config = { ...setup.config, worker: { ...setup.config.worker, activityTuning: { heartbeat_timeout_seconds: null, retry_interval_seconds: 1, worker_lost_seconds: 3 } } };
    const restarted = await driver.runner(config, { materializeMoment });
    const workflowId = id('pitr-live-maker-lost');
    const result = await restarted.execute(restoreDatabase, { args: [{ to_time: t, confirm_restore: true }], workflowId });

    expect(result).toMatchObject({ status: 'success', to_time: t, error: null });
    expect((await sql<{ label: string }>('SELECT label FROM pitr_marks ORDER BY id')).map((r) => r.label).slice(-1)).toEqual(['before T4']);
    // It did wait on the lost worker's queue first, then went on without it.
    const history = (await (await testClient()).workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    const queues = history.flatMap((e) => (e.activityTaskScheduledEventAttributes?.activityType?.name === 'prepareRestore' ? [e.activityTaskScheduledEventAttributes.taskQueue?.name] : []));
    expect(queues[0]).toBe(gone);
    expect(queues.slice(1)).not.toContain(gone);
  }, 400_000);
});

describe('fbb restore cancel while the moment is recovered', () => {
  it('stops the recovery, removes the scratch cluster, and ends cancelled with the database unchanged and no pre-restore backup', async () => {
    const before = await setup.fingerprintFamilyBrain();
    const files = fs.readdirSync(setup.config.backup.dir).sort();
    const workflowId = id('pitr-live-cancel');
    const handle = await runner.start(restoreDatabase, { args: [{ to_time: 'latest' }], workflowId });
    const client = await testClient();
    await eventually('the moment is being made into a file', async () => (await client.workflow.getHandle(workflowId).describe()).raw.pendingActivities ?? [], (p) => p.some((a) => a.activityType?.name === 'materializeMoment'), 120_000);
    const cancel = await fbb(['restore', 'cancel', workflowId, '--json']);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(JSON.parse(cancel.stdout)).toMatchObject({ workflow_id: workflowId, update: 'cancelRestore', phase: 'done', status: 'cancelled' });
    const result = await handle.result();
    // The recovery itself was stopped, not waited out.
    expect(handle.attempts()).toContain('materializeMoment:cancelled');
    expect(result).toMatchObject({ status: 'cancelled', to_time: 'latest', pre_restore_backup: null, strategy: null, error: { type: 'RestoreCancelled' } });
    expect(result.error?.message).toMatch(/^cancelled by \S+ while moment latest was being recovered; its scratch cluster was removed; the database was not changed$/);
    // Cancelled in the middle of the recovery there is no pitr file; one finished just as the cancel came would stay, as any backup does.
    const notPitr = (names: string[]) => names.filter((f) => !f.startsWith('family_brain_pitr_'));
    expect(notPitr(fs.readdirSync(setup.config.backup.dir).sort())).toEqual(notPitr(files));
    expect(scratchClusters()).toEqual([]);
    expectSameAs(before, await setup.fingerprintFamilyBrain());
  }, 300_000);
});

describe('a restore to a moment killed while its scratch cluster ran', () => {
  it('leaves a cluster that the next run of the database stops and removes; another database\'s is left alone', async () => {
    const dead = clusterPaths(momentRoot(setup.config, 'a-killed-restore'));
    const other = clusterPaths(momentRoot(setup.config, 'another-databases-restore'));
    await initCluster(setup.cluster.binDir, dead);
    const owner = (database: string, workflowId: string) => JSON.stringify({ workflow_id: workflowId, database, server: `${setup.config.database.host}:${setup.config.database.port}` });
    fs.writeFileSync(path.join(dead.root, OWNER), owner('family_brain', 'a-killed-restore'));
    fs.mkdirSync(other.root, { recursive: true });
    fs.writeFileSync(path.join(other.root, OWNER), owner('another_db', 'another-databases-restore'));
    const earlier = new Date(Date.now() - 60_000);
    for (const root of [dead.root, other.root]) fs.utimesSync(path.join(root, OWNER), earlier, earlier);
    await startCluster(setup.cluster.binDir, dead);
    expect(await clusterAnswers(dead)).toBe(true);
    const pid = postmasterPid(dead.dataDir)!;

    const result = await runner.execute(backupDatabase, { args: [{ backup_type: 'manual' }], workflowId: id('pitr-live-sweep') });
    expect(result.status).toBe('success');
    expect(fs.existsSync(dead.root)).toBe(false);
    // pg_ctl stop -w returns once postmaster.pid is gone, a moment before the process itself has exited.
    const state = () => (processAlive(pid) ? (fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] ?? '?') : 'gone');
    await eventually('the scratch postmaster exited', async () => state(), (s) => s === 'gone' || s === 'Z', 30_000);
    expect(fs.readFileSync(path.join(other.root, OWNER), 'utf8')).toContain('another_db');
    fs.rmSync(other.root, { recursive: true, force: true });
  }, 200_000);
});

describe('an encrypted base backup and the wrong age key', () => {
  it('is refused before anything runs (EncryptionKeyMismatch): no scratch cluster, no file, the database unchanged', async () => {
    const key = await ageKeygen();
    const wrong = await ageKeygen();
    // The worker that takes (and so verifies) the base backup holds its key; the one restoring holds another.
    const writer: Config = { ...setup.config, backup: { ...setup.config.backup, ageRecipients: [key.recipient], ageIdentityFile: key.file } };
    const { manifest } = await (await driver.runner(writer)).execute(baseBackup, { args: [{}], workflowId: id('pitr-live-age-base') });
    const withKeys = await driver.runner({ ...writer, backup: { ...writer.backup, ageIdentityFile: wrong.file } });
    expect(manifest.filename).toMatch(/\.tar\.gz\.age$/);
    await switchAndArchive(setup);
    const before = await setup.fingerprintFamilyBrain();
    const files = fs.readdirSync(setup.config.backup.dir).sort();
    const refused = await failureOf(withKeys.execute(restoreDatabase, { args: [{ to_time: 'latest', confirm_restore: true }], workflowId: id('pitr-live-wrongkey') }));
    expect(refused?.type).toBe('EncryptionKeyMismatch');
    expect(refused?.nonRetryable).toBe(true);
    expect(refused?.message).toMatch(new RegExp(`^backup "${manifest.filename.replace(/\./g, '\\.')}" was not encrypted to the key in BACKUP_AGE_IDENTITY_FILE \\(its public key: ${wrong.recipient}\\);.*nothing was changed$`));
    expect(fs.readdirSync(setup.config.backup.dir).sort()).toEqual(files);
    expect(scratchClusters()).toEqual([]);
    expectSameAs(before, await setup.fingerprintFamilyBrain());
  }, 300_000);
});
