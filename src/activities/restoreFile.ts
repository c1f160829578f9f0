import { createReadStream } from 'node:fs';
import { hostname } from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { execa, ExecaError, type ResultPromise } from 'execa';
import type { BackupFormat } from '../backup/naming';
import type { Config } from '../config';
import { ErrorType, permanent } from '../errors';
import { decompressor, isDecompressionError } from './compression';
import { decryptionStages } from './encryption';
import { withClientTools } from './clientTools';
import { libpqEnv, pgToolPath } from './pgTools';
import { connectionLost, LOST_IN_OUTPUT, SESSION_TIMEOUTS_OPTIONS, withClient } from './db';
import { FOREIGN_EXTENSIONS_SQL, ForeignExtensionFilter, IN_PLACE_PREAMBLE } from './restore/inPlaceSql';
import { every, HashCounter, sha256File } from './stream';

/** A backup file to restore, and what it must hash to (null for Windmill-era files without manifest). */
export interface RestoreSource {
  filename: string;
  file: string;
  format: BackupFormat;
  sha256: string | null;
}

/**
 * Where a backup is restored, which decides how: a `scratch` database (verification) or a new
 * database `beside` the live one are nobody's yet and dropped on failure, so a custom-format file
 * may go through pg_restore --jobs; `in_place` is the live database, emptied first by the
 * in-place preamble in the same single transaction as the restore (never in parallel).
 */
export type RestoreTarget = 'scratch' | 'beside' | 'in_place';

/** How to restore. */
export interface RestoreOptions {
  /** Heartbeat label: "verify", "restore", "rollback". */
  step: string;
  /** Error type when the file is intact but does not restore. */
  failureType: ErrorType;
  target: RestoreTarget;
}

/**
 * Environment of a restoring psql or pg_restore: libpq's, plus no statement or idle-in-transaction
 * timeout (a role's or database's would end a long restore, or the one-pass restore waiting for the
 * dump's bytes, and blame the backup), and the maintenance_work_mem and parallel workers index builds get;
 * with `lockTimeoutSeconds` (in place: the live database has other sessions) a lock_timeout, so that a
 * lock held by an application fails the restore's transaction instead of holding it (and the run) for ever.
 */
export function restoreEnv(config: Config, database: string, lockTimeoutSeconds?: number): Record<string, string> {
  const env = libpqEnv(config.database, database);
  // HNSW builds slow down many times once the graph outgrows maintenance_work_mem (64 MB by default),
  // and build in parallel with max_parallel_maintenance_workers (at 1 GB on 2 cores: 130 s with 0, 80 s with the default 2).
  const options = [
    ...SESSION_TIMEOUTS_OPTIONS,
    ...(config.restore.maintenanceWorkMem !== undefined ? [`-c maintenance_work_mem=${config.restore.maintenanceWorkMem}`] : []),
    ...(config.restore.maintenanceWorkers !== undefined ? [`-c max_parallel_maintenance_workers=${config.restore.maintenanceWorkers}`] : []),
    ...(lockTimeoutSeconds !== undefined ? [`-c lock_timeout=${lockTimeoutSeconds}s`] : []),
  ];
  env.PGOPTIONS = options.join(' ');
  return env;
}

/**
 * psql replaying a backup in one transaction that it commits only when told. Not --single-transaction:
 * psql commits that one at the end of its input, wherever the input ends, even inside COPY data, so
 * a worker killed while feeding it would commit the part it had fed. Here psql runs BEGIN first, and
 * the COMMIT is the last thing fed (psqlFeed), once the whole file was read and checked; input that
 * ends any other way ends the session with the transaction open, and the server rolls it back.
 */
export const PSQL_IN_TRANSACTION = ['--no-password', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-o', '/dev/null', '-c', 'BEGIN'];

/**
 * Restores a backup into `database` in one transaction (psql with ON_ERROR_STOP, committed by
 * psqlFeed; or pg_restore --single-transaction): it either all lands or nothing does.
 * In place, a custom-format file is turned into SQL by
 * `pg_restore -f -` and replayed with the preamble by the same psql, so the preamble's drops and
 * the restore commit or roll back together. psql's input is ended only after the whole file was
 * read, decompressed and its SHA-256 matched: a feed that fails part-way kills psql, and its
 * transaction never commits a prefix. A damaged file fails with BackupCorrupted, an intact one
 * that does not restore with `failureType`.
 */
export async function restoreFileInto(config: Config, database: string, source: RestoreSource, options: RestoreOptions): Promise<void> {
  const ctx = Context.current();
  const inPlace = options.target === 'in_place';
  config = await withClientTools(config, database);
  const env = restoreEnv(config, database, inPlace ? config.restore.lockTimeoutSeconds : undefined);
  const counter = new HashCounter();
  // An age-encrypted file is decrypted between the checksum (of the stored bytes) and the decompressor; a missing or wrong key fails here, before psql starts.
  const decrypt = await decryptionStages(config, source.file, source.filename);
  // In place, as a role that does not own every extension (managed PostgreSQL), the dump's statements on those extensions are left out.
  const foreign = inPlace ? await withClient(config.database, (c) => c.query<{ extname: string }>(FOREIGN_EXTENSIONS_SQL), database).then((r) => r.rows.map((x) => x.extname)) : [];
  const filters = () => (foreign.length > 0 ? [new ForeignExtensionFilter(foreign)] : []);
  const stop = every(2_000, () => ctx.heartbeat({ step: options.step, bytes: counter.bytes }));
  try {
    if (source.format === 'custom' && !inPlace) {
      checkSha(source, await sha256File(source.file, (bytes) => (counter.bytes = bytes)));
      const jobs = config.restore.jobs;
      const how = jobs > 1 ? [`--jobs=${jobs}`] : ['--single-transaction'];
      await execa(pgToolPath('pg_restore', config.pgBinDir), ['--no-password', '--exit-on-error', ...how, `--dbname=${database}`, source.file], {
        env,
        extendEnv: false,
        cancelSignal: ctx.cancellationSignal,
      }).catch((err: unknown) => {
        throw restoreFailed(err, source, options, { config, database });
      });
      return;
    }
    const args = [...PSQL_IN_TRANSACTION];
    if (inPlace) args.push('-c', IN_PLACE_PREAMBLE);
    args.push('-f', '-');
    const psql = startPsql(config, env, args, ctx.cancellationSignal);
    let toSql: ResultPromise | undefined;
    let fed: Promise<void>;
    if (source.format === 'custom') {
      checkSha(source, await sha256File(source.file, (bytes) => (counter.bytes = bytes)));
      // pg_restore -f - writes the SQL it would run; it needs no connection.
      toSql = execa(pgToolPath('pg_restore', config.pgBinDir), ['-f', '-', source.file], {
        env,
        extendEnv: false,
        buffer: { stdout: false, stderr: true },
        maxBuffer: { stderr: 1024 * 1024 },
        cancelSignal: ctx.cancellationSignal,
      });
      const converted = toSql.then(() => undefined);
      // Awaited below; a psql that stops first leaves pg_restore failing on a closed pipe, which must not go unhandled.
      converted.catch(() => undefined);
      fed = pipeline([toSql.stdout!, ...filters(), psqlFeed(psql, () => converted)]);
    } else {
      fed = pipeline([
        createReadStream(source.file),
        counter,
        ...decrypt,
        decompressor(source.format, ctx.cancellationSignal)!,
        ...filters(),
        psqlFeed(psql, async () => checkSha(source, counter.digest())),
      ]);
    }
    const [feed, run, convert] = await Promise.allSettled([fed, psql, toSql ?? Promise.resolve()]);
    if (feed.status === 'fulfilled' && run.status === 'fulfilled' && convert.status === 'fulfilled') return;
    // Something stopped the restore part-way: read the whole file to tell corruption from a restore failure.
    checkSha(source, await sha256File(source.file));
    if (feed.status === 'rejected' && isDecompressionError(feed.reason)) {
      if ((feed.reason as NodeJS.ErrnoException).code === 'ENOENT') {
        throw permanent(ErrorType.RestoreFailed, `zstd is not installed, so "${source.filename}" cannot be read; install it (Debian: apt-get install zstd) and restore again`, feed.reason);
      }
      throw permanent(ErrorType.BackupCorrupted, `backup "${source.filename}" does not decompress (${(feed.reason as Error).message.split('\n')[0]}); nothing was restored from it`, feed.reason);
    }
    // psql's own failure first: pg_restore -f - then fails only because psql stopped reading (EPIPE), which says nothing of the cause.
    if (run.status === 'rejected' && !(run.reason instanceof ExecaError && run.reason.signal === 'SIGKILL' && feed.status === 'rejected')) throw restoreFailed(run.reason, source, options, { config, database });
    if (convert.status === 'rejected') throw restoreFailed(convert.reason, source, options, { config, database });
    throw (feed as PromiseRejectedResult).reason;
  } finally {
    stop();
  }
}

/** Bytes the restore leg may hold before the dump waits for it. */
const LEG_BUFFER = 8 * 1024 * 1024;

/** A restore fed while the backup is being written (verification in the same pass as the dump). */
export interface RestoreLeg {
  /** Takes the backup's bytes as stored (compressed, and encrypted when it is). */
  input: Writable;
  /** Settles once the restore ended: committed, or failed with what psql said (`failureType`). */
  done: Promise<void>;
}

/**
 * Restores a plain-format backup into the scratch database `database` from the compressed bytes
 * written to `input` (before any encryption: the dumping worker needs no private key), as they are
 * written: decompressed and replayed by psql in one transaction, committed once `complete()`
 * resolved (pg_dump exited 0: its output is whole). Destroying `input` (the dump failed) kills
 * psql; the caller drops the database.
 */
export function restoreLeg(config: Config, database: string, backup: { filename: string; format: 'plain_gzip' | 'plain_zstd' }, options: RestoreOptions, complete: () => Promise<void>): RestoreLeg {
  const ctx = Context.current();
  // config's client tools were chosen by the dump's caller (dumpDatabase) for the source: the verification server is of its major (or newer).
  const env = restoreEnv(config, database);
  const source = { ...backup, file: '', sha256: null };
  // A few megabytes of slack between the dump and psql, so that neither waits on the other chunk by chunk; bounded, whatever the database's size.
  const input = new PassThrough({ highWaterMark: LEG_BUFFER });
  const psql = startPsql(config, env, [...PSQL_IN_TRANSACTION, '-f', '-'], ctx.cancellationSignal);
  const fed = pipeline([input, decompressor(backup.format, ctx.cancellationSignal)!, psqlFeed(psql, complete)]);
  const done = Promise.allSettled([fed, psql]).then(([feed, run]) => {
    // psql's own failure (its stderr) comes before the broken pipe it caused; a psql killed because the feed failed is not.
    if (run.status === 'rejected' && !(run.reason instanceof ExecaError && run.reason.signal === 'SIGKILL' && feed.status === 'rejected')) throw restoreFailed(run.reason, source, options, { config, database });
    if (feed.status === 'rejected') throw feed.reason;
  });
  return { input, done };
}

/** psql restoring with `args`, its input a pipe for psqlFeed, its output dropped, its stderr kept for errors. */
function startPsql(config: Config, env: Record<string, string>, args: string[], signal: AbortSignal): ResultPromise {
  return execa(pgToolPath('psql', config.pgBinDir), args, { env, extendEnv: false, stdin: 'pipe', stdout: 'ignore', cancelSignal: signal, maxBuffer: { stderr: 1024 * 1024 } });
}

/**
 * The last stage of a feed into psql (started with PSQL_IN_TRANSACTION): passes data on with
 * backpressure, and only once `complete()` resolved (the source was read whole and checked) feeds
 * the COMMIT and ends psql's input. If the feed fails or `complete()` rejects, psql is killed before
 * it sees a COMMIT, so its transaction rolls back; so it does if this process dies.
 */
function psqlFeed(psql: ResultPromise, complete: () => Promise<void>): Writable {
  const stdin = psql.stdin!;
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      stdin.write(chunk, (err) => callback(err ?? null));
    },
    final(callback) {
      complete().then(
        () => stdin.end('\nCOMMIT;\n', () => callback()),
        (err: unknown) => {
          psql.kill('SIGKILL');
          callback(err as Error);
        },
      );
    },
    destroy(err, callback) {
      if (err) psql.kill('SIGKILL');
      callback(err);
    },
  });
}

function checkSha(source: RestoreSource, actual: string): void {
  if (source.sha256 !== null && actual !== source.sha256) {
    throw permanent(
      ErrorType.BackupCorrupted,
      // Per host (a BACKUP_DIR each), a step that moved to another worker may find there a different file of the same name: a dump another attempt of that run left unverified (the soak, seed 707).
      `backup "${source.filename}" failed its checksum on worker ${hostname()} (expected ${source.sha256.slice(0, 12)}…, got ${actual.slice(0, 12)}…): the file in ${path.dirname(source.file)} changed after it was written, or is another file of that name (with a BACKUP_DIR per host, one an earlier attempt left on this worker); "fbb list" shows the verified copies`,
    );
  }
}

/**
 * Why psql or pg_restore failed: the server ending the session or going away (an administrator's
 * pg_terminate_backend, a restart) is a retryable DatabaseConnectionLost that says nothing about the
 * backup; only an error in replaying the dump's own SQL is `failureType` ("does not restore").
 */
function restoreFailed(err: unknown, source: RestoreSource, options: RestoreOptions, into: { config: Config; database: string }): Error {
  if (err instanceof ExecaError && err.isCanceled) return err;
  const stderr = err instanceof ExecaError ? String(err.stderr ?? '').trim().split('\n').slice(-5).join(' | ') : String(err);
  const all = err instanceof ExecaError ? String(err.stderr ?? '').split('\n') : [];
  if (all.some((line) => LOST_IN_OUTPUT.test(line))) {
    // The lines that say why (FATAL: terminating connection due to ...), wherever psql printed them.
    const why = [...new Set(all.filter((line) => /FATAL/.test(line) || LOST_IN_OUTPUT.test(line)).map((line) => line.trim()))].slice(0, 3).join(' | ');
    const tool = (err as ExecaError).command.split(' ')[0]!.split('/').pop()!;
    return connectionLost(new Error(`${tool}: ${why}`, { cause: err }), into.config.database, into.database, `restoring backup "${source.filename}" into it`);
  }
  return permanent(options.failureType, `backup "${source.filename}" does not restore: ${stderr}`, err);
}
