import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dumpDatabase } from '../src/activities/backup/dump';
import { scratchName, verifyBackup } from '../src/activities/backup/verify';
import { backupFilename, type BackupFormat } from '../src/backup/naming';
import { manifestName, type BackupManifest } from '../src/backup/manifest';
import type { Config } from '../src/config';
import { LocalStore } from '../src/storage/localStore';
import { createDatabase, dropDatabase, runActivity, tempDir, testConfig, withAdmin } from './helpers';

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
    expect(failure.message).toMatch(new RegExp(`^backup "${filename}" failed its checksum on worker ${os.hostname()} \\(expected [0-9a-f]{12}…, got [0-9a-f]{12}…\\): the file in ${config.backup.dir} changed after it was written, or is another file of that name`));
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

/** A PG_BIN_DIR whose `tool` is the shell script `body` ($REAL is the real tool); the other tools are the real ones. */
function wrappedBinDir(config: Config, tool: string, body: string): string {
  const real = config.pgBinDir!;
  const dir = tempDir('wrapbin');
  for (const name of fs.readdirSync(real)) if (name !== tool) fs.symlinkSync(path.join(real, name), path.join(dir, name));
  fs.writeFileSync(path.join(dir, tool), `#!/bin/sh\nREAL=${JSON.stringify(path.join(real, tool))}\n[ "$1" = "--version" ] && exec "$REAL" "$@"\n${body}\n`, { mode: 0o755 });
  return dir;
}

/** Files in a backup directory other than the lock: backups, manifests, partial and failed files. */
const filesIn = (config: Config) => fs.readdirSync(config.backup.dir).filter((f) => !f.includes('.lock')).sort();

describe('verification in the same pass as the dump (BACKUP_VERIFY=during_dump, the default)', () => {
  it.each(['plain_gzip', 'plain_zstd'] as const)('dumpDatabase returns a %s backup already verified: restored from the bytes as they were written, every table counted, samples recorded, no scratch database left', async (format) => {
    const config = testConfig({ database: source });
    const filename = backupFilename('family_brain', 'manual', new Date(Date.UTC(2026, 1, 1, 0, 0, ++n)), 'UTC', format);
    // As if an earlier attempt had been killed mid-pass: its scratch database is still there.
    await withAdmin((c) => c.query(`CREATE DATABASE ${scratchName(config, filename)}`));
    const manifest = await runActivity(dumpDatabase, config, { filename, type: 'manual', format, workflowId: `wf-${n}` });
    expect(manifest.status).toBe('verified');
    expect(manifest.verification).toMatchObject({ ok: true, method: 'restore_during_dump', mismatches: {}, missing_extensions: [], tables_checked: 15 });
    expect(Object.keys(manifest.verification!.sample_hashes!)).toHaveLength(15);
    expect(manifest.total_rows).toBeGreaterThan(1000);
    // What is on disk is what was restored: its SHA-256 is the manifest's, and the manifest on disk says verified.
    expect(createHash('sha256').update(fs.readFileSync(path.join(config.backup.dir, filename))).digest('hex')).toBe(manifest.sha256);
    expect(JSON.parse(fs.readFileSync(path.join(config.backup.dir, manifestName(filename)), 'utf8'))).toEqual(manifest);
    expect(filesIn(config)).toEqual([filename, manifestName(filename)]);
    expect(await scratchLeft(config, filename)).toBe(false);
    // Nothing left to do for the verification step.
    expect(await runActivity(verifyBackup, config, filename)).toEqual(manifest);
  });

  it('a restore that fails stops the dump: BackupVerificationFailed with psql\'s error, no file, no partial file, no scratch database, pg_dump gone', async () => {
    const base = testConfig({ database: source });
    // psql reads a little of the dump, then fails as a restore that meets a bad statement does.
    const config = { ...base, pgBinDir: wrappedBinDir(base, 'psql', 'head -c 4096 > /dev/null\necho "psql:<stdin>:42: ERROR:  injected restore failure" >&2\nexit 3') };
    const filename = backupFilename('family_brain', 'manual', new Date(Date.UTC(2026, 1, 1, 0, 0, ++n)), 'UTC');
    const failure = await failureOf(runActivity(dumpDatabase, config, { filename, type: 'manual', format: 'plain_gzip', workflowId: `wf-${n}` }));
    expect(failure.type).toBe('BackupVerificationFailed');
    expect(failure.nonRetryable).toBe(true);
    expect(failure.message).toBe(`backup "${filename}" does not restore: psql:<stdin>:42: ERROR:  injected restore failure`);
    expect(filesIn(config)).toEqual([]);
    expect(await scratchLeft(config, filename)).toBe(false);
    const dumps = await withAdmin((c) => c.query("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pg_dump'", [source]));
    expect(dumps.rows).toEqual([]);
  });

  it('a pg_dump that fails part-way stops the restore: DumpFailed, retryable, no file, no partial file, no scratch database', async () => {
    const base = testConfig({ database: source });
    const config = { ...base, pgBinDir: wrappedBinDir(base, 'pg_dump', '"$REAL" "$@" | head -c 20000\necho "pg_dump: error: injected dump failure" >&2\nexit 1') };
    const filename = backupFilename('family_brain', 'manual', new Date(Date.UTC(2026, 1, 1, 0, 0, ++n)), 'UTC');
    const failure = await failureOf(runActivity(dumpDatabase, config, { filename, type: 'manual', format: 'plain_gzip', workflowId: `wf-${n}` }));
    expect(failure.type).toBe('DumpFailed');
    expect(failure.nonRetryable).toBe(false);
    expect(failure.message).toBe('pg_dump exited with code 1: pg_dump: error: injected dump failure; no backup file was written');
    expect(filesIn(config)).toEqual([]);
    expect(await scratchLeft(config, filename)).toBe(false);
  });

  it('a restored copy that differs from the dump fails verification: the whole file is kept aside as .failed, never offered for restore', async () => {
    const base = testConfig({ database: source });
    // The restore loses the first row of system_logs on its way into psql.
    const dropRow = `awk 'skip == 1 && !/^\\\\\\./ { skip = 2; next } /^COPY public\\.system_logs / { skip = 1 } { print }' | "$REAL" "$@"`;
    const config = { ...base, pgBinDir: wrappedBinDir(base, 'psql', dropRow) };
    const filename = backupFilename('family_brain', 'manual', new Date(Date.UTC(2026, 1, 1, 0, 0, ++n)), 'UTC');
    const failure = await failureOf(runActivity(dumpDatabase, config, { filename, type: 'manual', format: 'plain_gzip', workflowId: `wf-${n}` }));
    expect(failure.type).toBe('BackupVerificationFailed');
    const after = JSON.parse(fs.readFileSync(path.join(config.backup.dir, manifestName(filename)), 'utf8')) as BackupManifest;
    const expected = after.table_details.system_logs!;
    expect(failure.message).toBe(`backup "${filename}" did not restore to what was dumped: system_logs (expected ${expected} rows, restored ${expected - 1}); it was moved aside as ${filename}.failed and will not be offered for restore`);
    expect(after.status).toBe('failed');
    expect(after.verification).toMatchObject({ ok: false, method: 'restore_during_dump', mismatches: { system_logs: { expected, actual: expected - 1 } } });
    expect(filesIn(config)).toEqual([`${filename}.failed`, manifestName(filename)]);
    expect(createHash('sha256').update(fs.readFileSync(path.join(config.backup.dir, `${filename}.failed`))).digest('hex')).toBe(after.sha256);
    expect(await new LocalStore(config.backup.dir, 'family_brain').list()).toEqual([]);
    expect(await scratchLeft(config, filename)).toBe(false);
  });
});
