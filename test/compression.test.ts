import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { compressor, decompressor, isDecompressionError } from '../src/activities/compression';
import { testConfig } from './helpers';

/** `mb` megabytes of a repeating SQL-ish line, in 1 MB chunks. */
function sqlLike(mb: number): Readable {
  const chunk = Buffer.alloc(1024 * 1024, 'INSERT INTO t VALUES (1, \'x\');\n');
  return Readable.from((function* () {
    for (let i = 0; i < mb; i++) yield chunk;
  })());
}

/** Counts bytes; keeps none. */
function counter(): Writable & { bytes: number } {
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      sink.bytes += chunk.length;
      done();
    },
  }) as Writable & { bytes: number };
  sink.bytes = 0;
  return sink;
}

describe('zstd streams', () => {
  it('carry more than execa would buffer (100 MB) through compress and decompress, keeping none of it', async () => {
    const config = testConfig();
    const out = counter();
    const rssBefore = process.memoryUsage().rss;
    await pipeline(sqlLike(160), compressor(config, 'plain_zstd')!, decompressor('plain_zstd')!, out);
    expect(out.bytes).toBe(160 * 1024 * 1024);
    // Nothing close to the 160 MB that went through stays in this process.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(80 * 1024 * 1024);
  });

  it('fail as a decompression error on bytes that are not zstd', async () => {
    const err = await pipeline(Readable.from([Buffer.from('this is not a zstd frame')]), decompressor('plain_zstd')!, counter()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isDecompressionError(err)).toBe(true);
  });

  it('gzip errors count as decompression errors too', async () => {
    const err = await pipeline(Readable.from([Buffer.from('not gzip at all')]), decompressor('plain_gzip')!, counter()).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isDecompressionError(err)).toBe(true);
  });
});
