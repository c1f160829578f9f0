// Retention of base backups and of the WAL archive, for one server: which base backups a recovery
// window of RETENTION_BASEBACKUP_DAYS keeps (with the chains they need), and which archived WAL no
// kept backup needs. Pure: the caller lists (locally or in S3), passes the clock, and removes.
import type { BaseBackupManifest } from './manifest';
import { segmentName, segnoOfLsn } from './naming';

/** RETENTION_BASEBACKUP_DAYS's default: two weekly fulls with their incrementals. */
export const DEFAULT_BASEBACKUP_RETENTION_DAYS = 14;

/** One decision about a base backup or an archived WAL file, shaped as the dump prune's (src/backup/retention.ts). */
export interface PhysicalDecision {
  filename: string;
  type: 'full' | 'incremental' | 'wal' | 'failed';
  action: 'keep' | 'remove';
  reason: string;
}

/** An archived WAL file as retention sees it: its stored name, kind and segment number. */
export interface RetentionWal {
  stored: string;
  kind: 'segment' | 'partial' | 'history';
  segno: bigint;
}

/** When a base backup was verified by a restore (the manifest's `verification.verified_at`); undefined when it was not. */
export function verifiedAt(m: BaseBackupManifest): string | undefined {
  const at = (m as { verification?: { verified_at?: unknown } | null }).verification?.verified_at;
  return typeof at === 'string' ? at : undefined;
}

/**
 * Decides per base backup and per archived WAL file of one server. Kept: every base backup that
 * ended within the window, the newest that ended before it (moments at the window's start are
 * restored from it), the newest verified one (the newest one when none is verified), and every
 * backup these are incremental to. Removed: the others, and the segments (partial ones too) before
 * the start segment of the oldest kept backup. History files and, when no backup is kept, all WAL stay.
 */
export function applyBaseRetention(input: { backups: readonly BaseBackupManifest[]; wal: readonly RetentionWal[]; days: number; now: Date }): PhysicalDecision[] {
  const { backups, days } = input;
  const cutoff = new Date(input.now.getTime() - days * 86_400_000).toISOString();
  const newestFirst = [...backups].sort((a, b) => b.end_time.localeCompare(a.end_time) || b.filename.localeCompare(a.filename));
  const byName = new Map(backups.map((b) => [b.filename, b]));
  const window = `${days} day${days === 1 ? '' : 's'}`;

  const reasons = new Map<string, string>();
  for (const b of newestFirst.filter((b) => b.end_time >= cutoff)) reasons.set(b.filename, `within the recovery window (${window})`);
  const before = newestFirst.find((b) => b.end_time < cutoff);
  if (before) reasons.set(before.filename, reasons.get(before.filename) ?? `the newest base backup that ended before the recovery window (${window}) began: moments from ${cutoff} on are restored from it`);
  const verified = newestFirst.find((b) => verifiedAt(b) !== undefined);
  const guarded = verified ?? newestFirst[0];
  if (guarded && !reasons.has(guarded.filename)) reasons.set(guarded.filename, verified ? 'the newest verified base backup is always kept' : 'no base backup is verified yet: the newest one is always kept');
  // The chains: an incremental backup restores only with every backup it is incremental to.
  for (const name of [...reasons.keys()]) {
    let child = byName.get(name);
    while (child?.parent) {
      const parent = byName.get(child.parent);
      if (parent && !reasons.has(parent.filename)) reasons.set(parent.filename, `${child.filename} is incremental to it (its chain)`);
      child = parent;
    }
  }

  const decisions: PhysicalDecision[] = newestFirst.map((b) => {
    const reason = reasons.get(b.filename);
    return reason
      ? { filename: b.filename, type: b.backup_type, action: 'keep', reason }
      : { filename: b.filename, type: b.backup_type, action: 'remove', reason: `ended ${b.end_time}, before the recovery window (${window}), and no kept base backup needs it` };
  });
  const kept = newestFirst.filter((b) => reasons.has(b.filename));
  if (kept.length === 0) return decisions;
  const oldest = kept.reduce((o, b) => (startSegno(b) < startSegno(o) ? b : o));
  const first = segmentName(oldest.timeline, startSegno(oldest), oldest.wal_segment_bytes);
  const files = [...input.wal].sort((a, b) => (a.segno < b.segno ? -1 : a.segno > b.segno ? 1 : a.stored.localeCompare(b.stored)));
  for (const f of files) {
    if (f.kind === 'history' || f.segno >= startSegno(oldest)) continue;
    decisions.push({ filename: f.stored, type: 'wal', action: 'remove', reason: `before segment ${first}, where the oldest kept base backup (${oldest.filename}) starts` });
  }
  const keptWal = files.filter((f) => f.kind === 'history' || f.segno >= startSegno(oldest)).length;
  if (keptWal > 0) decisions.push({ filename: `${first} and later`, type: 'wal', action: 'keep', reason: `${keptWal} archived WAL file${keptWal === 1 ? '' : 's'} from segment ${first} on (and the timeline history files): needed by the kept base backups` });
  return decisions;
}

/** The segment number a base backup's WAL starts in. */
function startSegno(b: BaseBackupManifest): bigint {
  return segnoOfLsn(b.start_lsn, b.wal_segment_bytes);
}

/** A base backup set aside in base/<sysid>/failed/ because it failed its verification: its name and when it was taken. */
export interface FailedBaseBackup {
  filename: string;
  taken_at: string;
}

/**
 * Base backups that failed verification are kept for inspection as long as the recovery window
 * (RETENTION_BASEBACKUP_DAYS from when each was taken), then removed. Nothing restores from them,
 * no backup is incremental to them and no WAL is kept for them, so removing one touches nothing else.
 */
export function applyFailedRetention(input: { failed: readonly FailedBaseBackup[]; days: number; now: Date }): PhysicalDecision[] {
  const cutoff = new Date(input.now.getTime() - input.days * 86_400_000).toISOString();
  const window = `${input.days} day${input.days === 1 ? '' : 's'}`;
  return [...input.failed]
    .sort((a, b) => b.taken_at.localeCompare(a.taken_at))
    .map((f) =>
      f.taken_at >= cutoff
        ? { filename: `failed/${f.filename}`, type: 'failed', action: 'keep', reason: `failed its verification (taken ${f.taken_at}); kept for inspection for the recovery window (${window})` }
        : { filename: `failed/${f.filename}`, type: 'failed', action: 'remove', reason: `failed its verification (taken ${f.taken_at}), longer ago than the recovery window (${window}); nothing restores from it` },
    );
}
