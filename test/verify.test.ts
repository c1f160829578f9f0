import fs from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpDatabase } from '../src/activities/backup/dump';
import { scratchName, verifyBackup } from '../src/activities/backup/verify';
import { backupFilename, type BackupFormat } from '../src/backup/naming';
import { manifestName, type BackupManifest } from '../src/backup/manifest';
import type { Config } from '../src/config';
import { LocalStore } from '../src/storage/localStore';
import { createDatabase, dropDatabase, runActivity, testConfig, withAdmin } from './helpers';

let source: string;
let n = 0;
beforeAll(async () => {
  source = await createDatabase('vsrc');
});
afterAll(async () => {
  await dropDatabase(source);
});

/** A fresh dump of the sample database; returns its file name. */
async function dumped(config: Config, format: BackupFormat = 'plain_gzip'): Promise<string> {
  const filename = backupFilename('family_brain', 'manual', new Date(Date.UTC(2026, 0, 1, 0, 0, ++n)), 'UTC', format);
  await runActivity(dumpDatabase, config, { filename, type: 'manual', format, workflowId: `wf-${n}` });
  return filename;
}

/** True when the scratch database that verified `filename` is still there. */
async function scratchLeft(config: Config, filename: string): Promise<boolean> {
  const { rowCount } = await withAdmin((c) => c.query('SELECT 1 FROM pg_database WHERE datname = $1', [scratchName(config, filename)]));
  return rowCount === 1;
}

async function failureOf(p: Promise<unknown>): Promise<ApplicationFailure> {
  const err = await p.then(() => undefined, (e: unknown) => e);
  expect(err).toBeInstanceOf(ApplicationFailure);
  return err as ApplicationFailure;
}

describe('verifyBackup, after the dump (BACKUP_VERIFY=after_dump)', () => {
  it('restores the backup into a scratch database, checks every table, marks it verified and drops the scratch database, even one a crashed attempt left', async () => {
    const config = testConfig({ database: source, verify: 'after_dump' });
    const filename = await dumped(config);
    // As if an earlier attempt had crashed mid-restore: its scratch database is still there.
    await withAdmin((c) => c.query(`CREATE DATABASE ${scratchName(config, filename)}`));
    const manifest = await runActivity(verifyBackup, config, filename);
    expect(manifest.status).toBe('verified');
    expect(manifest.verification).toMatchObject({ ok: true, method: 'restore', mismatches: {}, missing_extensions: [], tables_checked: 15 });
    expect(await scratchLeft(config, filename)).toBe(false);
  });

  it.each(['plain_gzip', 'plain_zstd', 'custom'] as const)('fails with BackupCorrupted when a byte of a %s file changed after the dump, and moves it aside', async (format) => {
    const config = testConfig({ database: source, verify: 'after_dump' });
    const filename = await dumped(config, format);
    const file = path.join(config.backup.dir, filename);
    const bytes = fs.readFileSync(file);
    const middle = Math.floor(bytes.length / 2);
    bytes[middle] = bytes[middle]! ^ 0xff;
    fs.writeFileSync(file, bytes);
    const failure = await failureOf(runActivity(verifyBackup, config, filename));
    expect(failure.type).toBe('BackupCorrupted');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toMatch(new RegExp(`^backup "${filename}" failed its checksum \\(expected [0-9a-f]{12}…, got [0-9a-f]{12}…\\)`));
    expect(fs.existsSync(file)).toBe(false);
    expect(fs.existsSync(`${file}.failed`)).toBe(true);
    expect(await new LocalStore(config.backup.dir, 'family_brain').list()).toEqual([]);
    expect(await scratchLeft(config, filename)).toBe(false);
  });

  it('fails with BackupVerificationFailed naming each table whose restored count differs from the dump', async () => {
    const config = testConfig({ database: source, verify: 'after_dump' });
    const filename = await dumped(config);
    const manifestFile = path.join(config.backup.dir, manifestName(filename));
    const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as BackupManifest;
    manifest.table_details = { ...manifest.table_details, tenants: 999, chat_messages: 1 };
    fs.writeFileSync(manifestFile, JSON.stringify(manifest));
    const failure = await failureOf(runActivity(verifyBackup, config, filename));
    expect(failure.type).toBe('BackupVerificationFailed');
    expect(failure.message).toBe(
      `backup "${filename}" did not restore to what was dumped: chat_messages (expected 1 rows, restored 600), tenants (expected 999 rows, restored 5); ` +
        `it was moved aside as ${filename}.failed and will not be offered for restore`,
    );
    const after = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as BackupManifest;
    expect(after.status).toBe('failed');
    expect(after.verification?.mismatches).toEqual({ tenants: { expected: 999, actual: 5 }, chat_messages: { expected: 1, actual: 600 } });
    expect(await new LocalStore(config.backup.dir, 'family_brain').list()).toEqual([]);
    expect(await scratchLeft(config, filename)).toBe(false);
  });
});
