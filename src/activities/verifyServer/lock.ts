// Cross-process coordination of one verification server: a lock file held while it is started or
// stopped, and one lease file per process using it, so that no process stops it under another.
import fs from 'node:fs/promises';
import path from 'node:path';

/** Whether process `pid` exists (a signal 0 reaches it, or it belongs to another user). */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` holding `file` (created exclusively, holding our pid). A lock whose process is gone (a
 * killed worker) is taken over; one a live process holds is waited for, up to `timeoutMs`.
 */
export async function withLockFile<T>(file: string, fn: () => Promise<T>, timeoutMs = 180_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const handle = await fs.open(file, 'wx');
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const holder = Number((await fs.readFile(file, 'utf8').catch(() => '')).trim());
      // An empty file is one being written right now: wait for it like a live holder.
      if (holder > 0 && !processAlive(holder)) {
        // Only the dead holder's file goes: another process may have taken it over since it was read.
        // (The window left is tiny, and the postmaster's own postmaster.pid interlock still keeps two servers off one data directory.)
        const still = Number((await fs.readFile(file, 'utf8').catch(() => '')).trim());
        if (still === holder) await fs.rm(file, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${file} is held by process ${holder || '(unknown)'} for more than ${Math.round(timeoutMs / 1000)} s; if no such process runs, remove the file`, { cause: err });
      await new Promise((r) => setTimeout(r, 100 + Math.random() * 100));
    }
  }
  try {
    return await fn();
  } finally {
    await fs.rm(file, { force: true });
  }
}

/** Records that this process uses the server whose leases are in `dir`. */
export async function takeLease(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  await fs.writeFile(path.join(dir, String(process.pid)), `${new Date().toISOString()}\n`);
}

/** Removes this process's lease in `dir`. */
export async function dropLease(dir: string): Promise<void> {
  await fs.rm(path.join(dir, String(process.pid)), { force: true });
}

/** Live processes other than this one holding a lease in `dir`; leases of dead processes are removed. */
export async function otherLeaseHolders(dir: string): Promise<number[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const live: number[] = [];
  for (const name of names) {
    const pid = Number(name);
    if (pid === process.pid) continue;
    if (processAlive(pid)) live.push(pid);
    else await fs.rm(path.join(dir, name), { force: true });
  }
  return live;
}
