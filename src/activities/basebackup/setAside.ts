// A base backup that failed its verification is moved out of the way, not deleted: into failed/ beside
// the backups, where nothing lists it (restores, incremental parents, `fbb list` read base/<sysid>/ only).
import fs from 'node:fs/promises';
import path from 'node:path';
import { BASE_MANIFEST_SUFFIX, PG_MANIFEST_SUFFIX, SHA256_SUFFIX } from '../../basebackup/naming';
import { fsyncDir } from '../stream';

/** The folder, beside the base backups, of those that failed verification. */
export const FAILED_DIR = 'failed';

/** Moves `filename` and its sidecars from `dir` into `dir`/failed/ (the file first: without it nothing lists the rest); returns that folder. */
export async function setAside(dir: string, filename: string): Promise<string> {
  const aside = path.join(dir, FAILED_DIR);
  await fs.mkdir(aside, { recursive: true, mode: 0o700 });
  for (const name of [filename, `${filename}${BASE_MANIFEST_SUFFIX}`, `${filename}${PG_MANIFEST_SUFFIX}`, `${filename}${SHA256_SUFFIX}`]) {
    await fs.rename(path.join(dir, name), path.join(aside, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }
  await fsyncDir(dir);
  await fsyncDir(aside);
  return aside;
}
