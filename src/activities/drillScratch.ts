// A drill's scratch database is claimed by a session-level advisory lock for as long as the drill
// uses it. A drill takes no database lock (it reads nothing of the live database), so the lock is
// how a sweep tells a scratch database a running drill restores into from one a killed drill left:
// the server releases a session's advisory locks when the session ends, however it ends (the
// worker SIGKILLed, its host gone, the server restarted).
import { Context } from '@temporalio/activity';
import type pg from 'pg';
import type { Config } from '../config';
import { connect } from './db';
import type { Leftover } from './backup/prune';
import { ErrorType, transient } from '../errors';

/** The advisory lock's first key: "fbbd". Its second is the scratch name's hash. */
const DRILL_LOCK_CLASS = 0x66626264;
const DRILL_PREFIX = 'fbb_drill_';

function lockKeys(scratch: string): [number, number] {
  // The name is fbb_drill_<20 hex digits>; its first 8 as a signed 32-bit integer.
  return [DRILL_LOCK_CLASS, parseInt(scratch.slice(DRILL_PREFIX.length, DRILL_PREFIX.length + 8), 16) | 0];
}

/** A held claim on one scratch name; `release` ends its session (and with it the lock). */
export interface DrillClaim {
  release(): Promise<void>;
}

/**
 * Claims `scratch` on the server of `config.database` (in its maintenance database: advisory locks
 * are per database, and every claim and sweep takes them there). Another attempt of the same drill
 * (same directory, database and backup) holding it is waited for, heartbeating, up to `waitMs`;
 * then a retryable DrillFailed.
 */
export async function claimDrillScratch(config: Config, scratch: string, waitMs = 60_000): Promise<DrillClaim> {
  const client = await connect(config.database, config.database.maintenanceDatabase);
  client.on('error', () => undefined);
  const release = async () => {
    await client.end().catch(() => undefined);
  };
  try {
    const until = Date.now() + waitMs;
    for (;;) {
      if (await tryLock(client, scratch)) return { release };
      if (Date.now() >= until) {
        throw transient(ErrorType.DrillFailed, `another drill of the same backup holds the scratch database ${scratch} (an earlier attempt still running); this attempt is retried`);
      }
      Context.current().heartbeat({ step: 'drill_wait', scratch });
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
 * The `fbb_drill_*` databases on the server of `config.database` that no drill claims: what drills
 * killed before they dropped them left. Unless `dryRun`, drops each while holding its claim (so a
 * drill that starts meanwhile waits, then makes its own). `on` names the server in the leftover.
 */
export async function sweepDrillScratch(config: Config, options: { dryRun: boolean; on?: string }): Promise<Leftover[]> {
  const client = await connect(config.database, config.database.maintenanceDatabase);
  client.on('error', () => undefined);
  const found: Leftover[] = [];
  try {
    const { rows } = await client.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'fbb\\_drill\\_%' ORDER BY datname");
    for (const { datname } of rows) {
      if (!/^fbb_drill_[0-9a-f]{20}$/.test(datname)) continue;
      if (!(await tryLock(client, datname))) continue;
      const [a, b] = lockKeys(datname);
      try {
        if (!options.dryRun) await client.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`);
      } finally {
        await client.query('SELECT pg_advisory_unlock($1, $2)', [a, b]);
      }
      found.push({ kind: 'scratch_database', name: options.on === undefined ? datname : `${datname} (on ${options.on})`, removed: !options.dryRun });
    }
  } finally {
    await client.end().catch(() => undefined);
  }
  return found;
}
