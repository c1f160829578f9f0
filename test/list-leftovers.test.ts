// Issue 12: what killed or crashed runs leave behind is shown by "fbb list", as "fbb doctor" finds
// it (src/activities/doctor/leftovers.ts), in the table and in --json. Real PostgreSQL; the CLI runs
// in this process with --local.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { scratchName } from '../src/activities/backup/verify';
import { lockKeys } from '../src/activities/scratchClaim';
import type { Catalog } from '../src/backup/catalog';
import { runCli } from '../src/client/cli';
import { captured, createDatabase, testConfig, userEnvFor, withAdmin } from './helpers';

vi.setConfig({ testTimeout: 120_000 });

const made: string[] = [];
afterAll(async () => {
  await withAdmin(async (c) => {
    for (const d of made) await c.query(`DROP DATABASE IF EXISTS "${d}" WITH (FORCE)`);
  });
});

describe('fbb list', () => {
  it('shows the half-restored, failed-restore and scratch databases and the partial dump a killed run left, in text and --json', async () => {
    const db = await createDatabase('lsl', false);
    made.push(db);
    const config = testConfig({ database: db });
    // A dump killed part-way (an hour ago), and the scratch database of its verification.
    const dumped = 'family_brain_manual_20261124_101500.sql.gz';
    const partial = `.${dumped}.partial-1a2b3c`;
    fs.writeFileSync(path.join(config.backup.dir, partial), 'half a dump');
    const anHourAgo = new Date(Date.now() - 3600_000);
    fs.utimesSync(path.join(config.backup.dir, partial), anHourAgo, anHourAgo);
    const scratch = scratchName(config, dumped);
    const restoring = `${db}_restoring_20261124_101500`;
    const failed = `${db}_failed_restore_20261124_101500`;
    made.push(scratch, restoring, failed);
    await withAdmin(async (c) => {
      for (const d of [scratch, restoring, failed]) await c.query(`CREATE DATABASE "${d}"`);
    });

    // Other test files' backups on this shared server drop scratch databases no run claims: this one is
    // held as a running verification holds it, so that it stays for the listing (which reports this
    // directory's own, claimed or not).
    await withAdmin(async (holder) => {
      await holder.query('SELECT pg_advisory_lock($1, $2)', lockKeys(scratch));
      const env = userEnvFor(config);
      const json = captured();
      expect(await runCli(['list', '--local', '--json'], { env, stdout: json.stdout, stderr: json.stderr })).toBe(0);
      const catalog = JSON.parse(json.text().stdout) as Catalog;
      expect(catalog.leftovers).toEqual(
        expect.arrayContaining([
          { kind: 'partial_file', name: partial, note: 'a dump that did not finish; the next backup removes it' },
          { kind: 'scratch_database', name: scratch, note: 'a verification that did not finish; the next backup removes it' },
          { kind: 'restoring_database', name: restoring, note: 'a restore that did not finish; the next backup or restore removes it' },
          { kind: 'failed_restore_database', name: failed, note: 'a restored copy that did not verify, kept by the rollback for inspection; drop it by hand when done (DROP DATABASE)' },
        ]),
      );
      expect(catalog.leftovers).toHaveLength(4);

      const text = captured();
      expect(await runCli(['list', '--local'], { env, stdout: text.stdout, stderr: text.stderr })).toBe(0);
      const out = text.text().stdout;
      expect(out).toContain('left behind by earlier runs (fbb doctor reports them too):');
      expect(out).toContain(`  restoring database ${restoring}: a restore that did not finish`);
      expect(out).toContain(`  failed restore database ${failed}: a restored copy that did not verify`);
      expect(out).toContain(`  scratch database ${scratch}: a verification that did not finish`);
      expect(out).toContain(`  partial file ${partial}: a dump that did not finish`);
      // Listing changes nothing: everything is still there.
      expect(fs.existsSync(path.join(config.backup.dir, partial))).toBe(true);
      const left = await withAdmin((c) => c.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname = ANY($1)', [[scratch, restoring, failed]]));
      expect(left.rows).toHaveLength(3);
    });
  });
});
