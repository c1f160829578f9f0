import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Context } from '@temporalio/activity';
import type pg from 'pg';
import { execa } from 'execa';
import { manifestName, MANIFEST_VERSION, parseManifest, type BackupManifest, type EncryptionInfo, type SkippedStep } from '../../backup/manifest';
import { parseBackupName, type BackupFormat, type BackupType } from '../../backup/naming';
import type { Config } from '../../config';
import { ErrorType, permanent } from '../../errors';
import { claimScratch, type ScratchClaim } from '../scratchClaim';
import { encryptionFor, requireAgeBinary } from '../encryption';
import { recordClusterRoles } from '../roles';
import { connect, connectionLost, isConnectionLoss, withClient } from '../db';
import { databaseUnreachable, diskError } from '../failures';
import { withClientTools } from '../clientTools';
import { parseToolVersion, pgToolPath } from '../pgTools';
import { fsyncDir, writeFileAtomic } from '../stream';
import { columnOrderChanges } from './columnOrder';
import { optionalStep } from './optional';
import { countRows, listExtensions, referencedRoles, serverVersion, totalRows } from './inventory';
import { runPgDump, type VerifyLeg } from './pgDump';
import { createScratch, dropScratch, judgeRestored, scratchName, serverAnswers } from './verify';
import { openScratchServer, type ScratchNeeds, type ScratchServer } from '../verifyServer/target';

/** What to dump; the workflow fixes the name once, so a retried attempt writes the same file. */
export interface DumpRequest {
  filename: string;
  type: BackupType;
  format: BackupFormat;
  workflowId: string;
}

/**
 * pg_dump streamed through gzip and SHA-256 into a temporary file, with exact per-table row
 * counts taken in the same exported snapshot. With BACKUP_VERIFY=during_dump (the default) the
 * same bytes are restored into a scratch database as they are written and the restored copy is
 * judged against the counts: the manifest says "verified" at once. The file gets its final name only
 * after pg_dump exited 0, the data is fsynced and the manifest is written: a killed or failed dump
 * never leaves a file that looks like a backup.
 */
export async function dumpDatabase(config: Config, req: DumpRequest): Promise<BackupManifest> {
  const parsed = parseBackupName(req.filename);
  if (parsed === undefined || parsed.format !== req.format) {
    throw permanent(ErrorType.InvalidBackupInput, `"${req.filename}" is not a ${req.format} backup file name`);
  }
  const encryption = encryptionFor(config, req.filename, req.format);
  const dir = config.backup.dir;
  const final = path.join(dir, req.filename);
  const existing = await finishedEarlier(dir, req);
  if (existing) return existing;

  if (encryption !== null) await requireAgeBinary(req.filename);
  await prepareDir(dir, req.filename);
  const partial = path.join(dir, `.${req.filename}.partial-${randomBytes(4).toString('hex')}`);
  // Verified in the same pass: restored into a scratch database from the same bytes as they are written.
  // Not the custom format: pg_restore reads a pipe with one job only, and one pass measured no faster
  // than two (dump, then pg_restore --jobs from the file: 128.6 s against 127.8 s at 1 GB on 2 cores).
  let scratch = config.backup.verify === 'during_dump' && req.format !== 'custom' ? scratchName(config, req.filename) : undefined;
  const started = Date.now();
  let created = false;
  let server: ScratchServer | undefined;
  let claim: ScratchClaim | undefined;
  try {
    if (scratch !== undefined) {
      server = await openScratchServer(config, () => sourceNeeds(config, req.filename)).catch(dumpAlone);
      // Claimed while it is used (scratchClaim.ts); one left by a killed attempt at this same backup goes first.
      if (server !== undefined) claim = await claimScratch(server.config, scratch, ErrorType.BackupVerificationFailed);
      if (server !== undefined) await dropScratch(server.config, scratch);
      created = server !== undefined && (await createScratch(server.config, scratch).then(() => true, dumpAlone)) === true;
      if (!created) scratch = undefined;
    }
    const on = server?.config ?? config;
    const dumped = await dumpInSnapshot(config, req, partial, encryption, scratch === undefined ? undefined : { database: scratch, filename: req.filename, server: on });
    const verification = scratch === undefined ? null : await judgeRestored(on, scratch, dumped, 'restore_during_dump', started, partial);
    const manifest: BackupManifest = verification === null ? dumped : { ...dumped, status: 'verified', verification };
    await writeFileAtomic(path.join(dir, manifestName(req.filename)), `${JSON.stringify(manifest, null, 2)}\n`);
    await fs.rename(partial, final);
    await fsyncDir(dir);
    return manifest;
  } catch (err) {
    // The scratch database is named after the file (scratchName), and the next run's sweep finds it
    // by the files in BACKUP_DIR: while it may still exist (the server is down), the partial file is
    // kept, emptied, as its record; cleanLeftovers drops the database, then removes the file.
    const dropped = created ? await dropScratch(server!.config, scratch!) : true;
    created = false;
    if (dropped) await fs.rm(partial, { force: true });
    else await fs.truncate(partial, 0).catch(() => fs.rm(partial, { force: true }));
    // A restore or count in the scratch database that stopped because the server went away says nothing about the backup.
    const type = (err as { type?: string }).type;
    if (scratch !== undefined && server !== undefined && type !== ErrorType.DatabaseConnectionLost && type !== ErrorType.DatabaseUnreachable && !(await serverAnswers(server.config))) {
      throw connectionLost(err, server.config.database, scratch, 'restoring the backup into it as it was written');
    }
    throw err;
  } finally {
    if (created && scratch !== undefined) await dropScratch(server!.config, scratch);
    await claim?.release();
    server?.release();
  }
}

/**
 * A scratch database that cannot be had for a reason retrying cannot change (a role without
 * CREATEDB on the source, a verification server without an extension the database uses): the
 * backup is dumped alone, and the verification step then says what it could do. Anything else is thrown (retried).
 */
function dumpAlone(err: unknown): undefined {
  const failure = err as { type?: string; nonRetryable?: boolean };
  if ((failure.type === ErrorType.ScratchDatabaseUnavailable || failure.type === ErrorType.VerifyServerLacksExtensions) && failure.nonRetryable === true) return undefined;
  throw err;
}

/** What the dump will need of the server it is restored into, read from the source before it starts. */
async function sourceNeeds(config: Config, filename: string): Promise<ScratchNeeds> {
  return withClient(config.database, async (c) => ({ filename, extensions: (await listExtensions(c)).map((e) => e.name), roles: await referencedRoles(c).catch(() => []) })).catch((err: unknown) => {
    throw (err as { type?: string }).type === undefined ? databaseUnreachable(err, config) : err;
  });
}

/**
 * pg_dump into `partial` in an exported snapshot, with every table counted in that snapshot (and,
 * with `verify`, restored into its scratch database as it is written); the manifest of what it wrote, status "dumped".
 */
async function dumpInSnapshot(config: Config, req: DumpRequest, partial: string, encryption: EncryptionInfo | null, verify: VerifyLeg | undefined): Promise<BackupManifest> {
  const db = config.database;
  const client = await connect(db).catch((err: unknown) => {
    throw databaseUnreachable(err, config);
  });
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY');
    // The session waits, idle in its transaction, while pg_dump runs: a database's (or role's) idle,
    // statement or lock timeout must not end it, as pg_dump sets them off for its own session.
    await client.query('SET LOCAL idle_in_transaction_session_timeout = 0; SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0');
    const { rows } = await client.query<{ snapshot: string; now: Date }>('SELECT pg_export_snapshot() AS snapshot, now() AS now');
    const snapshot = rows[0]!.snapshot;
    const createdAt = rows[0]!.now;
    const version = await serverVersion(client);
    // Optional steps: a failure is recorded in the manifest, not a failed backup.
    const skipped: SkippedStep[] = [];
    const extensions = await optionalStep(client, 'extensions', () => listExtensions(client), [], skipped);
    const roles = await optionalStep(client, 'roles', () => referencedRoles(client), [], skipped);
    const clusterRoles = await optionalStep(client, 'cluster_roles', () => recordClusterRoles(client, roles, encryption), null, skipped);
    const columnOrder = await optionalStep(client, 'column_order', () => columnOrderChanges(client), [], skipped);
    const pgDumpVersion = await toolVersion(config);

    // Counted while pg_dump runs, in the snapshot pg_dump uses: the same rows as in the file.
    const { written, counts } = await dumpAndCount(config, client, snapshot, req.format, partial, encryption, verify);
    return {
      manifest_version: MANIFEST_VERSION,
      filename: req.filename,
      type: req.type,
      format: req.format,
      status: 'dumped',
      created_at: createdAt.toISOString(),
      database: db.database,
      server_version: version,
      pg_dump_version: pgDumpVersion,
      size_bytes: written.bytes,
      sha256: written.sha256,
      tables_backed_up: Object.keys(counts).length,
      total_rows: totalRows(counts),
      table_details: counts,
      extensions,
      roles,
      verification: null,
      workflow_id: req.workflowId,
      encryption,
      cluster_roles: clusterRoles,
      column_order: columnOrder,
      ...(skipped.length > 0 ? { skipped_steps: skipped } : {}),
    };
  } catch (err) {
    throw isConnectionLoss(err) ? connectionLost(err, db, db.database, 'dumping it') : err;
  } finally {
    // The snapshot is released as soon as the dump is written, before the restored copy is judged.
    await client.query('ROLLBACK').catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

/**
 * pg_dump and the row count side by side; settles only when both have ended. A count that fails
 * stops pg_dump (its partial file is about to be removed), and reports why. A pg_dump that fails,
 * or a cancelled activity (a worker shutting down), stops the count: a count of a large table, or
 * of one another session has locked, would otherwise hold the cancellation up.
 */
async function dumpAndCount(config: Config, client: pg.Client, snapshot: string, format: BackupFormat, partial: string, encryption: EncryptionInfo | null, verify: VerifyLeg | undefined) {
  const stop = new AbortController();
  const cancelled = Context.current().cancellationSignal;
  let countStopped = false;
  const stopCount = () => {
    if (countStopped) return;
    countStopped = true;
    void cancelQueries(config, client);
  };
  const counting = countRows(client, { heartbeat: false }).catch((err: unknown) => {
    if (countStopped) throw err;
    stop.abort();
    throw isConnectionLoss(err) ? connectionLost(err, config.database, config.database.database, "counting rows in the dump's snapshot") : err;
  });
  cancelled.addEventListener('abort', stopCount, { once: true });
  try {
    const dumping = runPgDump(config, snapshot, format, partial, stop.signal, client, encryption, verify);
    dumping.catch(stopCount);
    const [written, counts] = await Promise.allSettled([dumping, counting]);
    if (counts.status === 'rejected' && countStopped && written.status === 'fulfilled') throw cancelled.reason ?? counts.reason;
    if (counts.status === 'rejected' && (stop.signal.aborted || written.status === 'fulfilled')) throw counts.reason;
    if (written.status === 'rejected') throw written.reason;
    if (counts.status === 'rejected') throw counts.reason;
    return { written: written.value, counts: counts.value };
  } finally {
    cancelled.removeEventListener('abort', stopCount);
  }
}

/** Cancels what the snapshot session is running, from a session of its own; a server that is gone has nothing to cancel. */
async function cancelQueries(config: Config, session: pg.Client): Promise<void> {
  const pid = (session as unknown as { processID?: number }).processID;
  if (pid === undefined) return;
  await withClient(config.database, (c) => c.query('SELECT pg_cancel_backend($1)', [pid]), config.database.maintenanceDatabase).catch(() => undefined);
}

/** A retry after the file was completed (the worker died before reporting) returns the same result. */
async function finishedEarlier(dir: string, req: DumpRequest): Promise<BackupManifest | undefined> {
  try {
    const [text, stat] = await Promise.all([fs.readFile(path.join(dir, manifestName(req.filename)), 'utf8'), fs.stat(path.join(dir, req.filename))]);
    const manifest = parseManifest(text, manifestName(req.filename));
    return manifest.workflow_id === req.workflowId && manifest.size_bytes === stat.size ? manifest : undefined;
  } catch {
    return undefined;
  }
}

/** Creates the directory and removes partial files an earlier, killed attempt left behind. */
async function prepareDir(dir: string, filename: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
    for (const name of await fs.readdir(dir)) {
      if (name.startsWith(`.${filename}.partial-`)) await fs.rm(path.join(dir, name), { force: true });
    }
  } catch (err) {
    throw diskError(err, dir);
  }
}

async function toolVersion(config: Config): Promise<string> {
  const { stdout } = await execa(pgToolPath('pg_dump', (await withClientTools(config)).pgBinDir), ['--version']);
  return parseToolVersion(stdout)?.version ?? stdout.trim();
}
