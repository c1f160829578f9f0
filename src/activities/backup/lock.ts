import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Config } from '../../config';
import { ErrorType, permanent, transient } from '../../errors';
import { diskError } from '../failures';

/** Who holds a database's lock. Files written before 0.2 have only the first three fields. */
export interface LockHolder {
  workflow_id: string;
  kind: 'backup' | 'restore';
  since: string;
  /** The workflow run: another run of the same workflow ID is another holder. */
  run_id?: string;
  /** True for `--local` runs, which die with their process: a dead holder process then frees the lock. */
  local?: boolean;
  host?: string;
  pid?: number;
  /** The holder process's start (from /proc), so a reused pid is not taken for the holder. */
  process_start?: string;
}

/** What the caller knows about itself; the lock adds the time and the process. */
export type LockRequest = Pick<LockHolder, 'workflow_id' | 'kind' | 'run_id' | 'local'>;

/** The outcome of taking the lock: a dead or stale holder it replaced, if any. */
export interface LockAcquired {
  holder: LockHolder;
  took_over: (LockHolder & { reason: string }) | null;
}

/**
 * One backup or restore per database at a time. Behind this small interface so that the file lock
 * (workers sharing BACKUP_DIR) can give way to a Temporal-native one.
 */
export interface DatabaseLock {
  acquire(request: LockRequest): Promise<LockAcquired>;
  release(request: Pick<LockHolder, 'workflow_id' | 'run_id'>): Promise<void>;
  /** The current holder and whether it blocks others, without changing anything. */
  inspect(): Promise<{ holder: LockHolder; blocking: boolean; reason: string } | undefined>;
}

/**
 * A lock held by a run on Temporal is taken over after this long: its holder cannot be checked
 * from here (its worker may have moved). Restores wait at most 12 hours for confirmation
 * (src/backup/restoreInput.ts), so a live restore keeps its lock. A --local holder whose process
 * is alive keeps the lock however old it is; one whose process is gone loses it at once.
 */
export const STALE_LOCK_MS = 24 * 3600 * 1000;

/** The lock file of the configured database, in BACKUP_DIR. */
export function lockPath(config: Config): string {
  return path.join(config.backup.dir, `.${config.database.database}.lock`);
}

/** The start time of process `pid` as /proc gives it (clock ticks since boot), or undefined off Linux. */
export async function processStart(pid: number): Promise<string | undefined> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Is the holder's process gone? Only answerable for a holder on this host. */
export async function holderGone(holder: LockHolder): Promise<boolean> {
  if (holder.pid === undefined || holder.host !== os.hostname()) return false;
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true;
  }
  // Alive, unless the pid now belongs to a process that started later.
  const start = await processStart(holder.pid);
  return start !== undefined && holder.process_start !== undefined && start !== holder.process_start;
}

/** Why `holder` no longer blocks `request` (undefined: it does). */
async function replaceable(holder: LockHolder | undefined, request?: LockRequest): Promise<string | undefined> {
  if (holder === undefined) return 'the lock file is unreadable';
  if (holder.local) {
    if (await holderGone(holder)) return `pid ${holder.pid} on ${holder.host}, no longer running`;
    if (holder.host === os.hostname()) return undefined;
  } else if (request !== undefined && holder.workflow_id === request.workflow_id && holder.run_id !== undefined && request.run_id !== undefined && holder.run_id !== request.run_id) {
    // Temporal runs one run of a workflow ID at a time: an earlier run of this ID has ended.
    return `run ${holder.run_id} of the same workflow ID has ended`;
  }
  const age = Date.now() - Date.parse(holder.since);
  return age > STALE_LOCK_MS ? `held since ${holder.since}, more than ${STALE_LOCK_MS / 3_600_000} hours ago` : undefined;
}

async function readHolder(file: string): Promise<{ text: string; holder: LockHolder | undefined } | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return { text, holder: JSON.parse(text) as LockHolder };
  } catch {
    return { text, holder: undefined };
  }
}

/** Writes `holder` to a temporary file and links it into place: the lock file appears with its contents, or not at all. */
async function createLockFile(file: string, holder: LockHolder, replace: boolean): Promise<void> {
  const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
  try {
    const handle = await fs.open(tmp, 'wx');
    try {
      await handle.writeFile(`${JSON.stringify(holder)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
    if (replace) await fs.rename(tmp, file);
    else await fs.link(tmp, file);
  } finally {
    await fs.rm(tmp, { force: true });
  }
}

/** The file lock in BACKUP_DIR, shared by the workers and --local runs that use the directory. */
export function fileLock(config: Config): DatabaseLock {
  const file = lockPath(config);
  const busy = (holder: LockHolder) =>
    permanent(
      ErrorType.DatabaseBusy,
      `a ${holder.kind} of database "${config.database.database}" is already running (workflow ${holder.workflow_id}` +
        `${holder.pid ? `, pid ${holder.pid} on ${holder.host ?? 'an unknown host'}${holder.local ? ', --local' : ''}` : ''}, since ${holder.since}); ` +
        `wait for it to finish (fbb status ${holder.workflow_id}); "fbb doctor" says whether its holder is still alive`,
    );
  return {
    async acquire(request) {
      await fs.mkdir(config.backup.dir, { recursive: true }).catch((err: unknown) => {
        throw diskError(err, config.backup.dir);
      });
      const mine: LockHolder = {
        ...request,
        since: new Date().toISOString(),
        host: os.hostname(),
        pid: process.pid,
        ...((await processStart(process.pid)) === undefined ? {} : { process_start: await processStart(process.pid) }),
      };
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          await createLockFile(file, mine, false);
          return { holder: mine, took_over: null };
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw diskError(err, config.backup.dir);
        }
        const current = await readHolder(file);
        if (current === undefined) continue; // released meanwhile: try again
        const { holder } = current;
        // The same run again (a retried activity, from this process or, on Temporal, any worker).
        if (holder?.workflow_id === request.workflow_id && (holder.run_id === undefined || request.run_id === undefined || holder.run_id === request.run_id)) {
          if (!holder.local || (holder.pid === process.pid && holder.host === os.hostname())) return { holder, took_over: null };
        }
        const reason = await replaceable(holder, request);
        if (reason === undefined) throw busy(holder!);
        if (await takeOver(file, current.text, mine)) return { holder: mine, took_over: { ...(holder ?? { workflow_id: 'unknown', kind: 'backup', since: 'unknown' }), reason } };
      }
      throw transient(ErrorType.DatabaseBusy, `the lock ${file} changed hands five times while this run tried to take it; trying again`);
    },
    async release(request) {
      const current = await readHolder(file);
      const holder = current?.holder;
      if (holder?.workflow_id === request.workflow_id && (holder.run_id === undefined || request.run_id === undefined || holder.run_id === request.run_id)) {
        await fs.rm(file, { force: true });
      }
    },
    async inspect() {
      const current = await readHolder(file);
      if (current === undefined) return undefined;
      const holder = current.holder ?? { workflow_id: 'unknown', kind: 'backup', since: 'unknown' };
      const reason = await replaceable(current.holder);
      return { holder, blocking: reason === undefined, reason: reason ?? 'its holder is alive, or cannot be checked from here' };
    },
  };
}

/**
 * Replaces a dead holder's lock, one taker at a time: a directory beside the lock is the takers'
 * mutex (a taker killed while holding it blocks others for at most a minute), and the lock is
 * replaced only if it still holds exactly what was judged dead.
 */
async function takeOver(file: string, judged: string, mine: LockHolder): Promise<boolean> {
  const mutex = `${file}.takeover`;
  try {
    await fs.mkdir(mutex);
  } catch {
    const stat = await fs.stat(mutex).catch(() => undefined);
    if (stat !== undefined && Date.now() - stat.mtimeMs > 60_000) await fs.rm(mutex, { recursive: true, force: true });
    await new Promise((r) => setTimeout(r, 200));
    return false;
  }
  try {
    const now = await readHolder(file);
    if (now?.text !== judged) return false;
    await createLockFile(file, mine, true);
    return true;
  } finally {
    await fs.rm(mutex, { recursive: true, force: true });
  }
}

/** Takes the configured database's lock (see fileLock). */
export async function acquireLock(config: Config, request: LockRequest): Promise<LockAcquired> {
  return fileLock(config).acquire({ local: true, ...request });
}

/** Releases the lock if `workflowId` (and run) holds it. */
export async function releaseLock(config: Config, workflowId: string, runId?: string): Promise<void> {
  return fileLock(config).release({ workflow_id: workflowId, run_id: runId });
}
