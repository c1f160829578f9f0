import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Context } from '@temporalio/activity';
import { execa, ExecaError } from 'execa';
import { manifestName, parseManifest, type BackupManifest, type VerificationResult } from '../../backup/manifest';
import { libpqEnv, type Config } from '../../config';
import { ErrorType, permanent } from '../../errors';
import { connect, withClient } from '../db';
import { pgToolPath } from '../pgTools';
import { every, HashCounter, sha256File, writeFileAtomic } from '../stream';
import { databaseUnreachable } from '../failures';
import { countRows, listExtensions } from './inventory';

/** Suffix a backup file gets when verification fails: no longer a backup name, so never listed or restored. */
export const FAILED_SUFFIX = '.failed';

/**
 * Proves a backup restorable: re-reads the file (SHA-256 and, for .sql.gz, gzip integrity) while
 * restoring it into a scratch database on the same server, then compares every table's row count
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
  // A scratch database left by a crashed attempt at this same backup goes first.
  await dropScratch(config, scratch);
  await createScratch(config, scratch);
  try {
    await restoreInto(config, scratch, file, manifest);
    const { counts, extensions } = await withClient(config.database, async (c) => ({ counts: await countRows(c), extensions: await listExtensions(c) }), scratch);
    const mismatches: VerificationResult['mismatches'] = {};
    for (const [table, expected] of Object.entries(manifest.table_details)) {
      const actual = counts[table] ?? null;
      if (actual !== expected) mismatches[table] = { expected, actual };
    }
    const have = new Set(extensions.map((e) => e.name));
    const missing = manifest.extensions.map((e) => e.name).filter((name) => !have.has(name));
    const verification: VerificationResult = {
      ok: Object.keys(mismatches).length === 0 && missing.length === 0,
      method: 'restore',
      verified_at: new Date().toISOString(),
      mismatches,
      missing_extensions: missing,
      tables_checked: Object.keys(manifest.table_details).length,
      duration_ms: Date.now() - started,
    };
    if (!verification.ok) {
      const tables = Object.entries(mismatches).map(([t, m]) => `${t} (expected ${m.expected} rows, restored ${m.actual ?? 'no table'})`);
      const what = [...tables, ...missing.map((e) => `extension ${e} missing`)].join(', ');
      await setAside(dir, { ...manifest, status: 'failed', verification });
      throw permanent(ErrorType.BackupVerificationFailed, `backup "${filename}" did not restore to what was dumped: ${what}; it was moved aside as ${filename}${FAILED_SUFFIX} and will not be offered for restore`, undefined, verification);
    }
    const verified: BackupManifest = { ...manifest, status: 'verified', verification };
    await writeFileAtomic(path.join(dir, manifestName(filename)), `${JSON.stringify(verified, null, 2)}\n`);
    return verified;
  } finally {
    await dropScratch(config, scratch);
  }
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

async function createScratch(config: Config, name: string): Promise<void> {
  const client = await connect(config.database).catch((err: unknown) => {
    throw databaseUnreachable(err, config);
  });
  try {
    await client.query(`CREATE DATABASE ${name} TEMPLATE template0`);
  } catch (err) {
    throw permanent(
      ErrorType.ScratchDatabaseUnavailable,
      `cannot create the scratch database ${name} to verify the backup (${(err as Error).message}); grant CREATEDB to ${config.database.user}, since a backup is only verified by restoring it`,
      err,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function dropScratch(config: Config, name: string): Promise<void> {
  await withClient(config.database, (c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).catch((err: unknown) => {
    Context.current().log.warn(`could not drop scratch database ${name}; drop it by hand`, { error: String(err) });
  });
}

async function restoreInto(config: Config, scratch: string, file: string, manifest: BackupManifest): Promise<void> {
  const ctx = Context.current();
  const env = libpqEnv(config.database, scratch);
  const counter = new HashCounter();
  const stop = every(2_000, () => ctx.heartbeat({ step: 'verify', bytes: counter.bytes }));
  try {
    if (manifest.format === 'custom') {
      checkSha(manifest, await sha256File(file, (bytes) => (counter.bytes = bytes)));
      await execa(pgToolPath('pg_restore', config.pgBinDir), ['--no-password', '--exit-on-error', '--jobs=2', `--dbname=${scratch}`, file], {
        env,
        extendEnv: false,
        cancelSignal: ctx.cancellationSignal,
      }).catch((err: unknown) => {
        throw restoreFailed(err, manifest);
      });
      return;
    }
    const psql = execa(pgToolPath('psql', config.pgBinDir), ['--no-password', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-o', '/dev/null'], {
      env,
      extendEnv: false,
      stdin: 'pipe',
      stdout: 'ignore',
      cancelSignal: ctx.cancellationSignal,
      maxBuffer: { stderr: 1024 * 1024 },
    });
    const fed = pipeline(createReadStream(file), counter, createGunzip(), psql.stdin).catch((err: unknown) => {
      psql.kill();
      throw err;
    });
    const [feed, run] = await Promise.allSettled([fed, psql]);
    if (feed.status === 'fulfilled' && run.status === 'fulfilled') {
      checkSha(manifest, counter.digest());
      return;
    }
    // Something stopped the restore part-way: read the whole file to tell corruption from a restore failure.
    checkSha(manifest, await sha256File(file));
    if (feed.status === 'rejected' && (feed.reason as NodeJS.ErrnoException).code?.startsWith('Z_')) {
      throw permanent(ErrorType.BackupCorrupted, `backup "${manifest.filename}" is not a valid gzip file (${(feed.reason as Error).message}); it was not restored anywhere but a scratch database`, feed.reason);
    }
    if (run.status === 'rejected') throw restoreFailed(run.reason, manifest);
    throw (feed as PromiseRejectedResult).reason;
  } catch (err) {
    const e = err as { type?: string };
    if (e.type === ErrorType.BackupCorrupted) await setAside(config.backup.dir, { ...manifest, status: 'failed' });
    throw err;
  } finally {
    stop();
  }
}

function checkSha(manifest: BackupManifest, actual: string): void {
  if (actual !== manifest.sha256) {
    throw permanent(ErrorType.BackupCorrupted, `backup "${manifest.filename}" failed its checksum (expected ${manifest.sha256.slice(0, 12)}…, got ${actual.slice(0, 12)}…); the file changed after it was written`);
  }
}

function restoreFailed(err: unknown, manifest: BackupManifest): Error {
  if (err instanceof ExecaError && err.isCanceled) return err;
  const stderr = err instanceof ExecaError ? String(err.stderr ?? '').trim().split('\n').slice(-5).join(' | ') : String(err);
  return permanent(ErrorType.BackupVerificationFailed, `backup "${manifest.filename}" does not restore: ${stderr}`, err);
}

/** Moves a backup that failed verification out of the catalog and records why in its manifest. */
async function setAside(dir: string, manifest: BackupManifest): Promise<void> {
  await writeFileAtomic(path.join(dir, manifestName(manifest.filename)), `${JSON.stringify(manifest, null, 2)}\n`);
  await fs.rename(path.join(dir, manifest.filename), path.join(dir, `${manifest.filename}${FAILED_SUFFIX}`)).catch(() => undefined);
}
