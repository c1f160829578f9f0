// Names and keys of the physical backups (the layout shared with the WAL archive, docs/operations.md):
// base/<sysid>/<prefix>_base_<YYYYMMDD_HHMMSS>.tar.gz[.age] and wal/<sysid>/<24-hex segment>.gz[.age].

/** Sidecar suffix: the lowercase hex SHA-256 of the stored bytes of the file it is named after. */
export const SHA256_SUFFIX = '.sha256';
/** Our manifest of a base backup, beside it. */
export const BASE_MANIFEST_SUFFIX = '.manifest.json';
/** PostgreSQL's own backup_manifest, kept beside the base backup (an incremental backup is taken against it). */
export const PG_MANIFEST_SUFFIX = '.backup_manifest';

/** A base backup file name, parsed. */
export interface BaseBackupName {
  filename: string;
  prefix: string;
  /** UTC, "YYYYMMDD_HHMMSS". */
  timestamp: string;
  encrypted: boolean;
}

const BASE_NAME = /^(.+)_base_(\d{8}_\d{6})\.tar\.gz(\.age)?$/;

/** "<prefix>_base_<UTC YYYYMMDD_HHMMSS>.tar.gz", with ".age" when encrypted. */
export function baseBackupFilename(prefix: string, at: Date, encrypted: boolean): string {
  const iso = at.toISOString();
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
  return `${prefix}_base_${stamp}.tar.gz${encrypted ? '.age' : ''}`;
}

/** The parts of a base backup name; undefined for anything else (sidecars, manifests, temporary files). */
export function parseBaseBackupName(filename: string): BaseBackupName | undefined {
  const m = BASE_NAME.exec(filename);
  if (!m || filename.startsWith('.')) return undefined;
  return { filename, prefix: m[1]!, timestamp: m[2]!, encrypted: m[3] !== undefined };
}

/** Relative directory of one server's base backups. */
export function baseDir(systemIdentifier: string): string {
  return `base/${systemIdentifier}`;
}

/** Relative directory of one server's WAL archive. */
export function walDir(systemIdentifier: string): string {
  return `wal/${systemIdentifier}`;
}

/** One file of the WAL archive, parsed from its stored name. */
export interface ArchivedWal {
  /** The stored name, e.g. "000000010000000000000003.gz.age". */
  stored: string;
  /** The name PostgreSQL asks for: the segment or history file name. */
  walName: string;
  kind: 'segment' | 'partial' | 'history';
  timeline: number;
  /** Segment number over the whole WAL (log * segments per log + seg); 0 for history files. */
  segno: bigint;
  encrypted: boolean;
}

const WAL_FILE = /^([0-9A-F]{24})(\.partial)?\.gz(\.age)?$/;
const HISTORY_FILE = /^([0-9A-F]{8})\.history\.gz(\.age)?$/;

/** Parses a stored WAL archive name; undefined for sidecars and anything else. */
export function parseArchivedWal(stored: string, segmentBytes: number): ArchivedWal | undefined {
  const seg = WAL_FILE.exec(stored);
  if (seg) {
    const name = seg[1]!;
    return { stored, walName: name, kind: seg[2] ? 'partial' : 'segment', timeline: parseInt(name.slice(0, 8), 16), segno: segnoOf(name, segmentBytes), encrypted: seg[3] !== undefined };
  }
  const hist = HISTORY_FILE.exec(stored);
  if (hist) return { stored, walName: `${hist[1]!}.history`, kind: 'history', timeline: parseInt(hist[1]!, 16), segno: 0n, encrypted: hist[2] !== undefined };
  return undefined;
}

/** Segments per 4 GB "log" file number: 256 for 16 MB segments. */
function segmentsPerLog(segmentBytes: number): bigint {
  return 0x100000000n / BigInt(segmentBytes);
}

/** The segment number of a 24-hex segment file name. */
export function segnoOf(name: string, segmentBytes: number): bigint {
  return BigInt(`0x${name.slice(8, 16)}`) * segmentsPerLog(segmentBytes) + BigInt(`0x${name.slice(16, 24)}`);
}

/** "0/3000028" as a number. */
export function parseLsn(lsn: string): bigint {
  const m = /^([0-9A-F]+)\/([0-9A-F]+)$/i.exec(lsn);
  if (!m) throw new Error(`"${lsn}" is not a WAL location (expected like 0/3000028)`);
  return (BigInt(`0x${m[1]!}`) << 32n) + BigInt(`0x${m[2]!}`);
}

/** The segment number holding `lsn`. */
export function segnoOfLsn(lsn: string, segmentBytes: number): bigint {
  return parseLsn(lsn) / BigInt(segmentBytes);
}

/** The 24-hex file name of segment `segno` on `timeline`. */
export function segmentName(timeline: number, segno: bigint, segmentBytes: number): string {
  const per = segmentsPerLog(segmentBytes);
  const hex = (n: bigint | number) => n.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(segno / per)}${hex(segno % per)}`;
}
