// The compressors behind the plain formats: gzip in-process (Node's zlib), zstd as a child
// process (Node 20 has no zstd, and the binary compresses on every core).
import type { Duplex } from 'node:stream';
import { createGunzip, createGzip } from 'node:zlib';
import { execa } from 'execa';
import type { BackupFormat } from '../backup/naming';
import type { Config } from '../config';

/**
 * How zstd runs: it sees PATH only (ZSTD_CLEVEL or ZSTD_NBTHREADS in the worker's environment never
 * change our files), and its output streams through without being kept (execa buffers stdout by default).
 */
const zstdOptions = (signal: AbortSignal | undefined) =>
  ({
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    extendEnv: false,
    cancelSignal: signal,
    buffer: { stdout: false, stderr: true },
    maxBuffer: { stderr: 64 * 1024 },
  }) as const;

/**
 * zlib's output chunk. The default 16 kB means a hash update and a file write per 16 kB; with
 * 256 kB, pg_dump | gzip -1 + SHA-256 + file took 26.3 s instead of 30.8 s on the 1 GB sample
 * database (bare pg_dump | gzip -1 > file: 24.8 s).
 */
const ZLIB_CHUNK = 256 * 1024;

/** A transform from plain SQL to the bytes of a `format` file; undefined for custom (pg_dump compresses). */
export function compressor(config: Config, format: BackupFormat, signal?: AbortSignal): Duplex | undefined {
  switch (format) {
    case 'plain_gzip':
      return createGzip({ level: config.backup.gzipLevel, chunkSize: ZLIB_CHUNK });
    case 'plain_zstd':
      return zstd(['-q', '-c', `-${config.backup.zstdLevel}`, `-T${config.backup.zstdThreads}`], signal);
    case 'custom':
      return undefined;
  }
}

/** A transform from a `format` file's bytes back to plain SQL; undefined for custom (pg_restore reads it). */
export function decompressor(format: BackupFormat, signal?: AbortSignal): Duplex | undefined {
  switch (format) {
    case 'plain_gzip':
      return createGunzip({ chunkSize: ZLIB_CHUNK });
    case 'plain_zstd':
      return zstd(['-d', '-q', '-c'], signal);
    case 'custom':
      return undefined;
  }
}

/**
 * zstd as a duplex stream. Its failure reaches the stream (and so the pipeline); the process's own
 * promise is settled here, so a zstd that fails after its pipeline was torn down by another stage's
 * failure (a tee's other leg) is not an unhandled rejection.
 */
function zstd(args: string[], signal: AbortSignal | undefined): Duplex {
  const child = execa('zstd', args, zstdOptions(signal));
  child.catch(() => undefined);
  const duplex = child.duplex();
  // Its pipeline hears the failure through its own listeners; this one keeps a failure that comes after the pipeline was torn down from being uncaught.
  duplex.on('error', () => undefined);
  return duplex;
}

/** True when `err` came from a decompressor reading damaged data (zlib's Z_* codes, or zstd exiting non-zero). */
export function isDecompressionError(err: unknown): boolean {
  const e = err as { code?: unknown; command?: unknown };
  if (typeof e.code === 'string' && e.code.startsWith('Z_')) return true;
  return typeof e.command === 'string' && /^zstd\b/.test(e.command);
}
