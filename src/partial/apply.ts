// Puts a scope's backup rows into the live database: one transaction, verified before it commits.
import type { ClientBase } from 'pg';
import { ErrorType, permanent } from '../errors';
import { ident, type TableInfo } from './catalog';
import { dataColumns, hashChanges, HASH_AGG, ownerHashes, rowHash, sameKey, scopeHash } from './hash';
import { conflictMessage } from './messages';
import type { PartialPlan } from './plan';
import type { Scope } from './scope';
import type { Stage } from './stage';

/** What the apply did and found. */
export interface Applied {
  /** Rows deleted, updated, inserted per table, as the statements reported them. */
  changed: Record<string, { deleted: number; updated: number; inserted: number }>;
  sequences_moved: string[];
  verification: { tables: Record<string, { backup: string; live: string }>; others_unchanged: number; ok: boolean; differences: string[] };
}

/**
 * Inside the live client's open REPEATABLE READ transaction, with the backup's rows staged and the
 * plan free of conflicts: hashes every other tenant's rows (or the guarded tables), defers what
 * constraints can be deferred, switches the scope tables' user triggers off (a restore puts rows
 * back as they were; an updated_at trigger would rewrite them), deletes children first, then per
 * table in parent-first order updates and inserts, moves sequences forward only, and checks the
 * scope's rows against the backup's and everyone else's against their hashes. The caller commits
 * only if `verification.ok`. Needs the tables' owner (ALTER TABLE ... DISABLE TRIGGER) when they have triggers.
 */
export async function applyStaged(live: ClientBase, scope: Scope, stages: Stage[], plan: PartialPlan, onStep: (step: string) => void): Promise<Applied> {
  onStep('hashing other tenants');
  const before = await ownerHashes(live, scope, scope.kind === 'tenant' ? scope.label : undefined);
  await live.query('SET CONSTRAINTS ALL DEFERRED');
  const triggered = stages.filter((s) => s.table.hasUserTriggers);
  for (const s of triggered) await live.query(`ALTER TABLE ${s.table.id} DISABLE TRIGGER USER`);
  const changed: Applied['changed'] = {};
  for (const s of stages) changed[s.table.name] = { deleted: 0, updated: 0, inserted: 0 };
  for (const s of [...stages].reverse()) {
    onStep(`deleting from ${s.table.name}`);
    changed[s.table.name]!.deleted = (await live.query(`DELETE FROM ${s.table.id} t WHERE ${scope.where(s.table.id, 't')} AND NOT EXISTS (SELECT 1 FROM ${s.stage} s WHERE ${sameRow(s.table)})`)).rowCount ?? 0;
  }
  for (const s of stages) {
    const t = s.table;
    const cols = dataColumns(t);
    onStep(`writing ${t.name}`);
    // Key columns are equal by the join (and an identity GENERATED ALWAYS key may not be set).
    const set = cols.filter((c) => !t.key?.includes(c));
    if (t.key && set.length > 0) {
      changed[t.name]!.updated = (
        await live.query(`UPDATE ${t.id} t SET (${set.map(ident).join(', ')}) = ROW(${set.map((c) => `s.${ident(c)}`).join(', ')})
          FROM ${s.stage} s WHERE ${sameRow(t)} AND ${rowHash(t, 't')} <> s._fbb_h`)
      ).rowCount ?? 0;
    }
    const list = cols.map(ident).join(', ');
    const absent = t.key ? sameRow(t) : `${rowHash(t, 't')} = s._fbb_h AND ${scope.where(t.id, 't')}`;
    changed[t.name]!.inserted = (
      await live.query(`INSERT INTO ${t.id} (${list}) OVERRIDING SYSTEM VALUE SELECT ${cols.map((c) => `s.${ident(c)}`).join(', ')} FROM ${s.stage} s
        WHERE NOT EXISTS (SELECT 1 FROM ${t.id} t WHERE ${absent})`)
    ).rowCount ?? 0;
  }
  const moved: string[] = [];
  for (const q of plan.sequences.filter((q) => q.moves)) {
    await live.query(`SELECT setval('${q.sequence.replace(/'/g, "''")}', greatest(${BigInt(q.needed).toString()}, last_value)) FROM ${q.sequence}`);
    moved.push(`${q.sequence}: ${q.live} → ${q.needed}`);
  }
  for (const s of triggered) await live.query(`ALTER TABLE ${s.table.id} ENABLE TRIGGER USER`);
  // Deferred foreign keys are checked here, inside the transaction, rather than at COMMIT.
  await live.query('SET CONSTRAINTS ALL IMMEDIATE');

  onStep('verifying');
  const tables: Applied['verification']['tables'] = {};
  const differences: string[] = [];
  for (const s of stages) {
    const backup = (await live.query<{ n: string; hash: string }>(`SELECT ${HASH_AGG} FROM (SELECT _fbb_h AS h FROM ${s.stage}) x`)).rows[0]!;
    const now = await scopeHash(live, scope, s.table);
    tables[s.table.name] = { backup: `${backup.n} rows, ${backup.hash}`, live: now };
    if (tables[s.table.name]!.backup !== now) differences.push(`${s.table.name}: the backup has ${tables[s.table.name]!.backup}, the live database now ${now}`);
  }
  const after = await ownerHashes(live, scope, scope.kind === 'tenant' ? scope.label : undefined);
  differences.push(...hashChanges(before, after).map((d) => `outside the restore, ${d}`));
  return { changed, sequences_moved: moved, verification: { tables, others_unchanged: Object.keys(before).length, ok: differences.length === 0, differences } };
}

/** SQL: the staged row `s` is the live row `t` (same primary key; same content without one). */
function sameRow(t: TableInfo): string {
  return t.key ? sameKey(t, t.key, 's', 't') : `s._fbb_h = ${rowHash(t, 't')}`;
}

/** The failure for a plan with conflicts: named, listing them; nothing was changed. */
export function conflictError(plan: PartialPlan): Error {
  return permanent(plan.kind === 'tenant' ? ErrorType.TenantRestoreConflict : ErrorType.TableRestoreConflict, conflictMessage(plan), undefined, plan.conflicts);
}
