import type { Config } from '../../config';
import { check, type CheckResult } from '../../doctor/report';
import { fileLock, lockPath } from '../backup/lock';
import { cleanLeftovers, type Leftover } from '../backup/prune';

/**
 * What killed or crashed runs left: the database's lock and whether its holder is alive, partial
 * dump files, scratch and half-restored databases, databases of ours closed to connections.
 * Changes nothing; the next backup or restore removes what belongs to runs that are gone.
 */
export async function checkLeftovers(config: Config): Promise<CheckResult[]> {
  const file = lockPath(config);
  const lock = await fileLock(config).inspect();
  const h = lock?.holder;
  const who = h ? `${h.kind} ${h.workflow_id}${h.pid ? ` (pid ${h.pid} on ${h.host ?? '?'}${h.local ? ', --local' : ''})` : ''}, since ${h.since}` : '';
  const lockResult =
    lock === undefined
      ? check('lock', 'ok', `no backup or restore of "${config.database.database}" holds ${file}`)
      : lock.blocking
        ? check('lock', 'ok', `held by the running ${who}`)
        : check('lock', 'warn', `${file} is held by ${who}, which no longer blocks: ${lock.reason}`, 'the next backup or restore takes it over and cleans up after that run; nothing to do by hand');
  if (lock?.blocking) {
    return [lockResult, check('leftovers', 'skip', `not checked: the ${h!.kind} ${h!.workflow_id} is running and may be using its files and databases`)];
  }
  let found: Leftover[];
  try {
    found = await cleanLeftovers(config, { dryRun: true, before: new Date() });
  } catch (err) {
    return [lockResult, check('leftovers', 'skip', `not checked: ${(err as Error).message}`)];
  }
  const closed = found.filter((l) => l.kind === 'closed_database');
  const rest = found.filter((l) => l.kind !== 'closed_database');
  const results = [lockResult];
  results.push(
    rest.length === 0
      ? check('leftovers', 'ok', 'no partial dump files, scratch or half-restored databases left by earlier runs')
      : check('leftovers', 'warn', `left by runs that did not finish: ${rest.map((l) => `${l.kind.replace('_', ' ')} ${l.name}`).join(', ')}`, 'the next backup removes them (fbb backup --local), or remove them by hand'),
  );
  for (const c of closed) {
    results.push(
      check('closed_database', 'fail', `database "${c.name}" refuses every connection (datallowconn is false), probably left by a restore killed during its swap`, `run: psql -d ${config.database.maintenanceDatabase} -c 'ALTER DATABASE "${c.name}" WITH ALLOW_CONNECTIONS true'`),
    );
  }
  return results;
}

/**
 * What checkLeftovers looks at, as data (for `fbb list`): the leftovers of runs no longer running,
 * or, while a run holds the database's lock, none and that run (its files and databases are in use).
 */
export async function findLeftovers(config: Config): Promise<{ running: string | null; leftovers: Leftover[] }> {
  const lock = await fileLock(config).inspect();
  if (lock?.blocking) return { running: `${lock.holder.kind} ${lock.holder.workflow_id}`, leftovers: [] };
  return { running: null, leftovers: await cleanLeftovers(config, { dryRun: true, before: new Date() }) };
}
