// The archiver's order and idempotency on real files and a real S3 server: a segment is stored
// locally, then uploaded, and only then taken off the spool; a copy an earlier attempt stored intact
// is kept; a damaged one is written again; a failed upload leaves the segment in the spool.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { ApplicationFailure } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { archiveCompleted, archivePartial, noProgress } from '../src/activities/wal/archiver';
import { storeLocal, type WalTarget } from '../src/activities/wal/store';
import { createS3Client } from '../src/storage/s3Client';
import { bigIntToLsn, checksumName, lsnToBigInt, segmentStartLsn } from '../src/wal/layout';
import { tempDir, testConfig } from './helpers';
import { s3Objects } from './wal';

const SEGMENT = '000000010000000000000007';

/** A spool holding one segment (random bytes, so its gzip is not trivial), and a target with S3. */
function setup(s3 = true) {
  const config = testConfig({ s3 });
  const spool = tempDir('spool');
  const content = Buffer.concat([randomBytes(1024 * 1024), Buffer.alloc(15 * 1024 * 1024)]);
  fs.writeFileSync(path.join(spool, SEGMENT), content);
  const target: WalTarget = {
    localDir: path.join(config.backup.dir, 'wal', '42'),
    relativeDir: 'wal/42',
    recipients: [],
    s3: config.s3 ? { client: createS3Client(config.s3), config: config.s3 } : undefined,
  };
  return { config, spool, content, target, stored: path.join(config.backup.dir, 'wal', '42', `${SEGMENT}.gz`) };
}

describe('the archiver', () => {
  it('keeps a segment an earlier attempt stored intact, uploads it, then takes it off the spool', async () => {
    const { config, spool, content, target, stored } = setup();
    await storeLocal(target, path.join(spool, SEGMENT), `${SEGMENT}.gz`, { reuse: true });
    const before = fs.statSync(stored);
    const progress = noProgress();
    expect(await archiveCompleted(target, spool, progress)).toBe(1);
    const after = fs.statSync(stored);
    expect([after.ino, after.mtimeMs]).toEqual([before.ino, before.mtimeMs]);
    expect(zlib.gunzipSync(fs.readFileSync(stored)).equals(content)).toBe(true);
    expect(fs.readdirSync(spool)).toEqual([]);
    expect(progress).toMatchObject({ last_archived_segment: SEGMENT, archived_lsn: '0/8000000', files_archived: 1 });
    const s3 = await s3Objects(config, 'wal/42/');
    expect(s3.keys).toEqual([`${SEGMENT}.gz`, `${SEGMENT}.gz.sha256`]);
    expect((await s3.read(`${SEGMENT}.gz`)).equals(fs.readFileSync(stored))).toBe(true);
  });

  it('writes again a stored copy whose bytes do not match its sidecar', async () => {
    const { spool, content, target, stored } = setup(false);
    await storeLocal(target, path.join(spool, SEGMENT), `${SEGMENT}.gz`, { reuse: true });
    fs.writeFileSync(stored, 'damaged');
    await archiveCompleted(target, spool, noProgress());
    expect(zlib.gunzipSync(fs.readFileSync(stored)).equals(content)).toBe(true);
    expect(fs.readFileSync(path.join(target.localDir, checksumName(`${SEGMENT}.gz`)), 'utf8')).toMatch(/^[0-9a-f]{64}\n$/);
  });

  it('leaves the segment in the spool when the upload fails, and archives it on the next pass', async () => {
    const { config, spool, target } = setup();
    const down = { ...config.s3!, endpoint: 'http://127.0.0.1:9' };
    const failed = await archiveCompleted({ ...target, s3: { client: createS3Client(down, { maxAttempts: 1 }), config: down } }, spool, noProgress()).catch((err: unknown) => err);
    expect(failed).toBeInstanceOf(ApplicationFailure);
    expect(failed).toMatchObject({ type: 'UploadFailed', nonRetryable: false });
    expect((failed as Error).message).toMatch(new RegExp(`^upload of WAL file ${SEGMENT}\\.gz to s3://${down.bucket}/${down.prefix}wal/42/${SEGMENT}\\.gz failed: .+; it stays in the spool and is uploaded again on the next attempt$`));
    expect(fs.readdirSync(spool)).toEqual([SEGMENT]);
    expect(await archiveCompleted(target, spool, noProgress())).toBe(1);
    expect(fs.readdirSync(spool)).toEqual([]);
    expect((await s3Objects(config, 'wal/42/')).keys).toEqual([`${SEGMENT}.gz`, `${SEGMENT}.gz.sha256`]);
  });

  it('a partial segment left in a spool that holds less than the archive (another worker archived the segment further) does not replace the fuller copy, locally or in S3; one that holds more does', async () => {
    const { config, target } = setup();
    const MB = 1024 * 1024;
    const wal = randomBytes(3 * MB);
    const partialOf = (bytes: number) => {
      const spool = tempDir('spool');
      fs.writeFileSync(path.join(spool, `${SEGMENT}.partial`), Buffer.concat([wal.subarray(0, bytes), Buffer.alloc(16 * MB - bytes)]));
      return spool;
    };
    const lsnAt = (bytes: number) => bigIntToLsn(lsnToBigInt(segmentStartLsn(SEGMENT)) + BigInt(bytes));
    const stored = path.join(target.localDir, `${SEGMENT}.partial.gz`);
    const storedBytes = async () => ({ local: zlib.gunzipSync(fs.readFileSync(stored)), s3: zlib.gunzipSync(await (await s3Objects(config, 'wal/42/')).read(`${SEGMENT}.partial.gz`)) });
    // Worker B archived 2 MB of the segment; its heartbeat's progress is what the next attempt starts from.
    const progress = noProgress();
    expect(await archivePartial(target, partialOf(2 * MB), progress, lsnAt(2 * MB))).toBe(true);
    expect(progress.archived_lsn).toBe(lsnAt(2 * MB));
    const fuller = await storedBytes();
    expect(fuller.local.subarray(0, 2 * MB).equals(wal.subarray(0, 2 * MB))).toBe(true);
    // Worker A's spool, left when it was killed at 1 MB, comes back: its copy would lose the second MB.
    const stale = partialOf(1 * MB);
    expect(await archivePartial(target, stale, progress, null)).toBe(false);
    const unchanged = await storedBytes();
    expect([unchanged.local.equals(fuller.local), unchanged.s3.equals(fuller.s3)]).toEqual([true, true]);
    // A spool that received past what the archive holds (one byte is enough) is copied.
    expect(await archivePartial(target, partialOf(2 * MB + 8), progress, null)).toBe(true);
    const after = await storedBytes();
    expect(after.local.subarray(0, 2 * MB + 8).equals(wal.subarray(0, 2 * MB + 8))).toBe(true);
    expect(after.s3.equals(after.local)).toBe(true);
  });
});
