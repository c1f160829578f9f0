import fs from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../../config';
import { ErrorType, permanent } from '../../errors';
import { writeFileAtomic } from '../stream';
import { diskError } from '../failures';

/** Who holds a database's lock. */
export interface LockHolder {
  workflow_id: string;
  kind: 'backup' | 'restore';
  since: string;
}

/** A lock older than this is taken to be left over from a crash and is taken over. */
export const STALE_LOCK_MS = 24 * 3600 * 1000;

/** The lock file of the configured database, in BACKUP_DIR. */
export function lockPath(config: Config): string {
  return path.join(config.backup.dir, `.${config.database.database}.lock`);
}

/**
 * One backup or restore of a database at a time, across workers that share BACKUP_DIR: a lock
 * file created exclusively. The holder may take it again (a retried activity); anyone else gets
 * a non-retryable DatabaseBusy naming the holder.
 */
export async function acquireLock(config: Config, holder: Omit<LockHolder, 'since'>): Promise<void> {
  const file = lockPath(config);
  await fs.mkdir(config.backup.dir, { recursive: true }).catch((err: unknown) => {
    throw diskError(err, config.backup.dir);
  });
  const mine: LockHolder = { ...holder, since: new Date().toISOString() };
  try {
    const handle = await fs.open(file, 'wx');
    try {
      await handle.writeFile(`${JSON.stringify(mine)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    return;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw diskError(err, config.backup.dir);
  }
  const current = await readHolder(file);
  if (current?.workflow_id === holder.workflow_id) return;
  if (current === undefined || Date.now() - Date.parse(current.since) > STALE_LOCK_MS) {
    await writeFileAtomic(file, `${JSON.stringify(mine)}\n`);
    return;
  }
  throw permanent(
    ErrorType.DatabaseBusy,
    `a ${current.kind} of database "${config.database.database}" is already running (workflow ${current.workflow_id}, since ${current.since}); ` +
      `wait for it to finish, or if it died, delete ${file}`,
  );
}

/** Releases the lock if `workflowId` holds it. */
export async function releaseLock(config: Config, workflowId: string): Promise<void> {
  const file = lockPath(config);
  const current = await readHolder(file);
  if (current?.workflow_id === workflowId) await fs.rm(file, { force: true });
}

async function readHolder(file: string): Promise<LockHolder | undefined> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as LockHolder;
  } catch {
    return undefined;
  }
}
