// Names of the continuous WAL archive: where each file lives under BACKUP_DIR (and the same keys
// under S3_PREFIX), and the rules that read segment names. Pure: shared by the workflow, the
// activities and the client. The layout is a contract with the base backups and `fbb restore
// --to-time`, which read what the archiver writes:
//   wal/<system_identifier>/<24-hex segment>.gz[.age]           a completed 16 MB segment, gzipped (then age)
//   wal/<system_identifier>/<8-hex timeline>.history.gz[.age]   a timeline history file, likewise
//   wal/<system_identifier>/<24-hex segment>.partial.gz[.age]   the newest partial segment (one at most)
//   <any stored file above>.sha256                              lowercase hex SHA-256 of the stored bytes, then "\n"
// Each file appears atomically (temporary name, fsync, rename, fsync of the folder), the sidecar
// before its file: a stored file that is there has its sidecar. A `.partial` copy is replaced in
// place, so a reader that finds it differing from its sidecar reads both again.

/** The folder of every server's archive, relative to BACKUP_DIR and S3_PREFIX. */
export const WAL_ROOT = 'wal';

/** The default WAL segment size (pg_receivewal reads the server's own; every name here is size-independent). */
export const WAL_SEGMENT_BYTES = 16 * 1024 * 1024;

/** The suffix of every checksum sidecar. */
export const CHECKSUM_SUFFIX = '.sha256';

/** What a WAL file in pg_receivewal's directory (or the archive) is. */
export type WalFileKind = 'segment' | 'partial' | 'history';

/** A WAL file name as PostgreSQL writes it, parsed. */
export interface WalFileName {
  kind: WalFileKind;
  /** The 24-hex segment name (segment, partial) or the 8-hex timeline (history). */
  name: string;
  timeline: number;
}

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;

/** Parses a file name in pg_receivewal's directory: `<24hex>`, `<24hex>.partial`, `<8hex>.history`; undefined for anything else (temporary files). */
export function parseSpoolName(file: string): WalFileName | undefined {
  const partial = file.endsWith('.partial');
  const base = partial ? file.slice(0, -'.partial'.length) : file;
  const segment = SEGMENT.exec(base);
  if (segment) return { kind: partial ? 'partial' : 'segment', name: base, timeline: parseInt(segment[1]!, 16) };
  const history = partial ? null : HISTORY.exec(file);
  if (history) return { kind: 'history', name: history[1]!, timeline: parseInt(history[1]!, 16) };
  return undefined;
}

/** The archive's folder for the server `systemIdentifier` (a decimal string), relative to BACKUP_DIR and S3_PREFIX. */
export function walDir(systemIdentifier: string): string {
  if (!/^\d+$/.test(systemIdentifier)) throw new Error(`system identifier "${systemIdentifier}" is not a decimal number`);
  return `${WAL_ROOT}/${systemIdentifier}`;
}

/** The stored name of a WAL file (without its folder): gzip, then `.age` when encrypted. */
export function storedName(file: WalFileName, encrypted: boolean): string {
  const base = file.kind === 'history' ? `${file.name}.history` : file.kind === 'partial' ? `${file.name}.partial` : file.name;
  return `${base}.gz${encrypted ? '.age' : ''}`;
}

/** The checksum sidecar's name of a stored file. */
export function checksumName(stored: string): string {
  return `${stored}${CHECKSUM_SUFFIX}`;
}

/** The text of a checksum sidecar. */
export function checksumText(sha256: string): string {
  return `${sha256}\n`;
}

/** A stored archive file name, parsed; undefined for sidecars, temporary files and anything else. */
export function parseStoredName(stored: string): (WalFileName & { encrypted: boolean }) | undefined {
  const m = /^(.+)\.gz(\.age)?$/.exec(stored);
  if (!m) return undefined;
  const file = parseSpoolName(m[1]!);
  return file === undefined ? undefined : { ...file, encrypted: m[2] !== undefined };
}

/** True for a stored partial segment (`<24hex>.partial.gz[.age]`). */
export function isStoredPartial(stored: string): boolean {
  return parseStoredName(stored)?.kind === 'partial';
}

/** Splits a 24-hex segment name into timeline and segment number (log * segments-per-log + seg). */
export function segmentNumber(name: string, segmentBytes = WAL_SEGMENT_BYTES): { timeline: number; number: bigint } {
  const m = SEGMENT.exec(name);
  if (!m) throw new Error(`"${name}" is not a WAL segment name (24 hex digits)`);
  const perLog = 0x100000000n / BigInt(segmentBytes);
  return { timeline: parseInt(m[1]!, 16), number: BigInt(parseInt(m[2]!, 16)) * perLog + BigInt(parseInt(m[3]!, 16)) };
}

/** The segment name holding byte `lsn` ("16/B374D848") on `timeline`. */
export function segmentOfLsn(lsn: string, timeline: number, segmentBytes = WAL_SEGMENT_BYTES): string {
  const number = lsnToBigInt(lsn) / BigInt(segmentBytes);
  const perLog = 0x100000000n / BigInt(segmentBytes);
  const hex = (n: bigint | number) => n.toString(16).toUpperCase().padStart(8, '0');
  return `${hex(timeline)}${hex(number / perLog)}${hex(number % perLog)}`;
}

/** The LSN where segment `name` starts, as PostgreSQL prints LSNs. */
export function segmentStartLsn(name: string, segmentBytes = WAL_SEGMENT_BYTES): string {
  return bigIntToLsn(segmentNumber(name, segmentBytes).number * BigInt(segmentBytes));
}

/** "16/B374D848" → its byte position. */
export function lsnToBigInt(lsn: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(lsn);
  if (!m) throw new Error(`"${lsn}" is not an LSN (expected hex/hex, e.g. 16/B374D848)`);
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

/** A byte position → "16/B374D848". */
export function bigIntToLsn(position: bigint): string {
  return `${(position >> 32n).toString(16).toUpperCase()}/${(position & 0xffffffffn).toString(16).toUpperCase()}`;
}

/** The segments missing from a sorted run of segment names of one timeline (a gap check for tests and status). */
export function missingSegments(names: string[], segmentBytes = WAL_SEGMENT_BYTES): string[] {
  const missing: string[] = [];
  for (let i = 1; i < names.length; i++) {
    const prev = segmentNumber(names[i - 1]!, segmentBytes);
    const next = segmentNumber(names[i]!, segmentBytes);
    if (prev.timeline !== next.timeline) continue;
    for (let n = prev.number + 1n; n < next.number; n++) missing.push(segmentOfLsn(bigIntToLsn(n * BigInt(segmentBytes)), next.timeline, segmentBytes));
  }
  return missing;
}

/** The archive's second slot beside `slot` (src/activities/wal/archivedSlot.ts); slot names have at most 63 characters. */
export function archivedSlotName(slot: string): string {
  return `${slot.slice(0, 63 - '_archived'.length)}_archived`;
}

/** The default replication slot of a database: `fbb_<database>`, in the characters slot names allow. */
export function defaultSlotName(database: string): string {
  return `fbb_${database.toLowerCase().replace(/[^a-z0-9_]/g, '_')}`.slice(0, 63);
}
