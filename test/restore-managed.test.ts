// Issue 12: an in-place restore on managed PostgreSQL, simulated on the shared test cluster: the
// restoring role is not a superuser, may not create databases, and owns the database and its
// objects but not the extensions (vector was installed by the superuser, as a provider does).
// Workflows run on the real Temporal dev server with a real Worker; psql, pg_dump are real.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { ForeignExtensionFilter } from '../src/activities/restore/inPlaceSql';
import { manifestName } from '../src/backup/manifest';
import type { Config } from '../src/config';
import { diffFingerprints } from './compare';
import { backupDatabase, restoreDatabase } from '../src/workflows';
import { createAppOwnedDatabase, fingerprint, testConfig, uniqueName, withAdmin, withServer } from './helpers';
import { onTemporal, startTestWorker, testClient, type TestWorker } from './temporal';

vi.setConfig({ testTimeout: 300_000, hookTimeout: 120_000 });

const workers: TestWorker[] = [];
const databases: string[] = [];
const roles: string[] = [];
afterAll(async () => {
  await Promise.all(workers.map((w) => w.stop()));
  await withAdmin(async (c) => {
    for (const d of databases) await c.query(`DROP DATABASE IF EXISTS ${d} WITH (FORCE)`);
    for (const r of roles) await c.query(`DROP ROLE IF EXISTS ${r}`);
  });
});

/** Runs `workflow` on a real Worker for `config` and returns its result. */
async function run<A extends unknown[], R>(config: Config, workflow: (...args: A) => Promise<R>, ...args: A): Promise<R> {
  const onServer = onTemporal(config);
  workers.push(await startTestWorker(onServer));
  const client = await testClient();
  return client.workflow.execute(workflow, { taskQueue: onServer.temporal.taskQueue, workflowId: uniqueName('mng').replace(/_/g, '-'), args });
}

describe('an in-place restore as a role that owns the database but not its extensions, without CREATEDB', () => {
  it('empties what the role owns, skips the extension\'s comment, restores exactly; the pre-restore backup is kept but marked not restore-verified', async () => {
    const admin = testConfig();
    const { role, db } = await createAppOwnedDatabase('mng');
    roles.push(role);
    databases.push(db);
    const asRole = { host: admin.database.host, port: admin.database.port, user: role, password: admin.database.password! };
    await withServer(asRole, db, async (c) => {
      await c.query('CREATE TABLE notes (id serial PRIMARY KEY, body text NOT NULL, embedding vector(3))');
      await c.query('CREATE INDEX notes_embedding ON notes USING hnsw (embedding vector_l2_ops)');
      await c.query("INSERT INTO notes (body, embedding) SELECT 'note ' || g, ARRAY[g, g * 2, g * 3]::vector FROM generate_series(1, 200) g");
      await c.query("CREATE TYPE mood AS ENUM ('calm', 'busy'); CREATE TABLE moods (id int PRIMARY KEY, m mood); INSERT INTO moods VALUES (1, 'calm'), (2, 'busy')");
      await c.query('CREATE VIEW long_notes AS SELECT id, body FROM notes WHERE length(body) > 7');
      await c.query("CREATE FUNCTION note_count() RETURNS bigint LANGUAGE sql AS 'SELECT count(*) FROM notes'");
      await c.query("CREATE SCHEMA app; CREATE TABLE app.settings (k text PRIMARY KEY, v text); INSERT INTO app.settings VALUES ('theme', 'dark')");
    });
    const atBackup = await fingerprint(db);
    // The backup was made where a scratch database could be made (the provider's admin, or before the move).
    const dir = admin.backup.dir;
    const backup = await run(testConfig({ database: db, backupDir: dir }), backupDatabase, { cleanup_old: false });
    await withServer(asRole, db, async (c) => {
      await c.query('DELETE FROM notes WHERE id % 2 = 0');
      await c.query("UPDATE app.settings SET v = 'light'; INSERT INTO moods VALUES (3, 'busy')");
    });

    const config: Config = { ...testConfig({ database: db, backupDir: dir }), database: { ...admin.database, user: role, database: db } };
    const result = await run(config, restoreDatabase, { backup_filename: backup.filename, confirm_restore: true });
    expect(result).toMatchObject({ status: 'success', strategy: 'in_place', rollback: null, error: null, verification: { ok: true } });
    expect(diffFingerprints(atBackup, await fingerprint(db))).toEqual([]);
    // The extension is still the superuser's, as the provider left it.
    const owner = await withAdmin((c) => c.query<{ owner: string }>("SELECT extowner::regrole::text AS owner FROM pg_extension WHERE extname = 'vector'"), db);
    expect(owner.rows[0]?.owner).toBe(admin.database.user);

    const pre = result.pre_restore_backup!;
    expect(pre).toMatch(/^family_brain_pre_restore_\d{8}_\d{6}\.sql\.gz$/);
    expect(result.notes).toEqual([`pre-restore backup ${pre} is not restore-verified (no CREATEDB: no scratch database to restore it into); it was written and its SHA-256 checked`]);
    expect(fs.existsSync(path.join(dir, pre))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(dir, manifestName(pre)), 'utf8'))).toMatchObject({ status: 'dumped' });
  });
});

/** The filter's output for `input` fed in chunks of `size` bytes. */
async function filtered(input: string, extensions: string[], size: number): Promise<string> {
  const bytes = Buffer.from(input);
  const chunks: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.subarray(i, i + size));
  let out = '';
  await pipeline(Readable.from(chunks), new ForeignExtensionFilter(extensions), new Writable({ write: (c: Buffer, _e, cb) => ((out += c.toString()), cb()) }));
  return out;
}

describe('the statement filter of an in-place restore', () => {
  const dump = [
    'CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;',
    "COMMENT ON EXTENSION vector IS 'vector data type and ivfflat and hnsw access methods';",
    "COMMENT ON EXTENSION pg_trgm IS 'text similarity';",
    "COMMENT ON EXTENSION vector IS 'a comment',",
    "  'over two lines';",
    'COPY public.notes (id, body) FROM stdin;',
    "1\tCOMMENT ON EXTENSION vector IS 'a note, not a statement';",
    "COMMENT ON EXTENSION vector IS 'a row that starts like one';",
    '\\.',
    'CREATE TABLE public.t (id int);',
    '',
  ].join('\n');

  it.each([1, 7, 4096])('drops only the comments on extensions the role does not own, never COPY data, whatever the chunk size (%i bytes; é keeps its bytes)', async (size) => {
    const out = await filtered(`${dump}-- é\n`, ['vector'], size);
    expect(out).toBe(
      [
        'CREATE EXTENSION IF NOT EXISTS vector WITH SCHEMA public;',
        "COMMENT ON EXTENSION pg_trgm IS 'text similarity';",
        'COPY public.notes (id, body) FROM stdin;',
        "1\tCOMMENT ON EXTENSION vector IS 'a note, not a statement';",
        "COMMENT ON EXTENSION vector IS 'a row that starts like one';",
        '\\.',
        'CREATE TABLE public.t (id int);',
        '-- é',
        '',
      ].join('\n'),
    );
  });
});
