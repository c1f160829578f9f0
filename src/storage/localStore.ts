import fs from 'node:fs/promises';
import path from 'node:path';
import { manifestName } from '../backup/manifest';
import { parseBackupName } from '../backup/naming';
import { assertRemovable, newestFirst, storedBackup, type BackupStore, type StoredBackup } from './store';

/** Backups in a directory on this machine (BACKUP_DIR). */
export class LocalStore implements BackupStore {
  readonly location = 'local' as const;

  constructor(
    readonly dir: string,
    private readonly prefix: string,
  ) {}

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
      const stat = await fs.stat(path.join(this.dir, filename));
      if (!stat.isFile()) continue;
      const manifest = manifestName(filename);
      const read = present.has(manifest) ? async (): Promise<[string, string]> => [await fs.readFile(path.join(this.dir, manifest), 'utf8'), manifest] : undefined;
      backups.push(await storedBackup(name, stat.size, read));
    }
    return backups.sort(newestFirst);
  }

  async remove(filename: string): Promise<void> {
    assertRemovable(filename);
    await fs.rm(path.join(this.dir, filename), { force: true });
    await fs.rm(path.join(this.dir, manifestName(filename)), { force: true });
  }
}
