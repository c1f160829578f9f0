// pg_dump's run inside a backup: its output through the compressor (and age), SHA-256 and into the
// file, and in one pass (BACKUP_VERIFY=during_dump) also into the scratch restore; and what its
// failures mean. dump.ts around it holds the snapshot, the counts and the manifest.
import { createWriteStream, fdatasync, type WriteStream } from 'node:fs';
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
import { encryptor } from '../encryption';
import { connectionError, connectionLost } from '../db';
import { diskError } from '../failures';
import { withClientTools } from '../clientTools';
import { libpqEnv, pgToolPath } from '../pgTools';
import { restoreLeg } from '../restoreFile';
import { every, HashCounter, sha256File, Tee } from '../stream';

/** A scratch database to restore the dump into as it is written (BACKUP_VERIFY=during_dump). */
export interface VerifyLeg {
  database: string;
  filename: string;
}

/**
 * Runs pg_dump in the exported snapshot into `file`; resolves with its size and SHA-256 once pg_dump
 * exited 0 and the file is fsynced. With `verify`, the same bytes also go, as they are written,
 * into a psql restore of the scratch database, at the pace of the slower of the two; the pass
 * succeeds only when both did and the file, re-read from disk after the fsync, hashes to what was
 * restored. A failure in either stops the other.
 */
export async function runPgDump(config: Config, snapshot: string, format: BackupFormat, file: string, abort: AbortSignal, snapshotSession: pg.Client, encryption: EncryptionInfo | null, verify?: VerifyLeg): Promise<{ bytes: number; sha256: string }> {
  const ctx = Context.current();
  config = await withClientTools(config);
  const args = ['--no-password', `--snapshot=${snapshot}`, ...(format === 'custom' ? ['--format=custom', `--compress=${config.backup.gzipLevel}`] : ['--format=plain'])];
  let dumpedWhole: () => Promise<void> = async () => undefined;
  // The scratch restore commits only what a pg_dump that exited 0 wrote.
  const leg = verify === undefined || format === 'custom' ? undefined : await restoreLeg(config, verify.database, { filename: verify.filename, format, encrypted: encryption !== null }, { step: 'verify', failureType: ErrorType.BackupVerificationFailed, target: 'scratch' }, () => dumpedWhole());
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
  const flushing = flushAsWritten(out);
  const compress = compressor(config, format, ctx.cancellationSignal);
  // With encryption, the checksum and size are of the encrypted bytes: what is stored, uploaded and, in one pass, restored.
  const encrypt = encryption === null ? [] : [encryptor(encryption.recipients)];
  // Which part failed first: the others fail because it stopped them, and their errors say less.
  let first: 'pg_dump' | 'stream' | 'restore' | undefined;
  let tee: Tee | undefined;
  // The restore stopped taking bytes on its own (psql failed), before the tee, and so the dump, stopped.
  leg?.input.once('close', () => {
    if (!leg.input.writableFinished && tee?.destroyed === false) first ??= 'restore';
  });
  const sink = leg === undefined ? out : (tee = new Tee([out, leg.input]));
  const stages = [child.stdout, ...(compress === undefined ? [] : [compress]), ...encrypt, counter, sink];
  const stop = every(2_000, () => ctx.heartbeat({ step: 'dump', bytes: counter.bytes, ...(leg ? { verifying: true } : {}) }));
  const mark = <T>(part: typeof first, p: Promise<T>) =>
    p.catch((err: unknown) => {
      first ??= part;
      throw err;
    });
  try {
    const streamed = mark('stream', (pipeline as (...s: unknown[]) => Promise<void>)(...stages)).catch((err: unknown) => {
      child.kill();
      throw err;
    });
    const dumped = mark('pg_dump', child);
    dumpedWhole = () => dumped.then(() => undefined);
    const restored = leg === undefined ? Promise.resolve() : mark('restore', leg.done);
    // Made durable and re-read while the restore is still building its indexes.
    const durable = Promise.all([streamed, dumped]).then(() => synced(file, counter, leg !== undefined));
    durable.catch(() => undefined);
    const [stream, dump, restore] = await Promise.allSettled([streamed, dumped, restored]);
    if (stream.status === 'fulfilled' && dump.status === 'fulfilled' && restore.status === 'fulfilled') return await durable;
    // Cancelled (by the workflow, or by a worker shutting down): the SDK reports the cancellation as such.
    if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason ?? new Error('cancelled');
    // No zstd: both legs fail at once, and either may come first.
    const noZstd = [stream, restore].find((r) => r.status === 'rejected' && r.reason instanceof ExecaError && r.reason.command.startsWith('zstd') && r.reason.code === 'ENOENT') as PromiseRejectedResult | undefined;
    if (noZstd) throw compressError(noZstd.reason as ExecaError);
    // pg_dump ended on its own (not killed because the stream stopped): its error is the cause.
    const dumpFailed = dump.status === 'rejected' && !(dump.reason instanceof ExecaError && dump.reason.signal);
    if (dumpFailed && (first !== 'restore' || stream.status === 'fulfilled')) throw dumpError(dump.reason as ExecaError, config, connectionError(snapshotSession));
    if (first === 'restore' && restore.status === 'rejected') throw restore.reason;
    if (stream.status === 'rejected') throw streamError(stream.reason, file);
    if (dump.status === 'rejected') throw dumpError(dump.reason as ExecaError, config, connectionError(snapshotSession));
    throw (restore as PromiseRejectedResult).reason;
  } finally {
    stop();
    flushing.stop();
  }
}

/** Bytes written between two background flushes of the file being dumped. */
const FLUSH_EVERY = 64 * 1024 * 1024;

/**
 * Flushes the file to disk in the background every FLUSH_EVERY bytes as it is written, so the
 * fsync that makes it durable at the end has only the last part left to write (400 MB took 0.6 s).
 */
function flushAsWritten(out: WriteStream): { stop(): void } {
  let flushedAt = 0;
  let busy = false;
  let stopped = false;
  const onWrite = () => {
    const fd = (out as unknown as { fd: number | null }).fd;
    if (busy || stopped || fd === null || out.bytesWritten - flushedAt < FLUSH_EVERY) return;
    busy = true;
    flushedAt = out.bytesWritten;
    fdatasync(fd, () => (busy = false));
  };
  const timer = setInterval(onWrite, 250);
  return {
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** Makes the written file durable; in one pass, re-reads it and checks it hashes to what was restored. */
async function synced(file: string, counter: HashCounter, reread: boolean): Promise<{ bytes: number; sha256: string }> {
  const handle = await fs.open(file, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  const sha256 = counter.digest();
  if (reread) {
    const onDisk = await sha256File(file);
    if (onDisk !== sha256) {
      throw transient(ErrorType.BackupCorrupted, `the backup file written to ${path.dirname(file)} reads back different from what was written and restored (SHA-256 ${onDisk.slice(0, 12)}… instead of ${sha256.slice(0, 12)}…): the disk returned other bytes; nothing was kept, the next attempt writes it again`);
    }
  }
  return { bytes: counter.bytes, sha256 };
}

/** The stream's own failure: zstd, or the disk. */
function streamError(err: unknown, file: string): Error {
  if (err instanceof ExecaError && err.command.startsWith('zstd')) return compressError(err);
  if ((err as { type?: string }).type !== undefined) return err as Error;
  return diskError(err, path.dirname(file));
}

function compressError(err: ExecaError): Error {
  if (err.isCanceled) return err;
  if (err.code === 'ENOENT') {
    return permanent(ErrorType.DumpFailed, 'zstd is not installed, so a plain_zstd backup cannot be made; install it (Debian: apt-get install zstd) or set BACKUP_FORMAT=plain_gzip', err);
  }
  const stderr = String(err.stderr ?? '').trim().split('\n').slice(-3).join(' | ');
  return transient(ErrorType.DumpFailed, `zstd ${err.signal ? `was killed by ${err.signal}` : `exited with code ${String(err.exitCode)}`}${stderr ? `: ${stderr}` : ''}; no backup file was written`, err);
}

const PG_DUMP_LOST = /server closed the connection unexpectedly|terminating connection|connection to server was lost|could not receive data from server|SSL SYSCALL error/i;

function dumpError(err: ExecaError, config: Config, snapshotLost: Error | undefined): Error {
  if (err.isCanceled) return err;
  const stderr = String(err.stderr ?? '').trim().split('\n').slice(-5).join(' | ');
  if (PG_DUMP_LOST.test(stderr)) return connectionLost(new Error(`pg_dump: ${stderr}`), config.database, config.database.database, 'pg_dump was running');
  // pg_dump could not import the snapshot because the session that exported it is gone.
  if (snapshotLost !== undefined && /invalid snapshot identifier/i.test(stderr)) return connectionLost(snapshotLost, config.database, config.database.database, 'pg_dump was starting');
  if (/connection to server .* failed|could not connect|server closed the connection/i.test(stderr)) {
    return transient(ErrorType.DatabaseUnreachable, `pg_dump lost the connection to ${config.database.host}:${config.database.port}: ${stderr}`, err);
  }
  const how = err.signal ? `was killed by ${err.signal}` : `exited with code ${String(err.exitCode)}`;
  return transient(ErrorType.DumpFailed, `pg_dump ${how}${stderr ? `: ${stderr}` : ''}; no backup file was written`, err);
}
