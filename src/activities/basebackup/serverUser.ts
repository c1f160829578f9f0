// The PostgreSQL server programs (postgres, pg_ctl, pg_combinebackup) a point-in-time restore runs on
// the worker: found for the backup's major, and run as the postgres user when the worker is root.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import type { Config } from '../../config';
import { ErrorType, permanent } from '../../errors';
import { findToolCandidates } from '../clientTools';
import { installCommand } from '../pgToolChoice';
import { isRoot } from '../verifyServer/install';

export { asServerUser, isRoot } from '../verifyServer/install';

/** Gives the postgres user the directories a restored server runs in, when we are root. */
export async function handToServerUser(...dirs: string[]): Promise<void> {
  if (isRoot()) for (const dir of dirs) await execa('chown', ['-R', 'postgres', dir]);
}

/** The bin directory with PostgreSQL `major`'s server (postgres, pg_ctl); RecoveryFailed naming the install command when there is none. */
export async function serverBinDir(config: Config, major: number): Promise<string> {
  const found = (await findToolCandidates(config.pgBinDir)).find((c) => c.major === major && fs.existsSync(path.join(c.binDir, 'postgres')) && fs.existsSync(path.join(c.binDir, 'pg_ctl')));
  if (found === undefined) {
    throw permanent(ErrorType.RecoveryFailed, `the base backup is of PostgreSQL ${major}, and this worker has no PostgreSQL ${major} server programs (postgres, pg_ctl) to recover it with; run "${installCommand(major)}" (or point PG_BIN_DIR at them); nothing was changed`);
  }
  return found.binDir;
}

/** The postgres user's uid and gid when we are root (files handed to a server we run must be its own); undefined otherwise. */
export async function serverUserIds(): Promise<{ uid: number; gid: number } | undefined> {
  if (!isRoot()) return undefined;
  const id = async (flag: string) => Number((await execa('id', [flag, 'postgres'])).stdout.trim());
  return { uid: await id('-u'), gid: await id('-g') };
}
