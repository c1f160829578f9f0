// A scratch database (a verification's fbb_verify_*, a drill's fbb_drill_*) is claimed by a
// session-level advisory lock for as long as it is used. The lock is how a sweep tells one a running
// verification or drill restores into from one a killed run left, whatever host or backup directory
// it came from: the server releases a session's advisory locks when the session ends, however it
// ends (the worker SIGKILLed, its host gone, the server restarted). A drill takes no database lock,
// and another database's backup on the same server holds another lock, so only the claim tells.
import { Context } from '@temporalio/activity';
import type pg from 'pg';
import type { Config } from '../config';
import { connect, withClient } from './db';
import { databaseUnreachable } from './failures';
import type { Leftover } from './backup/prune';
import { ErrorType, transient } from '../errors';

/** The advisory lock's first key per kind ("fbbd", "fbbv"); its second is the first 8 hex digits of the name's hash. */
const KINDS = { fbb_drill_: 0x66626264, fbb_verify_: 0x66626276 } as const;
const SCRATCH = /^(fbb_drill_|fbb_verify_)([0-9a-f]{20})$/;

/** The advisory lock keys of scratch database `scratch` (exported for tests that hold one). */
export function lockKeys(scratch: string): [number, number] {
  const m = SCRATCH.exec(scratch);
  if (m === null) throw new Error(`"${scratch}" is not a scratch database name`);
  return [KINDS[m[1] as keyof typeof KINDS], parseInt(m[2]!.slice(0, 8), 16) | 0];
}

/** A held claim on one scratch name; `release` ends its session (and with it the lock). */
export interface ScratchClaim {
  release(): Promise<void>;
}

/**
 * Claims `scratch` on the server of `config.database` (in its maintenance database: advisory locks
 * are per database, and every claim and sweep takes them there). Another attempt of the same run
 * (same directory, database and backup) holding it is waited for, heartbeating, up to `waitMs`;
 * then a retryable `failure` error.
 */
export async function claimScratch(config: Config, scratch: string, failure: ErrorType, waitMs = 60_000): Promise<ScratchClaim> {
  const client = await connect(config.database, config.database.maintenanceDatabase).catch((err: unknown) => {
    throw databaseUnreachable(err, config);
  });
  client.on('error', () => undefined);
  const release = async () => {
    await client.end().catch(() => undefined);
  };
  try {
    const until = Date.now() + waitMs;
    for (;;) {
      if (await tryLock(client, scratch)) return { release };
      if (Date.now() >= until) {
        throw transient(failure, `another attempt with the same backup holds the scratch database ${scratch} (an earlier attempt still running); this attempt is retried`);
      }
      Context.current().heartbeat({ step: 'scratch_wait', scratch });
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  } catch (err) {
    await release();
    throw err;
  }
}

async function tryLock(client: pg.Client, scratch: string): Promise<boolean> {
  const [a, b] = lockKeys(scratch);
  const { rows } = await client.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS ok', [a, b]);
  return rows[0]!.ok;
}

/**
 * Drops the scratch databases (`fbb_verify_*`, `fbb_drill_*`) on the server of `config.database` that
 * no run claims: what verifications and drills killed before they dropped them left, from any host or
 * backup directory. Each is dropped while holding its claim (so a run that starts meanwhile waits,
 * then makes its own). `on` names the server in the leftovers returned.
 */
export async function sweepUnclaimedScratch(config: Config, options: { on?: string } = {}): Promise<Leftover[]> {
  return withClient(
    config.database,
    async (client) => {
      const found: Leftover[] = [];
      const { rows } = await client.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'fbb\\_drill\\_%' OR datname LIKE 'fbb\\_verify\\_%' ORDER BY datname");
      for (const { datname } of rows) {
        if (!SCRATCH.test(datname) || !(await tryLock(client, datname))) continue;
        try {
          await client.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
        } finally {
          await client.query('SELECT pg_advisory_unlock($1, $2)', lockKeys(datname));
        }
        found.push({ kind: 'scratch_database', name: options.on === undefined ? datname : `${datname} (on ${options.on})`, removed: true });
      }
      return found;
    },
    config.database.maintenanceDatabase,
  );
}
