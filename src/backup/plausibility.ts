// Is a backup plausibly the one to put in place of the live database? One judgement for files with
// and without manifest (Windmill-era), made before anything changes; pure, no I/O.
import { ErrorType } from '../errors';
import { formatBytes } from '../format';

/** A restore refuses a backup whose rows are less than this share of the live database's. */
export const MIN_ROW_SHARE = 0.1;

/** The closing line of every complete plain dump pg_dump writes. */
export const DUMP_COMPLETE_LINE = '-- PostgreSQL database dump complete';

/** What is known of a backup: from its manifest, or (without one) from reading the dump. */
export interface BackupFacts {
  filename: string;
  /** The database it was made of (the manifest's); null without manifest: a plain dump does not say. */
  database: string | null;
  /** UTC, ISO 8601: the manifest's snapshot time, or (without manifest) the time in the file's name. */
  created_at: string | null;
  size_bytes: number;
  /** Rows per table (table_details keys). */
  tables: Record<string, number>;
  /** false: a plain dump without pg_dump's closing line (cut off); a manifest's checksum proves completeness. */
  complete: boolean;
}

/** The live database the restore would replace; null when it does not exist (nothing to lose). */
export interface LiveFacts {
  database: string;
  tables: Record<string, number>;
}

/** A reason to doubt the backup, as a named failure type and what it means for the live data. */
export interface Finding {
  type: ErrorType;
  message: string;
}

/** What a confirmation shows: the backup's source, time and size, what the live database holds, and every doubt. */
export interface BackupAbout {
  database: string | null;
  created_at: string | null;
  size_bytes: number;
  tables: number;
  rows: number;
  live: { database: string; tables: number; rows: number } | null;
  warnings: string[];
}

const total = (t: Record<string, number>) => Object.values(t).reduce((a, b) => a + b, 0);
const n = (v: number) => v.toLocaleString('en-US');
const some = (names: string[]) => `${names.slice(0, 5).join(', ')}${names.length > 5 ? `, … (${names.length} in all)` : ''}`;

/** "database family_brain (15 tables, 2,260 rows)". */
function holds(live: LiveFacts): string {
  return `database ${live.database} (${Object.keys(live.tables).length} tables, ${n(total(live.tables))} rows)`;
}

/**
 * Every reason to doubt that `backup` should replace `live`, most telling first: no tables at all,
 * cut off, no table in common with the live database, or a small fraction of its rows. Empty when
 * the live database does not exist or holds nothing.
 */
export function judgeBackup(backup: BackupFacts, live: LiveFacts | null): Finding[] {
  const found: Finding[] = [];
  const names = Object.keys(backup.tables);
  const rows = total(backup.tables);
  const cut = backup.complete ? '' : ` and lacks pg_dump's closing line "${DUMP_COMPLETE_LINE}"`;
  if (live === null || Object.keys(live.tables).length === 0) {
    if (!backup.complete) found.push({ type: ErrorType.BackupTruncated, message: `backup "${backup.filename}" is incomplete: it lacks pg_dump's closing line "${DUMP_COMPLETE_LINE}" (cut off while it was written or copied); it holds ${names.length} tables and ${n(rows)} rows` });
    return found;
  }
  const lost = `restoring it would replace ${holds(live)}`;
  if (names.length === 0) {
    found.push({ type: ErrorType.BackupEmpty, message: `backup "${backup.filename}" holds no tables (${formatBytes(backup.size_bytes)}${cut}); ${lost} with an empty one` });
    return found;
  }
  if (!backup.complete) {
    found.push({ type: ErrorType.BackupTruncated, message: `backup "${backup.filename}" is incomplete: it lacks pg_dump's closing line "${DUMP_COMPLETE_LINE}" (cut off while it was written or copied; what follows the cut, such as indexes, constraints and later tables, is missing); it holds ${names.length} tables and ${n(rows)} rows; ${lost}` });
  }
  const common = names.filter((t) => t in live.tables);
  if (common.length === 0) {
    found.push({ type: ErrorType.BackupUnrelated, message: `none of the ${names.length} tables in backup "${backup.filename}" (${some(names)}) is in database ${live.database}: it looks like a backup of another database; ${lost} and all of its tables (${some(Object.keys(live.tables))})` });
  } else if (rows < MIN_ROW_SHARE * total(live.tables)) {
    const share = ((100 * rows) / total(live.tables)).toFixed(1);
    const missing = Object.keys(live.tables).filter((t) => !(t in backup.tables));
    found.push({
      type: ErrorType.BackupTooSmall,
      message: `backup "${backup.filename}" holds ${n(rows)} rows in ${names.length} tables, ${share}% of the ${n(total(live.tables))} rows in ${holds(live)}${missing.length > 0 ? `; it lacks ${missing.length} of its tables (${some(missing)})` : ''}; ${lost}, losing about ${n(total(live.tables) - rows)} rows`,
    });
  }
  return found;
}

/** The refusal for a backup of another database (its manifest says so) that the user did not name. */
export function otherDatabase(backup: BackupFacts, live: string, named: string | null): Finding | undefined {
  if (backup.database === null) return undefined;
  if (named !== null && backup.database !== named) {
    return { type: ErrorType.BackupFromOtherDatabase, message: `backup "${backup.filename}" is of database ${backup.database} (its manifest says so), not of ${named} as --from-database (from_database) says; pick the backup you meant with "fbb list"` };
  }
  if (backup.database === live || backup.database === named) return undefined;
  const hint = `if you mean to put ${backup.database}'s data into ${live}, name it: --from-database ${backup.database} (input "from_database": "${backup.database}")`;
  return {
    type: ErrorType.BackupFromOtherDatabase,
    message: `backup "${backup.filename}" is of database ${backup.database} (its manifest says so, made ${backup.created_at ?? 'at an unknown time'}), not of ${live}, which it would replace; ${hint}`,
  };
}

/** The confirmation's view of a backup and the database it would replace, with the findings as warnings. */
export function aboutBackup(backup: BackupFacts, live: LiveFacts | null, warnings: string[]): BackupAbout {
  return {
    database: backup.database,
    created_at: backup.created_at,
    size_bytes: backup.size_bytes,
    tables: Object.keys(backup.tables).length,
    rows: total(backup.tables),
    live: live === null ? null : { database: live.database, tables: Object.keys(live.tables).length, rows: total(live.tables) },
    warnings,
  };
}

/** One line for a confirmation prompt: "backup of family_brain, made 2025-12-08T07:00:00Z, 2.3 MiB, 15 tables, 2,260 rows". */
export function describeAbout(about: BackupAbout): string {
  const live = about.live === null ? '' : `; ${about.live.database} now holds ${about.live.tables} tables, ${n(about.live.rows)} rows`;
  return `backup of ${about.database ?? 'an unknown database (no manifest)'}, made ${about.created_at ?? 'at an unknown time'}, ${formatBytes(about.size_bytes)}, ${about.tables} tables, ${n(about.rows)} rows${live}`;
}
