import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { libpqEnv } from '../src/activities/pgTools';
import { diffFingerprints } from './compare';
import { SAMPLE_TABLES } from '../src/sample/fixture';
import { createDatabase, dropDatabase, fingerprint, testConfig, withAdmin } from './helpers';

const made: string[] = [];
async function db(label: string, sample?: Parameters<typeof createDatabase>[1]) {
  const name = await createDatabase(label, sample);
  made.push(name);
  return name;
}
afterAll(async () => {
  await Promise.all(made.map(dropDatabase));
});

describe('the sample Family Second Brain database', () => {
  it('has the tables the guide names, with embeddings, NULLs, unicode and JSONB', async () => {
    const name = await db('sample');
    const facts = await withAdmin(async (c) => {
      const tables = await c.query<{ relname: string }>("SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace");
      const docs = await c.query<{ n: string; with_embedding: string; dims: number; hnsw: string }>(`
        SELECT count(*) AS n, count(embedding) AS with_embedding, max(vector_dims(embedding)) AS dims,
          (SELECT count(*) FROM pg_indexes WHERE tablename = 'family_documents' AND indexdef LIKE '%hnsw%') AS hnsw
        FROM family_documents`);
      const unicode = await c.query("SELECT 1 FROM tags WHERE name = '家族'"); // one per tenant
      const jsonb = await c.query("SELECT 1 FROM system_logs WHERE jsonb_typeof(details) = 'object' LIMIT 1");
      return { tables: tables.rows.map((r) => r.relname).sort(), docs: docs.rows[0], unicode: unicode.rowCount, jsonb: jsonb.rowCount };
    }, name);
    expect(facts.tables).toEqual([...SAMPLE_TABLES].sort());
    expect(facts.tables).toEqual(expect.arrayContaining(['tenants', 'users', 'family_members', 'family_documents', 'chat_sessions', 'chat_messages', 'ai_usage', 'system_logs']));
    expect(Number(facts.docs?.n)).toBe(300);
    expect(Number(facts.docs?.with_embedding)).toBeLessThan(300);
    expect(facts.docs?.dims).toBe(1536);
    expect(Number(facts.docs?.hnsw)).toBe(1);
    expect(facts.unicode).toBe(5);
    expect(facts.jsonb).toBe(1);
  });

  it('is deterministic: two loads compare identical, and one changed row is found by table', async () => {
    const [a, b] = await Promise.all([db('det_a'), db('det_b')]);
    expect(diffFingerprints(await fingerprint(a), await fingerprint(b))).toEqual([]);
    await withAdmin((c) => c.query("UPDATE chat_messages SET content = content || '!' WHERE id = (SELECT min(id) FROM chat_messages)"), b);
    expect(diffFingerprints(await fingerprint(a), await fingerprint(b))).toEqual(['table public.chat_messages: same row count (600) but contents differ']);
  });

  it('scales its row counts with the scale option', async () => {
    const name = await db('scaled', { scale: 2 });
    const fp = await fingerprint(name);
    expect(fp.tables['public.family_documents']?.rows).toBe(600);
    expect(fp.tables['public.tenants']?.rows).toBe(10);
  });

  it('survives a pg_dump | psql round trip exactly, sequences included', async () => {
    const source = await db('roundtrip_src');
    const target = await db('roundtrip_dst', false);
    const config = testConfig();
    const bin = config.pgBinDir!;
    const dump = execa(`${bin}/pg_dump`, [], { env: libpqEnv(config.database, source), extendEnv: false, buffer: false });
    const restore = execa(`${bin}/psql`, ['-q', '-v', 'ON_ERROR_STOP=1'], { env: libpqEnv(config.database, target), extendEnv: false, stdout: 'ignore' });
    dump.stdout.pipe(restore.stdin);
    await Promise.all([dump, restore]);
    expect(diffFingerprints(await fingerprint(source), await fingerprint(target))).toEqual([]);
    await withAdmin((c) => c.query("SELECT nextval('system_logs_id_seq')"), target);
    expect(diffFingerprints(await fingerprint(source), await fingerprint(target))).toEqual([
      expect.stringMatching(/^sequence public\.system_logs_id_seq: last value \d+ vs \d+$/),
    ]);
  });
});
