// Where the Temporal CLI (`temporal`, which runs the dev server) is, and which version it is:
// for the dev server in tests, the demo and `fbb up`, and for `fbb doctor`.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import { projectRoot } from './projectRoot';

/** The pinned CLI version scripts/install-deps.sh installs into .tools/. */
export const TEMPORAL_CLI_VERSION = '1.9.1';

/** The Temporal CLI is not installed; the message names the install script. */
export class MissingTemporalCliError extends Error {
  override readonly name = 'MissingTemporalCliError';
}

/** Where install-deps.sh puts the pinned CLI. */
export function pinnedTemporalCliPath(): string {
  return path.join(projectRoot(), '.tools', `temporal-cli-${TEMPORAL_CLI_VERSION}`, 'temporal');
}

/** The `temporal` binary: TEMPORAL_CLI, else the pinned one in .tools/, else `temporal` on PATH; undefined when none. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.TEMPORAL_CLI) return env.TEMPORAL_CLI;
  const pinned = pinnedTemporalCliPath();
  if (fs.existsSync(pinned)) return pinned;
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    const candidate = path.join(dir, 'temporal');
    if (dir && fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

/** Why no CLI was found, e.g. "no Temporal CLI found (TEMPORAL_CLI=/x does not exist)". */
export function temporalCliNotFound(env: NodeJS.ProcessEnv = process.env): string {
  return `no Temporal CLI found (${env.TEMPORAL_CLI ? `TEMPORAL_CLI=${env.TEMPORAL_CLI} does not exist` : `looked for ${pinnedTemporalCliPath()} and "temporal" on PATH`})`;
}

/** What to do when the CLI is missing. */
export const TEMPORAL_CLI_INSTALL_HINT = 'run "bash scripts/install-deps.sh" to install the pinned version, or set TEMPORAL_CLI to a temporal binary';

/** The Temporal CLI's path, or MissingTemporalCliError naming the install script. */
export function requireTemporalCli(env: NodeJS.ProcessEnv = process.env): string {
  const cli = findTemporalCli(env);
  if (cli === undefined || !fs.existsSync(cli)) throw new MissingTemporalCliError(`${temporalCliNotFound(env)}; ${TEMPORAL_CLI_INSTALL_HINT}`);
  return cli;
}

/** `temporal --version`'s line, e.g. "temporal version 1.9.1 (Server 1.32.0, UI 2.54.1)". */
export async function temporalCliVersion(cli: string): Promise<string> {
  const { stdout } = await execa(cli, ['--version'], { timeout: 15_000 });
  return stdout.trim();
}
