// One pass of the archiver over pg_receivewal's spool directory: each completed segment (and
// timeline history file), oldest first, is stored locally, then in S3, and only then removed from
// the spool; the newest partial segment is copied as <segment>.partial.gz when it is due.
import fs from 'node:fs/promises';
import path from 'node:path';
import { bigIntToLsn, lsnToBigInt, parseSpoolName, parseStoredName, segmentNumber, segmentOfLsn, segmentStartLsn, storedName, WAL_SEGMENT_BYTES, type WalFileName } from '../../wal/layout';
import { removeStored, storeLocal, uploadStored, type WalTarget } from './store';

/** What the archive holds so far; carried in heartbeats from attempt to attempt. */
export interface ArchiveProgress {
  last_archived_segment: string | null;
  /** UTC ISO time the newest completed segment was stored. */
  last_archived_at: string | null;
  /** The segment whose partial copy is stored, if any. */
  partial_segment: string | null;
  partial_archived_at: string | null;
  /** The WAL position up to which the archive holds everything (a segment's end, or what was flushed before the partial copy). */
  archived_lsn: string | null;
  /** UTC ISO time archived_lsn was last confirmed. */
  archived_at: string | null;
  /** Completed segments and history files stored by this attempt. */
  files_archived: number;
}

/** An empty archive's progress. */
export function noProgress(): ArchiveProgress {
  return { last_archived_segment: null, last_archived_at: null, partial_segment: null, partial_archived_at: null, archived_lsn: null, archived_at: null, files_archived: 0 };
}

/** The spool's WAL files by kind, completed ones in the order they are archived (history first, then segments by name). */
export async function readSpool(spoolDir: string): Promise<{ completed: WalFileName[]; partial: WalFileName | undefined }> {
  const names = await fs.readdir(spoolDir).catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? [] : Promise.reject(err)));
  const files = names.map(parseSpoolName).filter((f): f is WalFileName => f !== undefined);
  const completed = files.filter((f) => f.kind !== 'partial').sort((a, b) => (a.kind === b.kind ? a.name.localeCompare(b.name) : a.kind === 'history' ? -1 : 1));
  const partial = files.filter((f) => f.kind === 'partial').sort((a, b) => b.name.localeCompare(a.name))[0];
  return { completed, partial };
}

/** The spool file's own name. */
function spoolFile(spoolDir: string, file: WalFileName): string {
  return path.join(spoolDir, file.kind === 'history' ? `${file.name}.history` : file.kind === 'partial' ? `${file.name}.partial` : file.name);
}

/**
 * Archives every completed file in the spool, oldest first: store locally, upload, remove the
 * segment's partial copies, then remove it from the spool. A failure stops the pass with the file
 * still in the spool, so the next attempt archives it again (an intact stored copy is kept).
 */
export async function archiveCompleted(target: WalTarget, spoolDir: string, progress: ArchiveProgress, signal?: AbortSignal): Promise<number> {
  const { completed } = await readSpool(spoolDir);
  for (const file of completed) {
    const stored = await storeLocal(target, spoolFile(spoolDir, file), storedName(file, target.recipients.length > 0), { reuse: true, signal });
    await uploadStored(target, stored, signal);
    if (file.kind === 'segment') {
      const partial = { ...file, kind: 'partial' as const };
      await removeStored(target, [storedName(partial, false), storedName(partial, true)]);
      if (progress.partial_segment === file.name) progress.partial_segment = null;
      const end = (segmentNumber(file.name).number + 1n) * BigInt(WAL_SEGMENT_BYTES);
      progress.last_archived_segment = file.name;
      progress.last_archived_at = new Date().toISOString();
      if (progress.archived_lsn === null || lsnBefore(progress.archived_lsn, end)) progress.archived_lsn = bigIntToLsn(end);
      progress.archived_at = progress.last_archived_at;
    }
    await fs.rm(spoolFile(spoolDir, file), { force: true });
    progress.files_archived++;
  }
  return completed.length;
}

/**
 * Copies the spool's newest partial segment to the archive as <segment>.partial.gz (replacing the
 * copy before it), having read beforehand the position pg_receivewal had flushed (`flushedLsn`): the
 * copy holds at least everything up to it. Removes the partial copy of the segment before it.
 */
export async function archivePartial(target: WalTarget, spoolDir: string, progress: ArchiveProgress, flushedLsn: string | null, signal?: AbortSignal): Promise<boolean> {
  const { partial } = await readSpool(spoolDir);
  if (partial === undefined) return false;
  const encrypted = target.recipients.length > 0;
  // A spool this worker left long ago may hold a partial the archive has gone past (another worker
  // archived its segment whole, or a later one): copying it would put an older file beside newer ones.
  if (await archiveIsPast(target, partial)) return false;
  let stored;
  try {
    if (await holdsNothingNew(spoolFile(spoolDir, partial), partial, progress.archived_lsn)) return false;
    stored = await storeLocal(target, spoolFile(spoolDir, partial), storedName(partial, encrypted), { reuse: false, signal });
  } catch (err) {
    // pg_receivewal completed the segment (renamed the file) between the look and the read: the next pass archives it whole.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  await uploadStored(target, stored, signal);
  // Only the newest partial copy is kept: the one this progress names and any other older one stored (an earlier attempt's).
  const older = new Set((await storedPartials(target)).filter((f) => f.name < partial.name).map((f) => f.name));
  if (progress.partial_segment !== null && progress.partial_segment !== partial.name) older.add(progress.partial_segment);
  for (const name of older) {
    const old = { kind: 'partial' as const, name, timeline: partial.timeline };
    await removeStored(target, [storedName(old, false), storedName(old, true)]);
  }
  const now = new Date().toISOString();
  progress.partial_segment = partial.name;
  progress.partial_archived_at = now;
  // Only what was flushed before the copy into this segment counts as held by it.
  if (flushedLsn !== null && segmentOfLsn(flushedLsn, partial.timeline) === partial.name && (progress.archived_lsn === null || lsnBefore(progress.archived_lsn, flushedLsn))) {
    progress.archived_lsn = flushedLsn;
  }
  progress.archived_at = now;
  return true;
}

/**
 * Archives everything in the spool: the completed files, then the newest partial segment. What a
 * session does as it ends, however it ends, and what the next one does first, so WAL pg_receivewal
 * received is in the archive even when the server is gone (`flushedLsn`: see archivePartial; null
 * when the server could not be asked).
 */
export async function archiveSpool(target: WalTarget, spoolDir: string, progress: ArchiveProgress, flushedLsn: string | null, signal?: AbortSignal): Promise<void> {
  await archiveCompleted(target, spoolDir, progress, signal);
  await archivePartial(target, spoolDir, progress, flushedLsn, signal);
}

/**
 * Removes the spool's partial segment when it lies before the segment of `restartLsn` (the slot's
 * position): sessions on other workers streamed on since this spool was left, and pg_receivewal,
 * which resumes from its directory, would ask the server for WAL it may have removed. Call it once
 * the spool is archived. Returns the segment removed.
 */
export async function dropPartialBehind(spoolDir: string, restartLsn: string | null): Promise<string | undefined> {
  if (restartLsn === null) return undefined;
  const { partial } = await readSpool(spoolDir);
  if (partial === undefined || partial.name >= segmentOfLsn(restartLsn, partial.timeline)) return undefined;
  await fs.rm(spoolFile(spoolDir, partial), { force: true });
  return partial.name;
}

/**
 * pg_receivewal pads a new segment's file with zeros to the segment size before it writes WAL into it;
 * when that fails (the disk full) the short file stays, and every pg_receivewal after refuses to start
 * ("has N bytes, should be 0 or S"): the archive would stop for good. Such a file of zeros holds no WAL
 * and is removed (pg_receivewal then streams from the slot, which kept that WAL); one that holds any
 * (never seen) is renamed <name>.partial.short, out of pg_receivewal's way and kept for inspection.
 * The files it removed or renamed.
 */
export async function clearUnfinishedPartials(spoolDir: string, segmentBytes: number): Promise<{ name: string; removed: boolean }[]> {
  const cleared: { name: string; removed: boolean }[] = [];
  for (const entry of await fs.readdir(spoolDir).catch(() => [] as string[])) {
    const file = parseSpoolName(entry);
    if (file?.kind !== 'partial') continue;
    const at = path.join(spoolDir, entry);
    const size = (await fs.stat(at)).size;
    if (size === 0 || size === segmentBytes) continue;
    const zeros = await allZeros(at);
    if (zeros) await fs.rm(at, { force: true });
    else await fs.rename(at, `${at}.short`);
    cleared.push({ name: entry, removed: zeros });
  }
  return cleared;
}

async function allZeros(file: string): Promise<boolean> {
  const handle = await fs.open(file, 'r');
  try {
    const buffer = Buffer.alloc(1 << 16);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) return true;
      for (let i = 0; i < bytesRead; i++) if (buffer[i] !== 0) return false;
    }
  } finally {
    await handle.close();
  }
}

/** The partial segments stored in the local folder. */
async function storedPartials(target: WalTarget): Promise<WalFileName[]> {
  const names = await fs.readdir(target.localDir).catch(() => [] as string[]);
  return names.map(parseStoredName).filter((f): f is WalFileName & { encrypted: boolean } => f?.kind === 'partial');
}

/** True when the archive holds `partial`'s segment whole, or a segment or partial copy after it. */
async function archiveIsPast(target: WalTarget, partial: WalFileName): Promise<boolean> {
  const names = await fs.readdir(target.localDir).catch(() => [] as string[]);
  return names.some((stored) => {
    const file = parseStoredName(stored);
    if (file === undefined || file.kind === 'history') return false;
    return file.kind === 'segment' ? file.name >= partial.name : file.name > partial.name;
  });
}

/**
 * True when the spool's partial segment holds no WAL, or none past `archivedLsn`, the position the archive is
 * recorded to hold: an attempt on another worker may have archived this segment further, and a copy
 * of this file would replace that fuller copy. pg_receivewal pads the file with zeros past what it
 * received, and neither a record nor a page header is all zeros, so a non-zero byte at or after the
 * position means exactly that the file holds more.
 */
async function holdsNothingNew(file: string, partial: WalFileName, archivedLsn: string | null): Promise<boolean> {
  // Only zeros: pg_receivewal padded it and wrote nothing yet, or could not finish padding it (cheap: WAL starts with a page header).
  if (await allZeros(file)) return true;
  if (archivedLsn === null) return false;
  const handle = await fs.open(file, 'r');
  try {
    const { size } = await handle.stat();
    const offset = lsnToBigInt(archivedLsn) - lsnToBigInt(segmentStartLsn(partial.name, size));
    if (offset < 0n) return false;
    const buffer = Buffer.alloc(1 << 16);
    for (let at = Number(offset); at < size; at += buffer.length) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, at);
      if (bytesRead === 0) break;
      if (buffer.subarray(0, bytesRead).some((b) => b !== 0)) return false;
    }
    return true;
  } finally {
    await handle.close();
  }
}

function lsnBefore(a: string, b: string | bigint): boolean {
  return lsnToBigInt(a) < (typeof b === 'bigint' ? b : lsnToBigInt(b));
}
