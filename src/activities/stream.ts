import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform, Writable, type TransformCallback } from 'node:stream';
import { ErrorType, permanent } from '../errors';

/** A pass-through that counts bytes and computes SHA-256 of what flows through it. */
export class HashCounter extends Transform {
  private readonly hash = createHash('sha256');
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    callback(null, chunk);
  }

  /** Hex digest; call once, after the stream ended. */
  digest(): string {
    return this.hash.digest('hex');
  }
}

/** SHA-256 of a whole file, streamed; `onBytes` hears how far it got. */
export async function sha256File(file: string, onBytes?: (bytes: number) => void): Promise<string> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    onBytes?.(bytes);
  }
  return hash.digest('hex');
}

/**
 * Writes `data` to `file` atomically: a temporary name, fsync, rename, fsync of the directory.
 * On failure the temporary file is removed; a full disk (ENOSPC, EDQUOT) is a non-retryable
 * BackupDirFull naming the directory and the file.
 */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const dir = path.dirname(file);
  const tmp = `${dir}/.${path.basename(file)}.tmp-${process.pid}-${Date.now()}`;
  try {
    const handle = await fs.open(tmp, 'w');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw permanent(ErrorType.BackupDirFull, `${dir} is full (${code}) while writing ${path.basename(file)} (${Buffer.byteLength(data)} bytes); free space there (or point BACKUP_DIR elsewhere) and run again`, err);
    }
    throw err;
  }
  await fsyncDir(dir);
}

/** Makes a rename in `dir` durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** Calls `beat` every `ms` until the returned stop function is called. */
export function every(ms: number, beat: () => void): () => void {
  const timer = setInterval(beat, ms);
  return () => clearInterval(timer);
}

/** Runs `work`, calling `beat` every `ms` until it settles (an activity heartbeating while it waits on something that reports no progress). */
export async function beatingWhile<T>(ms: number, beat: () => void, work: () => Promise<T>): Promise<T> {
  const stop = every(ms, beat);
  try {
    return await work();
  } finally {
    stop();
  }
}

/**
 * Writes every chunk to each of `legs` and takes the next one only when every leg has taken it:
 * the slowest leg sets the pace, so nothing piles up in memory however the legs' speeds differ.
 * Ending the tee ends the legs; a leg that fails (is destroyed) fails the tee, and a tee that fails
 * destroys every leg, so a failure in one stops the others.
 */
export class Tee extends Writable {
  constructor(private readonly legs: Writable[]) {
    super({ highWaterMark: 0 });
    for (const leg of legs) {
      // A leg's failure reaches the tee through the write's callback or the close below; destroying the legs with the tee's error must not be uncaught.
      leg.on('error', () => undefined);
      // A leg's pipeline failed and destroyed it: a write it held may never be called back.
      leg.once('close', () => {
        if (!leg.writableFinished && !this.destroyed) this.destroy(leg.errored ?? new Error('a leg of the stream stopped before the end'));
      });
    }
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    let pending = this.legs.length;
    let failed = false;
    for (const leg of this.legs) {
      leg.write(chunk, (err) => {
        if (failed) return;
        if (err) {
          failed = true;
          callback(err);
        } else if (--pending === 0) {
          callback();
        }
      });
    }
  }

  override _final(callback: (error?: Error | null) => void): void {
    for (const leg of this.legs) leg.end();
    callback();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (err) for (const leg of this.legs) leg.destroy(err);
    callback(err);
  }
}
