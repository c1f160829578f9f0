// Content hashes of a database as the soak compares them: every tenant's rows per table, and every
// other table whole, except the write load's table; and what a restore promises to leave.
import type pg from 'pg';
import { readCatalog } from '../../src/partial/catalog';
import { HASH_AGG, ownerHashes, rowHash, STABLE_TEXT } from '../../src/partial/hash';
import { tenantScope } from '../../src/partial/scope';
import { LOAD_TABLE } from './loadTable';

/** Rows the program writes itself on every run (its run records in system_logs): accounted for, not compared. */
const OWN_ROWS: Record<string, string> = { 'public.system_logs': "source NOT IN ('backup', 'restore_drill')" };

/** "public.users tenant <id>" or "public.system_logs (all rows)" → "<rows> rows, <md5>". */
export type State = Record<string, string>;

/** The state of the database `c` is connected to. */
export async function readState(c: pg.Client): Promise<State> {
  await c.query(STABLE_TEXT);
  const catalog = await readCatalog(c);
  const scope = tenantScope(catalog, '-');
  const state = await ownerHashes(c, scope);
  for (const name of scope.leftAlone) {
    const t = [...catalog.tables.values()].find((x) => x.name === name)!;
    if (t.name.endsWith(`.${LOAD_TABLE}`) || t.name === LOAD_TABLE) continue;
    const { rows } = await c.query<{ n: string; hash: string }>(`SELECT ${HASH_AGG} FROM (SELECT ${rowHash(t, 't')} AS h FROM ${t.id} t WHERE ${OWN_ROWS[t.name] ?? 'true'}) x`);
    state[`${t.name} (all rows)`] = `${rows[0]!.n} rows, ${rows[0]!.hash}`;
  }
  return state;
}

/** What an operation promises the live database holds after it succeeds, from the state before and the backup's. */
export function promised(op: { kind: string; tenant?: string; table?: string }, before: State, backup: State | undefined): State | undefined {
  if (op.kind === 'restore') return backup;
  if (op.kind === 'restore_tenant' || op.kind === 'restore_table') {
    if (backup === undefined) return undefined;
    const mine = (k: string) => (op.kind === 'restore_tenant' ? k.endsWith(` tenant ${op.tenant}`) : k.startsWith(`${op.table} `));
    const out: State = {};
    for (const [k, v] of Object.entries(before)) if (!mine(k)) out[k] = v;
    for (const [k, v] of Object.entries(backup)) if (mine(k)) out[k] = v;
    return out;
  }
  return before;
}

/** The keys where `actual` and `expected` differ, as "key: expected → actual". */
export function differences(expected: State, actual: State): string[] {
  const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  return keys.filter((k) => expected[k] !== actual[k]).map((k) => `${k}: ${expected[k] ?? 'none'} → ${actual[k] ?? 'none'}`);
}

/** Changes a few rows (seeded by `n`) so a restore has something to put back: tenant names, reminders, expenses. */
export async function mutate(c: pg.Client, n: number): Promise<void> {
  await c.query(`UPDATE tenants SET name = name || '~' WHERE id = (SELECT id FROM tenants ORDER BY id OFFSET $1 % greatest((SELECT count(*) FROM tenants), 1) LIMIT 1)`, [n]);
  await c.query(`DELETE FROM reminders WHERE id IN (SELECT id FROM reminders ORDER BY id OFFSET $1 % greatest((SELECT count(*) FROM reminders), 1) LIMIT 2)`, [n]);
  await c.query(`UPDATE expenses SET amount = amount + 1 WHERE id IN (SELECT id FROM expenses ORDER BY id OFFSET $1 % greatest((SELECT count(*) FROM expenses), 1) LIMIT 3)`, [n]);
}
