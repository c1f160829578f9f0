import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
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
