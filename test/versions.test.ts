// The scenario suite (backup, verify, restore, tenant restore, drill) on another PostgreSQL major,
// and the moves between majors: 15 → N restores identically, N → 15 is refused before any change,
// client tools older than the server are a named error. `npm test` runs it for 17;
// `npm run test:versions` for 16 and 18 (FBB_TEST_PG_MAJORS). Workflows run on the Temporal dev server.
import { applicationFailureOf } from '../src/client/failures';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BackupManifest } from '../src/backup/manifest';
import type { Config } from '../src/config';
import { loadSampleDatabase } from '../src/sample/fixture';
import { pgBinDirForMajor, startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { backupDatabase, checkEnvironment, restoreDatabase, restoreDrill, restoreTenant } from '../src/workflows';
import { diffFingerprints, fingerprintDatabase } from './compare';
import { temporalDriver } from './drivers';
import { createDatabase, dropDatabase, fingerprint, tempDir, testConfig, uniqueName, withAdmin, withServer } from './helpers';
import { notOf, of, tenantHashesOn } from './tenantHashes';

const MAJORS = (process.env.FBB_TEST_PG_MAJORS ?? '17').split(',').map(Number);
const driver = temporalDriver();
const workflowId = (label: string) => uniqueName(label).replace(/_/g, '-');
type Server = { host: string; port: number; user: string; password: string };
const shared15: Server = testConfig().database as Server;

/** HNSW and IVFFlat indexes, as a Family Second Brain has them for semantic search. */
const VECTOR_INDEXES_SQL = `
CREATE INDEX document_chunks_embedding_hnsw ON document_chunks USING hnsw (embedding vector_l2_ops);
CREATE INDEX family_documents_embedding_ivfflat ON family_documents USING ivfflat (embedding vector_cosine_ops) WITH (lists = 4)`;

/** The plans of a nearest-neighbour query per index, with sequential scans off (the sample is small). */
async function vectorPlans(server: Server, database: string): Promise<string[]> {
  return withServer(server, database, async (c) => {
    await c.query('SET enable_seqscan = off');
    const plan = async (sql: string) => (await c.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql}`)).rows.map((r) => r['QUERY PLAN']).join('\n');
    return [
      await plan("SELECT id FROM document_chunks ORDER BY embedding <-> (SELECT embedding FROM document_chunks WHERE embedding IS NOT NULL LIMIT 1) LIMIT 5"),
      await plan("SELECT id FROM family_documents ORDER BY embedding <=> (SELECT embedding FROM family_documents WHERE embedding IS NOT NULL LIMIT 1) LIMIT 5"),
    ];
  });
}

const failure = applicationFailureOf;

/** What the tools must be for a server of `major` (src/activities/pgToolChoice.ts), as its messages say. */
const toolRule = (major: number) =>
  major < 17
    ? `pg_dump must be that major or newer and older than 17 (from 17 on it writes SET transaction_timeout, which ${major} rejects when the dump is verified or restored)`
    : 'pg_dump must be that major or newer';

const manifestOf = (config: Config, filename: string) => JSON.parse(fs.readFileSync(path.join(config.backup.dir, `${filename}.manifest.json`), 'utf8')) as BackupManifest;

describe('client tools newer than 16 against a 15 server', () => {
  afterAll(() => driver.release());
  it('PG_BIN_DIR holding 17\'s tools: ClientToolsMismatch naming SET transaction_timeout, before pg_dump runs (its dump would fail verification on 15)', async () => {
    const database = await createDatabase('ver_new_tools');
    const config = { ...testConfig({ database }), pgBinDir: pgBinDirForMajor(17) };
    const err = await (await driver.runner(config)).execute(backupDatabase, { args: [{ cleanup_old: false }], workflowId: workflowId('ver-new-tools') }).catch((e: unknown) => e);
    const cause = failure(err);
    expect(cause?.type).toBe('ClientToolsMismatch');
    expect(cause?.message).toMatch(new RegExp(`: the server is PostgreSQL 15 and ${toolRule(15).replace(/[()]/g, '\\$&')}; found 17\\.\\d+ in ${config.pgBinDir} \\(PG_BIN_DIR\\); nothing was run; `));
    expect(fs.readdirSync(config.backup.dir).filter((f) => !f.includes('.lock'))).toEqual([]);
    await dropDatabase(database);
  });
});

describe.each(MAJORS)('PostgreSQL %i', (major) => {
  let server: PgCluster;
  beforeAll(async () => {
    server = await startPgCluster({ major });
  });
  afterAll(async () => {
    await driver.release();
    await server?.stop();
  });

  /** A config for `database` on the throwaway server, without PG_BIN_DIR: the client tools are chosen by the server's major. */
  const on = (database: string, backupDir = tempDir()): Config => ({ ...testConfig({ database, backupDir }), database: { ...testConfig().database, host: server.host, port: server.port, user: server.user, password: server.password, database }, pgBinDir: undefined });
  const conn = (database: string) => ({ host: server.host, port: server.port, user: server.user, password: server.password, database });
  const fingerprintOn = (database: string) => fingerprintDatabase(conn(database), { pgBinDir: server.binDir });

  /** A database on the throwaway server with the sample contents and the vector indexes. */
  async function sampleDatabase(label: string): Promise<string> {
    const name = uniqueName(label);
    await withServer(server, 'postgres', (c) => c.query(`CREATE DATABASE ${name}`));
    await withServer(server, name, async (c) => {
      await loadSampleDatabase(c);
      await c.query(VECTOR_INDEXES_SQL);
    });
    return name;
  }

  async function backupOf(config: Config): Promise<string> {
    const runner = await driver.runner(config);
    return (await runner.execute(backupDatabase, { args: [{ cleanup_old: false }], workflowId: workflowId('ver-backup') })).filename;
  }

  describe('the scenario suite', () => {
    it('backup: verified in the same pass, with the client tools of the server\'s major, and the manifest records both versions', async () => {
      const config = on(await sampleDatabase('ver_backup'));
      const filename = await backupOf(config);
      const manifest = manifestOf(config, filename);
      expect(manifest).toMatchObject({ status: 'verified', tables_backed_up: 15 });
      expect(manifest.server_version).toMatch(new RegExp(`^${major}\\.\\d+`));
      expect(manifest.pg_dump_version).toMatch(new RegExp(`^${major}\\.\\d+$`));
    });

    it('verify and restore: a changed database is brought back exactly (per-table content hashes), the vector indexes with it', async () => {
      const db = await sampleDatabase('ver_restore');
      const config = on(db);
      const atBackup = await fingerprintOn(db);
      const filename = await backupOf(config);
      await withServer(server, db, (c) => c.query("DELETE FROM chat_messages WHERE id % 3 = 0; UPDATE tenants SET name = name || ' (edited)'"));
      const result = await (await driver.runner(config)).execute(restoreDatabase, { args: [{ backup_filename: filename, confirm_restore: true }], workflowId: workflowId('ver-restore') });
      expect(result).toMatchObject({ status: 'success', strategy: 'swap', error: null });
      expect(result.verification?.ok).toBe(true);
      expect(diffFingerprints(atBackup, await fingerprintOn(db))).toEqual([]);
      const [hnsw, ivfflat] = await vectorPlans(server, db);
      expect(hnsw).toContain('Index Scan using document_chunks_embedding_hnsw');
      expect(ivfflat).toContain('Index Scan using family_documents_embedding_ivfflat');
    });

    it('tenant restore: one tenant back to the backup, the others left as they are', async () => {
      const db = await sampleDatabase('ver_tenant');
      const config = on(db);
      const [a, b] = await withServer(server, db, async (c) => (await c.query<{ id: string }>('SELECT id FROM tenants ORDER BY slug')).rows.map((r) => r.id));
      const atBackup = await tenantHashesOn(server, db);
      const filename = await backupOf(config);
      await withServer(server, db, async (c) => {
        for (const t of [a, b]) await c.query("UPDATE users SET display_name = display_name || ' later' WHERE tenant_id = $1", [t]);
      });
      const changed = await tenantHashesOn(server, db);
      const result = await (await driver.runner(config)).execute(restoreTenant, { args: [{ backup_filename: filename, tenant_id: a!, confirm_restore: true }], workflowId: workflowId('ver-tenant') });
      expect(result).toMatchObject({ status: 'success', kind: 'tenant', target: a, error: null });
      const after = await tenantHashesOn(server, db);
      expect(of(after, a!)).toEqual(of(atBackup, a!));
      expect(notOf(after, a!)).toEqual(notOf(changed, a!));
    });

    it('drill: the newest backup restored into a scratch database, every table counted and sampled', async () => {
      const config = on(await sampleDatabase('ver_drill'));
      const filename = await backupOf(config);
      const result = await (await driver.runner(config)).execute(restoreDrill, { args: [{ source: 'local' }], workflowId: workflowId('ver-drill') });
      expect(result).toMatchObject({ status: 'passed', filename, tables_checked: 15, samples_checked: 15, samples_missing: [] });
    });
  });

  describe('fbb doctor', () => {
    it(`shows the client tools it will use against PostgreSQL ${major} and why`, async () => {
      const config = on(await sampleDatabase('ver_doctor'));
      const report = await (await driver.runner(config)).execute(checkEnvironment, { args: [{ mode: 'local' }], workflowId: workflowId('ver-doctor') });
      for (const tool of ['pg_dump', 'pg_restore', 'psql']) {
        expect(report.checks.find((c) => c.name === tool)).toEqual({
          name: tool,
          status: 'ok',
          detail: expect.stringMatching(new RegExp(`^${server.binDir}/${tool} ${major}\\.\\d+; chosen: PostgreSQL ${major}\\.\\d+ in ${server.binDir} \\((debian|\\.tools)\\): the same major as the server$`)) as unknown,
        });
      }
    });

    it(`fails the client tool checks when PG_BIN_DIR holds tools older than ${major}, with the fix`, async () => {
      const config = { ...on(await sampleDatabase('ver_doctor_old')), pgBinDir: testConfig().pgBinDir };
      const report = await (await driver.runner(config)).execute(checkEnvironment, { args: [{ mode: 'local' }], workflowId: workflowId('ver-doctor-old') });
      expect(report.checks.find((c) => c.name === 'pg_dump')).toMatchObject({
        status: 'fail',
        detail: expect.stringMatching(new RegExp(`^the server is PostgreSQL ${major} and ${toolRule(major).replace(/[()]/g, '\\$&')}; found 15\\.\\d+ in ${config.pgBinDir} \\(PG_BIN_DIR\\)$`)) as unknown,
        hint: `point PG_BIN_DIR at PostgreSQL ${major}'s bin directory or unset it, or run "bash scripts/install-deps.sh --postgres ${major}"`,
      });
      expect(report.status).toBe('fail');
    });
  });

  describe('across majors', () => {
    it(`15 → ${major}: a backup made on PostgreSQL 15 restores onto a brand-new server identically, its HNSW and IVFFlat indexes present and used`, async () => {
      const source = await createDatabase('ver_up');
      await withAdmin((c) => c.query(VECTOR_INDEXES_SQL), source);
      const from = testConfig({ database: source });
      // Each side fingerprinted with its own server's pg_dump (this machine's 15 keeps a private column option that only pg_dump 15 leaves out).
      const before = await fingerprint(source);
      const filename = await backupOf(from);
      expect(manifestOf(from, filename).server_version).toMatch(/^15\./);
      const target = on('family_brain_upgraded', from.backup.dir);
      const result = await (await driver.runner(target)).execute(restoreDatabase, { args: [{ backup_filename: filename, confirm_restore: true }], workflowId: workflowId('ver-up') });
      expect(result).toMatchObject({ status: 'success', error: null });
      expect(result.verification?.ok).toBe(true);
      expect(diffFingerprints(before, await fingerprintOn('family_brain_upgraded'))).toEqual([]);
      const indexes = await withServer(server, 'family_brain_upgraded', async (c) => (await c.query<{ indexname: string; am: string }>("SELECT i.relname AS indexname, a.amname AS am FROM pg_class i JOIN pg_am a ON a.oid = i.relam WHERE a.amname IN ('hnsw', 'ivfflat') ORDER BY 1")).rows);
      expect(indexes).toEqual([
        { indexname: 'document_chunks_embedding_hnsw', am: 'hnsw' },
        { indexname: 'family_documents_embedding_idx', am: 'hnsw' },
        { indexname: 'family_documents_embedding_ivfflat', am: 'ivfflat' },
      ]);
      const [hnsw, ivfflat] = await vectorPlans(server, 'family_brain_upgraded');
      expect(hnsw).toContain('Index Scan using document_chunks_embedding_hnsw');
      expect(ivfflat).toContain('Index Scan using family_documents_embedding_ivfflat');
      await dropDatabase(source);
    });

    it(`${major} → 15: refused before anything changes, saying why (ServerTooOld)`, async () => {
      const config = on(await sampleDatabase('ver_down'));
      const filename = await backupOf(config);
      const manifest = manifestOf(config, filename);
      const target = await createDatabase('ver_down_target');
      const before = await withAdmin(async () => fingerprintDatabase({ ...shared15, database: target }));
      const err = await (await driver.runner(testConfig({ database: target, backupDir: config.backup.dir }))).execute(restoreDatabase, { args: [{ backup_filename: filename, confirm_restore: true }], workflowId: workflowId('ver-down') }).catch((e: unknown) => e);
      const cause = failure(err);
      expect(cause?.type).toBe('ServerTooOld');
      expect(cause?.nonRetryable).toBe(true);
      expect(cause?.message).toMatch(new RegExp(`^backup "${filename}" was dumped from PostgreSQL ${manifest.server_version.replace(/[.()+]/g, '\\$&')} \\(pg_dump ${manifest.pg_dump_version}\\) and this server is PostgreSQL 15\\.\\d+.*, an older major; .*nothing was changed; restore onto a PostgreSQL ${major} or newer server$`));
      expect(diffFingerprints(before, await fingerprintDatabase({ ...shared15, database: target }))).toEqual([]);
      await dropDatabase(target);
    });

    it(`client tools older than ${major} (PG_BIN_DIR on 15's): a named error before pg_dump runs, with the command that fixes it`, async () => {
      const config = { ...on(await sampleDatabase('ver_tools')), pgBinDir: testConfig().pgBinDir };
      const err = await (await driver.runner(config)).execute(backupDatabase, { args: [{ cleanup_old: false }], workflowId: workflowId('ver-tools') }).catch((e: unknown) => e);
      const cause = failure(err);
      expect(cause?.type).toBe('ClientToolsMismatch');
      expect(cause?.nonRetryable).toBe(true);
      expect(cause?.message).toBe(
        `no PostgreSQL client tools can work with the server at ${server.host}:${server.port}: the server is PostgreSQL ${major} and ${toolRule(major)}; ` +
          `found 15.${/15\.(\d+)/.exec(String(cause?.message))?.[1]} in ${config.pgBinDir} (PG_BIN_DIR); nothing was run; ` +
          `point PG_BIN_DIR at PostgreSQL ${major}'s bin directory or unset it, or run "bash scripts/install-deps.sh --postgres ${major}"`,
      );
      expect(fs.readdirSync(config.backup.dir).filter((f) => !f.includes('.lock'))).toEqual([]);
    });
  });
});
