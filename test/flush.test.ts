// Issue 21, item 8: the background flushes of a backup file being written (pgDump.ts). No disk here
// fails on demand (no device-mapper in this kernel), so the failing fdatasync is a stand-in that
// reports EIO, as the kernel does after a write-back error; the file, the stream and the final
// fsync are real.
import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { flushAsWritten } from '../src/activities/backup/pgDump';
import { tempDir } from './helpers';

/** An fdatasync that fails with `code` the first `times` calls, then works; counts its calls. */
function failingSync(code: string, times: number) {
  const calls = { n: 0 };
  const sync = ((fd: number, callback: (err: NodeJS.ErrnoException | null) => void) => {
    calls.n++;
    if (calls.n <= times) {
      const err: NodeJS.ErrnoException = new Error(`${code}: i/o error, fdatasync`);
      err.code = code;
      setImmediate(() => callback(err));
    } else {
      fs.fdatasync(fd, callback);
    }
  }) as typeof fs.fdatasync;
  return { sync, calls };
}

/** Writes `chunks` of 1 kB to `file` with a flusher flushing every kB, waiting for the flush after each. */
async function writeFlushed(file: string, { sync, calls }: ReturnType<typeof failingSync>, chunks: number) {
  const out = fs.createWriteStream(file, { flags: 'wx' });
  const flusher = flushAsWritten(out, file, 1024, sync);
  for (let i = 0; i < chunks; i++) {
    await new Promise<void>((resolve, reject) => out.write(Buffer.alloc(1024, i), (err) => (err ? reject(err) : resolve())));
    while (calls.n <= i) await new Promise((r) => setTimeout(r, 20));
  }
  await new Promise<void>((resolve) => out.end(resolve));
  return flusher;
}

describe('the background flushes of a backup file', () => {
  it('keep the first one that failed, and the final sync fails the pass with it (retryable DumpFailed), although the final fsync itself succeeds', async () => {
    const file = path.join(tempDir('flush'), 'dump.partial');
    const flusher = await writeFlushed(file, failingSync('EIO', 1), 3);
    const err = await flusher.sync().then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    const failure = err as ApplicationFailure;
    expect(failure.type).toBe('DumpFailed');
    expect(failure.nonRetryable).toBe(false);
    expect(failure.message).toBe(
      `flushing the backup file to disk in ${path.dirname(file)} failed (EIO: EIO: i/o error, fdatasync): what was written may not be on the disk; nothing was kept, the next attempt writes it again; if it keeps happening, check the disk (dmesg)`,
    );
  });

  it('a full disk reported by a flush is BackupDirFull, not retried', async () => {
    const file = path.join(tempDir('flush'), 'dump.partial');
    const flusher = await writeFlushed(file, failingSync('ENOSPC', 1), 2);
    const err = (await flusher.sync().then(() => undefined, (e: unknown) => e)) as ApplicationFailure;
    expect(err.type).toBe('BackupDirFull');
    expect(err.nonRetryable).toBe(true);
  });

  it('that all worked let the final sync succeed', async () => {
    const file = path.join(tempDir('flush'), 'dump.partial');
    const flusher = await writeFlushed(file, failingSync('EIO', 0), 3);
    await expect(flusher.sync()).resolves.toBeUndefined();
    expect(fs.statSync(file).size).toBe(3 * 1024);
  });
});
