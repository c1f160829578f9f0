// Finds the PostgreSQL client tools on this machine and picks, per server, the ones that can dump
// and restore it (pgToolChoice.ts holds the rule); a named error when none can, before anything runs.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import type { Config, DatabaseConfig } from '../config';
import { ErrorType, permanent } from '../errors';
import { projectRoot } from '../projectRoot';
import { databaseUnreachable } from './failures';
import { withClient } from './db';
import { chooseClientTools, type ToolCandidate, type ToolChoice } from './pgToolChoice';
import { debianPgBinDirs, parseToolVersion } from './pgTools';

/** The installs scripts/install-deps.sh --postgres N puts in .tools/postgresql-N/bin. */
export function toolsPgBinDirs(root = path.join(projectRoot(), '.tools')): string[] {
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .filter((name) => /^postgresql-\d+$/.test(name))
    .map((name) => path.join(root, name, 'bin'));
}

const probed = new Map<string, Promise<ToolCandidate | undefined>>();

/** pg_dump --version of one directory; undefined when it has no pg_dump that runs. */
function probe(binDir: string, source: ToolCandidate['source']): Promise<ToolCandidate | undefined> {
  const key = `${source}:${binDir}`;
  let found = probed.get(key);
  if (found === undefined) {
    found = execa(path.join(binDir, 'pg_dump'), ['--version'], { reject: false, timeout: 10_000 }).then((run) => {
      const version = run.exitCode === 0 ? parseToolVersion(run.stdout) : undefined;
      return version === undefined ? undefined : { binDir, source, ...version };
    });
    probed.set(key, found);
  }
  return found;
}

/** Every client tool directory this machine has: PG_BIN_DIR alone when set, else Debian's and .tools'. */
export async function findToolCandidates(pgBinDir: string | undefined): Promise<ToolCandidate[]> {
  const dirs: [string, ToolCandidate['source']][] =
    pgBinDir !== undefined ? [[pgBinDir, 'PG_BIN_DIR']] : [...debianPgBinDirs().map((d) => [d, 'debian'] as [string, 'debian']), ...toolsPgBinDirs().map((d) => [d, '.tools'] as [string, '.tools'])];
  const found = await Promise.all(dirs.map(([dir, source]) => probe(dir, source)));
  return found.filter((c): c is ToolCandidate => c !== undefined);
}

/** The server's major version (15, 17, ...). */
export async function serverMajorOf(db: DatabaseConfig, database = db.maintenanceDatabase): Promise<number> {
  return withClient(db, async (client) => Number((await client.query<{ n: string }>("SELECT current_setting('server_version_num') AS n")).rows[0]!.n) / 10000, database).then(Math.floor);
}

/** The choice of client tools for the server in `config.database` (asked in `database`), with the server's major. */
export async function chooseToolsFor(config: Config, database: string = config.database.database): Promise<ToolChoice & { serverMajor: number }> {
  const serverMajor = await serverMajorOf(config.database, database).catch((err: unknown) => {
    throw databaseUnreachable(err, config);
  });
  return { ...chooseClientTools(await findToolCandidates(config.pgBinDir), serverMajor), serverMajor };
}

/**
 * `config` with pgBinDir set to the client tools for its server; a non-retryable
 * ClientToolsMismatch (what was found, the server's version, the command that fixes it) when none fits.
 */
export async function withClientTools(config: Config, database: string = config.database.database): Promise<Config> {
  const choice = await chooseToolsFor(config, database);
  if (!choice.ok) {
    throw permanent(ErrorType.ClientToolsMismatch, `no PostgreSQL client tools can work with the server at ${config.database.host}:${config.database.port}: ${choice.reason}; nothing was run; ${choice.fix}`);
  }
  return { ...config, pgBinDir: choice.chosen.binDir };
}
