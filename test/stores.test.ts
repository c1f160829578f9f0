// The BackupStore contract, run against every implementation: a local directory, and S3 on two
// independent servers (s3rver, moto), since each S3-compatible server has gaps of its own.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { ListMultipartUploadsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { manifestName, MANIFEST_VERSION, type BackupManifest } from '../src/backup/manifest';
import { copyBackup } from '../src/storage/copy';
import { LocalStore } from '../src/storage/localStore';
import { createS3Client } from '../src/storage/s3Client';
import { S3Store } from '../src/storage/s3Store';
import { NotInStoreError, StoredCopyMismatchError, type BackupStore } from '../src/storage/store';
import { startMotoServer } from './motoServer';
import type { S3Server } from './s3server';
import { tempDir, testConfig, uniqueName } from './helpers';

/** A fresh store of one kind with `files` in it, and a way to see every name it holds (temporary ones too). */
interface Backend {
  store: BackupStore;
  allNames(): Promise<string[]>;
  /** Multipart uploads left open (S3 only; [] elsewhere); undefined where the server cannot list them (s3rver). */
  openUploads(): Promise<string[] | undefined>;
}
type Seeded = (files?: Record<string, string | Buffer>) => Promise<Backend>;

const local: Seeded = async (files = {}) => {
  const dir = tempDir('store');
  for (const [name, body] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    fs.writeFileSync(path.join(dir, name), body);
  }
  return { store: new LocalStore(dir, 'family_brain'), allNames: async () => fs.readdirSync(dir).sort(), openUploads: async () => [] };
};

let moto: S3Server | undefined;
beforeAll(async () => {
  moto = await startMotoServer();
}, 120_000);
afterAll(async () => {
  await moto?.stop();
});

function s3Backend(server: () => { endpoint: string; bucket: string } | undefined): Seeded {
  return async (files = {}) => {
    const base = testConfig({ s3: true }).s3!;
    const target = server();
    const config = { ...base, prefix: `${uniqueName('store')}/`, ...(target ? { endpoint: target.endpoint, bucket: target.bucket } : {}) };
    const client: S3Client = createS3Client(config);
    for (const [name, body] of Object.entries(files)) {
      await client.send(new PutObjectCommand({ Bucket: config.bucket, Key: `${config.prefix}${name}`, Body: body }));
    }
    return {
      store: new S3Store(client, config, 'family_brain'),
      async allNames() {
        const { Contents } = await client.send(new (await import('@aws-sdk/client-s3')).ListObjectsV2Command({ Bucket: config.bucket, Prefix: config.prefix }));
        return (Contents ?? []).map((o) => o.Key!.slice(config.prefix.length)).sort();
      },
      async openUploads() {
        // s3rver implements no ListMultipartUploads (NotImplemented): the check runs on moto only.
        if (target === undefined) return undefined;
        const out = await client.send(new ListMultipartUploadsCommand({ Bucket: config.bucket, Prefix: config.prefix }));
        return (out.Uploads ?? []).map((u) => u.Key!);
      },
    };
  };
}

function manifestOf(filename: string, data: Buffer | string = 'data', status: BackupManifest['status'] = 'verified'): BackupManifest {
  return {
    manifest_version: MANIFEST_VERSION, filename, type: 'daily', format: 'plain_gzip', status, created_at: '2026-11-20T07:00:00.000Z',
    database: 'family_brain', server_version: '15', pg_dump_version: '15', size_bytes: Buffer.byteLength(data), sha256: sha(data),
    tables_backed_up: 1, total_rows: 5, table_details: { tenants: 5 }, extensions: [], roles: [], verification: null, workflow_id: 'wf',
  };
}

const sha = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A stream that yields `bytes` of `data` and then fails, as a dropped connection does. */
function failingAfter(data: Buffer, bytes: number): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(data.subarray(0, bytes));
        setTimeout(() => this.destroy(new Error('connection reset by peer')), 20);
      }
    },
  });
}

const NEW = 'family_brain_daily_20261120_020000.sql.gz';
const OLD = 'family_brain_weekly_20261101_030000.dump';
const LEGACY = 'family_brain_manual_20251208_023807.sql.gz';
/** Larger than the 5 MB part size: S3 stores take it in several parts. */
const BIG = randomBytes(11 * 1024 * 1024 + 17);

describe.each([
  ['local directory', local],
  ['S3 (s3rver)', s3Backend(() => undefined)],
  ['S3 (moto)', s3Backend(() => moto)],
])('BackupStore contract: %s', (_, seed) => {
  it('lists only backups with the configured prefix, newest first, with manifests where present', async () => {
    const { store } = await seed({
      [NEW]: 'data',
      [manifestName(NEW)]: JSON.stringify(manifestOf(NEW)),
      [OLD]: 'old!',
      [LEGACY]: 'windmill',
      [`${LEGACY}.failed`]: 'moved aside',
      [`.${NEW}.partial-1a2b`]: 'half a dump',
      [manifestName('family_brain_daily_20261121_020000.sql.gz')]: 'manifest without data',
      'other_app_daily_20261120_020000.sql.gz': 'not ours',
      'notes.txt': 'hello',
      'nested/family_brain_daily_20261122_020000.sql.gz': 'not at the top level',
    });
    const listed = await store.list();
    expect(listed.map((b) => b.name.filename)).toEqual([NEW, OLD, LEGACY]);
    expect(listed.map((b) => b.size_bytes)).toEqual([4, 4, 8]);
    expect(listed[0]?.manifest).toMatchObject({ filename: NEW, status: 'verified', table_details: { tenants: 5 } });
    expect(listed[1]?.manifest).toBeNull();
    expect(listed[2]?.name).toEqual({ filename: LEGACY, prefix: 'family_brain', type: 'manual', timestamp: '20251208_023807', format: 'plain_gzip' });
  });

  it('reports a broken manifest instead of failing the listing', async () => {
    const { store } = await seed({ [NEW]: 'data', [manifestName(NEW)]: '{"not": "a manifest"' });
    const [entry] = await store.list();
    expect(entry?.manifest).toBeNull();
    expect(entry?.manifest_error).toMatch(/is not JSON/);
  });

  it('removes a backup with its manifest, and removing it again is fine', async () => {
    const { store } = await seed({ [NEW]: 'data', [manifestName(NEW)]: JSON.stringify(manifestOf(NEW)), [OLD]: 'old!' });
    await store.remove(NEW);
    await store.remove(NEW);
    const listed = await store.list();
    expect(listed.map((b) => b.name.filename)).toEqual([OLD]);
  });

  it('refuses to remove or save anything that is not a backup name', async () => {
    const { store } = await seed({ 'notes.txt': 'keep me' });
    await expect(store.remove('../notes.txt')).rejects.toThrow('refusing to remove "../notes.txt": not a backup file name');
    await expect(store.save('notes.txt', Readable.from([Buffer.from('x')]), { size_bytes: 1, sha256: sha('x') })).rejects.toThrow('refusing to save "notes.txt": not a backup file name');
  });

  it('saves a stream larger than one part and loads back the same bytes; stat gives its size and SHA-256', async () => {
    const { store, allNames, openUploads } = await seed();
    await store.save(NEW, Readable.from([BIG]), { size_bytes: BIG.length, sha256: sha(BIG) });
    expect(await store.stat(NEW)).toEqual({ size_bytes: BIG.length, sha256: sha(BIG) });
    expect(sha(await readAll(await store.load(NEW)))).toBe(sha(BIG));
    expect(await allNames()).toEqual([NEW]);
    expect((await openUploads()) ?? []).toEqual([]);
  });

  it('says nothing is there for a name it does not hold: stat undefined, load NotInStoreError, no manifest', async () => {
    const { store } = await seed();
    expect(await store.stat(NEW)).toBeUndefined();
    await expect(store.load(NEW)).rejects.toBeInstanceOf(NotInStoreError);
    await expect(store.load(NEW)).rejects.toThrow(`${store.where(NEW)} does not exist`);
    expect(await store.getManifest(NEW)).toBeUndefined();
  });

  it('keeps nothing under the name when the bytes are not what was promised', async () => {
    const { store, allNames } = await seed();
    const err = await store.save(NEW, Readable.from([Buffer.from('tampered')]), { size_bytes: 4, sha256: sha('data') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoredCopyMismatchError);
    expect(await store.stat(NEW)).toBeUndefined();
    expect(await allNames()).toEqual([]);
  });

  // Issue 21, item 16: an S3 store checked only the size and the SHA-256 it had itself written into the object's metadata.
  it('keeps nothing under the name when the bytes have the promised size but not the promised SHA-256', async () => {
    const { store, allNames } = await seed();
    const err = await store.save(NEW, Readable.from([Buffer.from('dat4')]), { size_bytes: 4, sha256: sha('data') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoredCopyMismatchError);
    expect((err as Error).message).toMatch(new RegExp(`4 bytes with sha256 ${sha('dat4')}, expected 4 bytes with ${sha('data')}`));
    expect(await store.stat(NEW)).toBeUndefined();
    expect(await allNames()).toEqual([]);
  });

  it('keeps nothing under the name, nor any temporary object, when the source fails halfway', async () => {
    const { store, allNames, openUploads } = await seed();
    await expect(store.save(NEW, failingAfter(BIG, 6 * 1024 * 1024), { size_bytes: BIG.length, sha256: sha(BIG) })).rejects.toThrow();
    expect(await store.stat(NEW)).toBeUndefined();
    expect(await allNames()).toEqual([]);
    expect((await openUploads()) ?? []).toEqual([]);
  });

  it('keeps nothing under the name when the transfer is cancelled', async () => {
    const { store, allNames } = await seed();
    const abort = new AbortController();
    const slow = new Readable({
      read() {
        this.push(BIG.subarray(0, 1024 * 1024));
        abort.abort();
      },
    });
    await expect(store.save(NEW, slow, { size_bytes: BIG.length, sha256: sha(BIG) }, { signal: abort.signal })).rejects.toThrow();
    expect(await store.stat(NEW)).toBeUndefined();
    expect(await allNames()).toEqual([]);
  });

  it('writes and reads manifests; a broken one is an error that names where it is', async () => {
    const { store } = await seed({ [OLD]: 'old!', [manifestName(OLD)]: 'not json' });
    const manifest = manifestOf(NEW);
    await store.putManifest(manifest);
    expect(await store.getManifest(NEW)).toEqual(manifest);
    await store.putManifest({ ...manifest, status: 'failed' });
    expect((await store.getManifest(NEW))?.status).toBe('failed');
    await expect(store.getManifest(OLD)).rejects.toThrow(store.where(manifestName(OLD)));
  });

  describe('copyBackup', () => {
    it('uploads a local backup with its manifest, and a second copy of the same bytes transfers nothing', async () => {
      const { store } = await seed();
      const source = await local({ [NEW]: BIG });
      const manifest = manifestOf(NEW, BIG);
      const first = await copyBackup(source.store, store, NEW, manifest);
      expect(first).toMatchObject({ size_bytes: BIG.length, sha256: sha(BIG), skipped_existing: false });
      expect(await store.getManifest(NEW)).toEqual(manifest);
      const again = await copyBackup(source.store, store, NEW, manifest);
      expect(again).toMatchObject({ parts: 0, skipped_existing: true });
      expect(sha(await readAll(await store.load(NEW)))).toBe(sha(BIG));
    });

    it('replaces a copy whose checksum differs from the manifest', async () => {
      const { store } = await seed({ [NEW]: 'stale bytes' });
      const source = await local({ [NEW]: 'data' });
      const copied = await copyBackup(source.store, store, NEW, manifestOf(NEW, 'data'));
      expect(copied.skipped_existing).toBe(false);
      expect((await readAll(await store.load(NEW))).toString()).toBe('data');
    });

    it('fetched into a directory, an interrupted transfer leaves neither the file nor its manifest nor a temporary file', async () => {
      const { store } = await seed({ [NEW]: BIG });
      const broken: BackupStore = Object.assign(Object.create(store) as BackupStore, { load: async () => failingAfter(BIG, 3 * 1024 * 1024) });
      const dir = tempDir('fetch');
      const target = new LocalStore(dir, 'family_brain');
      await expect(copyBackup(broken, target, NEW, manifestOf(NEW, BIG))).rejects.toThrow('connection reset by peer');
      expect(fs.readdirSync(dir)).toEqual([]);
      const fetched = await copyBackup(store, target, NEW, manifestOf(NEW, BIG));
      expect(fetched.skipped_existing).toBe(false);
      expect(fs.readdirSync(dir).sort()).toEqual([NEW, manifestName(NEW)]);
    });

    it('copies a Windmill-era file that has no manifest, checking its size', async () => {
      const { store } = await seed();
      const source = await local({ [LEGACY]: 'windmill' });
      const copied = await copyBackup(source.store, store, LEGACY, undefined);
      expect(copied).toMatchObject({ size_bytes: 8, skipped_existing: false });
      expect(await store.getManifest(LEGACY)).toBeUndefined();
      expect((await readAll(await store.load(LEGACY))).toString()).toBe('windmill');
    });
  });
});
