// The backup's rows of a scope, streamed from the scratch copy into temporary tables on the live database.
import { pipeline } from 'node:stream/promises';
import type { ClientBase } from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import { ErrorType, permanent } from '../errors';
import { tableFailure } from '../activities/db';
import { column, ident, readCatalog, type TableInfo } from './catalog';
import { dataColumns, rowHash } from './hash';
import type { Scope } from './scope';

/** A scope table's backup rows, in a temporary table with each row's hash in `_fbb_h`. */
export interface Stage {
  table: TableInfo;
  /** pg_temp.fbb_stage_<n>, dropped at the end of the transaction. */
  stage: string;
}

/**
 * Inside the live client's open transaction: for each scope table, a temporary table (dropped at
 * commit or rollback) filled by COPY from the scratch database's rows of the scope, streamed with
 * constant memory. The scratch copy must have the same columns: a schema changed since the
 * backup is refused, naming the table.
 */
export async function loadStages(live: ClientBase, scratch: ClientBase, scope: Scope, onRows: (table: string) => void = () => undefined): Promise<Stage[]> {
  const theirs = await readCatalog(scratch);
  const stages: Stage[] = [];
  for (const [i, { table: t }] of scope.tables.entries()) {
    try {
      const backup = theirs.tables.get(t.id);
      const cols = dataColumns(t);
      // By name: a restored inheritance child may have its columns in another order (docs/operations.md).
      const same = backup !== undefined && JSON.stringify(columnsByName(backup)) === JSON.stringify(columnsByName(t));
      if (!same) {
        throw permanent(
          ErrorType.RestoreFailed,
          `${t.name} ${backup === undefined ? 'is not in the backup' : `has other columns in the backup (${dataColumns(backup).join(', ')}) than now (${cols.join(', ')})`}; the schema changed since the backup, so its rows cannot be put back one by one; nothing was changed`,
        );
      }
      const stage = `pg_temp.fbb_stage_${i}`;
      const list = cols.map(ident).join(', ');
      await live.query(`CREATE TEMP TABLE fbb_stage_${i} ON COMMIT DROP AS SELECT ${list} FROM ${t.id} WITH NO DATA`);
      await live.query(`ALTER TABLE ${stage} ADD COLUMN _fbb_h text`);
      const out = scratch.query(copyTo(`COPY (SELECT ${[...cols.map((c) => `t.${ident(c)}`), rowHash(t, 't')].join(', ')} FROM ${t.id} t WHERE ${scope.where(t.id, 't')}) TO STDOUT`));
      const into = live.query(copyFrom(`COPY ${stage} (${[...cols.map(ident), '_fbb_h'].join(', ')}) FROM STDIN`));
      await pipeline(out, into);
      // A key whose type cannot be compared is matched through its text: no btree index on it to use.
      if (t.key && t.key.every((c) => column(t, c).comparable)) await live.query(`CREATE INDEX ON ${stage} (${t.key.map(ident).join(', ')})`);
      await live.query(`CREATE INDEX ON ${stage} (_fbb_h)`);
      await live.query(`ANALYZE ${stage}`);
      onRows(t.name);
      stages.push({ table: t, stage });
    } catch (err) {
      throw tableFailure(err, t.name);
    }
  }
  return stages;
}

/** The data columns, by name, with their types. */
function columnsByName(t: TableInfo): { name: string; type: string }[] {
  return dataColumns(t).map((name) => ({ name, type: column(t, name).type }));
}
