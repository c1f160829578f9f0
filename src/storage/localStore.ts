import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { manifestName, parseManifest, type BackupManifest } from '../backup/manifest';
import { parseBackupName } from '../backup/naming';
import { fsyncDir, HashCounter, sha256File, writeFileAtomic } from '../activities/stream';
import {
  assertRemovable,
  assertSavable,
  manifestText,
  newestFirst,
  NotInStoreError,
  StoredCopyMismatchError,
  storedBackup,
  type BackupStore,
  type Expected,
  type StoredBackup,
  type StoredObject,
  type TransferOptions,
} from './store';

/** Backups in a directory on this machine (BACKUP_DIR). */
export class LocalStore implements BackupStore {
  readonly location = 'local' as const;

  constructor(
    readonly dir: string,
    private readonly prefix: string,
  ) {}

  where(filename = ''): string {
    return path.join(this.dir, filename);
  }

  async list(): Promise<StoredBackup[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const present = new Set(names);
    const backups: StoredBackup[] = [];
    for (const filename of names) {
      const name = parseBackupName(filename);
      if (name === undefined || name.prefix !== this.prefix) continue;
      const stat = await fs.stat(this.where(filename));
      if (!stat.isFile()) continue;
      const manifest = manifestName(filename);
      const read = present.has(manifest) ? async (): Promise<[string, string]> => [await fs.readFile(this.where(manifest), 'utf8'), manifest] : undefined;
      backups.push(await storedBackup(name, stat.size, read));
    }
    return backups.sort(newestFirst);
  }

  /** Size and SHA-256 of the file (this reads it whole: about 1.5 s per GB). */
  async stat(filename: string): Promise<StoredObject | undefined> {
    const stat = await fs.stat(this.where(filename)).catch(ignoreMissing);
    if (stat === undefined || !stat.isFile()) return undefined;
    return { size_bytes: stat.size, sha256: await sha256File(this.where(filename)) };
  }

  /** Streams into `.<name>.partial-<random>`, checks size and SHA-256 on the way, fsyncs, renames into place. */
  async save(filename: string, body: Readable, expected: Expected, options: TransferOptions = {}): Promise<{ parts: number }> {
    assertSavable(filename);
    await fs.mkdir(this.dir, { recursive: true });
    const partial = this.where(`.${filename}.partial-${randomBytes(4).toString('hex')}`);
    const counter = new HashCounter();
    if (options.onProgress) counter.on('data', () => options.onProgress!(counter.bytes));
    try {
      const out = createWriteStream(partial, { flags: 'wx' });
      await pipeline(body, counter, out, ...(options.signal ? [{ signal: options.signal }] : []));
      const sha256 = counter.digest();
      if (counter.bytes !== expected.size_bytes || (expected.sha256 !== undefined && sha256 !== expected.sha256)) {
        throw new StoredCopyMismatchError(
          `${this.where(filename)}: received ${counter.bytes} bytes with sha256 ${sha256}, expected ${expected.size_bytes} bytes with ${expected.sha256 ?? 'any checksum'}; nothing was saved`,
        );
      }
      const handle = await fs.open(partial, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(partial, this.where(filename));
      await fsyncDir(this.dir);
      return { parts: 1 };
    } catch (err) {
      await fs.rm(partial, { force: true });
      throw err;
    }
  }

  async load(filename: string): Promise<Readable> {
    const handle = await fs.open(this.where(filename), 'r').catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? new NotInStoreError(`${this.where(filename)} does not exist`, { cause: err }) : err;
    });
    return handle.createReadStream();
  }

  async getManifest(filename: string): Promise<BackupManifest | undefined> {
    const file = this.where(manifestName(filename));
    const text = await fs.readFile(file, 'utf8').catch(ignoreMissing);
    return text === undefined ? undefined : parseManifest(text, file);
  }

  async putManifest(manifest: BackupManifest): Promise<void> {
    assertSavable(manifest.filename);
    await fs.mkdir(this.dir, { recursive: true });
    await writeFileAtomic(this.where(manifestName(manifest.filename)), manifestText(manifest));
  }

  async remove(filename: string): Promise<void> {
    assertRemovable(filename);
    await fs.rm(this.where(filename), { force: true });
    await fs.rm(this.where(manifestName(filename)), { force: true });
  }
}

function ignoreMissing(err: NodeJS.ErrnoException): undefined {
  if (err.code === 'ENOENT') return undefined;
  throw err;
}
