// The continuous WAL archive on a real Temporal dev server with a real worker and a PostgreSQL of
// this file's own (slots and segment switches stay out of the shared cluster): segments arrive in
// order, gzipped, checksummed, locally and in S3; the partial segment follows the writes; `fbb wal
// start` attaches to a running archive; `fbb wal status` reports it; `fbb wal stop` stops it.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/client/cli';
import type { WalStatusReport } from '../src/client/commands/walStatus';
import type { Config } from '../src/config';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { checksumName, walDir } from '../src/wal/layout';
import { eventually } from './eventually';
import { captured, userEnvFor } from './helpers';
import { onTemporal, startTestWorker, temporalInfo, type TestWorker } from './temporal';
import { archiveProblems, localSegments, s3Objects, sql, switchSegment, systemIdentifier, walConfigFor } from './wal';

let cluster: PgCluster;
let config: Config;
let worker: TestWorker;
let sysid: string;
let local: string;

/** Runs `fbb <argv>` against this file's cluster and the test dev server; returns exit code and output. */
async function fbb(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captured();
  const env = { ...userEnvFor(config), TEMPORAL_ADDRESS: temporalInfo.address, TEMPORAL_NAMESPACE: temporalInfo.namespace, TEMPORAL_TASK_QUEUE: config.temporal.taskQueue };
  const code = await runCli(argv, { stdout: io.stdout, stderr: io.stderr, env });
  return { code, ...io.text() };
}

const status = async () => JSON.parse((await fbb(['wal', 'status', '--json'])).stdout) as WalStatusReport;

beforeAll(async () => {
  cluster = await startPgCluster();
  config = onTemporal(walConfigFor(cluster));
  worker = await startTestWorker(config);
  sysid = await systemIdentifier(cluster);
  local = path.join(config.backup.dir, walDir(sysid));
});

afterAll(async () => {
  await fbb(['wal', 'stop', '--drop-slot']).catch(() => undefined);
  await worker?.stop();
  await cluster?.stop();
});

describe('the WAL archive', () => {
  it('starts once: a second "fbb wal start" attaches to the running archive', async () => {
    expect(await status()).toMatchObject({ workflow_id: `fbb-wal-postgres@${cluster.host}:${cluster.port}`, state: 'not_started', slot: null, last_archived_segment: null });
    const first = await fbb(['wal', 'start', '--json']);
    expect(first.code, first.stderr).toBe(0);
    const second = await fbb(['wal', 'start', '--json']);
    expect(second.code, second.stderr).toBe(0);
    const [a, b] = [JSON.parse(first.stdout), JSON.parse(second.stdout)];
    expect(a).toMatchObject({ workflow_id: `fbb-wal-postgres@${cluster.host}:${cluster.port}`, attached: false });
    expect(b).toMatchObject({ workflow_id: a.workflow_id, run_id: a.run_id, attached: true });
    // The slot fbb_<database> is created and pg_receivewal streams through it.
    await eventually('the slot is streamed', () => sql<{ active: boolean }>(cluster, "SELECT active FROM pg_replication_slots WHERE slot_name = 'fbb_postgres'"), (r) => r[0]?.active === true, 60_000);
  });

  it('archives each completed segment in order, gzipped to 16 MB, with its checksum, locally and in S3', async () => {
    const switched = [await switchSegment(cluster), await switchSegment(cluster), await switchSegment(cluster)];
    await eventually('the last switched segment is archived', async () => localSegments(local), (names) => names.includes(`${switched[2]}.gz`), 90_000);
    const names = localSegments(local);
    const spool = path.join(config.wal!.spoolDir, sysid);
    // Seen once under load (not reproduced since): a switched segment missing from the listing; say what the spool held.
    const seen = JSON.stringify({ switched, names, spool: fs.readdirSync(spool), local: fs.readdirSync(local) });
    for (const s of switched) expect(names, seen).toContain(`${s}.gz`);
    expect(archiveProblems(local)).toEqual([]);
    // Nothing but stored files, sidecars and at most one partial copy: no temporary files left.
    expect(fs.readdirSync(local).filter((f) => !/^[0-9A-F]{24}(\.partial)?\.gz(\.sha256)?$/.test(f))).toEqual([]);
    // The same bytes under the same relative keys in S3, sidecars included (each is uploaded after it is stored here).
    const s3 = await eventually('the stored files are uploaded', () => s3Objects(config, `${walDir(sysid)}/`), (o) => names.every((n) => o.keys.includes(n) && o.keys.includes(checksumName(n))), 60_000);
    for (const name of names) {
      expect(s3.keys).toContain(name);
      expect(s3.keys).toContain(checksumName(name));
      expect((await s3.read(name)).equals(fs.readFileSync(path.join(local, name)))).toBe(true);
      expect((await s3.read(checksumName(name))).toString()).toBe(fs.readFileSync(path.join(local, checksumName(name)), 'utf8'));
    }
    // The spool keeps nothing already archived.
    for (const s of switched) expect(fs.existsSync(path.join(spool, s))).toBe(false);
  });

  it('stores the newest partial segment as <segment>.partial.gz while writes go on, replacing the copy before it', async () => {
    const marker = `fbb-marker-${Date.now()}`;
    await sql(cluster, 'INSERT INTO wal_test (note) VALUES ($1)', [marker]);
    const current = (await sql<{ name: string }>(cluster, 'SELECT pg_walfile_name(pg_current_wal_insert_lsn()) AS name'))[0]!.name;
    const partial = path.join(local, `${current}.partial.gz`);
    const holdsMarker = (bytes: Buffer) => zlib.gunzipSync(bytes).includes(Buffer.from(marker));
    await eventually('the partial copy holds the new row', async () => (fs.existsSync(partial) ? holdsMarker(fs.readFileSync(partial)) : false), (ok) => ok, 60_000);
    expect(fs.readFileSync(`${partial}.sha256`, 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
    const s3 = await s3Objects(config, `${walDir(sysid)}/`);
    await eventually('S3 holds the same partial copy', async () => holdsMarker(await s3.read(`${current}.partial.gz`)), (ok) => ok, 30_000);
    // Once its segment completes, the partial copy goes and the whole segment takes its place.
    const ended = await switchSegment(cluster);
    expect(ended).toBe(current);
    await eventually('the completed segment replaces its partial copy', async () => fs.readdirSync(local), (files) => files.includes(`${current}.gz`) && !files.includes(`${current}.partial.gz`), 60_000);
    expect(fs.readdirSync(local).filter((f) => f.endsWith('.partial.gz')).length).toBeLessThanOrEqual(1);
    expect(archiveProblems(local)).toEqual([]);
  });

  it('"fbb wal status --json" reports the slot, the newest archived segment, the lag and where the archive is', async () => {
    const ended = await switchSegment(cluster);
    const report = await eventually('status shows the newest segment', status, (r) => r.last_archived_segment === ended, 90_000);
    expect(report).toMatchObject({
      state: 'archiving',
      slot: 'fbb_postgres',
      system_identifier: sysid,
      local_dir: local,
      s3: `s3://${config.s3!.bucket}/${config.s3!.prefix}wal/${sysid}/`,
      slot_active: true,
      max_slot_wal_keep_size_mb: -1,
    });
    expect(report.last_received_lsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    expect(report.lag_bytes).toBeGreaterThanOrEqual(0);
    expect(report.lag_seconds).toBeGreaterThanOrEqual(0);
    expect(report.slot_retained_bytes).toBeGreaterThanOrEqual(0);
    expect(report.local_segments).toBe(localSegments(local).length);
    const text = await fbb(['wal', 'status']);
    expect(text.stdout).toContain('slot keeps');
    expect(text.stdout).toContain('max_slot_wal_keep_size unlimited');
  });

  it('"fbb wal stop --drop-slot" archives what was received, stops, and drops the slot', async () => {
    const ended = await switchSegment(cluster);
    const stopped = await fbb(['wal', 'stop', '--drop-slot', '--json']);
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(JSON.parse(stopped.stdout)).toMatchObject({ state: 'stopped', slot: 'fbb_postgres', slot_dropped: true });
    expect(localSegments(local)).toContain(`${ended}.gz`);
    expect(archiveProblems(local)).toEqual([]);
    // The archived slot (it keeps WAL the archive does not hold yet) goes with it.
    expect(await sql(cluster, "SELECT slot_name FROM pg_replication_slots WHERE slot_name IN ('fbb_postgres', 'fbb_postgres_archived')")).toEqual([]);
    expect((await status()).state).toBe('stopped');
    const again = await fbb(['wal', 'stop']);
    expect(again.stdout).toContain('nothing to stop');
  });
});
