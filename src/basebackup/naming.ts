// Names and keys of the physical backups (the layout shared with the WAL archive, docs/operations.md):
// base/<sysid>/<prefix>_base_<YYYYMMDD_HHMMSS>.tar.gz[.age] and wal/<sysid>/<24-hex segment>.gz[.age].
import { bigIntToLsn, CHECKSUM_SUFFIX, lsnToBigInt, parseStoredName, segmentNumber, segmentOfLsn, type WalFileKind } from '../wal/layout';

export { walDir } from '../wal/layout';

/** Sidecar suffix: the lowercase hex SHA-256 of the stored bytes of the file it is named after. */
export const SHA256_SUFFIX = CHECKSUM_SUFFIX;
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

/** One file of the WAL archive, parsed from its stored name (the names of src/wal/layout.ts). */
export interface ArchivedWal {
  /** The stored name, e.g. "000000010000000000000003.gz.age". */
  stored: string;
  /** The name PostgreSQL asks for: the segment or history file name. */
  walName: string;
  kind: WalFileKind;
  timeline: number;
  /** Segment number over the whole WAL (log * segments per log + seg); 0 for history files. */
  segno: bigint;
  encrypted: boolean;
}

/** Parses a stored WAL archive name; undefined for sidecars and anything else. */
export function parseArchivedWal(stored: string, segmentBytes: number): ArchivedWal | undefined {
  const file = parseStoredName(stored);
  if (file === undefined) return undefined;
  const history = file.kind === 'history';
  return {
    stored,
    walName: history ? `${file.name}.history` : file.name,
    kind: file.kind,
    timeline: file.timeline,
    segno: history ? 0n : segmentNumber(file.name, segmentBytes).number,
    encrypted: file.encrypted,
  };
}

/** The segment number holding `lsn` ("0/3000028"). */
export function segnoOfLsn(lsn: string, segmentBytes: number): bigint {
  return lsnToBigInt(lsn) / BigInt(segmentBytes);
}

/** The 24-hex file name of segment `segno` on `timeline`. */
export function segmentName(timeline: number, segno: bigint, segmentBytes: number): string {
  return segmentOfLsn(bigIntToLsn(segno * BigInt(segmentBytes)), timeline, segmentBytes);
}
