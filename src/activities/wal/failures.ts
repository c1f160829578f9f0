// What the WAL archive's session throws when streaming cannot go on: a missing prerequisite on the
// server (non-retryable), a slot the server gave up (non-retryable: a gap), or pg_receivewal ending (retried).
import type { Config } from '../../config';
import { ErrorType, permanent, transient } from '../../errors';
import type { SlotPosition } from './server';

/** A failed replication connection or slot creation: non-retryable WalPrerequisiteMissing when a setting on the server is missing. */
export function prerequisiteFailure(err: unknown, config: Config): unknown {
  const e = err as { code?: string; message?: string };
  const where = `${config.database.user}@${config.database.host}:${config.database.port}`;
  const known: Record<string, string> = {
    '28000': `the server's pg_hba.conf has no replication line for ${where}: add "host replication ${config.database.user} <worker address>/32 scram-sha-256" and reload`,
    '42501': `role ${config.database.user} may not stream WAL: ALTER ROLE ${config.database.user} REPLICATION`,
    '55000': 'the server cannot keep WAL for a replication slot (wal_level is minimal?): set wal_level = replica and restart it',
    '28P01': 'the password is wrong: check DATABASE_URL or PGPASSWORD',
    '53400': 'the server has no free replication slot (the archive uses two: its slot and <slot>_archived): raise max_replication_slots and restart it, or drop a slot nothing uses',
  };
  const fix = e.code === undefined ? undefined : known[e.code];
  if (fix === undefined) return err;
  return permanent(ErrorType.WalPrerequisiteMissing, `the WAL archive cannot stream from ${where}: ${e.message ?? String(err)}; ${fix}; "fbb doctor" checks every prerequisite; nothing was archived`, err);
}

/** A non-retryable WalArchiveFailed when the server has invalidated the slot (wal_status lost): WAL the archive needed is gone. */
export function refuseLostSlot(config: Config, slot: string, position: SlotPosition): void {
  if (position.wal_status !== 'lost') return;
  throw permanent(
    ErrorType.WalArchiveFailed,
    `the server at ${config.database.host}:${config.database.port} gave up replication slot ${slot} (wal_status lost: it kept more than max_slot_wal_keep_size = ${position.max_slot_wal_keep_size_mb} MB for it) and removed WAL the archive had not received: ` +
      'the archive has a gap from its newest segment to now, and streaming on would hide it; run "fbb wal stop --drop-slot" and "fbb wal start" to archive from now on, then take a new base backup (restores cannot cross the gap)',
  );
}

/** pg_receivewal ended by itself: retryable (the server restarting, the network); it resumes from the slot. */
export function receiverFailure(config: Config, slot: string, exitCode: number | undefined, signal: string | undefined, lastLines: string): Error {
  const how = signal ? `was killed by ${signal}` : `exited with code ${String(exitCode)}`;
  const text = `pg_receivewal (slot ${slot}, server ${config.database.host}:${config.database.port}) ${how}${lastLines ? `: ${lastLines}` : ''}; it is started again and resumes from the slot, so no WAL is lost while the slot exists`;
  if (/must be superuser or replication role|no pg_hba\.conf entry for replication/i.test(lastLines)) {
    return permanent(ErrorType.WalPrerequisiteMissing, `${text}; fix the server's settings first ("fbb doctor" says how)`);
  }
  return transient(ErrorType.WalArchiveFailed, text);
}
