// The continuous WAL archive's prerequisites on the database server (`fbb wal start`): wal_level,
// the role's REPLICATION attribute, a pg_hba replication line, a free WAL sender, and the slot.
// Problems are warnings: backups by dump work without any of them; point-in-time recovery does not.
import type { Config } from '../../config';
import { check, type CheckResult } from '../../doctor/report';
import { archivedSlotName } from '../../wal/layout';
import { formatBytes } from '../../format';
import { withClient } from '../db';
import { identifySystem } from '../wal/server';
import { walSlot } from '../wal/session';

const FOR_PITR = 'needed for the WAL archive (fbb wal start, point-in-time recovery)';

/** The WAL archive's checks; each says how to fix what it found. */
export async function checkWalPrerequisites(config: Config): Promise<CheckResult[]> {
  const db = config.database;
  const slot = walSlot(config);
  let facts;
  try {
    facts = await withClient(
      db,
      async (client) =>
        (
          await client.query<{ wal_level: string; can_replicate: boolean; max_senders: number; senders: number; max_slots: number; slots: number; slot_active: boolean | null; retained: string | null; keep: string }>(
            `SELECT current_setting('wal_level') AS wal_level,
                    (SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user) AS can_replicate,
                    current_setting('max_wal_senders')::int AS max_senders,
                    (SELECT count(*)::int FROM pg_stat_replication) AS senders,
                    current_setting('max_replication_slots')::int AS max_slots,
                    (SELECT count(*)::int FROM pg_replication_slots) AS slots,
                    (SELECT active FROM pg_replication_slots WHERE slot_name = $1) AS slot_active,
                    (SELECT max(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn))::bigint::text FROM pg_replication_slots WHERE slot_name IN ($1, $2)) AS retained,
                    current_setting('max_slot_wal_keep_size') AS keep`,
            [slot, archivedSlotName(slot)],
          )
        ).rows[0]!,
      db.maintenanceDatabase,
    );
  } catch (err) {
    return [check('wal_archive', 'skip', `not checked: cannot connect to the database (${(err as Error).message})`)];
  }
  const results: CheckResult[] = [];
  results.push(
    facts.wal_level === 'minimal'
      ? check('wal_level', 'warn', 'wal_level is minimal: the server writes too little WAL to stream or recover to a point in time', `${FOR_PITR}: set wal_level = replica (PostgreSQL's default) in postgresql.conf and restart the server`)
      : check('wal_level', 'ok', `wal_level is ${facts.wal_level}`),
  );
  results.push(
    facts.can_replicate
      ? check('wal_replication_role', 'ok', `role ${db.user} may stream WAL (REPLICATION or superuser)`)
      : check('wal_replication_role', 'warn', `role ${db.user} has no REPLICATION attribute`, `${FOR_PITR}: ALTER ROLE ${db.user} REPLICATION; (as a superuser)`),
  );
  results.push(await checkReplicationConnection(config));
  results.push(
    facts.max_senders === 0
      ? check('wal_senders', 'warn', 'max_wal_senders is 0: the server accepts no replication connection', `${FOR_PITR}: set max_wal_senders = 10 (the default) and restart the server`)
      : facts.senders >= facts.max_senders && facts.slot_active !== true
        ? check('wal_senders', 'warn', `all ${facts.max_senders} WAL senders are in use (pg_stat_replication)`, `${FOR_PITR}: raise max_wal_senders and restart the server, or stop a replica or stream you do not need`)
        : check('wal_senders', 'ok', `${facts.senders} of max_wal_senders = ${facts.max_senders} in use`),
  );
  const keep = facts.keep === '-1' ? 'unlimited' : facts.keep;
  const keepHint = 'set max_slot_wal_keep_size (e.g. 10GB) so that a slot nobody consumes cannot fill the server\'s disk';
  if (facts.slot_active === null) {
    results.push(
      // Two: the archive's slot and its archived slot (src/activities/wal/archivedSlot.ts).
      facts.slots + 2 > facts.max_slots
        ? check('wal_slot', 'warn', `slot ${slot} does not exist and ${facts.slots} of max_replication_slots = ${facts.max_slots} are taken: the archive needs two free (${slot} and ${archivedSlotName(slot)})`, `${FOR_PITR}: raise max_replication_slots and restart the server, or drop a slot nothing uses (SELECT pg_drop_replication_slot('name'))`)
        : check('wal_slot', 'ok', `slot ${slot} does not exist yet ("fbb wal start" creates it; ${facts.slots} of max_replication_slots = ${facts.max_slots} taken); max_slot_wal_keep_size = ${keep}`),
    );
  } else {
    const retained = Number(facts.retained ?? 0);
    results.push(
      facts.slot_active
        ? check('wal_slot', 'ok', `slot ${slot} is streamed; the server keeps ${formatBytes(retained)} of WAL for it; max_slot_wal_keep_size = ${keep}`)
        : check('wal_slot', 'warn', `slot ${slot} exists but nothing streams through it: the server keeps ${formatBytes(retained)} of WAL for it, growing with every write (max_slot_wal_keep_size = ${keep})`, `start the archive (fbb wal start), or drop the slot (fbb wal stop --drop-slot); ${keepHint}`),
    );
  }
  return results;
}

/** A replication connection (IDENTIFY_SYSTEM), as pg_receivewal makes it: proves pg_hba.conf has a replication line for this role and host. */
async function checkReplicationConnection(config: Config): Promise<CheckResult> {
  const db = config.database;
  try {
    const identity = await identifySystem(db);
    return check('wal_pg_hba', 'ok', `replication connections from here are accepted (system identifier ${identity.system_identifier}, timeline ${identity.timeline})`);
  } catch (err) {
    const e = err as { code?: string; message?: string };
    const hint =
      e.code === '28000'
        ? `${FOR_PITR}: add "host replication ${db.user} <this worker's address>/32 scram-sha-256" to the server's pg_hba.conf and reload it (SELECT pg_reload_conf())`
        : e.code === '42501'
          ? `${FOR_PITR}: ALTER ROLE ${db.user} REPLICATION;`
          : `${FOR_PITR}: check max_wal_senders and the server's log`;
    return check('wal_pg_hba', 'warn', `a replication connection as ${db.user} to ${db.host}:${db.port} is refused: ${e.message ?? String(err)}`, hint);
  }
}
