// pg_dump's run inside a backup: its output through the compressor (and age), SHA-256 and into the
// file, and in one pass (BACKUP_VERIFY=during_dump) also into the scratch restore; and what its
// failures mean. dump.ts around it holds the snapshot, the counts and the manifest.
import { createWriteStream, fdatasync, type WriteStream } from 'node:fs';
import type { Writable } from 'node:stream';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import type pg from 'pg';
import { execa, ExecaError } from 'execa';
import type { EncryptionInfo } from '../../backup/manifest';
import type { BackupFormat } from '../../backup/naming';
import type { Config } from '../../config';
import { ErrorType, permanent, transient } from '../../errors';
import { compressor } from '../compression';
import { encryptor, isAgeError } from '../encryption';
import { connectionError, connectionLost, LOST_IN_OUTPUT } from '../db';
import { diskError, isDiskError } from '../failures';
import { withClientTools } from '../clientTools';
import { libpqEnv, pgToolPath } from '../pgTools';
import { restoreLeg } from '../restoreFile';
import { every, HashCounter, sha256File, Tee } from '../stream';

/** A scratch database to restore the dump into as it is written (BACKUP_VERIFY=during_dump). */
export interface VerifyLeg {
  database: string;
  filename: string;
  /** The config whose `database` is the server the scratch database is on (openScratchServer). */
  server: Config;
}

/**
 * Runs pg_dump in the exported snapshot into `file`; resolves with its size and SHA-256 once pg_dump
 * exited 0 and the file is fsynced. With `verify`, the same compressed bytes also go, as they are
 * written, into a psql restore of the scratch database, at the pace of the slower of the two; the
 * pass succeeds only when both did and the file, read back after the fsync, hashes to what was
 * written. With encryption the restore takes the bytes before age encrypts them, so the worker
 * needs the public key only; a restore drill, on a host that holds the private key, proves the
 * file decrypts. A failure in either stops the other.
 */
export async function runPgDump(config: Config, snapshot: string, format: BackupFormat, file: string, abort: AbortSignal, snapshotSession: pg.Client, encryption: EncryptionInfo | null, verify?: VerifyLeg): Promise<{ bytes: number; sha256: string }> {
  const ctx = Context.current();
  config = await withClientTools(config);
  const args = ['--no-password', `--snapshot=${snapshot}`, ...(format === 'custom' ? ['--format=custom', `--compress=${config.backup.gzipLevel}`] : ['--format=plain'])];
  let dumpedWhole: () => Promise<void> = async () => undefined;
  // The scratch restore commits only what a pg_dump that exited 0 wrote.
  const leg = verify === undefined || format === 'custom' ? undefined : restoreLeg({ ...verify.server, pgBinDir: config.pgBinDir }, verify.database, { filename: verify.filename, format }, { step: 'verify', failureType: ErrorType.BackupVerificationFailed, target: 'scratch' }, () => dumpedWhole());
  const child = execa(pgToolPath('pg_dump', config.pgBinDir), args, {
    env: libpqEnv(config.database),
    extendEnv: false,
    buffer: { stdout: false, stderr: true },
    stdin: 'ignore',
    cancelSignal: AbortSignal.any([ctx.cancellationSignal, abort]),
    maxBuffer: { stderr: 1024 * 1024 },
  });
  const counter = new HashCounter();
  const out = createWriteStream(file, { flags: 'wx' });
  const flushing = flushAsWritten(out, file);
  const compress = compressor(config, format, ctx.cancellationSignal);
  // With encryption, the checksum and size are of the encrypted bytes: what is stored and uploaded.
  const toDisk: Writable[] = [...(encryption === null ? [] : [encryptor(encryption.recipients, ctx.cancellationSignal)]), counter, out];
  // Which part failed first: the others fail because it stopped them, and their errors say less.
  let first: 'pg_dump' | 'stream' | 'restore' | undefined;
  let tee: Tee | undefined;
  // The restore stopped taking bytes on its own (psql failed), before the tee, and so the dump, stopped.
  leg?.input.once('close', () => {
    if (!leg.input.writableFinished && tee?.destroyed === false) first ??= 'restore';
  });
  const fromDump = [child.stdout, ...(compress === undefined ? [] : [compress])];
  const run = pipeline as (...s: unknown[]) => Promise<void>;
  const stop = every(2_000, () => ctx.heartbeat({ step: 'dump', bytes: counter.bytes, ...(leg ? { verifying: true } : {}) }));
  const mark = <T>(part: typeof first, p: Promise<T>) =>
    p.catch((err: unknown) => {
      first ??= part;
      throw err;
    });
  try {
    // In one pass the compressed bytes go both to the disk (through age when encrypting) and into the restore.
    const streaming = leg === undefined ? run(...fromDump, ...toDisk) : Promise.all([run(...fromDump, (tee = new Tee([toDisk[0]!, leg.input]))), run(...toDisk)]).then(() => undefined);
    const streamed = mark('stream', streaming).catch((err: unknown) => {
      child.kill();
      throw err;
    });
    const dumped = mark('pg_dump', child);
    dumpedWhole = () => dumped.then(() => undefined);
    const restored = leg === undefined ? Promise.resolve() : mark('restore', leg.done);
    // Made durable and re-read while the restore is still building its indexes.
    const durable = Promise.all([streamed, dumped]).then(() => synced(file, counter, leg !== undefined, flushing));
    durable.catch(() => undefined);
    const [stream, dump, restore] = await Promise.allSettled([streamed, dumped, restored]);
    if (stream.status === 'fulfilled' && dump.status === 'fulfilled' && restore.status === 'fulfilled') return await durable;
    // Cancelled (by the workflow, or by a worker shutting down): the SDK reports the cancellation as such.
    if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
    // No zstd: both legs fail at once, and either may come first.
    const noZstd = [stream, restore].find((r) => r.status === 'rejected' && r.reason instanceof ExecaError && r.reason.command.startsWith('zstd') && r.reason.code === 'ENOENT') as PromiseRejectedResult | undefined;
    if (noZstd) throw compressError(noZstd.reason as ExecaError);
    // The disk failed (full, read-only): pg_dump was stopped for it, and says only "terminated by user".
    if (stream.status === 'rejected' && isDiskError(stream.reason)) throw streamError(stream.reason, file, out.bytesWritten);
    // pg_dump ended on its own (not killed because the stream stopped): its error is the cause.
    const dumpFailed = dump.status === 'rejected' && !(dump.reason instanceof ExecaError && dump.reason.signal);
    if (dumpFailed && (first !== 'restore' || stream.status === 'fulfilled')) throw dumpError(dump.reason as ExecaError, config, connectionError(snapshotSession));
    if (first === 'restore' && restore.status === 'rejected') throw restore.reason;
    if (stream.status === 'rejected') throw streamError(stream.reason, file, out.bytesWritten);
    if (dump.status === 'rejected') throw dumpError(dump.reason as ExecaError, config, connectionError(snapshotSession));
    throw (restore as PromiseRejectedResult).reason;
  } finally {
    stop();
    flushing.stop();
  }
}

/** Bytes written between two background flushes of the file being dumped. */
const FLUSH_EVERY = 64 * 1024 * 1024;

/** The background flushes of a file being written. */
export interface Flusher {
  /** Stops the background flushes. */
  stop(): void;
  /** Stops them, fsyncs the file, and fails (DumpFailed, retryable; BackupDirFull) if that or any background flush failed. */
  sync(): Promise<void>;
}

/**
 * Flushes the file to disk in the background every `every` bytes as it is written, so the fsync
 * that makes it durable at the end has only the last part left to write. A flush that fails is
 * kept (the first one): the kernel may report a write-back error once only, so the fsync at the
 * end could succeed although written pages were lost; sync() fails the pass with it.
 * `sync` is fs.fdatasync; a test hands in one that fails, as no disk here fails on demand.
 */
export function flushAsWritten(out: WriteStream, file: string, every = FLUSH_EVERY, sync: typeof fdatasync = fdatasync): Flusher {
  let flushedAt = 0;
  let busy = false;
  let stopped = false;
  let failed: Error | undefined;
  const onWrite = () => {
    const fd = (out as unknown as { fd: number | null }).fd;
    if (busy || stopped || fd === null || out.bytesWritten - flushedAt < every) return;
    busy = true;
    flushedAt = out.bytesWritten;
    sync(fd, (err) => {
      busy = false;
      if (err) failed ??= err;
    });
  };
  const timer = setInterval(onWrite, 250);
  const stop = () => {
    stopped = true;
    clearInterval(timer);
  };
  return {
    stop,
    async sync() {
      stop();
      const handle = await fs.open(file, 'r+');
      try {
        await handle.sync();
      } catch (err) {
        failed ??= err as Error;
      } finally {
        await handle.close();
      }
      if (failed !== undefined) throw flushFailed(failed, file);
    },
  };
}

/**
 * Makes the written file durable: a background flush that failed fails the pass (retried: the next
 * attempt writes the file again), and so does the final fsync. In one pass it then reads the file
 * back and checks it hashes to what was written. That read is served from the page cache, not
 * from the disk: it proves the file holds the bytes that were written and restored (nothing was
 * lost or reordered between the stream and the file), not that the disk's platters hold them;
 * that is the fsync's job, and only a later read after the cache was dropped (a restore drill)
 * proves the medium.
 */
async function synced(file: string, counter: HashCounter, reread: boolean, flushing: Flusher): Promise<{ bytes: number; sha256: string }> {
  await flushing.sync();
  const sha256 = counter.digest();
  if (reread) {
    const onDisk = await sha256File(file);
    if (onDisk !== sha256) {
      throw transient(ErrorType.BackupCorrupted, `the backup file written to ${path.dirname(file)} reads back different from what was written (SHA-256 ${onDisk.slice(0, 12)}… instead of ${sha256.slice(0, 12)}…): the file system returned other bytes; nothing was kept, the next attempt writes it again`);
    }
  }
  return { bytes: counter.bytes, sha256 };
}

/** A background flush of the file failed: its data may not be on disk, whatever the final fsync says. */
function flushFailed(err: Error, file: string): Error {
  if (isDiskError(err)) return diskError(err, path.dirname(file));
  return transient(ErrorType.DumpFailed, `flushing the backup file to disk in ${path.dirname(file)} failed (${(err as NodeJS.ErrnoException).code ?? 'error'}: ${err.message}): what was written may not be on the disk; nothing was kept, the next attempt writes it again; if it keeps happening, check the disk (dmesg)`, err);
}

/** The stream's own failure: zstd, age, or the disk (`written`: bytes stored when it failed). */
function streamError(err: unknown, file: string, written: number): Error {
  if (err instanceof ExecaError && err.command.startsWith('zstd')) return compressError(err);
  if (isAgeError(err)) return ageError(err);
  if ((err as { type?: string }).type !== undefined) return err as Error;
  return diskError(err, path.dirname(file), written);
}

function ageError(err: ExecaError): Error {
  if (err.isCanceled) return err;
  if (err.code === 'ENOENT') return permanent(ErrorType.DumpFailed, 'the age binary is not installed on this worker, so an encrypted backup cannot be written; install it (Debian: apt-get install age) and run again; no backup file was written', err);
  const stderr = String(err.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
  return transient(ErrorType.DumpFailed, `age ${err.signal ? `was killed by ${err.signal}` : `exited with code ${String(err.exitCode)}`}${stderr ? `: ${stderr}` : ''}; no backup file was written`, err);
}

function compressError(err: ExecaError): Error {
  if (err.isCanceled) return err;
  if (err.code === 'ENOENT') {
    return permanent(ErrorType.DumpFailed, 'zstd is not installed, so a plain_zstd backup cannot be made; install it (Debian: apt-get install zstd) or set BACKUP_FORMAT=plain_gzip', err);
  }
  const stderr = String(err.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
  return transient(ErrorType.DumpFailed, `zstd ${err.signal ? `was killed by ${err.signal}` : `exited with code ${String(err.exitCode)}`}${stderr ? `: ${stderr}` : ''}; no backup file was written`, err);
}

function dumpError(err: ExecaError, config: Config, snapshotLost: Error | undefined): Error {
  if (err.isCanceled) return err;
  const stderr = String(err.stderr ?? '').trim().split('\n').slice(-5).join(' | ');
  if (LOST_IN_OUTPUT.test(stderr)) return connectionLost(new Error(`pg_dump: ${stderr}`), config.database, config.database.database, 'pg_dump was running');
  // pg_dump could not import the snapshot because the session that exported it is gone.
  if (snapshotLost !== undefined && /invalid snapshot identifier/i.test(stderr)) return connectionLost(snapshotLost, config.database, config.database.database, 'pg_dump was starting');
  if (/connection to server .* failed|could not connect|server closed the connection/i.test(stderr)) {
    return transient(ErrorType.DatabaseUnreachable, `pg_dump lost the connection to ${config.database.host}:${config.database.port}: ${stderr}`, err);
  }
  const how = err.signal ? `was killed by ${err.signal}` : `exited with code ${String(err.exitCode)}`;
  return transient(ErrorType.DumpFailed, `pg_dump ${how}${stderr ? `: ${stderr}` : ''}; no backup file was written`, err);
}
