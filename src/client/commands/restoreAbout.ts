// What a restore's confirmation shows of its backup, and the CLI options that answer doubts about it.
import { describeAbout, type BackupAbout } from '../../backup/plausibility';
import { formatBytes } from '../../format';

/** The input keys of --force and --from-database (an empty --from-database is passed on, for the workflow to refuse). */
export function doubtOptions(opts: { force?: boolean; fromDatabase?: string }): { force?: true; from_database?: string } {
  return { ...(opts.force ? { force: true as const } : {}), ...(opts.fromDatabase !== undefined ? { from_database: opts.fromDatabase } : {}) };
}

/** What a confirmation shows of its backup: source database, time, size, the live database it replaces, then every doubt. */
export function aboutLines(about: BackupAbout | undefined): string[] {
  if (about === undefined) return [];
  return [`restoring from: ${describeAbout(about)}`, ...about.warnings.map((w) => `WARNING: ${w}`)];
}

/** "backup of oddsrc, made 2026-12-05T20:00:00.000Z, 2.3 MiB", for the typed-name prompt. */
export function sourceOf(about: BackupAbout): string {
  return `backup of ${about.database ?? 'an unknown database'}, made ${about.created_at ?? 'at an unknown time'}, ${formatBytes(about.size_bytes)}`;
}

/** A restore to a moment as a person reads it: asked, reached, from which base backup. */
export function describeMoment(r: { to_time?: string; recovered_to?: string | null; base_backup?: string }): string {
  if (r.base_backup === undefined) return `${r.to_time} (not recovered yet)`;
  return `${r.to_time}: the last commit replayed was at ${r.recovered_to ?? '(none after the base backup)'}, from base backup ${r.base_backup}`;
}
