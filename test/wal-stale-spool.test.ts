// Per-host spools with several workers: worker A's session ends, leaving its partial segment in A's
// spool; worker B's sessions archive on past it and the server removes that WAL; when a session runs
// on A again, pg_receivewal must not start from A's stale partial (WAL the server no longer has): the
// session streams from the slot, and the archive has no gap.
import fs from 'node:fs';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prunePhysicalBackups } from '../src/activities/basebackup/prune';
import { takeBaseBackup } from '../src/activities/basebackup/take';
import { uploadBaseBackup } from '../src/activities/basebackup/upload';
import { clearUnfinishedPartials } from '../src/activities/wal/archiver';
import { startReceiver } from '../src/activities/wal/receiver';
import { slotPosition } from '../src/activities/wal/server';
import { archiveWalSession, type WalSessionResult } from '../src/activities/wal/session';
import type { BaseBackupManifest } from '../src/basebackup/manifest';
import type { Config } from '../src/config';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { lsnToBigInt, missingSegments, parseStoredName, segmentOfLsn, segmentStartLsn, WAL_SEGMENT_BYTES, walDir } from '../src/wal/layout';
import { eventually } from './eventually';
import { tempDir } from './helpers';
import { s3Objects, sql, switchSegment, systemIdentifier, walConfigFor } from './wal';

let cluster: PgCluster;
let hostA: Config;
let hostB: Config;

const quiet = () => undefined;
const activityEnv = () => new MockActivityEnvironment({ attempt: 1 }, { logger: { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: quiet, error: quiet } });

/** The S3 archive's stored files by kind. */
async function s3Archive(sysid: string) {
  const { keys } = await s3Objects(hostA, `${walDir(sysid)}/`);
  const files = keys.map((k) => parseStoredName(k)).filter((f) => f !== undefined);
  return { segments: files.filter((f) => f.kind === 'segment').map((f) => f.name).sort(), partials: files.filter((f) => f.kind === 'partial').map((f) => f.name).sort() };
}

/** Runs a session on `config` until `during` has run, then cancels it as `fbb wal stop` does; returns how it ended (an AbortError is how a cancelled activity may end too). */
async function sessionWhile(config: Config, during: () => Promise<void>): Promise<WalSessionResult['ended'] | 'aborted'> {
  const env = activityEnv();
  const session = env.run(archiveWalSession, config, { session_seconds: 600 });
  let failed: unknown;
  session.catch((err: unknown) => (failed = err));
  await eventually('the session streams (or fails)', async () => (failed ? 'failed' : (await sql<{ active: boolean }>(cluster, "SELECT active FROM pg_replication_slots WHERE slot_name = 'fbb_postgres'"))[0]?.active), (v) => v === true || v === 'failed', 60_000);
  if (failed) throw failed;
  await during();
  env.cancel();
  return session.then(
    (r) => (r as WalSessionResult).ended,
    (err: unknown) => {
      if ((err as Error).name === 'AbortError') return 'aborted' as const;
      throw err;
    },
  );
}

beforeAll(async () => {
  cluster = await startPgCluster({ settings: ['fsync=on', 'min_wal_size=32MB', 'max_wal_size=64MB'] });
  hostA = walConfigFor(cluster);
  // Host B: its own backup folder and spool (per-host mode), the same S3 bucket.
  hostB = { ...hostA, backup: { ...hostA.backup, dir: tempDir('host-b') }, wal: { ...hostA.wal!, spoolDir: tempDir('wal-spool-b') } };
});

afterAll(async () => {
  await cluster?.stop();
});

describe('the WAL archive with a spool per host', () => {
  it("a session on a worker whose spool is behind the slot (other workers archived on, the server removed that WAL) streams from the slot: no failure, no gap", async () => {
    const sysid = await systemIdentifier(cluster);
    const first = await sessionWhile(hostA, async () => {
      await sql(cluster, 'CREATE TABLE stale_load (id serial PRIMARY KEY, note text)');
      await sql(cluster, "INSERT INTO stale_load (note) SELECT 'a' FROM generate_series(1, 1000)");
    });
    expect(['stopped', 'aborted']).toContain(first);
    const leftOnA = (await sql<{ name: string }>(cluster, 'SELECT pg_walfile_name(pg_current_wal_lsn()) AS name'))[0]!.name;
    let lastOnB = '';
    await sessionWhile(hostB, async () => {
      for (let i = 0; i < 4; i++) lastOnB = await switchSegment(cluster);
      await eventually('B archived its segments to S3', () => s3Archive(sysid), (a) => a.segments.includes(lastOnB), 60_000);
    });
    await sql(cluster, 'CHECKPOINT');
    await switchSegment(cluster);
    await sql(cluster, 'CHECKPOINT');
    // The scenario holds: the server no longer has the segment A's spool stopped in.
    expect((await sql<{ n: string }>(cluster, 'SELECT count(*)::text AS n FROM pg_ls_waldir() WHERE name = $1', [leftOnA]))[0]!.n).toBe('0');

    let lastOnA = '';
    const again = await sessionWhile(hostA, async () => {
      lastOnA = await switchSegment(cluster);
      await eventually('A archived the new segment to S3', () => s3Archive(sysid), (a) => a.segments.includes(lastOnA), 60_000);
    });
    expect(['stopped', 'aborted']).toContain(again);
    const archive = await s3Archive(sysid);
    expect(missingSegments(archive.segments)).toEqual([]);
    expect(archive.segments[0]! <= leftOnA && archive.segments.at(-1)! >= lastOnA).toBe(true);
    // No partial copy stands for a segment the archive lacks in the middle of the sequence (a partial copy
    // of a segment held whole may stay: restores take the whole one, src/basebackup/window.ts).
    expect(archive.partials.filter((p) => !archive.segments.includes(p) && p < archive.segments.at(-1)!)).toEqual([]);
  });
});

// Issue 26 (found by the soak, seed 606 cycle 42: BACKUP_DIR filled up while pg_receivewal started a
// segment): pg_receivewal pads a new segment's file with zeros before it writes WAL, the disk filled at
// 16 kB, and every pg_receivewal after refused the short file ("has 16384 bytes, should be 0 or
// 16777216"): the archive stopped for good, though the disk had room again a minute later. The spool
// is put in that state here: its partial segment replaced by 16 kB of zeros (what the soak's held).
describe('a partial segment pg_receivewal could not finish creating (the disk filled while it padded it)', () => {
  it('is removed and the archive streams on from the slot: no failure, no gap', async () => {
    const sysid = await systemIdentifier(cluster);
    const hostC = { ...hostA, backup: { ...hostA.backup, dir: tempDir('host-c') }, wal: { ...hostA.wal!, spoolDir: tempDir('wal-spool-c') } };
    const spool = path.join(hostC.wal!.spoolDir, sysid);
    const spoolPartials = () => (fs.existsSync(spool) ? fs.readdirSync(spool).filter((f) => f.endsWith('.partial')) : []);
    await sessionWhile(hostC, async () => {
      await sql(cluster, "INSERT INTO wal_test (note) SELECT 'c' FROM generate_series(1, 100)").catch(() => undefined);
      // pg_receivewal makes its partial segment once WAL arrives, a moment after the slot turns active
      // (CI on a loaded machine: the session was cancelled before it had, and the spool held none).
      await eventually('the spool holds a partial segment', async () => spoolPartials(), (p) => p.length === 1, 30_000);
    });
    const partials = fs.readdirSync(spool).filter((f) => f.endsWith('.partial'));
    expect(partials).toHaveLength(1);
    const short = partials[0]!;
    fs.writeFileSync(path.join(spool, short), Buffer.alloc(16384));

    let last = '';
    const ended = await sessionWhile(hostC, async () => {
      last = await switchSegment(cluster);
      await eventually('the segment switched after it archived to S3', () => s3Archive(sysid), (a) => a.segments.includes(last), 60_000);
    });
    expect(['stopped', 'aborted']).toContain(ended);
    const archive = await s3Archive(sysid);
    // The segment whose file was cut short is archived whole (streamed again from the slot), and nothing is missing.
    expect(archive.segments).toContain(short.replace('.partial', ''));
    expect(missingSegments(archive.segments)).toEqual([]);
    expect(fs.readdirSync(spool).filter((f) => f.endsWith('.short'))).toEqual([]);
  });

  it('one that holds WAL (a non-zero byte) is not removed: renamed .short, out of pg_receivewal\'s way', async () => {
    const spool = tempDir('wal-spool-short');
    const file = '000000010000000000000042.partial';
    const bytes = Buffer.alloc(16384);
    bytes[100] = 1;
    fs.writeFileSync(path.join(spool, file), bytes);
    fs.writeFileSync(path.join(spool, '000000010000000000000043.partial'), Buffer.alloc(16 * 1024 * 1024));
    expect(await clearUnfinishedPartials(spool, 16 * 1024 * 1024)).toEqual([{ name: file, removed: false }]);
    expect(fs.readdirSync(spool).sort()).toEqual(['000000010000000000000042.partial.short', '000000010000000000000043.partial']);
  });
});

// Issue 26 (found by the soak, seed 707 per host: segment …1C stored eight minutes after …1D):
// pg_receivewal on worker A flushed whole segments into A's spool (the slot advanced past them) and
// A was killed before its archiver stored them. They were in A's spool only, and a session on worker B
// streamed on from the slot: the archive lacked them until A ran again (for good, had A's disk died).
// The archived slot keeps that WAL on the server until the archive holds it; B streams it again.
describe("whole segments flushed into a killed worker's spool and never stored", () => {
  it('are streamed again by the next session on another worker: the archive has no gap, whatever happens to that spool', async () => {
    const sysid = await systemIdentifier(cluster);
    const slotRow = async (name: string) => (await sql<{ restart_lsn: string | null }>(cluster, 'SELECT restart_lsn::text AS restart_lsn FROM pg_replication_slots WHERE slot_name = $1', [name]))[0];
    // A session on B first: the archive and its slots as they stand while the archive runs.
    await sessionWhile(hostB, async () => {
      const last = await switchSegment(cluster);
      await eventually('B archived its segment', () => s3Archive(sysid), (a) => a.segments.includes(last), 60_000);
    });
    expect(await slotRow('fbb_postgres_archived')).toBeDefined();

    // Worker A: its pg_receivewal flushes three whole segments into A's spool, then A is SIGKILLed before its archiver ran.
    const spoolA = path.join(tempDir('wal-spool-killed'), sysid);
    fs.mkdirSync(spoolA, { recursive: true });
    const receiver = startReceiver({ binDir: cluster.binDir, db: hostA.database, slot: 'fbb_postgres', spoolDir: spoolA });
    const onlyInA: string[] = [];
    for (let i = 0; i < 3; i++) onlyInA.push(await switchSegment(cluster));
    const end = (await sql<{ lsn: string }>(cluster, 'SELECT pg_current_wal_lsn()::text AS lsn'))[0]!.lsn;
    await eventually('the slot confirmed the three segments (flushed in A\'s spool)', async () => (await slotRow('fbb_postgres'))?.restart_lsn ?? '0/0', (lsn) => lsnToBigInt(lsn) >= lsnToBigInt(end), 60_000);
    process.kill(receiver.pid, 'SIGKILL');
    await receiver.exited;
    expect(fs.readdirSync(spoolA).filter((f) => onlyInA.includes(f)).sort()).toEqual(onlyInA);
    expect((await s3Archive(sysid)).segments.filter((s) => onlyInA.includes(s))).toEqual([]);
    // A's disk is gone: what its spool held exists nowhere else but on the server.
    fs.rmSync(spoolA, { recursive: true, force: true });
    // What `fbb wal status` shows the server keeping for the archive counts those segments (the archived slot's), not only the slot's.
    expect((await slotPosition(hostA.database, 'fbb_postgres')).retained_bytes).toBeGreaterThanOrEqual(3 * 16 * 1024 * 1024);

    let last = '';
    const ended = await sessionWhile(hostB, async () => {
      last = await switchSegment(cluster);
      await eventually('B archived past the segments', () => s3Archive(sysid), (a) => a.segments.includes(last), 60_000);
    });
    expect(['stopped', 'aborted']).toContain(ended);
    const archive = await s3Archive(sysid);
    expect(archive.segments).toEqual(expect.arrayContaining(onlyInA));
    expect(missingSegments(archive.segments)).toEqual([]);
    // The archived slot moved on with the archive: the server no longer keeps those segments for it.
    const archivedAt = (await slotRow('fbb_postgres_archived'))!.restart_lsn!;
    expect(lsnToBigInt(archivedAt)).toBeGreaterThanOrEqual(lsnToBigInt(segmentStartLsn(last)) + 16n * 1024n * 1024n);
  });
});

describe('slots a crash put back into WAL that retention has removed since', () => {
  it("the archived slot moves on to where the oldest base backup starts, then with the archive: the server does not keep that WAL until the next session", async () => {
    const sysid = await systemIdentifier(cluster);
    const slotAt = async (name: string) => (await sql<{ restart_lsn: string }>(cluster, 'SELECT restart_lsn::text AS restart_lsn FROM pg_replication_slots WHERE slot_name = $1', [name]))[0]?.restart_lsn;
    // Where the last checkpoint saved both slots: PostgreSQL keeps a slot's moves in memory until a checkpoint,
    // and a crash (pg_ctl -m immediate) puts it back there. A slot reserved now stands for that position.
    await sql(cluster, 'CHECKPOINT');
    await sql(cluster, "SELECT pg_create_physical_replication_slot('fbb_saved', true)");
    const saved = (await slotAt('fbb_saved'))!;
    // The archive goes on; a base backup starts segments later, goes to S3, and retention removes the WAL before it there.
    await sessionWhile(hostA, async () => {
      for (let i = 0; i < 2; i++) await switchSegment(cluster);
      const manifest = await activityEnv().run(takeBaseBackup, hostA, { filename: `${hostA.backup.prefix}_base_20261206_000000.tar.gz`, workflowId: 'slot-floor', incremental: false });
      await activityEnv().run(() => uploadBaseBackup(hostA, manifest as BaseBackupManifest));
      const last = await switchSegment(cluster);
      await eventually('the archive stored the segment after the base backup', () => s3Archive(sysid), (a) => a.segments.includes(last), 60_000);
    });
    await activityEnv().run(prunePhysicalBackups, hostA, { dryRun: false });
    const savedSegment = segmentOfLsn(saved, 1, WAL_SEGMENT_BYTES);
    expect((await s3Archive(sysid)).segments).not.toContain(savedSegment);
    // The crash's effect on the slots, without the crash's timing: both back at the saved position.
    for (const slot of ['fbb_postgres', 'fbb_postgres_archived']) {
      await sql(cluster, 'SELECT pg_drop_replication_slot($1)', [slot]);
      await sql(cluster, "SELECT pg_copy_physical_replication_slot('fbb_saved', $1)", [slot]);
    }
    await sql(cluster, "SELECT pg_drop_replication_slot('fbb_saved')");

    // The session after the restart: the spool resumes streaming, and the archived slot follows the archive.
    await sessionWhile(hostA, async () => {
      const last = await switchSegment(cluster);
      const past = lsnToBigInt(segmentStartLsn(last)) + 16n * 1024n * 1024n;
      await eventually('the archived slot moved past the newest archived segment', async () => (await slotAt('fbb_postgres_archived')) ?? '0/0', (lsn) => lsnToBigInt(lsn) >= past, 60_000);
    });
    expect(missingSegments((await s3Archive(sysid)).segments)).toEqual([]);
  });
});
