// The WAL archive's status as `fbb wal status` prints it, computed from what the archiving activity
// last reported: pure, shared by the activity (for its lag notification) and the client.
import { lsnToBigInt } from './layout';

/** How far the archive is behind the server. */
export interface ArchiveLag {
  /** Bytes the server has written that the archive does not hold yet; null until the archive holds anything. */
  lag_bytes: number | null;
  /** 0 when the archive holds all the server has written; else how old the archive's newest copy is, in seconds. */
  lag_seconds: number | null;
}

/** The lag of an archive that holds everything up to `archivedLsn` (confirmed at `archivedAt`) behind a server at `serverLsn`. */
export function archiveLag(serverLsn: string | null, archivedLsn: string | null, archivedAt: string | null, now: Date = new Date()): ArchiveLag {
  if (serverLsn === null || archivedLsn === null || archivedAt === null) return { lag_bytes: null, lag_seconds: null };
  const bytes = lsnToBigInt(serverLsn) - lsnToBigInt(archivedLsn);
  const lag_bytes = bytes > 0n ? Number(bytes) : 0;
  return { lag_bytes, lag_seconds: lag_bytes === 0 ? 0 : Math.max(0, Math.round((now.getTime() - Date.parse(archivedAt)) / 1000)) };
}
