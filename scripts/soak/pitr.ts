// Point-in-time restores in the soak: the WAL archive (`fbb wal start`) and base backups on the rig,
// the moments whose content the soak knows (picked inside the restorable window), and the invariants
// only a moment has: the write load's acknowledged rows against the moment, and an archive that keeps
// running with no gap in its segment sequence.
import fs from 'node:fs';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { createS3Client } from '../../src/storage/s3Client';
import { bigIntToLsn, segmentNumber, WAL_SEGMENT_BYTES } from '../../src/wal/layout';
import { LOAD_TABLE } from './loadTable';
import { runFbb, type WriteLoad } from './processes';
import type { Rig } from './rig';
import type { State } from './state';

/**
 * An interval of ms (machine clock, which is also the server's) over which the live database held
 * `state`, the load's table aside, which only grew: `rows` are the load's notes read inside it (no
 * restore ran since `from`, so every row committed after `from` was there too).
 */
export interface Quiet {
  from: number;
  to: number;
  state: State;
  rows: Set<string>;
}

/** The notes of the load's table now. */
export async function loadRows(rig: Rig): Promise<Set<string>> {
  return new Set((await rig.sql((c) => c.query<{ note: string }>(`SELECT note FROM ${LOAD_TABLE}`))).rows.map((r) => r.note));
}

/** Commit times closer to the moment than this (ms) are not judged: the moment is given to the millisecond, commit times are microseconds. */
const EPSILON_MS = 1;

/** Starts the archive with `fbb wal start` and waits until its slot streams (the soak's setup: throws when it cannot). */
export async function startArchive(rig: Rig): Promise<void> {
  const started = await runFbb(rig, ['wal', 'start', '--json'], 120_000);
  if (started.exitCode !== 0) throw new Error(`fbb wal start failed (exit ${started.exitCode}):\n${started.stderr}`);
  const deadline = Date.now() + 120_000;
  for (;;) {
    const { rows } = await rig.sql((c) => c.query<{ active: boolean }>("SELECT bool_or(active) AS active FROM pg_replication_slots WHERE slot_type = 'physical'"), 'postgres');
    if (rows[0]?.active === true) return;
    if (Date.now() > deadline) throw new Error('the WAL archive does not stream a minute after "fbb wal start"');
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** `fbb basebackup`, without a fault, while the archive runs: it must succeed; the violation when it does not. */
export async function baseBackup(rig: Rig): Promise<string | undefined> {
  const made = await runFbb(rig, ['basebackup', '--json'], 300_000);
  return made.exitCode === 0 ? undefined : `fbb basebackup without a fault failed (exit ${made.exitCode}): ${made.stderr.trim().split('\n').filter((l) => /failed/.test(l)).join(' | ').slice(0, 600)}`;
}

/** A moment inside `window` and inside one of the quiet intervals (chosen by `pick`), with the state then; undefined when none fits. */
export function pickMoment(quiet: Quiet[], window: { oldest: string; newest: string } | undefined, pick: () => number): { at: number; quiet: Quiet } | undefined {
  if (window === undefined) return undefined;
  const lo = Date.parse(window.oldest) + 10;
  const hi = Date.parse(window.newest) - 10;
  const fits = quiet.map((q) => ({ from: Math.max(q.from, lo) + 10, to: Math.min(q.to, hi) - 10, quiet: q })).filter((q) => q.to - q.from >= 20);
  const q = fits[Math.floor(pick() * fits.length)];
  return q === undefined ? undefined : { at: Math.round(q.from + pick() * (q.to - q.from)), quiet: q.quiet };
}

/**
 * The load's acknowledged rows against the live table after a restore to the moment `at` (in the quiet
 * interval `then`) that started at `startedAt`, when the table held `rowsBefore`; the violations. Rows
 * the load writes after the swap are new and not judged; rows written during the restore, before
 * the swap, went with the database it replaced.
 */
export async function checkLoad(context: { rig: Rig; load: WriteLoad; at: number; then: Quiet; rowsBefore: Set<string>; startedAt: number; whole: boolean; ok: boolean }): Promise<string[]> {
  const { rig, load, at, then, startedAt } = context;
  const present = await loadRows(rig);
  const before = [...load.acked].filter(([, ms]) => Number.isFinite(ms) && ms < startedAt - EPSILON_MS);
  const lostBefore = before.filter(([note]) => context.rowsBefore.has(note) && !present.has(note));
  // Back at the moment: every row there at the moment is there, none committed after it (before the restore began) is.
  const missing = before.filter(([note, ms]) => ms <= at - EPSILON_MS && (then.rows.has(note) || ms > then.from) && !present.has(note));
  const extra = before.filter(([note, ms]) => ms > at + EPSILON_MS && present.has(note));
  const asPromised = missing.length === 0 && extra.length === 0;
  const show = (rows: [string, number][]) => rows.slice(0, 3).map(([n, ms]) => `${n} committed ${new Date(ms).toISOString()}`).join(', ');
  const moment = new Date(at).toISOString();
  if (!context.whole) return lostBefore.length === 0 ? [] : [`${lostBefore.length} acknowledged rows of ${LOAD_TABLE} committed before the tenant restore began are gone (${show(lostBefore)})`];
  if (context.ok && !asPromised) {
    return [`reported restored to ${moment} but ${LOAD_TABLE} lacks ${missing.length} rows committed by then (${show(missing)}) and holds ${extra.length} committed after it (${show(extra)})`];
  }
  if (!context.ok && !asPromised && lostBefore.length > 0) return [`ended not restored, and ${LOAD_TABLE} is neither as before (${lostBefore.length} acknowledged rows gone: ${show(lostBefore)}) nor as of ${moment}`];
  return [];
}

/** The archive after a cycle: its workflow Running, a segment switched to now archived within 90 s, the archived slot past it, and no gap in the archived segments of every host. */
export async function checkArchive(rig: Rig, reported: Set<string>): Promise<string[]> {
  const client = await rig.client();
  const running: string[] = [];
  for await (const w of client.workflow.list({ query: 'ExecutionStatus = "Running" AND WorkflowType = "archiveWal"' })) running.push(w.workflowId);
  if (running.length !== 1) return [`${running.length} WAL archive workflows are Running after the cycle (expected 1)`];
  const segment = await rig.sql(async (c) => (await c.query<{ f: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS f')).rows[0]!.f, 'postgres');
  const deadline = Date.now() + 90_000;
  while (!archived(rig).has(segment)) {
    if (Date.now() > deadline) return [`the WAL archive ${running[0]} is Running but segment ${segment}, switched after the cycle, is not archived 90 s later`];
    await new Promise((r) => setTimeout(r, 1000));
  }
  // The archived slot (src/activities/wal/archivedSlot.ts) moves on once S3 (or the shared folder) holds the
  // segment: one left behind would make the server keep WAL for ever.
  const endLsn = bigIntToLsn((segmentNumber(segment).number + 1n) * BigInt(WAL_SEGMENT_BYTES));
  const slotBehind = async () =>
    (await rig.sql(async (c) => (await c.query<{ behind: boolean }>("SELECT coalesce(bool_or(restart_lsn < $1::pg_lsn), true) AS behind FROM pg_replication_slots WHERE slot_name LIKE '%\\_archived'", [endLsn])).rows[0]!.behind, 'postgres'));
  for (const slotDeadline = Date.now() + 120_000; await slotBehind(); ) {
    if (Date.now() > slotDeadline) return [`the archived slot has not moved past segment ${segment} 120 s after it was archived (or does not exist): the server keeps WAL the archive holds`];
    await new Promise((r) => setTimeout(r, 1000));
  }
  // Shared: the one directory is the archive. Per host: each host holds what it stored while the archive
  // ran there, and trims and copies down from S3 add and remove old segments per host; S3 holds them all
  // (walFromS3.ts), and restores there copy from it. A gap is a segment in none of them.
  const perHost = rig.dirMode === 'per-host';
  const names = archived(rig);
  if (perHost) for (const n of await archivedInS3(rig)) names.add(n);
  const gaps = missingSegments(names).filter((s) => !reported.has(s));
  for (const s of gaps) reported.add(s);
  return gaps.length === 0 ? [] : [`the WAL archive has a gap: segment(s) ${gaps.slice(0, 5).join(', ')} missing between archived ones (${perHost ? "every host's wal/ directory and S3" : 'BACKUP_DIR/wal/'})`];
}

/** Completed segments in S3 under soak/wal/<system identifier>/ (asked of s3rver itself, not through the switch). */
async function archivedInS3(rig: Rig): Promise<Set<string>> {
  const s3 = createS3Client({ bucket: rig.s3.bucket, prefix: 'soak/', endpoint: rig.s3.endpoint, region: rig.s3.region, forcePathStyle: true, partSizeBytes: 5 << 20 });
  const names = new Set<string>();
  try {
    let token: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: rig.s3.bucket, Prefix: 'soak/wal/', ContinuationToken: token }));
      for (const o of page.Contents ?? []) {
        const m = /\/([0-9A-F]{24})\.gz(\.age)?$/.exec(o.Key ?? '');
        if (m) names.add(m[1]!);
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  } finally {
    s3.destroy();
  }
  return names;
}

/** Completed segments (24 hex digits) archived in any host's BACKUP_DIR/wal/<system identifier>/. */
function archived(rig: Rig): Set<string> {
  const names = new Set<string>();
  for (const host of rig.hostDirs) {
    const wal = path.join(host, 'wal');
    if (!fs.existsSync(wal)) continue;
    for (const sysid of fs.readdirSync(wal)) {
      for (const f of fs.readdirSync(path.join(wal, sysid))) {
        const m = /^([0-9A-F]{24})\.gz(\.age)?$/.exec(f);
        if (m) names.add(m[1]!);
      }
    }
  }
  return names;
}

/** Segment names between the first and the last archived (one timeline, 16 MB segments) that are not archived. */
function missingSegments(names: Set<string>): string[] {
  const numbers = [...names].map((n) => ({ tli: n.slice(0, 8), no: parseInt(n.slice(8, 16), 16) * 256 + parseInt(n.slice(16, 24), 16) }));
  const missing: string[] = [];
  for (const tli of new Set(numbers.map((n) => n.tli))) {
    const nos = new Set(numbers.filter((n) => n.tli === tli).map((n) => n.no));
    const lo = Math.min(...nos);
    const hi = Math.max(...nos);
    for (let no = lo; no <= hi; no++) if (!nos.has(no)) missing.push(`${tli}${Math.floor(no / 256).toString(16).toUpperCase().padStart(8, '0')}${(no % 256).toString(16).toUpperCase().padStart(8, '0')}`);
  }
  return missing;
}
