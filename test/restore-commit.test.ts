// A restore through psql commits only when our feed says so. psql's own --single-transaction
// commits at the end of its input wherever that input ends, even inside COPY data: a worker killed
// while feeding psql (its end of the pipe closes with it) would commit the part it had fed, into
// the live database for an in-place restore. These run the real psql against the shared cluster.
import { execa } from 'execa';
import { afterAll, describe, expect, it } from 'vitest';
import { libpqEnv } from '../src/activities/pgTools';
import { PSQL_IN_TRANSACTION } from '../src/activities/restoreFile';
import { createDatabase, dropDatabase, testConfig, withAdmin } from './helpers';

const databases: string[] = [];
afterAll(async () => {
  for (const d of databases) await dropDatabase(d);
});

/** A database holding one table with one row, "before". */
async function database(label: string): Promise<string> {
  const db = await createDatabase(label, false);
  databases.push(db);
  await withAdmin((c) => c.query("CREATE TABLE notes (body text); INSERT INTO notes VALUES ('before')"), db);
  return db;
}

/** Feeds psql (with `args`) the start of a restore, cut off inside its COPY data, then closes its input as a dying process would. */
async function feedPrefix(db: string, args: string[]): Promise<void> {
  const config = testConfig({ database: db });
  const psql = execa(`${config.pgBinDir!}/psql`, [...args, '-f', '-'], { env: libpqEnv(config.database), extendEnv: false, stdin: 'pipe', reject: false });
  psql.stdin!.end('DROP TABLE notes;\nCREATE TABLE notes (body text);\nCOPY notes (body) FROM stdin;\nafter 1\nafter 2\n');
  await psql;
}

const rows = async (db: string) => (await withAdmin((c) => c.query<{ body: string }>('SELECT body FROM notes ORDER BY body'), db)).rows.map((r) => r.body);

describe('psql fed part of a restore, its input closed mid-way', () => {
  it('as we run it (BEGIN first, COMMIT fed last): nothing is committed, the database is as it was', async () => {
    const db = await database('commit_ours');
    await feedPrefix(db, PSQL_IN_TRANSACTION);
    expect(await rows(db)).toEqual(['before']);
  });

  it('with psql --single-transaction (what we no longer use): the prefix is committed, which is why', async () => {
    const db = await database('commit_single');
    await feedPrefix(db, ['--no-password', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '--single-transaction']);
    expect(await rows(db)).toEqual(['after 1', 'after 2']);
  });
});
