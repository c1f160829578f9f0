// The partial restores' activities: plan, apply (one transaction, verified), and a table loaded beside.
import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import type { Config } from '../config';
import { ErrorType, permanent, transient } from '../errors';
import { connect } from '../activities/db';
import { databaseUnreachable } from '../activities/failures';
import { every } from '../activities/stream';
import type { ScratchPlace } from '../activities/restore/scratchCopy';
import { openScratchServer } from '../activities/verifyServer/target';
import { findTable, ident, readCatalog } from './catalog';
import { parseQualifiedName } from './input';
import { applyStaged, conflictError, type Applied } from './apply';
import { dataColumns, STABLE_TEXT } from './hash';
import { computePlan, type PartialPlan } from './plan';
import { tableScope, tenantScope, type Scope } from './scope';
import { loadStages, type Stage } from './stage';

/** What a partial restore works on: the backup loaded into `scratch_database`, and one tenant or one table. */
export interface PartialTarget {
  scratch_database: string;
  /** `verify`: the copy is on the scratch server of VERIFY_TARGET (the worker's own, on the worker that loaded it); absent: beside the live database. */
  scratch_server?: ScratchPlace;
  tenant_id?: string;
  table?: string;
  /** The tenant column and root table; absent or null: the worker's TENANT_COLUMN and TENANT_TABLE. */
  tenant_column?: string | null;
  tenant_table?: string | null;
}

/** The partial restores' activities. */
export function createPartialActivities(config: Config) {
  return {
    /** The plan, from a transaction on the live database that is rolled back: nothing changes. */
    async planPartialRestore(target: PartialTarget): Promise<PartialPlan> {
      return withStaged(config, target, 'plan', async ({ live, scratch, scope, stages }) => {
        const plan = await computePlan(live, scratch, scope, stages);
        if (scope.kind === 'tenant' && rowsOf(plan, 0) === 0) {
          throw permanent(
            ErrorType.InvalidRestoreInput,
            `tenant "${target.tenant_id}" is neither in the backup nor in the live database (no row of ${plan.tables[0]!.table} has that id); nothing was changed; check the id (SELECT id FROM ${plan.tables[0]!.table})`,
          );
        }
        return plan;
      });
    },

    /**
     * Plans again in the same transaction (the database may have moved on since the confirmation),
     * refuses on conflicts, applies, verifies, and commits only a verified result. Idempotent: a
     * retry after a commit finds nothing left to change.
     */
    async applyPartialRestore(target: PartialTarget): Promise<{ plan: PartialPlan; applied: Applied }> {
      return withStaged(config, target, 'apply', async ({ live, scratch, scope, stages, step }) => {
        const plan = await computePlan(live, scratch, scope, stages);
        if (plan.conflicts.length > 0) throw conflictError(plan);
        const applied = await applyStaged(live, scope, stages, plan, step).catch((err: unknown) => {
          const code = (err as { code?: string }).code;
          if (code === '40001' || code === '40P01') throw transient(ErrorType.RestoreFailed, `the restore met a concurrent change (${(err as Error).message}); its transaction was rolled back`, err);
          if (code?.startsWith('23') || code === '42501') {
            throw permanent(ErrorType.RestoreFailed, `the restore's transaction failed (${(err as Error).message}) and was rolled back; nothing was changed`, err);
          }
          throw err;
        });
        if (!applied.verification.ok) {
          throw permanent(
            ErrorType.RestoreVerificationFailed,
            `after the restore, inside its transaction: ${applied.verification.differences.slice(0, 5).join('; ')}; the transaction was rolled back, nothing was changed`,
            undefined,
            applied.verification,
          );
        }
        await live.query('COMMIT');
        return { plan, applied };
      });
    },

    /** `--as`: the backup's rows of `table` into a new table beside it (same columns, defaults, checks, indexes), in one transaction. */
    async restoreTableBeside(target: PartialTarget & { table: string; as: string }): Promise<{ table: string; rows: number }> {
      const { live, scratch, stop } = await open(config, target, 'beside');
      try {
        await live.query('BEGIN');
        const source = findTable(await readCatalog(live), target.table);
        if (source === undefined) throw permanent(ErrorType.InvalidRestoreInput, `the live database has no table "${target.table}" (expected schema.table); nothing was changed`);
        const [schema] = source.name.split('.');
        const as = parseQualifiedName(target.as);
        if (as === undefined) throw permanent(ErrorType.InvalidRestoreInput, `"${target.as}" is not a table name; nothing was changed`);
        const [newSchema, newTable] = [as.schema ?? schema!, as.name];
        const name = `${newSchema}.${newTable}`;
        const exists = await live.query('SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = $2', [newSchema, newTable]);
        if (exists.rowCount) throw permanent(ErrorType.InvalidRestoreInput, `"${name}" already exists; nothing was changed; pick another --as name, or drop it first`);
        const to = `${ident(newSchema)}.${ident(newTable)}`;
        await live.query(`CREATE TABLE ${to} (LIKE ${source.id} INCLUDING DEFAULTS INCLUDING CONSTRAINTS INCLUDING INDEXES INCLUDING GENERATED INCLUDING COMMENTS)`);
        const cols = dataColumns(source).map(ident).join(', ');
        // A table without columns has rows all the same: COPY takes them with no column list.
        await pipeline(scratch.query(copyTo(`COPY (SELECT ${cols} FROM ${source.id}) TO STDOUT`)), live.query(copyFrom(`COPY ${to}${cols ? ` (${cols})` : ''} FROM STDIN`)));
        const copied = Number((await live.query<{ n: string }>(`SELECT count(*) AS n FROM ${to}`)).rows[0]!.n);
        const backup = Number((await scratch.query<{ n: string }>(`SELECT count(*) AS n FROM ${source.id}`)).rows[0]!.n);
        if (copied !== backup) throw permanent(ErrorType.RestoreVerificationFailed, `${name} received ${copied} rows, the backup's ${source.name} has ${backup}; rolled back, nothing was changed`);
        await live.query('COMMIT');
        return { table: name, rows: copied };
      } finally {
        await stop();
      }
    },
  };
}

/** Rows of the plan's `i`th table, live and backup together. */
function rowsOf(plan: PartialPlan, i: number): number {
  const t = plan.tables[i]!;
  return t.delete + t.insert + t.update + t.unchanged;
}

interface Staged {
  live: pg.Client;
  scratch: pg.Client;
  scope: Scope;
  stages: Stage[];
  step: (step: string) => void;
}

/** Connections to the live and scratch databases; heartbeats; a cancellation ends both (the open transaction rolls back). */
async function open(config: Config, target: PartialTarget, label: string): Promise<{ live: pg.Client; scratch: pg.Client; step: (s: string) => void; stop: () => Promise<void> }> {
  const ctx = Context.current();
  const scratchDb = target.scratch_database;
  const server = target.scratch_server === 'verify' ? await openScratchServer(config, { filename: scratchDb, extensions: [], roles: [] }) : undefined;
  const live = await connect(config.database).catch((err: unknown) => {
    server?.release();
    throw databaseUnreachable(err, config);
  });
  const scratch = await connect((server?.config ?? config).database, scratchDb).catch(async (err: unknown) => {
    server?.release();
    await live.end().catch(() => undefined);
    throw scratchOpenError(err, server?.config ?? config, scratchDb);
  });
  let current = label;
  const stopBeat = every(2_000, () => ctx.heartbeat({ step: current }));
  const cancel = () => {
    void live.end().catch(() => undefined);
    void scratch.end().catch(() => undefined);
  };
  ctx.cancellationSignal.addEventListener('abort', cancel);
  await live.query(STABLE_TEXT);
  await scratch.query(STABLE_TEXT);
  return {
    live,
    scratch,
    step: (s) => (current = s),
    stop: async () => {
      stopBeat();
      ctx.cancellationSignal.removeEventListener('abort', cancel);
      await live.query('ROLLBACK').catch(() => undefined);
      await Promise.all([live.end().catch(() => undefined), scratch.end().catch(() => undefined)]);
      server?.release();
    },
  };
}

/**
 * Why the scratch copy could not be opened: the server restarting or unreachable is retried, as it is
 * for the live database (the soak, seed 2626: a pg_ctl -m immediate restart failed a tenant restore that
 * a retry a second later would have finished); the copy gone (a sweep dropped it) or refused for good
 * (credentials) is RestoreFailed: restore again.
 */
export function scratchOpenError(err: unknown, on: Config, scratchDb: string): Error {
  const unreachable = databaseUnreachable(err, { ...on, database: { ...on.database, database: scratchDb } });
  if (unreachable instanceof ApplicationFailure && unreachable.nonRetryable !== true) return unreachable;
  return permanent(ErrorType.RestoreFailed, `the backup's scratch copy ${scratchDb} cannot be opened (${(err as Error).message}); restore again`, err);
}

/** Opens both databases, a REPEATABLE READ transaction on the live one (rolled back unless `fn` commits), and stages the backup's rows. */
async function withStaged<T>(config: Config, target: PartialTarget, label: string, fn: (s: Staged) => Promise<T>): Promise<T> {
  const { live, scratch, step, stop } = await open(config, target, label);
  try {
    await live.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
    await scratch.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const catalog = await readCatalog(live);
    const scope =
      target.tenant_id !== undefined
        ? tenantScope(catalog, target.tenant_id, { column: target.tenant_column ?? config.tenants.column, rootTable: target.tenant_table ?? config.tenants.table })
        : tableScope(catalog, target.table ?? '');
    const stages = await loadStages(live, scratch, scope, (t) => step(`staging ${t}`));
    return await fn({ live, scratch, scope, stages, step });
  } finally {
    await stop();
  }
}
