// The archive's second replication slot, <slot>_archived. pg_receivewal's own slot advances as soon as
// WAL is flushed into the spool of the worker that streams; with a spool per host, a segment flushed
// there by a worker killed before it stored the segment is in that spool only, and a session on
// another worker streamed on from the slot, past it (the soak, issue 26: the archive lacked such a
// segment for up to 8 minutes, until that worker ran again; for good had its disk died). Nothing
// streams through this slot: it is advanced only over whole segments the archive holds where every
// worker reads it (S3 when configured), so the server keeps WAL from there on; a session that finds
// whole segments missing between the two slots puts pg_receivewal's slot back and streams them again.
import fs from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import type { DatabaseConfig } from '../../config';
import { archivedSlotName, bigIntToLsn, lsnToBigInt, segmentNumber, segmentOfLsn, storedName } from '../../wal/layout';
import { withClient } from '../db';
import { readSpool } from './archiver';
import { dropSlot } from './server';
import { archiveHolds, type WalTarget } from './store';
import { localPlace, s3Place } from '../basebackup/prune';
import { segnoOfLsn } from '../../basebackup/naming';

/** Where pg_receivewal's slot stands as a session starts, and what was done to the slots. */
export interface StreamStart {
  /** pg_receivewal's slot's restart_lsn: it streams from this position's segment, unless its spool resumes there. */
  restart_lsn: string | null;
  /** The archived slot's position: the archive holds every whole segment before it (null: not known, S3 did not answer). */
  archived_lsn: string | null;
  /** True when the archived slot was made now (a new archive, or one from before it existed, or the server had given it up). */
  created: boolean;
  /** Set when whole segments were missing: pg_receivewal's slot was put back from `from` to `to`, and the spool's partial segment past them removed. */
  rewound?: { from: string; to: string; removed_partial: string | null };
}

/**
 * Called once the spool is archived, before pg_receivewal starts: makes the archived slot (a copy of
 * pg_receivewal's slot) when it is missing or lost, advances it over what the archive holds, and when
 * whole segments between it and pg_receivewal's slot are still missing, puts pg_receivewal's slot back
 * to it (dropped, then copied from it) and removes the spool's partial segment past them (archived
 * already; the server sends it again), so that pg_receivewal streams the missing segments again.
 */
export async function prepareStream(options: { db: DatabaseConfig; slot: string; target: WalTarget; spool: string; timeline: number; segmentBytes: number }): Promise<StreamStart> {
  const { db, slot, spool } = options;
  const archived = archivedSlotName(slot);
  const created = await withClient(db, (client) => ensureArchivedSlot(client, slot, archived), db.maintenanceDatabase);
  // What the archive holds unknown (S3 does not answer): nothing is put back; the next session judges.
  const archivedLsn = await advanceArchivedSlot(options).catch(() => null);
  const restartLsn = (await withClient(db, (client) => readSlot(client, slot), db.maintenanceDatabase))?.restart_lsn ?? null;
  const segment = (lsn: string) => segmentOfLsn(lsn, options.timeline, options.segmentBytes);
  if (restartLsn === null || archivedLsn === null || segment(restartLsn) <= segment(archivedLsn)) return { restart_lsn: restartLsn, archived_lsn: archivedLsn, created };
  // Only a slot nothing streams through is put back: a pg_receivewal still streaming (an attempt on another worker
  // not yet ended) makes this session's fail and retry, and the next attempt puts it back.
  if (!(await dropSlot(db, slot))) return { restart_lsn: restartLsn, archived_lsn: archivedLsn, created };
  // Killed between the drop and the copy, the next session makes the slot anew at the server's position and puts it back likewise: the archived slot kept the WAL.
  await withClient(db, (client) => client.query('SELECT pg_copy_physical_replication_slot($1, $2)', [archived, slot]), db.maintenanceDatabase);
  const { partial } = await readSpool(spool);
  let removed: string | null = null;
  if (partial !== undefined && partial.name !== segment(archivedLsn)) {
    await fs.rm(path.join(spool, `${partial.name}.partial`), { force: true });
    removed = partial.name;
  }
  return { restart_lsn: archivedLsn, archived_lsn: archivedLsn, created, rewound: { from: restartLsn, to: archivedLsn, removed_partial: removed } };
}

/**
 * Advances the archived slot over the whole segments, from its position on, that the archive holds
 * (see archiveHolds), and over those before the oldest base backup (retention removed them: see
 * retentionFloor); its position after, or null when it does not exist. Another session advancing it
 * at the same moment (the slot is busy) leaves it where that one puts it.
 */
export async function advanceArchivedSlot(options: { db: DatabaseConfig; slot: string; target: WalTarget; timeline: number; segmentBytes: number }): Promise<string | null> {
  const { db, target, timeline, segmentBytes } = options;
  const archived = archivedSlotName(options.slot);
  const row = await withClient(db, (client) => readSlot(client, archived), db.maintenanceDatabase);
  if (row?.restart_lsn == null) return null;
  const from = lsnToBigInt(row.restart_lsn);
  let at = from;
  const encrypted = target.recipients.length > 0;
  let floor: bigint | null | undefined;
  for (;;) {
    const name = segmentOfLsn(bigIntToLsn(at), timeline, segmentBytes);
    const file = { kind: 'segment' as const, name, timeline };
    const segno = segmentNumber(name, segmentBytes).number;
    // Either form: the archive may have been encrypted, or not, when this segment was stored.
    if (!(await archiveHolds(target, storedName(file, encrypted))) && !(await archiveHolds(target, storedName(file, !encrypted)))) {
      // Missing because retention removed it (before the oldest base backup: nothing needs it) is not
      // missing: the slot moves on to where that backup starts. A crash puts a slot back to where the
      // last checkpoint saved it, possibly into WAL retention removed since (the soak, seed 2222,
      // pg_ctl -m immediate after the first base backup): without this the slot stayed there for good.
      if (floor === undefined) floor = await retentionFloor(target);
      if (floor === null || segno >= floor) break;
      at = floor * BigInt(segmentBytes);
      continue;
    }
    at = (segno + 1n) * BigInt(segmentBytes);
  }
  if (at === from) return row.restart_lsn;
  const to = bigIntToLsn(at);
  try {
    await withClient(db, (client) => client.query('SELECT pg_replication_slot_advance($1, $2::pg_lsn)', [archived, to]), db.maintenanceDatabase);
  } catch (err) {
    if ((err as { code?: string }).code === '55006') return row.restart_lsn;
    throw err;
  }
  return to;
}

/**
 * The segment number where the oldest base backup in the archive's own place starts (S3 when configured,
 * else BACKUP_DIR): retention removes the WAL before it (basebackup/retention.ts); null when the place
 * holds no base backup (then every missing segment is one to stream again).
 */
async function retentionFloor(target: WalTarget): Promise<bigint | null> {
  const sysid = path.basename(target.localDir);
  const place = target.s3 === undefined ? localPlace(path.dirname(path.dirname(target.localDir))) : s3Place(target.s3.client, target.s3.config);
  const { backups } = await place.list(sysid);
  if (backups.length === 0) return null;
  return backups.map((b) => segnoOfLsn(b.start_lsn, b.wal_segment_bytes)).reduce((a, b) => (a < b ? a : b));
}

/** Makes the archived slot as a copy of `slot` unless it exists and the server still keeps its WAL. True when made. */
async function ensureArchivedSlot(client: pg.Client, slot: string, archived: string): Promise<boolean> {
  const row = await readSlot(client, archived);
  if (row !== undefined && row.restart_lsn !== null && row.wal_status !== 'lost') return false;
  if (row !== undefined) await client.query('SELECT pg_drop_replication_slot($1)', [archived]);
  // A concurrent maker (another attempt) makes this fail with 42710: the slot then exists, as wanted.
  await client.query('SELECT pg_copy_physical_replication_slot($1, $2)', [slot, archived]).catch((err: { code?: string }) => {
    if (err.code !== '42710') throw err;
  });
  return true;
}

async function readSlot(client: pg.Client, name: string): Promise<{ restart_lsn: string | null; wal_status: string | null } | undefined> {
  const { rows } = await client.query<{ restart_lsn: string | null; wal_status: string | null }>('SELECT restart_lsn::text AS restart_lsn, wal_status FROM pg_replication_slots WHERE slot_name = $1', [name]);
  return rows[0];
}
