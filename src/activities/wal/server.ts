// What the WAL archive asks the database server: who it is (IDENTIFY_SYSTEM over a replication
// connection, the same kind of connection pg_receivewal makes), its replication slot, and how far
// it has written compared with what the slot has been sent.
import pg from 'pg';
import type { DatabaseConfig } from '../../config';
import { ErrorType, permanent } from '../../errors';
import { archivedSlotName } from '../../wal/layout';
import { withClient } from '../db';

/** The server's identity: the system identifier names its archive folder. */
export interface ServerIdentity {
  system_identifier: string;
  timeline: number;
  /** The server's current WAL write position. */
  xlogpos: string;
}

/** Where the server and the archive's slot stand. */
export interface SlotPosition {
  /** pg_current_wal_lsn(): how far the server has written. */
  server_lsn: string;
  /** The slot's restart_lsn: what the receiver has flushed (the server keeps WAL from here on). */
  slot_restart_lsn: string | null;
  /** True while a receiver streams through the slot. */
  slot_active: boolean;
  /** WAL the server keeps for the archive: server_lsn − the older restart_lsn of the slot and its archived slot (archivedSlot.ts), in bytes. */
  retained_bytes: number | null;
  /** pg_replication_slots.wal_status: reserved, extended, unreserved or lost (lost: the server removed WAL the slot needed). */
  wal_status: string | null;
  /** max_slot_wal_keep_size in MB (-1: unlimited). */
  max_slot_wal_keep_size_mb: number;
  /** The server's WAL segment size in bytes (wal_segment_size). */
  segment_bytes: number;
}

/** IDENTIFY_SYSTEM on a physical replication connection: proves pg_hba and the REPLICATION attribute allow streaming, and names the server. */
export async function identifySystem(db: DatabaseConfig): Promise<ServerIdentity> {
  const client = new pg.Client({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: db.maintenanceDatabase,
    connectionTimeoutMillis: 10_000,
    application_name: 'family-brain-backup',
    replication: 'true',
    ...(db.sslmode === undefined || db.sslmode === 'disable' ? {} : { ssl: { rejectUnauthorized: db.sslmode === 'verify-full' || db.sslmode === 'verify-ca' } }),
  } as pg.ClientConfig);
  client.on('error', () => undefined);
  await client.connect();
  try {
    const { rows } = await client.query<{ systemid: string; timeline: string | number; xlogpos: string }>('IDENTIFY_SYSTEM');
    const row = rows[0];
    if (row === undefined) throw new Error('IDENTIFY_SYSTEM returned no row');
    return { system_identifier: String(row.systemid), timeline: Number(row.timeline), xlogpos: row.xlogpos };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Creates the physical slot `slot`, reserving WAL from now on, unless it exists; a logical slot of
 * that name is a non-retryable InvalidInput (it cannot carry a physical stream). True when created.
 */
export async function ensureSlot(db: DatabaseConfig, slot: string): Promise<boolean> {
  return withClient(
    db,
    async (client) => {
      const { rows } = await client.query<{ slot_type: string }>('SELECT slot_type FROM pg_replication_slots WHERE slot_name = $1', [slot]);
      if (rows[0] !== undefined) {
        if (rows[0].slot_type !== 'physical') {
          throw permanent(ErrorType.InvalidInput, `replication slot "${slot}" on ${db.host}:${db.port} is a ${rows[0].slot_type} slot, expected a physical one; set WAL_SLOT_NAME to another name (or drop that slot if nothing uses it); nothing was started`);
        }
        return false;
      }
      // A concurrent creator (another attempt) makes this fail with 42710: the slot then exists, as wanted.
      await client.query('SELECT pg_create_physical_replication_slot($1, true)', [slot]).catch((err: { code?: string }) => {
        if (err.code !== '42710') throw err;
      });
      return true;
    },
    db.maintenanceDatabase,
  );
}

/** Where the server and the slot stand (slot fields null when the slot does not exist). */
export async function slotPosition(db: DatabaseConfig, slot: string): Promise<SlotPosition> {
  return withClient(
    db,
    async (client) => {
      const { rows } = await client.query<{ server_lsn: string; restart_lsn: string | null; active: boolean | null; retained: string | null; wal_status: string | null; keep: string; segment: string }>(
        `SELECT pg_current_wal_lsn()::text AS server_lsn, s.restart_lsn::text AS restart_lsn, s.active,
                pg_wal_lsn_diff(pg_current_wal_lsn(), LEAST(s.restart_lsn, a.restart_lsn))::bigint::text AS retained, s.wal_status,
                current_setting('max_slot_wal_keep_size') AS keep,
                (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS segment
           FROM (SELECT 1) AS one LEFT JOIN pg_replication_slots s ON s.slot_name = $1
                LEFT JOIN pg_replication_slots a ON a.slot_name = $2 AND s.slot_name IS NOT NULL`,
        [slot, archivedSlotName(slot)],
      );
      const r = rows[0]!;
      return {
        server_lsn: r.server_lsn,
        slot_restart_lsn: r.restart_lsn,
        slot_active: r.active === true,
        retained_bytes: r.retained === null ? null : Number(r.retained),
        wal_status: r.wal_status,
        max_slot_wal_keep_size_mb: parseKeepSize(r.keep),
        segment_bytes: Number(r.segment),
      };
    },
    db.maintenanceDatabase,
  );
}

/** Drops the slot `slot` when it exists and nothing streams through it (`fbb wal stop --drop-slot`). True when dropped. */
export async function dropSlot(db: DatabaseConfig, slot: string): Promise<boolean> {
  return withClient(
    db,
    async (client) => {
      const { rowCount } = await client.query('SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active', [slot]);
      return (rowCount ?? 0) > 0;
    },
    db.maintenanceDatabase,
  );
}

/** "-1" → -1; "10GB" → 10240; "512MB" → 512 (the server prints the setting with its unit). */
function parseKeepSize(text: string): number {
  const m = /^(-?\d+)\s*(kB|MB|GB|TB)?$/.exec(text.trim());
  if (!m) return -1;
  const n = Number(m[1]);
  if (n < 0) return -1;
  return n * ({ kB: 1 / 1024, MB: 1, GB: 1024, TB: 1024 * 1024 } as Record<string, number>)[m[2] ?? 'MB']!;
}
