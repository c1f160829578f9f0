import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  paginateListObjectsV2,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { manifestName, MANIFEST_SUFFIX, parseManifest, type BackupManifest } from '../backup/manifest';
import { parseBackupName } from '../backup/naming';
import { HashCounter } from '../activities/stream';
import type { S3Config } from '../config';
import {
  assertRemovable,
  assertSavable,
  manifestText,
  newestFirst,
  NotInStoreError,
  SourceMismatchError,
  StoredCopyMismatchError,
  storedBackup,
  type BackupStore,
  type Expected,
  type StoredBackup,
  type StoredObject,
  type TransferOptions,
} from './store';

/** The object key of `name` (a backup, its manifest, or a probe) under S3_PREFIX: the one place keys are built. */
export function s3Key(config: Pick<S3Config, 'prefix'>, name: string): string {
  return `${config.prefix}${name}`;
}

/** True when an S3 error is "no such key" (404). */
export function isNotFound(err: unknown): boolean {
  return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404 || (err as Error).name === 'NoSuchKey' || (err as Error).name === 'NotFound';
}

/** Backups under S3_PREFIX in S3_BUCKET; each object's manifest sits beside it as `<key>.manifest.json`. */
export class S3Store implements BackupStore {
  readonly location = 's3' as const;

  constructor(
    private readonly client: S3Client,
    private readonly config: S3Config,
    private readonly prefix: string,
  ) {}

  /** The object key of a backup file. */
  key(filename: string): string {
    return s3Key(this.config, filename);
  }

  where(filename = ''): string {
    return `s3://${this.config.bucket}/${this.key(filename)}`;
  }

  async list(): Promise<StoredBackup[]> {
    const sizes = new Map<string, number>();
    const manifests = new Set<string>();
    for await (const page of paginateListObjectsV2({ client: this.client }, { Bucket: this.config.bucket, Prefix: this.config.prefix })) {
      for (const object of page.Contents ?? []) {
        const rest = (object.Key ?? '').slice(this.config.prefix.length);
        if (rest.includes('/')) continue;
        if (rest.endsWith(MANIFEST_SUFFIX)) manifests.add(rest);
        else sizes.set(rest, object.Size ?? 0);
      }
    }
    const backups: StoredBackup[] = [];
    for (const [filename, size] of sizes) {
      const name = parseBackupName(filename);
      if (name === undefined || name.prefix !== this.prefix) continue;
      const manifest = manifestName(filename);
      const read = manifests.has(manifest) ? async (): Promise<[string, string]> => [(await this.getText(manifest)) ?? '', this.where(manifest)] : undefined;
      backups.push(await storedBackup(name, size, read));
    }
    return backups.sort(newestFirst);
  }

  /** Size and the SHA-256 recorded in the object's metadata at upload. */
  async stat(filename: string): Promise<StoredObject | undefined> {
    try {
      const out = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: this.key(filename) }));
      return { size_bytes: out.ContentLength ?? -1, sha256: out.Metadata?.sha256 };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /**
   * Multipart upload (memory ~2 parts; a failed or aborted one is aborted, so no parts stay behind
   * where the store supports it). The bytes are hashed as they are sent, and must be what `expected`
   * says (SourceMismatchError); then HEAD: the stored size and recorded SHA-256 must match. (The
   * recorded SHA-256 is ours, in the object's metadata: S3-compatible stores do not hash for us.)
   */
  async save(filename: string, body: Readable, expected: Expected, options: TransferOptions = {}): Promise<{ parts: number }> {
    assertSavable(filename);
    const key = this.key(filename);
    const abort = new AbortController();
    options.signal?.addEventListener('abort', () => abort.abort(), { once: true });
    const sent = new HashCounter();
    // A source stream that fails must fail the upload, not leave it waiting.
    pipeline(body, sent).catch(() => abort.abort());
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.config.bucket,
        Key: key,
        Body: sent,
        ContentType: expected.contentType ?? 'application/octet-stream',
        Metadata: { ...expected.metadata, ...(expected.sha256 === undefined ? {} : { sha256: expected.sha256 }) },
      },
      partSize: this.config.partSizeBytes,
      queueSize: 2,
      leavePartsOnError: false,
      abortController: abort,
    });
    let parts = 0;
    upload.on('httpUploadProgress', (p) => {
      parts = Math.max(parts, p.part ?? 0);
      options.onProgress?.(p.loaded ?? 0, p.part);
    });
    try {
      await upload.done();
    } catch (err) {
      sent.destroy();
      // An upload that got as far as a single PutObject may have landed before the abort; a multipart
      // one interrupted by its source is not always aborted by lib-storage (moto showed its parts left behind).
      await this.deleteKey(key).catch(() => undefined);
      await this.abortOpenUploads(key);
      throw err;
    }
    const sentSha = sent.digest();
    if (sent.bytes !== expected.size_bytes || (expected.sha256 !== undefined && sentSha !== expected.sha256)) {
      await this.deleteKey(key).catch(() => undefined);
      throw new SourceMismatchError(
        `the bytes sent to ${this.where(filename)} were ${sent.bytes} bytes with sha256 ${sentSha}, expected ${expected.size_bytes} bytes with ${expected.sha256 ?? 'any checksum'}; the copy was deleted`,
      );
    }
    const after = await this.stat(filename);
    if (after?.size_bytes !== expected.size_bytes || after.sha256 !== expected.sha256) {
      await this.deleteKey(key).catch(() => undefined);
      throw new StoredCopyMismatchError(
        `${this.where(filename)} holds ${String(after?.size_bytes)} bytes with sha256 ${String(after?.sha256)}, expected ${expected.size_bytes} bytes with ${expected.sha256 ?? 'no recorded checksum'}; ` +
          'the copy was deleted (for S3-compatible stores, check that it supports streamed uploads)',
      );
    }
    return { parts };
  }

  async load(filename: string, options: TransferOptions = {}): Promise<Readable> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: this.key(filename) }), { abortSignal: options.signal });
      return out.Body as Readable;
    } catch (err) {
      if (isNotFound(err)) throw new NotInStoreError(`${this.where(filename)} does not exist`, { cause: err });
      throw err;
    }
  }

  async getManifest(filename: string): Promise<BackupManifest | undefined> {
    const name = manifestName(filename);
    const text = await this.getText(name);
    return text === undefined ? undefined : parseManifest(text, this.where(name));
  }

  /** One PutObject: readers see the old manifest or the new one, never a mix. */
  async putManifest(manifest: BackupManifest): Promise<void> {
    assertSavable(manifest.filename);
    await this.client.send(
      new PutObjectCommand({ Bucket: this.config.bucket, Key: this.key(manifestName(manifest.filename)), Body: manifestText(manifest), ContentType: 'application/json' }),
    );
  }

  async remove(filename: string): Promise<void> {
    assertRemovable(filename);
    // One DeleteObject per key: multi-object delete needs Content-MD5, which some S3-compatible stores mishandle.
    for (const name of [filename, manifestName(filename)]) await this.deleteKey(this.key(name));
  }

  /**
   * Aborts multipart uploads of `filename` left open by an upload that never finished (its worker
   * was killed): their parts are stored, and billed, until aborted. Call it only when no other
   * upload of this file may be running. A store without ListMultipartUploads (s3rver) is left as it is.
   */
  async abortIncompleteUploads(filename: string): Promise<void> {
    await this.abortOpenUploads(this.key(filename));
  }

  /** Aborts multipart uploads left open under `key`; a store without ListMultipartUploads (s3rver) is left as it is. */
  private async abortOpenUploads(key: string): Promise<void> {
    try {
      const out = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.config.bucket, Prefix: key }));
      for (const u of out.Uploads ?? []) {
        if (u.Key === key) await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.config.bucket, Key: key, UploadId: u.UploadId }));
      }
    } catch {
      // Not supported by this store, or it failed: the bucket's lifecycle rule for incomplete uploads is the backstop.
    }
  }

  private async deleteKey(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: key }));
  }

  private async getText(name: string): Promise<string | undefined> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: this.key(name) }));
      return (await out.Body?.transformToString('utf8')) ?? '';
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}
