// The scratch directories of base-backup verifications: each records the process and run that made it
// (and its socket directory), so the next verification can stop and remove what a killed worker left,
// as the verification server's lock takes over a dead holder's (verifyServer/lock.ts).
import fs from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { postmasterPid } from '../verifyServer/cluster';
import { processAlive } from '../verifyServer/lock';

/** The file in a scratch directory naming who made it. */
const OWNER = 'fbb-owner.json';

interface Owner {
  pid: number;
  workflow_id: string;
  socket_dir?: string;
}

/** Records this process and run as the owner of `dir` (atomically: a reader never sees half of it). */
export async function writeOwner(dir: string, owner: Omit<Owner, 'pid'>): Promise<void> {
  const tmp = path.join(dir, `.${OWNER}.tmp`);
  await fs.writeFile(tmp, JSON.stringify({ pid: process.pid, ...owner }));
  await fs.rename(tmp, path.join(dir, OWNER));
}

/** A directory without an owner file this old was left by a process killed as it made it. */
const ORPHAN_MS = 10 * 60_000;

/**
 * Stops and removes the scratch clusters under `root` of processes that are gone, and any of run
 * `workflowId` (an earlier attempt of this run). Those of live processes, other runs, stay.
 */
export async function removeLeftovers(root: string, workflowId: string): Promise<string[]> {
  const removed: string[] = [];
  for (const name of await fs.readdir(root).catch(() => [] as string[])) {
    const dir = path.join(root, name);
    const owner = await fs.readFile(path.join(dir, OWNER), 'utf8').then((t) => JSON.parse(t) as Owner, () => undefined);
    if (owner === undefined) {
      const old = await fs.stat(dir).then((s) => Date.now() - s.mtimeMs > ORPHAN_MS, () => false);
      if (!old) continue;
    } else if (owner.workflow_id !== workflowId && processAlive(owner.pid)) {
      continue;
    }
    await stopPostmaster(path.join(dir, 'data'));
    await fs.rm(dir, { recursive: true, force: true });
    if (owner?.socket_dir !== undefined) await fs.rm(owner.socket_dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

/** Stops the postmaster of `dataDir` if one runs (immediate shutdown: scratch data), waiting until it is gone. */
async function stopPostmaster(dataDir: string): Promise<void> {
  const pid = postmasterPid(dataDir);
  if (pid === undefined || !(await isPostgres(pid))) return;
  process.kill(pid, 'SIGQUIT');
  for (let waited = 0; (await isPostgres(pid)) && waited < 30_000; waited += 200) await sleep(200);
  if (await isPostgres(pid)) process.kill(pid, 'SIGKILL');
}

async function isPostgres(pid: number): Promise<boolean> {
  return (await fs.readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() === 'postgres';
}
