import type { Config } from '../config';
import { LocalStore } from './localStore';
import { createS3Client } from './s3Client';
import { S3Store } from './s3Store';
import type { BackupStore } from './store';

/** The local store, and the S3 store when S3 is configured. */
export function openStores(config: Config): { local: LocalStore; s3: S3Store | undefined; close(): void } {
  const local = new LocalStore(config.backup.dir, config.backup.prefix);
  if (config.s3 === undefined) return { local, s3: undefined, close: () => undefined };
  const client = createS3Client(config.s3);
  return { local, s3: new S3Store(client, config.s3, config.backup.prefix), close: () => client.destroy() };
}

/** The stores as a list, local first. */
export function storeList(stores: { local: BackupStore; s3: BackupStore | undefined }): BackupStore[] {
  return stores.s3 === undefined ? [stores.local] : [stores.local, stores.s3];
}
