// Backup file names: `<prefix>_<type>_<YYYYMMDD_HHMMSS><ext>`, as the Windmill scripts made them.
// Pure functions, shared by workflows, activities and the CLI.

/**
 * The kinds of backup; `pre_restore` is made by a restore before it changes anything; `pitr` is a
 * moment of the WAL archive made into a file by a restore to that moment (docs/operations.md).
 */
export const BACKUP_TYPES = ['daily', 'weekly', 'monthly', 'manual', 'pre_restore', 'pitr'] as const;
export type BackupType = (typeof BACKUP_TYPES)[number];

/**
 * File formats: plain SQL through gzip (what Windmill made; `gunzip | psql` restores it), plain SQL
 * through multithreaded zstd (the fast one; `zstd -dc | psql`), or pg_dump's custom format
 * (`pg_restore -j` restores it in parallel).
 */
export const BACKUP_FORMATS = { plain_gzip: '.sql.gz', plain_zstd: '.sql.zst', custom: '.dump' } as const;
export type BackupFormat = keyof typeof BACKUP_FORMATS;

/** Suffix of a backup encrypted with age, after the format's extension: `….sql.gz.age`. */
export const ENCRYPTED_SUFFIX = '.age';

/** What a backup's name tells. */
export interface ParsedBackupName {
  filename: string;
  prefix: string;
  type: BackupType;
  /** Local wall-clock time in the backup time zone, "YYYYMMDD_HHMMSS". */
  timestamp: string;
  format: BackupFormat;
  /** Present when the name ends in `.age`: the file is the format's bytes encrypted with age. */
  encrypted?: true;
}

const NAME = new RegExp(
  `^([A-Za-z0-9][A-Za-z0-9_-]*?)_(${BACKUP_TYPES.join('|')})_(\\d{8}_\\d{6})(${Object.values(BACKUP_FORMATS).map((e) => e.replace(/\./g, '\\.')).join('|')})(\\.age)?$`,
);

/** Parses a backup file name; undefined for anything else (paths, temp files, manifests). */
export function parseBackupName(filename: string): ParsedBackupName | undefined {
  const m = NAME.exec(filename);
  if (!m) return undefined;
  const [, prefix, type, timestamp, ext, age] = m as unknown as [string, string, BackupType, string, string, string | undefined];
  const format = (Object.keys(BACKUP_FORMATS) as BackupFormat[]).find((f) => BACKUP_FORMATS[f] === ext);
  if (format === undefined) return undefined;
  return { filename, prefix, type, timestamp, format, ...(age === undefined ? {} : { encrypted: true as const }) };
}

/** The name of a backup taken at `at`, with the wall-clock time of `timeZone`; `.age` appended when it is encrypted. */
export function backupFilename(prefix: string, type: BackupType, at: Date, timeZone: string, format: BackupFormat = 'plain_gzip', encrypted = false): string {
  return `${prefix}_${type}_${localTimestamp(at, timeZone)}${BACKUP_FORMATS[format]}${encrypted ? ENCRYPTED_SUFFIX : ''}`;
}

/** "YYYYMMDD_HHMMSS" of `at` on the wall clocks of `timeZone`. */
export function localTimestamp(at: Date, timeZone: string): string {
  const p = zonedParts(at, timeZone);
  const two = (n: number) => String(n).padStart(2, '0');
  return `${p.year}${two(p.month)}${two(p.day)}_${two(p.hour)}${two(p.minute)}${two(p.second)}`;
}

/**
 * The instant a "YYYYMMDD_HHMMSS" wall-clock time in `timeZone` stands for. In the hour a DST
 * change repeats, the earlier instant; in the hour it skips, the instant an hour later on the clock (02:30 -> 03:30).
 */
export function timestampToDate(timestamp: string, timeZone: string): Date {
  const m = /^(\d{4})(\d{2})(\d{2})_(\d{2})(\d{2})(\d{2})$/.exec(timestamp);
  if (!m) throw new RangeError(`"${timestamp}" is not a YYYYMMDD_HHMMSS timestamp`);
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number];
  const asUtc = Date.UTC(y, mo - 1, d, h, mi, s);
  // Two passes find the offset in force at that wall-clock time; a skipped time keeps the first.
  const first = asUtc - offsetMs(new Date(asUtc), timeZone);
  const second = asUtc - offsetMs(new Date(first), timeZone);
  return new Date(localTimestamp(new Date(second), timeZone) === timestamp ? second : first);
}

interface Parts {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
}

function zonedParts(at: Date, timeZone: string): Parts {
  const fmt = new Intl.DateTimeFormat('en-US', {
    timeZone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  });
  const get = (type: string) => Number(fmt.formatToParts(at).find((p) => p.type === type)?.value);
  return { year: get('year'), month: get('month'), day: get('day'), hour: get('hour'), minute: get('minute'), second: get('second') };
}

/** How far `timeZone`'s wall clock is ahead of UTC at `at`. */
function offsetMs(at: Date, timeZone: string): number {
  const p = zonedParts(at, timeZone);
  const wall = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second);
  return wall - Math.floor(at.getTime() / 1000) * 1000;
}

/** The name a live database is renamed to when a restore swaps another in: `<db>_pre_restore_<YYYYMMDD_HHMMSS>`. */
export function asideDatabaseName(live: string, timestamp: string): string {
  return `${live}_pre_restore_${timestamp}`;
}

/** The databases a restore started at `timestamp` works with, beside the live one. */
export interface RestoreDatabaseNames {
  /** The live database's name, before and after. */
  live: string;
  /** The copy restored beside it, renamed in once it verified: `<db>_restoring_<YYYYMMDD_HHMMSS>`. */
  incoming: string;
  /** The previous live database, renamed aside by the swap (asideDatabaseName). */
  aside: string;
  /** A swapped-in copy that did not verify, renamed away by the rollback: `<db>_failed_restore_<YYYYMMDD_HHMMSS>`. */
  failed: string;
}

/** Every database name a restore of `live` at `timestamp` ("YYYYMMDD_HHMMSS") uses. */
export function restoreDatabaseNames(live: string, timestamp: string): RestoreDatabaseNames {
  return { live, incoming: `${live}_restoring_${timestamp}`, aside: asideDatabaseName(live, timestamp), failed: `${live}_failed_restore_${timestamp}` };
}

/** The timestamp of a database renamed aside from `live`, or undefined for any other name. */
export function parseAsideDatabaseName(live: string, name: string): string | undefined {
  const rest = name.startsWith(`${live}_pre_restore_`) ? name.slice(live.length + '_pre_restore_'.length) : '';
  return /^\d{8}_\d{6}$/.test(rest) ? rest : undefined;
}
