import { DeleteObjectCommand, GetObjectCommand, paginateListObjectsV2, type S3Client } from '@aws-sdk/client-s3';
import { manifestName, MANIFEST_SUFFIX } from '../backup/manifest';
import { parseBackupName } from '../backup/naming';
import type { S3Config } from '../config';
import { assertRemovable, newestFirst, storedBackup, type BackupStore, type StoredBackup } from './store';

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
    return `${this.config.prefix}${filename}`;
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
      const key = this.key(manifestName(filename));
      const read = manifests.has(manifestName(filename)) ? async (): Promise<[string, string]> => [await this.getText(key), `s3://${this.config.bucket}/${key}`] : undefined;
      backups.push(await storedBackup(name, size, read));
    }
    return backups.sort(newestFirst);
  }

  async remove(filename: string): Promise<void> {
    assertRemovable(filename);
    // One DeleteObject per key: multi-object delete needs Content-MD5, which some S3-compatible stores mishandle.
    for (const key of [this.key(filename), this.key(manifestName(filename))]) {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: key }));
    }
  }

  private async getText(key: string): Promise<string> {
    const out = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: key }));
    return (await out.Body?.transformToString('utf8')) ?? '';
  }
}
