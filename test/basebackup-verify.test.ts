// Issue 24, "verified means restored" for base backups: each base backup is brought up with its archived
// WAL as a scratch cluster on the worker, recovered to where its rows were counted, and checked
// (consistency, pg_amcheck, every table's row count) before it is uploaded. Real Temporal dev server,
// real workers, a durable PostgreSQL of this file's own with its WAL archive.
import fs from 'node:fs';
import path from 'node:path';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applicationFailureOf } from '../src/client/failures';
import { formatBaseBackup } from '../src/client/commands/basebackup';
import type { Config } from '../src/config';
import { createS3Client } from '../src/storage/s3Client';
import { baseBackup } from '../src/workflows';
import { temporalDriver } from './drivers';
import { buildWorker, kill, killAllWorkers, printed, startWorker } from './durability';
import { captured, runActivity, tempDir, uniqueName, userEnvFor, withServer } from './helpers';
import { startPitrSetup, type PitrSetup } from './pitrCluster';
import { restorableState } from '../src/activities/basebackup/plan';
import { prunePhysicalBackups } from '../src/activities/basebackup/prune';
import { verifyBaseBackup } from '../src/activities/basebackup/verify';
import type { Catalog } from '../src/backup/catalog';
import { parseArchivedWal, segnoOfLsn } from '../src/basebackup/naming';
import { runCli } from '../src/client/cli';
import type { CheckResult } from '../src/doctor/report';
import { onTemporal, testClient } from './temporal';

const driver = temporalDriver();
const id = (label: string) => uniqueName(label).replace(/_/g, '-');
const failureOf = async (p: Promise<unknown>) => applicationFailureOf(await p.then(() => undefined, (e: unknown) => e));

let setup: PitrSetup;
beforeAll(async () => {
  [setup] = await Promise.all([startPitrSetup({ s3: true }), buildWorker()]);
}, 600_000);
afterAll(async () => {
  await killAllWorkers();
  await driver.release();
  await setup?.archive.stop().catch(() => undefined);
  await setup?.cluster.stop();
});

/** A directory the postgres user can reach (tests run as root; the scratch cluster runs as postgres). */
function openTempDir(label: string): string {
  const dir = tempDir(label);
  fs.chmodSync(dir, 0o755);
  return dir;
}

/** A config of its own: its backup directory (sharing the archive's wal/) and the worker's state directory (VERIFY_SERVER_DIR). */
function ownConfig(label: string, s3 = false): Config {
  const dir = tempDir(`${label}-backups`);
  fs.symlinkSync(path.join(setup.config.backup.dir, 'wal'), path.join(dir, 'wal'));
  return { ...setup.config, s3: s3 ? setup.config.s3 : undefined, backup: { ...setup.config.backup, dir }, verify: { target: 'source', serverDir: openTempDir(`${label}-state`), idleMs: 60_000, fallback: 'none' } };
}

/**
 * A PG_BIN_DIR whose pg_basebackup damages one table's data file in its tar stream (as a disk or a bad
 * copy would; the checksum is taken after it, so it matches): `lp` points block 0's first line pointer
 * past the end of the page, `empty` makes the file empty.
 */
function damagingBasebackup(relationPath: string, how: 'lp' | 'empty'): string {
  const real = setup.cluster.binDir;
  // The scratch cluster's postgres (a link in here) runs as the postgres user: it must reach the directory.
  const dir = openTempDir('damagingbin');
  for (const tool of fs.readdirSync(real)) if (tool !== 'pg_basebackup') fs.symlinkSync(path.join(real, tool), path.join(dir, tool));
  const filter = path.join(dir, 'damage.py');
  fs.writeFileSync(filter, `
import sys
target, how = sys.argv[1].encode(), sys.argv[2]
inp, out = sys.stdin.buffer, sys.stdout.buffer
def read(n):
    buf = b''
    while len(buf) < n:
        c = inp.read(n - len(buf))
        if not c: break
        buf += c
    return buf
while True:
    h = bytearray(read(512))
    if len(h) < 512 or h == bytearray(512):
        out.write(h); break
    name = bytes(h[0:100]).split(b'\\0')[0]
    name = name[2:] if name.startswith(b'./') else name
    size = int(bytes(h[124:136]).split(b'\\0')[0].strip() or b'0', 8)
    data = bytearray(read((size + 511) // 512 * 512))
    if name == target and how == 'empty':
        h[124:136] = b'%011o\\0' % 0
        h[148:156] = b' ' * 8
        h[148:156] = b'%06o\\0 ' % sum(h)
        data = bytearray()
    elif name == target and size >= 8192:
        data[24:28] = (8190 | (1 << 15) | (100 << 17)).to_bytes(4, 'little')
    out.write(h); out.write(data)
while True:
    c = inp.read(65536)
    if not c: break
    out.write(c)
`);
  fs.writeFileSync(path.join(dir, 'pg_basebackup'), `#!/bin/bash\nset -o pipefail\n${JSON.stringify(path.join(real, 'pg_basebackup'))} "$@" | python3 ${filter} ${relationPath} ${how}\n`, { mode: 0o755 });
  return dir;
}

const relationPath = (table: string) => withServer(setup.cluster, 'family_brain', async (c) => (await c.query<{ p: string }>('SELECT pg_relation_filepath($1) AS p', [table])).rows[0]!.p);
/** `fbb` in this process with `env` as its environment. */
async function fbbIn(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captured();
  const code = await runCli(args, { stdout: io.stdout, stderr: io.stderr, env });
  return { code, ...io.text() };
}
const baseFiles = (config: Config) => fs.readdirSync(path.join(config.backup.dir, 'base', setup.archive.systemIdentifier)).filter((f) => f !== 'failed').sort();

describe('a base backup', () => {
  it('is verified before it is uploaded: recovered to where its rows were counted, consistent, pg_amcheck clean, every count equal, even under writes', async () => {
    const config = ownConfig('bbv-ok', true);
    await withServer(setup.cluster, 'family_brain', (c) => c.query('CREATE TABLE verify_load (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())'));
    // Commits all through the backup and the counting after it: a count taken after the backup ended differs from the backup's end.
    const writer = new pg.Client({ host: setup.cluster.host, port: setup.cluster.port, user: setup.cluster.user, password: setup.cluster.password, database: 'family_brain' });
    await writer.connect();
    await writer.query('SET synchronous_commit = off');
    let stop = false;
    let written = 0;
    const load = (async () => {
      for (let i = 1; !stop; i++) {
        await writer.query('INSERT INTO verify_load (id) VALUES ($1)', [i]);
        written = i;
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    let result;
    try {
      const runner = await driver.runner(config);
      result = await runner.execute(baseBackup, { args: [{}], workflowId: id('bbv-ok') });
    } finally {
      stop = true;
      await load;
      await writer.end();
    }
    const m = result.manifest;
    console.log(`verified ${m.filename} in ${m.verification?.duration_ms} ms under ${written} commits; verify_load counted ${m.table_details.verify_load}`);
    expect(m.counts_at?.lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(m.verification).toMatchObject({ checks: { amcheck: { database: 'family_brain', problems: 0 }, row_counts: { exact: true, tables_compared: Object.keys(m.table_details).length, tables_skipped: [] } } });
    expect(m.table_details.verify_load).toBeGreaterThan(0);
    expect(m.verification!.checks.consistency.recovered_to_lsn).toBe(m.counts_at!.lsn);
    expect(m.verification!.duration_ms).toBeGreaterThan(0);
    // The manifest beside the file, and the one uploaded after it, record the verification.
    const dir = path.join(config.backup.dir, 'base', m.system_identifier);
    expect(JSON.parse(fs.readFileSync(path.join(dir, `${m.filename}.manifest.json`), 'utf8')).verification).toEqual(m.verification);
    const s3 = createS3Client(config.s3!);
    try {
      const got = await s3.send(new GetObjectCommand({ Bucket: config.s3!.bucket, Key: `${result.uploaded!.key}.manifest.json` }));
      expect(JSON.parse(await got.Body!.transformToString()).verification).toEqual(m.verification);
    } finally {
      s3.destroy();
    }
    expect(formatBaseBackup(result)).toContain(`  verified  restored to ${m.counts_at!.lsn} (consistent at ${m.verification!.checks.consistency.consistent_at}), pg_amcheck clean, row counts of ${Object.keys(m.table_details).length} tables equal; took `);
    // The scratch cluster is gone.
    expect(fs.readdirSync(path.join(config.verify!.serverDir, 'basebackup-verify'))).toEqual([]);
  }, 400_000);

  it('with a damaged heap page fails verification (pg_amcheck says where), is not uploaded and is set aside', async () => {
    const config = { ...ownConfig('bbv-heap', true), pgBinDir: damagingBasebackup(await relationPath('chat_messages'), 'lp') };
    const runner = await driver.runner(config);
    const failure = await failureOf(runner.execute(baseBackup, { args: [{}], workflowId: id('bbv-heap') }));
    expect(failure?.type).toBe('BaseBackupVerificationFailed');
    expect(failure?.nonRetryable).toBe(true);
    expect(failure?.message).toMatch(/^base backup "family_brain_base_\d{8}_\d{6}\.tar\.gz" failed verification: pg_amcheck found corruption in database family_brain: heap table "family_brain\.public\.chat_messages", block 0, offset 1: .*line pointer.*; it was not uploaded, and was moved to .*\/failed \(kept for inspection; restores do not use it\)$/);
    const filename = /"(family_brain_base_[^"]+)"/.exec(failure!.message)![1]!;
    expect(baseFiles(config)).toEqual([]);
    expect(fs.readdirSync(path.join(config.backup.dir, 'base', setup.archive.systemIdentifier, 'failed')).sort()).toEqual([filename, `${filename}.backup_manifest`, `${filename}.manifest.json`, `${filename}.sha256`].sort());
    const s3 = createS3Client(config.s3!);
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: config.s3!.bucket, Key: `${config.s3!.prefix}base/${setup.archive.systemIdentifier}/${filename}` })).catch((err: { name?: string }) => err.name);
      expect(head).toBe('NotFound');
    } finally {
      s3.destroy();
    }
    expect(fs.readdirSync(path.join(config.verify!.serverDir, 'basebackup-verify'))).toEqual([]);
  }, 400_000);

  it('whose table file lost its rows fails verification on that table\'s row count', async () => {
    const config = { ...ownConfig('bbv-count'), pgBinDir: damagingBasebackup(await relationPath('expenses'), 'empty') };
    const expected = await withServer(setup.cluster, 'family_brain', async (c) => Number((await c.query<{ n: string }>('SELECT count(*) AS n FROM expenses')).rows[0]!.n));
    const runner = await driver.runner(config);
    const failure = await failureOf(runner.execute(baseBackup, { args: [{}], workflowId: id('bbv-count') }));
    expect(failure?.type).toBe('BaseBackupVerificationFailed');
    expect(failure?.message).toMatch(new RegExp(`^base backup "family_brain_base_\\d{8}_\\d{6}\\.tar\\.gz" failed verification: row counts differ from those taken at the backup \\(in the same snapshot as the recovered state\\) in 1 table\\(s\\): expenses: ${expected} rows counted at the backup, 0 recovered; it was not uploaded`));
    expect(baseFiles(config)).toEqual([]);
  }, 400_000);
});

describe('base backups that failed verification', () => {
  it('when an attempt was killed while it moved the files aside (the file moved, its manifest not), the retry finishes the move and fails as the first did', async () => {
    const dir = path.join(tempDir('bbv-aside'), 'base', '7000000000000000001');
    const filename = 'family_brain_base_20261206_080000.tar.gz';
    fs.mkdirSync(path.join(dir, 'failed'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'failed', filename), 'tar');
    for (const sidecar of ['.manifest.json', '.backup_manifest', '.sha256']) fs.writeFileSync(path.join(dir, `${filename}${sidecar}`), '{}');
    const config = { backup: { dir: path.dirname(path.dirname(dir)) } } as Config;
    const failure = await verifyBaseBackup(config, { filename, system_identifier: '7000000000000000001', workflowId: 'w' }).then(() => undefined, (err: unknown) => err as { type?: string; nonRetryable?: boolean; message: string });
    expect(failure).toMatchObject({ type: 'BaseBackupVerificationFailed', nonRetryable: true });
    expect(failure!.message).toContain(`base backup "${filename}" failed verification in an earlier attempt; it was not uploaded, and was moved to ${path.join(dir, 'failed')}`);
    expect(fs.readdirSync(dir)).toEqual(['failed']);
    expect(fs.readdirSync(path.join(dir, 'failed')).sort()).toEqual([filename, `${filename}.backup_manifest`, `${filename}.manifest.json`, `${filename}.sha256`].sort());
  });

  it('are shown by fbb list and fbb doctor (how many, where, what to do) and removed by retention after RETENTION_BASEBACKUP_DAYS; the good one and its WAL stay', async () => {
    const config = ownConfig('bbv-failed-retention');
    const good = (await (await driver.runner(config)).execute(baseBackup, { args: [{}], workflowId: id('bbv-failed-good') })).manifest;
    const damaged = await driver.runner({ ...config, pgBinDir: damagingBasebackup(await relationPath('chat_messages'), 'lp') });
    const failure = await failureOf(damaged.execute(baseBackup, { args: [{ cleanup_old: false }], workflowId: id('bbv-failed-bad') }));
    expect(failure?.type).toBe('BaseBackupVerificationFailed');
    const bad = /"(family_brain_base_[^"]+)"/.exec(failure!.message)![1]!;
    const sysid = setup.archive.systemIdentifier;
    const failedDir = path.join(config.backup.dir, 'base', sysid, 'failed');
    const badTakenAt = `${bad.slice(18, 22)}-${bad.slice(22, 24)}-${bad.slice(24, 26)}T${bad.slice(27, 29)}:${bad.slice(29, 31)}:${bad.slice(31, 33)}.000Z`;
    // This directory's own copy of the archive (the others share one): what retention removes from it is this test's to check.
    const walLink = path.join(config.backup.dir, 'wal');
    const walCopy = `${walLink}.copy`;
    fs.cpSync(fs.realpathSync(walLink), walCopy, { recursive: true });
    fs.unlinkSync(walLink);
    fs.renameSync(walCopy, walLink);

    const env = userEnvFor(config);
    const detail = `1 base backup failed verification and was set aside in ${failedDir} (the oldest taken ${badTakenAt}); nothing restores from it`;
    const next = 'the failed "fbb basebackup" run says why (fbb history); base-backup retention removes each 14 days (RETENTION_BASEBACKUP_DAYS) after it was taken, or delete them once inspected; take a new base backup with "fbb basebackup"';
    const listed = await fbbIn(['list', '--local'], env);
    expect(listed.code, listed.stderr).toBe(0);
    expect(listed.stdout).toContain(`\n${detail}\n  ${next}`);
    const json = JSON.parse((await fbbIn(['list', '--local', '--json'], env)).stdout) as Catalog;
    expect(json.failed_base_backups).toEqual({ count: 1, dirs: [failedDir], oldest_taken_at: badTakenAt, detail, next });
    const doctor = JSON.parse((await fbbIn(['doctor', '--local', '--json'], env)).stdout) as { checks: CheckResult[] };
    expect(doctor.checks.find((c) => c.name === 'basebackup_failed')).toEqual({ name: 'basebackup_failed', status: 'warn', detail, hint: next });

    const goodFiles = baseFiles(config);
    const neededWal = () => fs.readdirSync(path.join(walLink, sysid)).filter((n) => {
      const parsed = parseArchivedWal(n.replace(/\.sha256$/, ''), good.wal_segment_bytes);
      return parsed !== undefined && (parsed.kind === 'history' || parsed.segno >= segnoOfLsn(good.start_lsn, good.wal_segment_bytes));
    }).sort();
    const walBefore = neededWal();
    expect(walBefore.length).toBeGreaterThan(0);
    const days = 14 * 86_400_000;
    const inside = await runActivity(prunePhysicalBackups, config, { dryRun: false, now: new Date(Date.parse(badTakenAt) + days - 1).toISOString() });
    expect(inside.filter((d) => d.type === 'failed').map((d) => [d.filename, d.action, d.removed, d.reason])).toEqual([[`failed/${bad}`, 'keep', false, `failed its verification (taken ${badTakenAt}); kept for inspection for the recovery window (14 days)`]]);
    expect(fs.readdirSync(failedDir)).toHaveLength(4);

    const after = await runActivity(prunePhysicalBackups, config, { dryRun: false, now: new Date(Date.parse(badTakenAt) + days + 1_000).toISOString() });
    expect(after.filter((d) => d.type === 'failed').map((d) => [d.filename, d.action, d.removed, d.reason])).toEqual([[`failed/${bad}`, 'remove', true, `failed its verification (taken ${badTakenAt}), longer ago than the recovery window (14 days); nothing restores from it`]]);
    expect(fs.readdirSync(failedDir)).toEqual([]);
    expect(after.find((d) => d.filename === good.filename)?.action).toBe('keep');
    expect(baseFiles(config)).toEqual(goodFiles);
    expect(neededWal()).toEqual(walBefore);
    expect((await restorableState(config)).usable.map((u) => u.chain.map((b) => b.filename))).toEqual([[good.filename]]);
    const relisted = await fbbIn(['list', '--local'], env);
    expect(relisted.stdout).not.toContain('failed verification');
  }, 600_000);
});

describe('a base backup counted while a commit was in flight', () => {
  it('is verified without comparing counts, saying which transaction made them inexact: never a false failure', async () => {
    const config = ownConfig('bbv-inflight');
    await withServer(setup.cluster, 'family_brain', (c) => c.query('CREATE TABLE inflight (id int)'));
    // A synchronous standby that never comes: a commit writes its commit record, then waits, still invisible to others.
    await withServer(setup.cluster, 'postgres', (c) => c.query("ALTER SYSTEM SET synchronous_standby_names = 'fbb_nobody'").then(() => c.query('SELECT pg_reload_conf()')));
    const hung = new pg.Client({ host: setup.cluster.host, port: setup.cluster.port, user: setup.cluster.user, password: setup.cluster.password, database: 'family_brain' });
    await hung.connect();
    await hung.query('BEGIN');
    await hung.query('INSERT INTO inflight VALUES (1)');
    const xid = (await hung.query<{ x: string }>('SELECT pg_current_xact_id()::text AS x')).rows[0]!.x;
    const committing = hung.query('COMMIT');
    let result;
    try {
      const runner = await driver.runner(config);
      result = await runner.execute(baseBackup, { args: [{}], workflowId: id('bbv-inflight') });
    } finally {
      await withServer(setup.cluster, 'postgres', (c) => c.query('ALTER SYSTEM RESET synchronous_standby_names').then(() => c.query('SELECT pg_reload_conf()')));
      await committing;
      await hung.end();
    }
    const m = result.manifest;
    // Counted without the row (its transaction was in flight), recovered with it (its commit record came before the counting position).
    expect(m.table_details.inflight).toBe(0);
    expect(m.verification?.checks.amcheck.problems).toBe(0);
    expect(m.verification?.checks.row_counts).toEqual({
      exact: false,
      tables_compared: 0,
      tables_skipped: [],
      note: `1 transaction(s) (XID ${xid}) wrote their commit record before the counting position but were not in the counting snapshot; the recovered state is not exactly the counted one, so counts were not compared`,
    });
  }, 400_000);
});

describe('a worker killed while it verifies a base backup', () => {
  it('leaves no manifest claiming verification; the next attempt stops and removes its scratch cluster and verifies', async () => {
    const config = onTemporal(ownConfig('bbv-kill'));
    const state = { VERIFY_SERVER_DIR: config.verify!.serverDir };
    const paused = startWorker(config, { ...state, FBB_TEST_PAUSE_AT: 'basebackup verify up' });
    // Listening from the start: the worker may reach the pause before the workflow's handle is back.
    const pausedThere = printed(paused, 'test pause at basebackup verify up');
    const client = await testClient();
    const handle = await client.workflow.start(baseBackup, { taskQueue: config.temporal.taskQueue, workflowId: id('bbv-kill'), args: [{}] });
    await pausedThere;
    const scratch = path.join(config.verify!.serverDir, 'basebackup-verify');
    const [left] = fs.readdirSync(scratch);
    const postmaster = Number(fs.readFileSync(path.join(scratch, left!, 'data', 'postmaster.pid'), 'utf8').split('\n')[0]);
    await kill(paused);
    // The scratch cluster outlives the worker; the manifest says nothing of a verification.
    expect(fs.readFileSync(`/proc/${postmaster}/comm`, 'utf8').trim()).toBe('postgres');
    const [filename] = baseFiles(config).filter((f) => f.endsWith('.tar.gz'));
    const manifestFile = path.join(config.backup.dir, 'base', setup.archive.systemIdentifier, `${filename}.manifest.json`);
    expect(JSON.parse(fs.readFileSync(manifestFile, 'utf8')).verification).toBeNull();

    const replacement = startWorker(config, state);
    try {
      const { manifest } = await handle.result();
      expect(manifest.verification?.checks.row_counts.exact).toBe(true);
      expect(JSON.parse(fs.readFileSync(manifestFile, 'utf8')).verification).toEqual(manifest.verification);
    } finally {
      await kill(replacement);
    }
    expect(fs.existsSync(`/proc/${postmaster}`) && fs.readFileSync(`/proc/${postmaster}/comm`, 'utf8').trim() === 'postgres').toBe(false);
    expect(fs.readdirSync(scratch)).toEqual([]);
    const { stdout } = await execa('ps', ['-eo', 'args'], { reject: false });
    expect(stdout.split('\n').filter((l) => l.includes(path.join(scratch, left!)))).toEqual([]);
  }, 400_000);
});

describe('a base backup without a WAL archive', () => {
  it('fails with WalArchiveNotRunning, saying to run "fbb wal start"; it is not uploaded', async () => {
    await setup.archive.stop();
    const config = ownConfig('bbv-noarchive', true);
    const runner = await driver.runner(config);
    const failure = await failureOf(runner.execute(baseBackup, { args: [{}], workflowId: id('bbv-noarchive') }));
    expect(failure?.type).toBe('WalArchiveNotRunning');
    expect(failure?.nonRetryable).toBe(true);
    expect(failure?.message).toMatch(new RegExp(`^base backup "family_brain_base_\\d{8}_\\d{6}\\.tar\\.gz" cannot be verified: its WAL \\(\\S+ to \\S+\\) is not in the archive \\(.*/wal/${setup.archive.systemIdentifier}\\) and no WAL archive streams from ${setup.cluster.host}:${setup.cluster.port} \\(no active physical replication slot\\); run "fbb wal start" and keep it running, then take the base backup again; it was not uploaded$`));
    const filename = /"(family_brain_base_[^"]+)"/.exec(failure!.message)![1]!;
    const manifest = JSON.parse(fs.readFileSync(path.join(config.backup.dir, 'base', setup.archive.systemIdentifier, `${filename}.manifest.json`), 'utf8'));
    expect(manifest.verification).toBeNull();
    const s3 = createS3Client(config.s3!);
    try {
      const head = await s3.send(new HeadObjectCommand({ Bucket: config.s3!.bucket, Key: `${config.s3!.prefix}base/${setup.archive.systemIdentifier}/${filename}` })).catch((err: { name?: string }) => err.name);
      expect(head).toBe('NotFound');
    } finally {
      s3.destroy();
    }
  }, 400_000);
});
