// Issue 24: base backups and the disaster path `fbb restore --to-time T --target-dir DIR`, on the real
// Temporal dev server with a real Worker and a durable PostgreSQL of this file's own (crashed at the end),
// archived by the real WAL archive (`fbb wal start`: archiveWal on that worker, as in production).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applicationFailureOf } from '../src/client/failures';
import type { RecoveryResult } from '../src/activities/basebackup/recover';
import type { Catalog } from '../src/backup/catalog';
import pg from 'pg';
import { restoreToTime } from '../src/workflows';
import type { BaseBackupResult } from '../src/workflows/baseBackup';
import { diffFingerprints } from './compare';
import { temporalDriver, type Runner } from './drivers';
import { eventually } from './eventually';
import { tempDir as privateTempDir, uniqueName, withServer } from './helpers';
import { crashAndDeleteDataDir, startPitrCli, startPitrSetup, startRestored, switchAndArchive, type PitrCli, type PitrSetup } from './pitrCluster';

const driver = temporalDriver();
/** A temporary directory the postgres user can reach (tests run as root; the restored server runs as postgres). */
const tempDir = (label: string) => {
  const dir = privateTempDir(label);
  fs.chmodSync(dir, 0o755);
  return dir;
};
const id = (label: string) => uniqueName(label).replace(/_/g, '-');
const failureOf = async (p: Promise<unknown>) => applicationFailureOf(await p.then(() => undefined, (e: unknown) => e));

let setup: PitrSetup;
let runner: Runner;
let backup: BaseBackupResult;
let cli: PitrCli;

/** Runs fbb as a user would, against this file's worker for the CLI; exit code and output. */
/** `fbb` in this process, on the file's server and worker. */
const fbb = (args: string[]) => cli.fbb(args);

beforeAll(async () => {
  // No autovacuum: no background transaction commits after a moment the tests choose.
  setup = await startPitrSetup({ settings: ['autovacuum=off'], archive: 'real' });
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

describe('fbb basebackup', () => {
  it('stores the tar.gz, its checksum sidecar, its manifest and PostgreSQL backup_manifest under base/<sysid>/', () => {
    const m = backup.manifest;
    const dir = path.join(setup.config.backup.dir, 'base', setup.archive.systemIdentifier);
    expect(m.system_identifier).toBe(setup.archive.systemIdentifier);
    expect(m.filename).toMatch(/^family_brain_base_\d{8}_\d{6}\.tar\.gz$/);
    expect(fs.readdirSync(dir).sort()).toEqual([m.filename, `${m.filename}.backup_manifest`, `${m.filename}.manifest.json`, `${m.filename}.sha256`].sort());
    expect(fs.statSync(path.join(dir, m.filename)).size).toBe(m.size_bytes);
    expect(fs.readFileSync(path.join(dir, `${m.filename}.sha256`), 'utf8').trim()).toBe(m.sha256);
    expect(m).toMatchObject({ backup_type: 'full', parent: null, timeline: 1, pg_major: 15, database: 'family_brain' });
    expect(m.table_details.chat_messages).toBeGreaterThan(0);
    expect(JSON.parse(fs.readFileSync(path.join(dir, m.pg_backup_manifest), 'utf8'))['WAL-Ranges'][0]['Start-LSN']).toBe(m.start_lsn);
  });
});

describe('fbb restore --to-time T --target-dir DIR', () => {
  it('gives a data directory that starts with pg_ctl and holds exactly the state at T', async () => {
    await withServer(setup.cluster, 'family_brain', async (c) => {
      await c.query("UPDATE chat_messages SET content = content || ' (edited before T)' WHERE id IN (SELECT id FROM chat_messages ORDER BY id LIMIT 5)");
      await c.query('CREATE TABLE pitr_marks (id serial PRIMARY KEY, label text, at timestamptz DEFAULT clock_timestamp())');
      await c.query("INSERT INTO pitr_marks (label) VALUES ('before T 1'), ('before T 2')");
    });
    const atT = await setup.fingerprintFamilyBrain();
    await new Promise((r) => setTimeout(r, 1_000));
    const t = await withServer(setup.cluster, 'postgres', async (c) => (await c.query<{ t: Date }>('SELECT clock_timestamp() AS t')).rows[0]!.t.toISOString());
    await new Promise((r) => setTimeout(r, 1_000));
    await withServer(setup.cluster, 'family_brain', async (c) => {
      await c.query("INSERT INTO pitr_marks (label) VALUES ('after T')");
      await c.query('DELETE FROM chat_messages WHERE id IN (SELECT id FROM chat_messages ORDER BY id DESC LIMIT 3)');
    });
    await switchAndArchive(setup);

    const listed = await fbb(['list', '--json']);
    expect(listed.code, listed.stderr).toBe(0);
    const window = (JSON.parse(listed.stdout) as Catalog).restorable_window!;
    expect(window.oldest).toBe(backup.manifest.end_time);
    expect(window.base_backups).toBe(1);
    expect(window.newest >= t).toBe(true);
    expect((await fbb(['list'])).stdout).toContain(`restorable to any moment from ${window.oldest} to ${window.newest} (1 base backup with their WAL)`);

    const target = path.join(tempDir('pitr-target'), 'restored');
    const run = await fbb(['restore', '--to-time', t, '--target-dir', target, '--json']);
    expect(run.code, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout) as RecoveryResult;
    console.log(`restored to ${t}: recovered_to ${String(result.recovered_to)}, base ${result.base_backup}, WAL ${result.wal_range.first}..${result.wal_range.last}`);
    expect(result).toMatchObject({ target_dir: target, to_time: t, base_backup: backup.manifest.filename, chain: [backup.manifest.filename] });
    expect(result.recovered_to! <= t).toBe(true);
    expect(fs.existsSync(path.join(target, 'recovery.signal'))).toBe(false);
    expect(fs.existsSync(path.join(target, 'postmaster.opts'))).toBe(false);
    const restored = await startRestored(setup.cluster.binDir, target, setup.cluster.password);
    try {
      const got = await restored.fingerprint();
      // PostgreSQL WAL-logs a sequence 32 values ahead of what it handed out, so after any recovery it
      // resumes past them (never handing a used value out again): sequences are compared as "not behind".
      expect(diffFingerprints({ ...atT, sequences: {} }, { ...got, sequences: {} })).toEqual([]);
      for (const [name, value] of Object.entries(atT.sequences)) expect(Number(got.sequences[name] ?? 0)).toBeGreaterThanOrEqual(Number(value ?? 0));
      expect((await restored.query<{ label: string }>('SELECT label FROM pitr_marks ORDER BY id')).map((r) => r.label)).toEqual(['before T 1', 'before T 2']);
    } finally {
      await restored.stop();
    }
  }, 300_000);

  it('a moment after the last commit restores everything up to it: recovery runs on to the end of the archived WAL', async () => {
    await withServer(setup.cluster, 'family_brain', (c) => c.query("INSERT INTO pitr_marks (label) VALUES ('last before a quiet moment')"));
    const quiet = await setup.fingerprintFamilyBrain();
    await new Promise((r) => setTimeout(r, 1_000));
    const t = await withServer(setup.cluster, 'postgres', async (c) => (await c.query<{ t: Date }>('SELECT clock_timestamp() AS t')).rows[0]!.t.toISOString());
    await new Promise((r) => setTimeout(r, 500));
    await switchAndArchive(setup);
    // An existing empty directory (as a freshly mounted volume would be) is restored into, not replaced.
    const target = path.join(tempDir('pitr-quiet'), 'restored');
    fs.mkdirSync(target, { mode: 0o755 });
    const result = await runner.execute(restoreToTime, { args: [{ to_time: t, target_dir: target }], workflowId: id('pitr-quiet') });
    expect(result.recovered_to! < t).toBe(true);
    expect(fs.readFileSync(path.join(target, 'fbb_recovery.log'), 'utf8')).toContain('recovery ended before configured recovery target was reached');
    const restored = await startRestored(setup.cluster.binDir, target, setup.cluster.password);
    try {
      const got = await restored.fingerprint();
      expect(diffFingerprints({ ...quiet, sequences: {} }, { ...got, sequences: {} })).toEqual([]);
    } finally {
      await restored.stop();
    }
  }, 300_000);

  it('refuses a moment before the window, naming the window, and changes nothing', async () => {
    const target = path.join(tempDir('pitr-before'), 'restored');
    const before = new Date(new Date(backup.manifest.start_time).getTime() - 60_000).toISOString();
    const failure = await failureOf(runner.execute(restoreToTime, { args: [{ to_time: before, target_dir: target }], workflowId: id('pitr-before') }));
    expect(failure?.type).toBe('RecoveryTargetOutsideWindow');
    expect(failure?.nonRetryable).toBe(true);
    expect(failure?.message).toMatch(new RegExp(`^--to-time ${before} is before the oldest moment a base backup reaches; the restorable window is ${backup.manifest.end_time} to \\S+; pick a moment inside it`));
    expect(fs.existsSync(target)).toBe(false);
  });

  it('refuses a moment in the future, naming the window: exit 2', async () => {
    const target = path.join(tempDir('pitr-future'), 'restored');
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const failure = await failureOf(runner.execute(restoreToTime, { args: [{ to_time: future, target_dir: target }], workflowId: id('pitr-future') }));
    expect(failure?.type).toBe('RecoveryTargetOutsideWindow');
    expect(failure?.message).toMatch(new RegExp(`^--to-time ${future} is in the future \\(now \\S+\\); the restorable window is ${backup.manifest.end_time} to `));
    const cli = await fbb(['restore', '--to-time', future, '--target-dir', target]);
    expect(cli.code).toBe(2);
    expect(cli.stderr).toContain(`RecoveryTargetOutsideWindow: --to-time ${future} is in the future`);
    expect(fs.existsSync(target)).toBe(false);
  });

  it('refuses before anything runs when the worker has no PostgreSQL server programs of the backup\'s major', async () => {
    const clientOnly = privateTempDir('clientbin');
    for (const tool of fs.readdirSync(setup.cluster.binDir)) if (tool !== 'postgres' && tool !== 'pg_ctl') fs.symlinkSync(path.join(setup.cluster.binDir, tool), path.join(clientOnly, tool));
    const noServer = await driver.runner({ ...setup.config, pgBinDir: clientOnly });
    const target = path.join(tempDir('pitr-noserver'), 'restored');
    const failure = await failureOf(noServer.execute(restoreToTime, { args: [{ to_time: 'latest', target_dir: target }], workflowId: id('pitr-noserver') }));
    expect(failure?.type).toBe('RecoveryFailed');
    expect(failure?.message).toBe('the base backup is of PostgreSQL 15, and this worker has no PostgreSQL 15 server programs (postgres, pg_ctl) to recover it with; run "bash scripts/install-deps.sh" (or point PG_BIN_DIR at them); nothing was changed');
    expect(fs.readdirSync(path.dirname(target))).toEqual([]);
  });

  it('refuses a time without an offset, and a directory that is not empty', async () => {
    const dir = tempDir('pitr-busy');
    fs.writeFileSync(path.join(dir, 'PG_VERSION'), '15\n');
    const noOffset = await failureOf(runner.execute(restoreToTime, { args: [{ to_time: '2026-12-05 23:10:00', target_dir: path.join(dir, 'x') }], workflowId: id('pitr-nooffset') }));
    expect(noOffset?.type).toBe('InvalidInput');
    expect(noOffset?.message).toBe('--to-time "2026-12-05 23:10:00" is not a moment this restore can use: expected "latest" or ISO 8601 with an offset or Z, like 2026-12-05T23:10:00Z or 2026-12-05T18:10:00-05:00; nothing was changed');
    const cli = await fbb(['restore', '--to-time', '2026-12-05 23:10:00', '--target-dir', path.join(dir, 'x'), '--json']);
    expect(cli.code).toBe(2);
    expect(JSON.parse(cli.stdout)).toMatchObject({ status: 'error', error: { type: 'InvalidInput', message: noOffset!.message } });
    // Without --to-time, --target-dir is a mix-up (without --target-dir, --to-time restores into the live database: test/pitr-live.test.ts).
    const noTime = await fbb(['restore', '--target-dir', dir]);
    expect(noTime.code).toBe(2);
    expect(noTime.stderr).toContain('fbb: --target-dir goes with --to-time <moment>');
    const both = await fbb(['restore', 'family_brain_daily_20261205_020000.sql.gz', '--to-time', 'latest', '--target-dir', dir]);
    expect(both.code).toBe(2);
    expect(both.stderr).toContain('fbb: --to-time restores from base backups and the WAL archive, not from a file: drop "family_brain_daily_20261205_020000.sql.gz"');
    const busy = await failureOf(runner.execute(restoreToTime, { args: [{ to_time: 'latest', target_dir: dir }], workflowId: id('pitr-busy') }));
    expect(busy?.type).toBe('TargetDirNotEmpty');
    expect(busy?.message).toContain(`--target-dir ${dir} is not empty (it holds PG_VERSION)`);
    expect(fs.readdirSync(dir)).toEqual(['PG_VERSION']);
  });

  it('latest, after the server was killed and its data directory deleted under a steady write load, loses only the last moments', async () => {
    await withServer(setup.cluster, 'family_brain', (c) => c.query('CREATE TABLE pitr_load (id int PRIMARY KEY, at timestamptz NOT NULL)'));
    let acked = { id: 0, at: '' };
    let firstAckedAt = Number.POSITIVE_INFINITY;
    let stop = false;
    const writer = new pg.Client({ host: setup.cluster.host, port: setup.cluster.port, user: setup.cluster.user, password: setup.cluster.password, database: 'family_brain' });
    // The crash ends this session: its error is expected.
    writer.on('error', () => undefined);
    await writer.connect();
    const load = (async () => {
      for (let i = 1; !stop; i++) {
        const { rows } = await writer.query<{ at: Date }>('INSERT INTO pitr_load VALUES ($1, clock_timestamp()) RETURNING at', [i]);
        acked = { id: i, at: rows[0]!.at.toISOString() };
        if (i === 1) firstAckedAt = Date.now();
        await new Promise((r) => setTimeout(r, 20));
      }
    })().catch(() => undefined);
    await new Promise((r) => setTimeout(r, 4_000));
    // The archive copies the partial segment every WAL_PARTIAL_UPLOAD_SECONDS (2 s here) while the server
    // answers; the crash comes once a copy written well after the first commit holds part of the load.
    const partialCopies = async () => fs.readdirSync(setup.archive.dir).filter((f) => f.endsWith('.partial.gz')).map((f) => fs.statSync(path.join(setup.archive.dir, f)).mtimeMs);
    await eventually('a partial copy written after the load began', partialCopies, (times) => times.some((t) => t > firstAckedAt + 2_000), 60_000);
    await crashAndDeleteDataDir(setup.cluster);
    const crashedAt = Date.now();
    stop = true;
    await load;
    await writer.end().catch(() => undefined);
    // As the session fails, the archive copies the partial segment pg_receivewal holds: the restore starts once it is there.
    await eventually('the partial copy made after the crash', partialCopies, (times) => times.some((t) => t > crashedAt), 60_000);

    const target = path.join(tempDir('pitr-latest'), 'restored');
    const result = await runner.execute(restoreToTime, { args: [{ to_time: 'latest', target_dir: target }], workflowId: id('pitr-latest') });
    expect(result).toMatchObject({ to_time: 'latest', base_backup: backup.manifest.filename });
    const restored = await startRestored(setup.cluster.binDir, target, setup.cluster.password);
    try {
      const [row] = await restored.query<{ n: string; max: number | null; last: Date | null }>('SELECT count(*) AS n, max(id) AS max, max(at) AS last FROM pitr_load');
      const lost = acked.id - (row!.max ?? 0);
      const seconds = row!.last === null ? Number.NaN : (new Date(acked.at).getTime() - row!.last.getTime()) / 1000;
      console.log(`latest after a crash: ${acked.id} commits acknowledged, ${row!.max ?? 0} restored, ${lost} lost (${seconds.toFixed(3)} s); recovered_to ${String(result.recovered_to)}`);
      // What was restored is a prefix of what was acknowledged: no row from the middle is missing.
      expect(Number(row!.n)).toBe(row!.max ?? 0);
      expect(row!.max ?? 0).toBeGreaterThan(0);
      expect(row!.max ?? 0).toBeLessThanOrEqual(acked.id + 1);
    } finally {
      await restored.stop();
    }
  }, 300_000);
});
