// Steps of a dump that are not the dump itself (roles, extensions, column order): one that fails with
// an error the server would raise again is recorded in the manifest and the backup goes on.
import type { ClientBase } from 'pg';
import type { SkippedStep } from '../../backup/manifest';
import { errorText, isQueryError } from '../db';

/**
 * Runs `fn` in a savepoint of the client's open transaction (the dump's snapshot survives a failed
 * query); a query error gives `fallback` and a line in `skipped`, anything else (a lost connection) is thrown.
 */
export async function optionalStep<T>(client: ClientBase, step: SkippedStep['step'], fn: () => Promise<T>, fallback: T, skipped: SkippedStep[]): Promise<T> {
  await client.query('SAVEPOINT fbb_optional');
  try {
    const value = await fn();
    await client.query('RELEASE SAVEPOINT fbb_optional');
    return value;
  } catch (err) {
    if (!isQueryError(err)) throw err;
    await client.query('ROLLBACK TO SAVEPOINT fbb_optional');
    skipped.push({ step, reason: errorText(err) });
    return fallback;
  }
}
