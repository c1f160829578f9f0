// One base backup: pg_basebackup's tar stream through gzip (and age), SHA-256 and into a temporary
// file, renamed into place only after pg_basebackup exited 0, the data is fsynced and the manifest,
// PostgreSQL's backup_manifest and the checksum sidecar are written: a killed backup leaves no file
// that looks like a backup.
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { Context } from '@temporalio/activity';
import { execa, ExecaError } from 'execa';
import type { ClientBase } from 'pg';
import { lastLines } from '../../format';
import { BASE_MANIFEST_VERSION, walRangeOf, type BaseBackupManifest } from '../../basebackup/manifest';
import { BASE_MANIFEST_SUFFIX, baseDir, parseBaseBackupName, PG_MANIFEST_SUFFIX, SHA256_SUFFIX } from '../../basebackup/naming';
import type { Config } from '../../config';
import { ErrorType, permanent, transient } from '../../errors';
import { countRows } from '../backup/inventory';
import { withClientTools } from '../clientTools';
import { withClient } from '../db';
import { encryptor, requireAgeBinary } from '../encryption';
import { databaseUnreachable, diskError, isDiskError } from '../failures';
import { libpqEnv } from '../pgTools';
import { every, fsyncDir, HashCounter, writeFileAtomic } from '../stream';
import { readBaseManifests, serverFacts, type ServerFacts } from './facts';
import { TarTap } from './tarTap';

/** What to back up; the workflow fixes the name once, so a retried attempt writes the same file. */
export interface BaseBackupRequest {
  filename: string;
  workflowId: string;
  /** Incremental against the newest earlier backup, where PostgreSQL (17+, summarize_wal=on) allows it. */
  incremental: boolean;
}

/** Takes the base backup `req.filename` into BACKUP_DIR/base/<sysid>/; a retry after it was finished returns the same manifest. */
export async function takeBaseBackup(config: Config, req: BaseBackupRequest): Promise<BaseBackupManifest> {
  const name = parseBaseBackupName(req.filename);
  const encrypted = config.backup.ageRecipients.length > 0;
  if (name === undefined || name.encrypted !== encrypted) {
    throw permanent(ErrorType.InvalidBackupInput, `"${req.filename}" is not a base backup name for this worker (expected <prefix>_base_<YYYYMMDD_HHMMSS>.tar.gz${encrypted ? '.age, as BACKUP_AGE_RECIPIENTS is set' : ''}); nothing was written`);
  }
  if (encrypted) await requireAgeBinary(req.filename);
  config = await withClientTools(config);
  const facts = await serverFacts(config);
  const dir = path.join(config.backup.dir, baseDir(facts.system_identifier));
  const final = path.join(dir, req.filename);
  const earlier = (await readBaseManifests(dir)).find((m) => m.filename === req.filename && m.workflow_id === req.workflowId);
  if (earlier !== undefined && (await fs.stat(final).then((s) => s.size === earlier.size_bytes, () => false))) return earlier;

  await prepareDir(dir, req.filename);
  const { parent, note } = await chooseParent(dir, facts, req.incremental);
  const partial = path.join(dir, `.${req.filename}.partial-${randomBytes(4).toString('hex')}`);
  try {
    const startTime = await clock(config);
    const written = await runPgBasebackup(config, { partial, label: req.filename, parentManifest: parent === undefined ? undefined : path.join(dir, `${parent.filename}${PG_MANIFEST_SUFFIX}`) });
    const pgManifest = written.captured.get('backup_manifest');
    if (pgManifest === undefined) throw transient(ErrorType.BaseBackupFailed, `pg_basebackup's stream for ${req.filename} held no backup_manifest; nothing was kept`);
    const range = walRangeOf(pgManifest.toString('utf8'));
    const { endTime, counts, countsAt } = await withClient(config.database, async (c) => ({ endTime: await clock(config), ...(await countInSnapshot(c)) })).catch((err: unknown) => {
      throw databaseUnreachable(err, config);
    });
    const manifest: BaseBackupManifest = {
      manifest_version: BASE_MANIFEST_VERSION,
      kind: 'base_backup',
      filename: req.filename,
      backup_type: parent === undefined ? 'full' : 'incremental',
      parent: parent?.filename ?? null,
      system_identifier: facts.system_identifier,
      pg_major: facts.major,
      server_version: facts.server_version,
      timeline: range.timeline,
      start_lsn: range.start_lsn,
      end_lsn: range.end_lsn,
      start_time: startTime,
      end_time: endTime,
      wal_segment_bytes: facts.wal_segment_bytes,
      size_bytes: written.bytes,
      sha256: written.sha256,
      table_details: counts,
      database: config.database.database,
      pg_backup_manifest: `${req.filename}${PG_MANIFEST_SUFFIX}`,
      encryption: encrypted ? { format: 'age', recipients: [...config.backup.ageRecipients] } : null,
      workflow_id: req.workflowId,
      ...(note === undefined ? {} : { note }),
      counts_at: countsAt,
      verification: null,
    };
    await writeFileAtomic(path.join(dir, manifest.pg_backup_manifest), pgManifest);
    await writeFileAtomic(path.join(dir, `${req.filename}${SHA256_SUFFIX}`), `${written.sha256}\n`);
    await writeFileAtomic(path.join(dir, `${req.filename}${BASE_MANIFEST_SUFFIX}`), `${JSON.stringify(manifest, null, 2)}\n`);
    await fs.rename(partial, final);
    await fsyncDir(dir);
    return manifest;
  } catch (err) {
    await fs.rm(partial, { force: true });
    throw isDiskError(err) ? diskError(err, dir) : err;
  }
}

/** pg_basebackup -D - -Ft -X none (the WAL comes from the archive) | tar tap | gzip | [age] | SHA-256 | file, fsynced. */
async function runPgBasebackup(config: Config, run: { partial: string; label: string; parentManifest: string | undefined }): Promise<{ bytes: number; sha256: string; captured: Map<string, Buffer> }> {
  const ctx = Context.current();
  const args = ['-D', '-', '-Ft', '-X', 'none', '-c', 'fast', '--no-password', '-l', run.label, ...(run.parentManifest === undefined ? [] : [`--incremental=${run.parentManifest}`])];
  const child = execa(path.join(config.pgBinDir!, 'pg_basebackup'), args, {
    env: libpqEnv(config.database, config.database.maintenanceDatabase),
    extendEnv: false,
    buffer: { stdout: false, stderr: true },
    stdin: 'ignore',
    cancelSignal: ctx.cancellationSignal,
    maxBuffer: { stderr: 1024 * 1024 },
  });
  const tap = new TarTap(['backup_label', 'backup_manifest']);
  const counter = new HashCounter();
  const out = createWriteStream(run.partial, { flags: 'wx', mode: 0o600 });
  const stop = every(2_000, () => ctx.heartbeat({ step: 'pg_basebackup', bytes: counter.bytes }));
  try {
    const stages = [tap, createGzip({ level: config.backup.gzipLevel, chunkSize: 256 * 1024 }), ...(config.backup.ageRecipients.length > 0 ? [encryptor(config.backup.ageRecipients, ctx.cancellationSignal)] : []), counter, out];
    await Promise.all([pipeline(child.stdout, ...(stages as [typeof tap])), child]);
  } catch (err) {
    throw err instanceof ExecaError && /pg_basebackup/.test(err.command) ? basebackupFailure(err) : err;
  } finally {
    stop();
  }
  const handle = await fs.open(run.partial, 'r');
  await handle.sync().finally(() => handle.close());
  return { bytes: counter.bytes, sha256: counter.digest(), captured: tap.captured };
}

/** What pg_basebackup's failure means: a missing privilege or pg_hba line is not fixed by retrying. */
function basebackupFailure(err: ExecaError): Error {
  const stderr = lastLines(err.stderr ?? '', 3);
  const how = err.signal ? `was killed by ${err.signal}` : `exited with code ${String(err.exitCode)}`;
  if (/REPLICATION|no pg_hba\.conf entry for replication|password authentication failed|incremental backups|summarize_wal/i.test(stderr)) {
    return permanent(ErrorType.BaseBackupFailed, `pg_basebackup ${how}: ${stderr}; give the role REPLICATION and a pg_hba "replication" line (fbb doctor says how); no base backup was written`, err);
  }
  return transient(ErrorType.BaseBackupFailed, `pg_basebackup ${how}${stderr ? `: ${stderr}` : ''}; no base backup was written`, err);
}

/** For an incremental backup, the newest earlier one of this server with PostgreSQL's manifest kept; or why it is taken full. */
async function chooseParent(dir: string, facts: ServerFacts, incremental: boolean): Promise<{ parent?: BaseBackupManifest; note?: string }> {
  if (!incremental) return {};
  if (facts.major < 17) return { note: `PostgreSQL ${facts.major} has no incremental base backups (17 and later do); taken full` };
  if (!facts.summarize_wal) return { note: 'summarize_wal is off on the server (incremental base backups need it on); taken full' };
  const previous = (await readBaseManifests(dir)).sort((a, b) => b.end_time.localeCompare(a.end_time))[0];
  if (previous === undefined) return { note: 'no earlier base backup of this server to be incremental to; taken full' };
  return { parent: previous };
}

/** A partial file of another base backup untouched this long belongs to a run that died: a live one is written to all the time. */
const STALE_PARTIAL_MS = 10 * 60_000;

/** Creates the directory and removes partial files an earlier, killed attempt (of this backup, or a stale one of another) left behind. */
async function prepareDir(dir: string, filename: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
    for (const f of await fs.readdir(dir)) {
      if (!/^\..+\.partial-[0-9a-f]{8}$/.test(f)) continue;
      const stale = await fs.stat(path.join(dir, f)).then((s) => Date.now() - s.mtimeMs > STALE_PARTIAL_MS, () => false);
      if (f.startsWith(`.${filename}.partial-`) || stale) await fs.rm(path.join(dir, f), { force: true });
    }
  } catch (err) {
    throw diskError(err, dir);
  }
}

/**
 * Counts every table in one REPEATABLE READ snapshot, and reads in the statement that takes that
 * snapshot the WAL insert position (so it is read after the snapshot: every transaction the snapshot
 * sees wrote its commit record before it). Then commits a transaction of its own with an XID: a commit
 * record after that position, so that a recovery to it finds a record to stop before.
 */
async function countInSnapshot(c: ClientBase): Promise<{ counts: Record<string, number>; countsAt: { lsn: string; snapshot: string } }> {
  await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  let countsAt: { lsn: string; snapshot: string };
  let counts: Record<string, number>;
  try {
    const { rows } = await c.query<{ snapshot: string; lsn: string }>('SELECT pg_current_snapshot()::text AS snapshot, pg_current_wal_insert_lsn()::text AS lsn');
    countsAt = { lsn: rows[0]!.lsn, snapshot: rows[0]!.snapshot };
    counts = await countRows(c);
  } finally {
    await c.query('COMMIT');
  }
  // Local only: a synchronous standby that is down must not hold the backup up here.
  await c.query("BEGIN; SET LOCAL synchronous_commit = local; SELECT pg_current_xact_id(); COMMIT");
  return { counts, countsAt };
}

/** The database server's clock, UTC ISO 8601. */
async function clock(config: Config): Promise<string> {
  return withClient(config.database, async (c) => (await c.query<{ now: Date }>('SELECT clock_timestamp() AS now')).rows[0]!.now.toISOString());
}
