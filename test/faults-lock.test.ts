// Issue 12, leftovers and the lock: backups killed by PID at the named moment, two runs with one
// workflow ID, concurrent takers of the lock, and what `fbb doctor` says about what was left.
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import { execa } from 'execa';
import { beforeAll, describe, expect, it } from 'vitest';
import { acquireLock, lockPath, processStart, STALE_LOCK_MS } from '../src/activities/backup/lock';
import { parseRestoreInput } from '../src/backup/restoreInput';
import { ErrorType } from '../src/errors';
import { ensureBuilt, fbbEnv, outcome, runFbb, slowPgDumpBinDir, startFbb, waitFor } from './faults';
import { createDatabase, testConfig } from './helpers';

beforeAll(async () => {
  await ensureBuilt();
}, 600_000);

const partials = (dir: string) => fs.readdirSync(dir).filter((f) => f.includes('.partial-'));

describe('a backup killed while dumping', () => {
  it.each(['SIGKILL', 'SIGTERM', 'SIGINT'] as const)('by %s leaves nothing that blocks or stays: the next backup takes over its lock and removes its partial file', async (signal) => {
    const database = await createDatabase(`killed_${signal.toLowerCase()}`);
    const config = testConfig({ database });
    const slow = startFbb(['backup', '--local', '--no-cleanup'], fbbEnv({ ...config, pgBinDir: slowPgDumpBinDir(config.pgBinDir!, 30) }));
    await waitFor('the partial dump file', () => partials(config.backup.dir)[0], slow);
    process.kill(slow.pid!, signal);
    await slow;
    const left = partials(config.backup.dir);

    // Nothing kills the next run: it runs in this process (runFbb), what its activities say (the lock taken over) on its stderr.
    const next = await runFbb(['backup', '--local', '--json', '--no-cleanup'], fbbEnv(config));
    expect(outcome(next)).toMatchObject({ exit: 0 });
    // A run that got to clean up after itself leaves nothing; one that did not is cleaned up after, saying so.
    if (left.length > 0) {
      expect(next.stderr).toMatch(/took over the lock of backup .* \(pid \d+ on .*, no longer running\)/);
      expect(next.stderr).toContain(`removed leftover file ${left[0]}`);
    }
    expect(partials(config.backup.dir)).toEqual([]);
    expect(fs.existsSync(lockPath(config))).toBe(false);
  });
});

describe('two runs given the same --workflow-id at once', () => {
  it('make one backup: the second process is refused while the first runs', async () => {
    const database = await createDatabase('same_id');
    const config = testConfig({ database });
    const id = `backup-same-id-${randomUUID()}`;
    const first = startFbb(['backup', '--local', '--json', '--no-cleanup', '--workflow-id', id], fbbEnv({ ...config, pgBinDir: slowPgDumpBinDir(config.pgBinDir!, 5) }));
    await waitFor('the first run to hold the lock', () => fs.existsSync(lockPath(config)) || undefined, first);
    const second = await runFbb(['backup', '--local', '--json', '--no-cleanup', '--workflow-id', id], fbbEnv(config));
    expect(second.exitCode).not.toBe(0);
    // Refused by the CLI's check of running local runs, or by the lock if both got past it at once.
    expect(second.all).toMatch(new RegExp(`backup ${id} is already running in another process|a backup of database "${database}" is already running \\(workflow ${id}, pid ${first.pid}`));
    expect(outcome(await first)).toMatchObject({ exit: 0 });
    expect(fs.readdirSync(config.backup.dir).filter((f) => f.endsWith('.sql.gz'))).toHaveLength(1);
  });
});

describe('the lock file', () => {
  it('refuses a second process running the same workflow ID, and lets the same run in again (a retried activity)', async () => {
    const config = testConfig();
    const other = execa('sleep', ['60']);
    try {
      const holder = { workflow_id: 'backup-x', kind: 'backup', run_id: 'run-a', since: new Date().toISOString(), local: true, host: os.hostname(), pid: other.pid, process_start: await processStart(other.pid!) };
      fs.writeFileSync(lockPath(config), JSON.stringify(holder));
      await expect(acquireLock(config, { workflow_id: 'backup-x', kind: 'backup', run_id: 'run-b' })).rejects.toMatchObject({
        type: ErrorType.DatabaseBusy,
        message: expect.stringContaining(`is already running (workflow backup-x, pid ${other.pid} on ${os.hostname()}, --local`),
      });
      fs.writeFileSync(lockPath(config), JSON.stringify({ ...holder, pid: process.pid, process_start: await processStart(process.pid) }));
      await expect(acquireLock(config, { workflow_id: 'backup-x', kind: 'backup', run_id: 'run-a' })).resolves.toMatchObject({ took_over: null, holder: { run_id: 'run-a' } });
    } finally {
      other.kill();
      await other.catch(() => undefined);
    }
  });


  it('lets exactly one of twenty concurrent takers in, and every taker reads a whole holder', async () => {
    const config = testConfig();
    const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => acquireLock(config, { workflow_id: `run-${i}`, kind: 'backup' })));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    for (const r of results) {
      if (r.status === 'rejected') expect((r.reason as { type?: string }).type).toBe(ErrorType.DatabaseBusy);
    }
    const holder = JSON.parse(fs.readFileSync(lockPath(config), 'utf8')) as { workflow_id: string; pid: number; host: string };
    expect(holder).toMatchObject({ pid: process.pid, host: os.hostname() });
    expect(fs.readdirSync(config.backup.dir).filter((f) => f.includes('.tmp-') || f.endsWith('.takeover'))).toEqual([]);
  });

  it('stays with a live --local holder after 24 hours, and goes at once to the next run when the holder process is gone', async () => {
    const config = testConfig();
    const old = new Date(Date.now() - STALE_LOCK_MS - 3_600_000).toISOString();
    const live = { workflow_id: 'restore-waiting', kind: 'restore', since: old, local: true, host: os.hostname(), pid: process.pid, process_start: await processStart(process.pid) };
    fs.writeFileSync(lockPath(config), JSON.stringify(live));
    await expect(acquireLock(config, { workflow_id: 'backup-next', kind: 'backup' })).rejects.toMatchObject({ type: ErrorType.DatabaseBusy });

    const gone = await execa('node', ['-e', 'process.stdout.write(String(process.pid))']);
    fs.writeFileSync(lockPath(config), JSON.stringify({ ...live, since: new Date().toISOString(), pid: Number(gone.stdout) }));
    const taken = await acquireLock(config, { workflow_id: 'backup-next', kind: 'backup' });
    expect(taken.took_over).toMatchObject({ workflow_id: 'restore-waiting', reason: `pid ${gone.stdout} on ${os.hostname()}, no longer running` });
  });
});

describe('confirmation_timeout', () => {
  it('is refused above 12 hours, since the waiting restore holds the lock', () => {
    expect(() => parseRestoreInput({ backup_filename: 'family_brain_daily_20261201_020000.sql.gz', confirmation_timeout: '13 hours' })).toThrow(
      '"confirmation_timeout" may be at most 12 hours (the restore holds the database\'s lock while it waits), got "13 hours"',
    );
    expect(parseRestoreInput({ backup_filename: 'family_brain_daily_20261201_020000.sql.gz', confirmation_timeout: '12 hours' }).confirmation_timeout).toBe('12 hours');
  });
});

describe('fbb doctor after a killed backup', () => {
  it('reports the dead holder\'s lock and the partial file, and all is clean after the next backup', async () => {
    const database = await createDatabase('doctor_leftovers');
    const config = testConfig({ database });
    const slow = startFbb(['backup', '--local', '--no-cleanup'], fbbEnv({ ...config, pgBinDir: slowPgDumpBinDir(config.pgBinDir!, 30) }));
    const partial = await waitFor('the partial dump file', () => partials(config.backup.dir)[0], slow);
    process.kill(slow.pid!, 'SIGKILL');
    await slow;

    type Report = { checks: { name: string; status: string; detail: string; hint?: string }[] };
    // The checks and the next backup need no process of their own: they run in this one (runFbb).
    const doctor = await runFbb(['doctor', '--local', '--json'], fbbEnv(config));
    const checks = (JSON.parse(doctor.stdout) as Report).checks;
    expect(checks.find((c) => c.name === 'lock')).toMatchObject({ status: 'warn', detail: expect.stringContaining(`no longer blocks: pid ${slow.pid} on ${os.hostname()}, no longer running`) });
    expect(checks.find((c) => c.name === 'leftovers')).toMatchObject({ status: 'warn', detail: expect.stringContaining(`partial file ${partial}`) });

    expect(outcome(await runFbb(['backup', '--local', '--no-cleanup'], fbbEnv(config)))).toMatchObject({ exit: 0 });
    const after = (JSON.parse((await runFbb(['doctor', '--local', '--json'], fbbEnv(config))).stdout) as Report).checks;
    expect(after.find((c) => c.name === 'lock')?.status).toBe('ok');
    expect(after.find((c) => c.name === 'leftovers')?.status).toBe('ok');
  });
});
