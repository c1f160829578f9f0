// Embeddings for the sample rows: pgvector values combined in SQL from a few sinusoid basis vectors,
// so that 1536-dimension rows cost little to generate.
import { type Ctx, insert, rnd, unit } from './sql';

/** Dimensions of a document's embedding. */
export const DOC_DIMS = 1536;
/** Dimensions of a chunk's embedding. */
export const CHUNK_DIMS = 384;
const BASIS_ADDITIVE = 64;
const BASIS_MODULATORS = 32;

/** Temporary table of sinusoid basis vectors that document embeddings are combined from (cheap per row). */
export function basisSql(ctx: Ctx): string {
  return [
    'CREATE TEMP TABLE sample_basis (dims integer NOT NULL, k integer NOT NULL, v vector NOT NULL, PRIMARY KEY (dims, k));',
    basisInsertSql(ctx, DOC_DIMS),
    basisInsertSql(ctx, CHUNK_DIMS),
  ].join('\n');
}

function basisInsertSql(ctx: Ctx, dims: number): string {
  const amplitude = (0.6 / Math.sqrt(dims / 2)).toFixed(6);
  const value = `CASE WHEN b.k < ${BASIS_ADDITIVE} THEN ${amplitude} * sin(d * b.f + b.p) ELSE 1 + 0.5 * sin(d * b.f + b.p) END`;
  const salt = `basis-${dims}`;
  return insert(
    'sample_basis',
    {
      dims: String(dims),
      k: 'b.k',
      v: `(SELECT array_agg((${value})::real ORDER BY d) FROM generate_series(1, ${dims}) AS d)::vector`,
    },
    `(SELECT k, ${unit(rnd(ctx, `${salt}-f`, 'k'), 0.001, 3.1)} AS f, ${unit(rnd(ctx, `${salt}-p`, 'k'), 0, 6.283)} AS p` +
      ` FROM generate_series(0, ${BASIS_ADDITIVE + BASIS_MODULATORS - 1}) AS k OFFSET 0) AS b`,
  );
}

/** Embedding for the row in `scope`: (a1 + a2) * m1 + a3 * m2 over basis vectors, roughly unit length. */
export function embedding(dims: number, scope: string): string {
  const basis = (column: string): string => `(SELECT v FROM sample_basis WHERE dims = ${dims} AND k = ${scope}.${column})`;
  return `((${basis('a1')} + ${basis('a2')}) * ${basis('m1')} + ${basis('a3')} * ${basis('m2')})::vector(${dims})`;
}

/** Row source exposing `i`, a random `h` and basis picks; OFFSET 0 makes the picks computed once per row. */
export function embeddingSource(ctx: Ctx, salt: string, count: number): string {
  const r = (part: string): string => rnd(ctx, `${salt}-${part}`, 'i');
  return (
    `(SELECT i, ${r('h')} AS h, ${r('a1')} % ${BASIS_ADDITIVE} AS a1, ${r('a2')} % ${BASIS_ADDITIVE} AS a2,` +
    ` ${r('a3')} % ${BASIS_ADDITIVE} AS a3, ${BASIS_ADDITIVE} + ${r('m1')} % ${BASIS_MODULATORS} AS m1,` +
    ` ${BASIS_ADDITIVE} + ${r('m2')} % ${BASIS_MODULATORS} AS m2` +
    ` FROM generate_series(1, ${count}) AS i OFFSET 0) AS e`
  );
}
