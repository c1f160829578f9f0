// Retention: which backups to keep and which to remove, with a reason for each. Pure: the
// caller lists the backups and passes the clock; the prune activity carries out the decisions.
import type { BackupType } from './naming';

/** How long a backup of one type is kept: whole days, or calendar months. */
export type RetentionPeriod = { days: number } | { months: number };

/** Retention per backup type. */
export type RetentionPolicy = Record<BackupType, RetentionPeriod>;

/** The guide's retention: daily 7 days, weekly 4 weeks, monthly 12 months, manual 30 days; pre-restore 30 days; a moment made into a file by a restore 7 days. */
export const DEFAULT_RETENTION = {
  daily: { days: 7 },
  weekly: { days: 28 },
  monthly: { months: 12 },
  manual: { days: 30 },
  pre_restore: { days: 30 },
  pitr: { days: 7 },
} as const satisfies RetentionPolicy;

/** A backup as retention sees it. */
export interface RetentionCandidate {
  filename: string;
  type: BackupType;
  createdAt: Date;
  /** true: verified by a restore; false: verification failed; null: unknown (legacy file without manifest). */
  verified: boolean | null;
}

/** One decision, with the reason a person reads in `fbb backup --dry-run`. */
export interface RetentionDecision {
  filename: string;
  type: BackupType;
  action: 'keep' | 'remove';
  reason: string;
}

/** The moment before which a backup of this period has expired. */
export function cutoff(period: RetentionPeriod, now: Date): Date {
  if ('days' in period) return new Date(now.getTime() - period.days * 86_400_000);
  const d = new Date(now.getTime());
  const day = d.getUTCDate();
  d.setUTCDate(1);
  d.setUTCMonth(d.getUTCMonth() - period.months);
  // Clamp to the month's last day: 31 March minus one month is 28/29 February, not 3 March.
  const lastDay = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 0)).getUTCDate();
  d.setUTCDate(Math.min(day, lastDay));
  return d;
}

function describe(period: RetentionPeriod): string {
  if ('months' in period) return `${period.months} month${period.months === 1 ? '' : 's'}`;
  if (period.days % 7 === 0 && period.days >= 14) return `${period.days / 7} weeks`;
  return `${period.days} day${period.days === 1 ? '' : 's'}`;
}

/**
 * Decides per backup, newest first within each type. A backup older than its type's retention
 * is removed, except the newest verified backup of each type (or, when none is verified, the
 * newest backup of the type): retention never leaves a type without its last good backup.
 */
export function applyRetention(backups: readonly RetentionCandidate[], policy: RetentionPolicy, now: Date): RetentionDecision[] {
  const byType = new Map<BackupType, RetentionCandidate[]>();
  for (const b of backups) byType.set(b.type, [...(byType.get(b.type) ?? []), b]);

  const decisions: RetentionDecision[] = [];
  for (const [type, group] of byType) {
    const newestFirst = [...group].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.filename.localeCompare(a.filename));
    const protectedName = (newestFirst.find((b) => b.verified === true) ?? newestFirst[0])?.filename;
    const period = policy[type];
    const limit = cutoff(period, now);
    for (const b of newestFirst) {
      const base = { filename: b.filename, type };
      if (b.createdAt >= limit) {
        decisions.push({ ...base, action: 'keep', reason: `within ${type} retention (${describe(period)})` });
      } else if (b.filename === protectedName) {
        const what = b.verified === true ? 'newest verified' : 'newest';
        decisions.push({ ...base, action: 'keep', reason: `older than ${describe(period)}, but the ${what} ${type} backup is always kept` });
      } else {
        decisions.push({ ...base, action: 'remove', reason: `older than ${type} retention (${describe(period)}): created ${b.createdAt.toISOString()}` });
      }
    }
  }
  return decisions;
}
