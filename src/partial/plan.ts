// What a partial restore would do, per table, and what stands in its way.
import type { ClientBase } from 'pg';
import { tableFailure } from '../activities/db';
import { comparedAsText, ident, type TableInfo } from './catalog';
import { rowHash, sameKey } from './hash';
import { join, type Scope } from './scope';
import type { Stage } from './stage';

/** One table's changes: rows deleted, inserted, updated (to the backup's content), unchanged. */
export interface PlanTable {
  table: string;
  via: string;
  delete: number;
  insert: number;
  update: number;
  unchanged: number;
  /** Key columns matched through their text, as "name (type)": their type has no ordering or equality a join can use (json, box, ...). Absent: none. */
  compared_as_text?: string[];
}

/** A row the restore cannot put back without harming rows it does not own. */
export interface Conflict {
  table: string;
  /** key_taken: a unique key now held by a row outside the restore; missing_parent: a foreign key to a row gone since; still_referenced: a row outside the restore points at a row it would delete. */
  kind: 'key_taken' | 'missing_parent' | 'still_referenced';
  constraint: string;
  rows: number;
  /** Up to 10 of them, as (column values). */
  examples: string[];
  /** One sentence a person reads. */
  detail: string;
}

/** A sequence the restore moves forward (never backwards). */
export interface PlanSequence {
  sequence: string;
  live: string;
  needed: string;
  moves: boolean;
}

/** The plan, as the status query and `--dry-run` show it. */
export interface PartialPlan {
  kind: 'tenant' | 'table';
  target: string;
  tables: PlanTable[];
  left_alone: string[];
  conflicts: Conflict[];
  sequences: PlanSequence[];
}

const EXAMPLES = 10;

/** Counts and conflicts, from the live database with the backup's rows staged beside (loadStages). */
export async function computePlan(live: ClientBase, scratch: ClientBase, scope: Scope, stages: Stage[]): Promise<PartialPlan> {
  const tables: PlanTable[] = [];
  const conflicts: Conflict[] = [];
  const sequences: PlanSequence[] = [];
  const stageOf = new Map(stages.map((s) => [s.table.id, s]));
  for (const [i, { table: t, via }] of scope.tables.entries()) {
    try {
      const s = stages[i]!.stage;
      const on = t.key ? sameKey(t, t.key, 'l', 's') : 'l.h = s._fbb_h';
      const cols = t.key ? t.key.map((c) => `t.${ident(c)}`).join(', ') + ',' : '';
      const { rows } = await live.query<Record<string, string>>(`
        SELECT count(*) FILTER (WHERE s._fbb_h IS NULL) AS del, count(*) FILTER (WHERE l.h IS NULL) AS ins,
               count(*) FILTER (WHERE l.h <> s._fbb_h) AS upd, count(*) FILTER (WHERE l.h = s._fbb_h) AS same
        FROM (SELECT ${cols} ${rowHash(t, 't')} AS h FROM ${t.id} t WHERE ${scope.where(t.id, 't')}) l FULL JOIN ${s} s ON ${on}`);
      const r = rows[0]!;
      const asText = comparedAsText(t);
      tables.push({ table: t.name, via, delete: Number(r.del), insert: Number(r.ins), update: Number(r.upd), unchanged: Number(r.same), ...(asText.length > 0 ? { compared_as_text: asText } : {}) });

      for (const u of t.uniques) {
        const found = await examples(live, `SELECT ROW(${u.columns.map((c) => `s.${ident(c)}`).join(', ')})::text AS example${scope.ownerOf ? `, ${scope.ownerOf(t.id, 't')} AS owner` : ''}
          FROM ${s} s JOIN ${t.id} t ON ${sameKey(t, u.columns, 't', 's')} WHERE NOT (${scope.where(t.id, 't')})`);
        if (found) conflicts.push({ table: t.name, kind: 'key_taken', constraint: u.name, ...found, detail: `${found.rows} of the backup's rows have a ${u.name} key (${u.columns.join(', ')}) now held by ${found.owners}` });
      }
      for (const k of scope.catalog.foreignKeys.filter((k) => k.from === t.id)) {
        const parent = stageOf.get(k.to);
        const keep = parent ? ` AND NOT (${scope.where(k.to, 'p')})` : '';
        const found = await examples(live, `SELECT ROW(${k.columns.map((c) => `s.${ident(c)}`).join(', ')})::text AS example FROM ${s} s
          WHERE ${k.columns.map((c) => `s.${ident(c)} IS NOT NULL`).join(' AND ')}
            AND NOT EXISTS (SELECT 1 FROM ${k.to} p WHERE ${join(k, 'p', 's')}${keep})
            ${parent ? `AND NOT EXISTS (SELECT 1 FROM ${parent.stage} p WHERE ${join(k, 'p', 's')})` : ''}`);
        const to = scope.catalog.tables.get(k.to)!.name;
        if (found) conflicts.push({ table: t.name, kind: 'missing_parent', constraint: k.name, ...found, detail: `${found.rows} of the backup's rows point (${k.columns.join(', ')}) at rows of ${to} that are gone now and not restored with them` });
      }
      for (const k of scope.catalog.foreignKeys.filter((k) => k.to === t.id && k.from !== t.id)) {
        const child = scope.catalog.tables.get(k.from)!;
        const outside = stageOf.has(k.from) ? `NOT (${scope.where(k.from, 'c')}) AND` : '';
        const found = await examples(live, `SELECT ROW(${k.columns.map((c) => `c.${ident(c)}`).join(', ')})::text AS example${scope.ownerOf && stageOf.has(k.from) ? `, ${scope.ownerOf(k.from, 'c')} AS owner` : ''}
          FROM ${k.from} c WHERE ${outside} EXISTS (SELECT 1 FROM ${t.id} t WHERE ${join(k, 't', 'c')} AND ${scope.where(t.id, 't')})
            AND NOT EXISTS (SELECT 1 FROM ${s} t WHERE ${join(k, 't', 'c')})`);
        if (found) conflicts.push({ table: child.name, kind: 'still_referenced', constraint: k.name, ...found, detail: `${found.rows} rows of ${child.name}${found.owners === 'rows outside the restore' ? '' : ` (${found.owners})`} point (${k.columns.join(', ')}) at rows of ${t.name} the restore would delete` });
      }
      sequences.push(...(await sequencePlan(live, scratch, t, stages[i]!.stage)));
    } catch (err) {
      throw tableFailure(err, t.name);
    }
  }
  return { kind: scope.kind, target: scope.label, tables, left_alone: scope.leftAlone, conflicts, sequences };
}

/** Count and up to EXAMPLES rows of `sql` (columns example and optional owner); null when it finds none. */
async function examples(client: ClientBase, sql: string): Promise<{ rows: number; examples: string[]; owners: string } | null> {
  const { rows } = await client.query<{ example: string; owner?: string | null; n: string }>(`SELECT *, count(*) OVER () AS n FROM (${sql}) x LIMIT ${EXAMPLES}`);
  if (rows.length === 0) return null;
  const owners = [...new Set(rows.filter((r) => r.owner !== undefined).map((r) => r.owner ?? '(none)'))];
  return { rows: Number(rows[0]!.n), examples: rows.map((r) => r.example), owners: owners.length ? `tenant ${owners.join(', tenant ')}` : 'rows outside the restore' };
}

/** Each owned sequence: where it is now, where the backup's rows need it (its backup value, the largest restored id). */
async function sequencePlan(live: ClientBase, scratch: ClientBase, t: TableInfo, stage: string): Promise<PlanSequence[]> {
  const out: PlanSequence[] = [];
  for (const q of t.sequences) {
    const now = (await live.query<{ last_value: string; is_called: boolean }>(`SELECT last_value::text, is_called FROM ${q.sequence}`)).rows[0]!;
    const then = (await scratch.query<{ last_value: string }>(`SELECT last_value::text FROM ${q.sequence}`).catch(() => ({ rows: [{ last_value: '0' }] }))).rows[0]!;
    const max = q.integer ? (await live.query<{ m: string | null }>(`SELECT max(${ident(q.column)})::text AS m FROM ${stage}`)).rows[0]!.m : null;
    const needed = [BigInt(then.last_value), BigInt(max ?? '0')].reduce((a, b) => (b > a ? b : a));
    const current = BigInt(now.last_value);
    out.push({ sequence: q.sequence, live: now.last_value, needed: needed.toString(), moves: needed > current || (!now.is_called && needed === current) });
  }
  return out;
}
