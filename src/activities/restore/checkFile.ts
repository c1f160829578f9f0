// A backup checked without a scratch database: its SHA-256 against its manifest.
import path from 'node:path';
import { Context } from '@temporalio/activity';
import type { Config } from '../../config';
import { ErrorType, permanent } from '../../errors';
import { readLocalManifest } from '../backup/verify';
import { sha256File } from '../stream';

/**
 * Re-reads a local backup whose manifest says "dumped" and checks its SHA-256 against the
 * manifest: what can still be proved of a pre-restore backup when no scratch database may be
 * created to restore it into. Returns the dump-time row counts a rollback must bring back.
 */
export async function checkBackupFile(config: Config, filename: string): Promise<{ sha256: string; table_details: Record<string, number> }> {
  const manifest = await readLocalManifest(config.backup.dir, filename);
  const actual = await sha256File(path.join(config.backup.dir, filename), (bytes) => Context.current().heartbeat({ step: 'checksum', bytes }));
  if (actual !== manifest.sha256) {
    throw permanent(ErrorType.BackupCorrupted, `backup "${filename}" failed its checksum right after it was written (expected ${manifest.sha256.slice(0, 12)}…, got ${actual.slice(0, 12)}…); nothing was changed; check the disk of ${config.backup.dir}`);
  }
  return { sha256: actual, table_details: manifest.table_details };
}
