import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import { manifestName, parseManifest, type BackupManifest, type VerificationResult } from '../../backup/manifest';
import type { Config } from '../../config';
import { ErrorType, permanent, transient } from '../../errors';
import { claimScratch } from '../scratchClaim';
import { connect, connectionLost, isConnectionLoss, withClient } from '../db';
import { restoreFileInto } from '../restoreFile';
import { writeFileAtomic } from '../stream';
import { databaseUnreachable } from '../failures';
import { sampleHashes } from '../rowSample';
import { openScratchServer, type ScratchNeeds } from '../verifyServer/target';
import { countRows, listExtensions } from './inventory';

/** Suffix a backup file gets when verification fails: no longer a backup name, so never listed or restored. */
export const FAILED_SUFFIX = '.failed';

/**
 * Proves a backup restorable: re-reads the file (SHA-256 and, for .sql.gz, gzip integrity) while
 * restoring it into a scratch database on the verification server (VERIFY_TARGET), then compares every table's row count
 * with the dump-time counts and checks the extensions came across. The scratch database is
 * dropped on success, failure and cancellation alike. A failed backup is moved aside.
 */
export async function verifyBackup(config: Config, filename: string): Promise<BackupManifest> {
  const dir = config.backup.dir;
  const file = path.join(dir, filename);
  const manifest = await readLocalManifest(dir, filename);
  if (manifest.status === 'verified' && manifest.verification?.ok) return manifest;

  const started = Date.now();
  const scratch = scratchName(config, filename);
  const server = await openScratchServer(config, scratchNeeds(manifest));
  try {
    return await verifyOn(server.config, { file, manifest, scratch, started });
  } finally {
    server.release();
  }
}

/** verifyBackup's restore and judgement, with `config.database` the server the scratch database is made on. */
async function verifyOn(config: Config, { file, manifest, scratch, started }: { file: string; manifest: BackupManifest; scratch: string; started: number }): Promise<BackupManifest> {
  const { filename } = manifest;
  const dir = config.backup.dir;
  // Claimed while it is used (scratchClaim.ts); one left by a crashed attempt at this same backup goes first.
  const claim = await claimScratch(config, scratch, ErrorType.BackupVerificationFailed);
  try {
    await dropScratch(config, scratch);
    await createScratch(config, scratch);
  } catch (err) {
    await claim.release();
    throw err;
  }
  try {
    await restoreInto(config, scratch, file, manifest);
    const verification = await judgeRestored(config, scratch, manifest, 'restore', started).catch(async (err: unknown) => {
      throw (err as { type?: string }).type === undefined && !(await serverAnswers(config)) ? serverLost(config, filename, scratch, err) : err;
    });
    const verified: BackupManifest = { ...manifest, status: 'verified', verification };
    await writeFileAtomic(path.join(dir, manifestName(filename)), `${JSON.stringify(verified, null, 2)}\n`).catch(async (err: unknown) => {
      if ((err as { type?: string }).type !== ErrorType.BackupDirFull) throw err;
      // A backup whose manifest cannot say "verified" would be listed as unverified forever, on a full disk: remove it.
      await fs.rm(file, { force: true });
      await fs.rm(path.join(dir, manifestName(filename)), { force: true });
      throw permanent(
        ErrorType.BackupDirFull,
        `backup "${filename}" restored correctly, but ${dir} is full and its verified manifest could not be written; the backup and its manifest were removed to free the space. ` +
          `Free space in ${dir} (or point BACKUP_DIR elsewhere) and run the backup again`,
        err,
      );
    });
    return verified;
  } finally {
    await dropScratch(config, scratch);
    await claim.release();
  }
}

/** What restoring `manifest`'s backup needs of a server: its extensions and the roles it names. */
export function scratchNeeds(manifest: BackupManifest): ScratchNeeds {
  return { filename: manifest.filename, extensions: manifest.extensions.map((e) => e.name), roles: manifest.roles ?? [] };
}

/**
 * Compares what was restored into `scratch` with what was dumped: every table's row count with the
 * dump-time count, the extensions; records the sample hashes a restore drill compares with later
 * (activities/rowSample.ts). A backup that does not match is moved aside (BackupVerificationFailed).
 */
export async function judgeRestored(config: Config, scratch: string, manifest: BackupManifest, method: VerificationResult['method'], started: number, file?: string): Promise<VerificationResult> {
  const { filename } = manifest;
  const { counts, extensions, samples } = await withClient(config.database, async (c) => ({ counts: await countRows(c), extensions: await listExtensions(c), samples: await sampleHashes(c) }), scratch);
  const mismatches: VerificationResult['mismatches'] = {};
  for (const [table, expected] of Object.entries(manifest.table_details)) {
    const actual = counts[table] ?? null;
    if (actual !== expected) mismatches[table] = { expected, actual };
  }
  const have = new Set(extensions.map((e) => e.name));
  const missing = manifest.extensions.map((e) => e.name).filter((name) => !have.has(name));
  const verification: VerificationResult = {
    ok: Object.keys(mismatches).length === 0 && missing.length === 0,
    method,
    verified_at: new Date().toISOString(),
    mismatches,
    missing_extensions: missing,
    tables_checked: Object.keys(manifest.table_details).length,
    duration_ms: Date.now() - started,
    sample_hashes: samples.hashes,
    ...(Object.keys(samples.failures).length > 0 ? { sample_failures: samples.failures } : {}),
  };
  if (!verification.ok) {
    const tables = Object.entries(mismatches).map(([t, m]) => `${t} (expected ${m.expected} rows, restored ${m.actual ?? 'no table'})`);
    const what = [...tables, ...missing.map((e) => `extension ${e} missing`)].join(', ');
    await setAside(config.backup.dir, { ...manifest, status: 'failed', verification }, file);
    throw permanent(ErrorType.BackupVerificationFailed, `backup "${filename}" did not restore to what was dumped: ${what}; it was moved aside as ${filename}${FAILED_SUFFIX} and will not be offered for restore`, undefined, verification);
  }
  return verification;
}

/**
 * The scratch database that verifies a backup: one name per backup file (directory, database and
 * file name), so a retry cleans up after a crashed attempt and two deployments never share one.
 */
export function scratchName(config: Config, filename: string): string {
  const key = `${config.backup.dir}\0${config.database.database}\0${filename}`;
  return `fbb_verify_${createHash('sha256').update(key).digest('hex').slice(0, 20)}`;
}

/** Reads a backup's local manifest; a missing one is a non-retryable BackupNotFound. */
export async function readLocalManifest(dir: string, filename: string): Promise<BackupManifest> {
  try {
    return parseManifest(await fs.readFile(path.join(dir, manifestName(filename)), 'utf8'), manifestName(filename));
  } catch (err) {
    throw permanent(ErrorType.BackupNotFound, `no readable manifest for "${filename}" in ${dir}: ${(err as Error).message}`, err);
  }
}

/**
 * Creates an empty scratch database (the drill's too). Only a refused privilege (SQLSTATE 42501:
 * no CREATEDB) is a non-retryable ScratchDatabaseUnavailable; a lost connection is a
 * DatabaseConnectionLost, and any other failure (55006: template0 in use, a disk full on the
 * server, ...) a retryable ScratchDatabaseUnavailable that says what the server said.
 */
export async function createScratch(config: Config, name: string): Promise<void> {
  const client = await connect(config.database).catch((err: unknown) => {
    throw databaseUnreachable(err, config);
  });
  try {
    await client.query(`CREATE DATABASE ${name} TEMPLATE template0`);
  } catch (err) {
    if (isConnectionLoss(err)) throw connectionLost(err, config.database, config.database.database, `creating the scratch database ${name}`);
    const code = (err as { code?: string }).code;
    if (code === '42501') {
      throw permanent(
        ErrorType.ScratchDatabaseUnavailable,
        `cannot create the scratch database ${name} to verify the backup (${(err as Error).message}); grant CREATEDB to ${config.database.user}, since a backup is only verified by restoring it`,
        err,
      );
    }
    throw transient(ErrorType.ScratchDatabaseUnavailable, `cannot create the scratch database ${name} to verify the backup (SQLSTATE ${code ?? 'unknown'}: ${(err as Error).message}); the step is retried`, err);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Drops a scratch database, forcing its sessions off; whether it did. A failure is logged, not thrown (the caller is cleaning up). */
export async function dropScratch(config: Config, name: string): Promise<boolean> {
  return withClient(config.database, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(
    () => true,
    (err: unknown) => {
      Context.current().log.warn(`could not drop scratch database ${name}; the next backup or restore of this database drops it`, { error: String(err) });
      return false;
    },
  );
}

async function restoreInto(config: Config, scratch: string, file: string, manifest: BackupManifest): Promise<void> {
  try {
    await restoreFileInto(config, scratch, { filename: manifest.filename, file, format: manifest.format, sha256: manifest.sha256 }, { step: 'verify', failureType: ErrorType.BackupVerificationFailed, target: 'scratch' });
  } catch (err) {
    if ((err as { type?: string }).type === ErrorType.BackupCorrupted) await setAside(config.backup.dir, { ...manifest, status: 'failed' });
    // A restore that stopped because the server went away says nothing about the backup (a session it ended, the server still up: DatabaseConnectionLost as it is).
    const type = (err as { type?: string }).type;
    if ((type === ErrorType.BackupVerificationFailed || type === ErrorType.DatabaseConnectionLost) && !(await serverAnswers(config))) throw serverLost(config, manifest.filename, scratch, err);
    throw err;
  }
}

/** True when the server accepts a connection and a query now. */
export async function serverAnswers(config: Config): Promise<boolean> {
  return withClient(config.database, (c) => c.query('SELECT 1'), config.database.maintenanceDatabase).then(
    () => true,
    () => false,
  );
}

/** Retryable: the server stopped answering while verifying; the backup is not to blame and stays as it is. */
function serverLost(config: Config, filename: string, scratch: string, cause: unknown): Error {
  return transient(
    ErrorType.DatabaseUnreachable,
    `the database server at ${config.database.host}:${config.database.port} stopped answering while backup "${filename}" was being verified; the backup was not judged and is kept unverified; ` +
      `the next attempt drops the scratch database ${scratch} and verifies again (if none comes, drop it by hand: DROP DATABASE ${scratch})`,
    cause,
  );
}

/** Moves a backup that failed verification out of the catalog and records why in its manifest. */
export async function setAside(dir: string, manifest: BackupManifest, file = path.join(dir, manifest.filename)): Promise<void> {
  await writeFileAtomic(path.join(dir, manifestName(manifest.filename)), `${JSON.stringify(manifest, null, 2)}\n`);
  await fs.rename(file, path.join(dir, `${manifest.filename}${FAILED_SUFFIX}`)).catch(() => undefined);
}
