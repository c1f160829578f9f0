import fs from 'node:fs';
import { check, type CheckResult } from '../../doctor/report';
import { findTemporalCli, TEMPORAL_CLI_INSTALL_HINT, temporalCliNotFound, temporalCliVersion } from '../../temporalCli';

/** Only a local dev server needs it, hence the warning. */
const NEEDED_FOR = 'it is needed only to run a Temporal dev server on this machine (npm run demo, a server without Docker)';

/**
 * The Temporal CLI's version (TEMPORAL_CLI, the pinned one in .tools/, or `temporal` on PATH), or
 * how to install it: a warning, never a failure, since backups run on any Temporal server.
 */
export async function checkTemporalCli(env: NodeJS.ProcessEnv = process.env): Promise<CheckResult> {
  const cli = findTemporalCli(env);
  if (cli === undefined || !fs.existsSync(cli)) return check('temporal_cli', 'warn', `${temporalCliNotFound(env)}; ${NEEDED_FOR}`, TEMPORAL_CLI_INSTALL_HINT);
  try {
    return check('temporal_cli', 'ok', `${await temporalCliVersion(cli)} at ${cli}`);
  } catch (err) {
    return check('temporal_cli', 'warn', `${cli} did not run: ${(err as Error).message.split('\n')[0]!}; ${NEEDED_FOR}`, TEMPORAL_CLI_INSTALL_HINT);
  }
}
