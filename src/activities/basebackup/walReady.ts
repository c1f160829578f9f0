// A base backup's verification needs the WAL from its start up to where its rows were counted, and
// pg_basebackup runs with -X none: that WAL comes from the archive (`fbb wal start`). This waits,
// bounded, until the archive holds it, fetched into the verification's spool and read by pg_waldump.
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Context } from '@temporalio/activity';
import { execa } from 'execa';
import type { BaseBackupManifest } from '../../basebackup/manifest';
import { segnoOfLsn, walDir } from '../../basebackup/naming';
import { walThrough } from '../../basebackup/window';
import type { Config } from '../../config';
import { walConfig } from '../../config';
import { ErrorType, permanent } from '../../errors';
import { withClient } from '../db';
import { fetchWal, listArchivedWal } from './archive';
import { copyWalFromS3 } from './walFromS3';

/** How long a verification waits for the archive: a few of its partial-segment copy intervals (WAL_PARTIAL_UPLOAD_SECONDS), at least 2 minutes. */
export function walWaitSeconds(config: Config): number {
  return Math.max(120, 4 * walConfig(config).partialUploadSeconds);
}

/** No archive streaming from the server this long (a session restarting is shorter) means none runs. */
const NO_ARCHIVE_GRACE_MS = 15_000;

/**
 * Waits until the archive holds the WAL of `m` from its start through a complete record at or after
 * `lsn` (so that a recovery to `lsn` finds where to stop), and leaves it fetched in `spool`. A
 * `.partial.gz` copy is enough when pg_waldump reads that record in it: the copy is then past `lsn`.
 * WalArchiveNotRunning (non-retryable) when no archive streams from the server, or the wait ends.
 */
export async function awaitArchivedWal(config: Config, req: { manifest: BaseBackupManifest; lsn: string; spool: string; binDir: string }): Promise<void> {
  const m = req.manifest;
  const waitSeconds = walWaitSeconds(config);
  const deadline = Date.now() + waitSeconds * 1000;
  const ctx = Context.current();
  let quietSince: number | undefined;
  let s3Problem = '';
  const listed = () => listArchivedWal(config, m.system_identifier, m.wal_segment_bytes);
  for (;;) {
    let files = walThrough(m, req.lsn, await listed());
    // One BACKUP_DIR per host: the archive may be storing on another host; S3 has every host's copies.
    if (files === undefined && config.s3 !== undefined) {
      const copy = { sysid: m.system_identifier, fromSegno: segnoOfLsn(m.start_lsn, m.wal_segment_bytes), segmentBytes: m.wal_segment_bytes, signal: ctx.cancellationSignal };
      const copied = await copyWalFromS3(config, copy).then(
        (n) => ((s3Problem = ''), n),
        (err: unknown) => ((s3Problem = `; S3 could not be read: ${(err as Error).message}`), 0),
      );
      if (copied > 0) files = walThrough(m, req.lsn, await listed());
    }
    if (files !== undefined) {
      const fetched = await fetchWal(config, m.system_identifier, files.map((f) => f.stored), req.spool, m.wal_segment_bytes).then(
        () => true,
        (err: unknown) => {
          // A .partial.gz copy is replaced in place: read while the archiver rewrites it, it differs from its sidecar for a moment.
          if ((err as { type?: string }).type === ErrorType.WalArchiveDamaged && files.some((f) => f.kind === 'partial') && Date.now() < deadline) return false;
          throw err;
        },
      );
      if (fetched && (await recordAtOrAfter(req.binDir, req.spool, m.timeline, req.lsn))) return;
    }
    const streaming = await archiveStreams(config);
    quietSince = streaming === false ? (quietSince ?? Date.now()) : undefined;
    const where = path.join(config.backup.dir, walDir(m.system_identifier));
    if (quietSince !== undefined && Date.now() - quietSince >= Math.min(NO_ARCHIVE_GRACE_MS, waitSeconds * 1000)) {
      throw permanent(
        ErrorType.WalArchiveNotRunning,
        `base backup "${m.filename}" cannot be verified: its WAL (${m.start_lsn} to ${req.lsn}) is not in the archive (${where}) and no WAL archive streams from ${config.database.host}:${config.database.port} (no active physical replication slot); run "fbb wal start" and keep it running, then take the base backup again; it was not uploaded`,
      );
    }
    if (Date.now() > deadline) {
      throw permanent(
        ErrorType.WalArchiveNotRunning,
        `base backup "${m.filename}" cannot be verified: the WAL archive did not store its WAL up to ${req.lsn} within ${waitSeconds} s (waited for ${where}${config.s3 ? ` and s3://${config.s3.bucket}/${config.s3.prefix}${walDir(m.system_identifier)}/` : ''}; derived from WAL_PARTIAL_UPLOAD_SECONDS${s3Problem}); check "fbb wal status", then take the base backup again; it was not uploaded`,
      );
    }
    ctx.heartbeat({ step: 'waiting for the WAL archive', lsn: req.lsn });
    await sleep(2_000, undefined, { signal: ctx.cancellationSignal });
  }
}

/** True when pg_waldump finds a complete, valid record at or after `lsn` in the spool. */
async function recordAtOrAfter(binDir: string, spool: string, timeline: number, lsn: string): Promise<boolean> {
  const run = await execa(path.join(binDir, 'pg_waldump'), ['-p', spool, '-t', String(timeline), '-s', lsn, '-n', '1'], { reject: false, stdin: 'ignore', cancelSignal: Context.current().cancellationSignal });
  return run.exitCode === 0;
}

/** Whether a WAL archive (or any physical stream) runs from the server: an active physical slot; undefined when the server cannot be asked. */
async function archiveStreams(config: Config): Promise<boolean | undefined> {
  return withClient(config.database, async (c) => (await c.query<{ on: boolean }>("SELECT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_type = 'physical' AND active) AS on")).rows[0]!.on, config.database.maintenanceDatabase).catch(() => undefined);
}
