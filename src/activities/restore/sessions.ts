// The live database's other sessions around a restore in place, as the swap treats them: ended
// where this role may end them; where it may not, named in the failure that says what to do.
import type { Config } from '../../config';
import { ErrorType, permanent, transient } from '../../errors';
import { withClient } from '../db';

/** Another session on the live database. */
export interface Session {
  pid: number;
  user: string;
  application: string;
  state: string | null;
}

/** Ends every other client session on `database` that this role may end; returns those it could not end. */
export async function endSessions(config: Config, database: string): Promise<Session[]> {
  return withClient(
    config.database,
    async (c) => {
      const { rows } = await c.query<Session>(
        // Another role's session shows no backend_type (nor state) to a role without pg_read_all_stats: it is a session all the same.
        "SELECT pid, usename AS user, application_name AS application, state FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND (backend_type = 'client backend' OR backend_type IS NULL) ORDER BY pid",
        [database],
      );
      const kept: Session[] = [];
      for (const session of rows) {
        // Without the right to signal it (another role's or a superuser's session) PostgreSQL refuses with an error.
        const ended = await c.query<{ ok: boolean }>('SELECT pg_terminate_backend($1) AS ok', [session.pid]).then(
          (r) => r.rows[0]?.ok === true,
          () => false,
        );
        if (!ended) kept.push(session);
      }
      return kept;
    },
    config.database.maintenanceDatabase,
  );
}

/** True when a restore failed because a statement waited longer than lock_timeout (SQLSTATE 55P03). */
export function lockTimedOut(err: unknown): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    if (/canceling statement due to lock timeout|55P03/.test(e.message) || (e as { stderr?: unknown }).stderr?.toString().includes('lock timeout')) return true;
  }
  return false;
}

/**
 * The failure of an in-place restore that could not get its locks: nothing changed; who holds the
 * database, and what to do. Final for a restore; a rollback (the last line of defence) tries again.
 */
export function databaseInUse(config: Config, step: 'restore' | 'rollback', kept: Session[], waits: number, cause: unknown): Error {
  const who = kept.length > 0 ? kept.map((s) => `pid ${s.pid} (user ${s.user}${s.application ? `, application "${s.application}"` : ''}${s.state ? `, ${s.state}` : ''})`).join(', ') : 'sessions that reconnected as soon as they were ended';
  return (step === 'rollback' ? transient : permanent)(
    ErrorType.DatabaseInUse,
    `the in-place ${step === 'rollback' ? 'rollback' : 'restore'} of "${config.database.database}" waited ${waits} times ${config.restore.lockTimeoutSeconds} s (RESTORE_LOCK_TIMEOUT_SECONDS) for locks held by other sessions and gave up; ` +
      `still connected and not ours to end: ${who}; its transaction was rolled back, nothing was changed; ` +
      'stop the application (or end those sessions as a superuser: SELECT pg_terminate_backend(pid)) and restore again',
    cause,
  );
}
