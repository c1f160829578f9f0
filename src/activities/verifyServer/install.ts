// Which PostgreSQL server binaries this machine has, per major, and how to run them (as the postgres user when root).
import fs from 'node:fs';
import path from 'node:path';
import { toolsPgBinDirs } from '../clientTools';
import { installCommand } from '../pgToolChoice';
import { debianPgBinDirs } from '../pgTools';

/** PostgreSQL binaries or pgvector are not installed; the message names the install script. */
export class MissingPostgresError extends Error {
  override readonly name = 'MissingPostgresError';
}

/** The bin directory of PostgreSQL `major` with a server in it: Debian's, else .tools/postgresql-N's. */
export function pgBinDirForMajor(major: number): string {
  const candidates = [...debianPgBinDirs(), ...toolsPgBinDirs()].filter((dir) => path.basename(path.dirname(dir)).replace(/^postgresql-/, '') === String(major));
  const found = candidates.find((dir) => fs.existsSync(path.join(dir, 'postgres')) && fs.existsSync(path.join(dir, 'initdb')));
  if (found === undefined) throw new MissingPostgresError(`PostgreSQL ${major} is not installed (looked in /usr/lib/postgresql/${major}/bin and .tools/postgresql-${major}/bin); run "${installCommand(major)}"`);
  return found;
}

/** True when this process runs as root (which may not run postgres). */
export const isRoot = (): boolean => process.getuid?.() === 0;

/** Root cannot run postgres: the server tools run as the postgres user when we are root. */
export function asServerUser(file: string, args: string[]): [string, string[]] {
  return isRoot() ? ['runuser', ['-u', 'postgres', '--', file, ...args]] : [file, args];
}
