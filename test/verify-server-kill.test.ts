// Issue 28: the worker's own verification server across worker PROCESSES: a worker SIGKILLed while it
// verifies leaves the server running and a scratch database in it; the next worker reuses the server
// (same postmaster), its retry drops that scratch database and verifies; a postmaster killed with
// SIGKILL (a stale postmaster.pid) is started again; a worker's graceful shutdown stops the server;
// two processes starting it at once share one server.
import fs from 'node:fs';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { clusterAnswers, clusterPaths, postmasterPid, stopCluster } from '../src/activities/verifyServer/cluster';
import { ensureLocalServer, stopLocalServers } from '../src/activities/verifyServer/server';
import { backupDatabase } from '../src/workflows';
import { buildWorker, dropOurDatabases, kill, killAllWorkers, slowBinDir, startWorker } from './durability';
import { ensureBuilt } from './faults';
import { eventually } from './eventually';
import { createDatabase, tempDir, testConfig, uniqueName } from './helpers';
import { onTemporal, testClient } from './temporal';

vi.setConfig({ testTimeout: 300_000, hookTimeout: 300_000 });

/** A directory the postgres user can reach (the tests run as root; mkdtemp makes it 0700). */
function serverDirFor(label: string): string {
  const dir = tempDir(label);
  fs.chmodSync(dir, 0o755);
  return dir;
}

const dirs: string[] = [];
beforeAll(buildWorker);
afterAll(async () => {
  await killAllWorkers();
  await stopLocalServers();
  for (const dir of dirs) {
    const paths = clusterPaths(path.join(dir, 'pg15'));
    if (fs.existsSync(paths.dataDir)) await stopCluster(testConfig().pgBinDir!, paths);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  await dropOurDatabases();
});

/** The scratch databases in the worker's server of `dir`. */
async function scratchIn(dir: string): Promise<string[]> {
  const client = new pg.Client({ host: clusterPaths(path.join(dir, 'pg15')).socketDir, port: 5432, user: 'postgres', database: 'postgres' });
  await client.connect();
  try {
    return (await client.query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'fbb_verify_%'")).rows.map((r) => r.datname);
  } finally {
    await client.end();
  }
}

describe("the worker's verification server across worker processes", () => {
  it('survives a SIGKILLed worker, is reused by the next one, restarted after its postmaster was SIGKILLed, and stopped by a graceful shutdown', async () => {
    const dir = serverDirFor('vsk');
    dirs.push(dir);
    const paths = clusterPaths(path.join(dir, 'pg15'));
    const config = onTemporal(testConfig({ database: await createDatabase('vsk') }));
    const own = { VERIFY_TARGET: 'worker', VERIFY_SERVER_DIR: dir, VERIFY_SERVER_IDLE_SECONDS: '600' };
    // psql waits 60 s before restoring: the first worker is killed while its scratch database exists and the dump waits for it.
    const first = startWorker(config, { ...own, PG_BIN_DIR: slowBinDir(config.pgBinDir!, 'psql', 60) });
    const client = await testClient();
    const handle = await client.workflow.start(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('vsk').replace(/_/g, '-'), args: [{ cleanup_old: false }] });
    const scratch = await eventually('a scratch database on the worker\'s server', () => scratchIn(dir).catch(() => []), (names) => names.length === 1, 120_000);
    const postmaster = postmasterPid(paths.dataDir)!;
    await kill(first);
    expect(await clusterAnswers(paths)).toBe(true);
    expect(await scratchIn(dir)).toEqual(scratch);

    const second = startWorker(config, own);
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'success', verified: { ok: true } });
    expect(postmasterPid(paths.dataDir)).toBe(postmaster);
    expect(await scratchIn(dir)).toEqual([]);

    // The postmaster itself SIGKILLed: its postmaster.pid stays behind, and the next verification starts it again.
    process.kill(postmaster, 'SIGKILL');
    await eventually('the server gone', () => clusterAnswers(paths), (up) => !up, 30_000);
    expect(fs.existsSync(path.join(paths.dataDir, 'postmaster.pid'))).toBe(true);
    const again = await client.workflow.execute(backupDatabase, { taskQueue: config.temporal.taskQueue, workflowId: uniqueName('vsk').replace(/_/g, '-'), args: [{ cleanup_old: false }] });
    expect(again).toMatchObject({ status: 'success', verified: { ok: true } });
    const restarted = postmasterPid(paths.dataDir);
    expect(restarted).toBeDefined();
    expect(restarted).not.toBe(postmaster);

    second.kill('SIGTERM');
    const exit = await second;
    expect(exit.exitCode).toBe(0);
    expect(await clusterAnswers(paths)).toBe(false);
  });

  it('two processes starting it at once share one server (one initdb, one postmaster), and neither stops it under the other', async () => {
    const dir = serverDirFor('vs-two');
    dirs.push(dir);
    const built = path.join(path.dirname(await ensureBuilt()), 'src', 'activities', 'verifyServer');
    // Each process ensures the server and holds it: the first until the other holds it too, the second
    // for a while after; then each prints the postmaster's pid and whether the server still answers,
    // and releases it (idle 0: it stops it at once unless another process holds it).
    const script = (hold: 'until-other' | number) =>
      `const s = require(${JSON.stringify(path.join(built, 'server.js'))});
       const c = require(${JSON.stringify(path.join(built, 'cluster.js'))});
       const fs = require('fs');
       (async () => {
         const lease = await s.ensureLocalServer({ dir: ${JSON.stringify(dir)}, major: 15, idleMs: 0 });
         const pid = fs.readFileSync(lease.paths.dataDir + '/postmaster.pid', 'utf8').split('\\n')[0];
         ${hold === 'until-other' ? `while (fs.readdirSync(${JSON.stringify(path.join(dir, 'pg15.leases'))}).length < 2) await new Promise((r) => setTimeout(r, 50));` : `await new Promise((r) => setTimeout(r, ${hold}));`}
         process.stdout.write(pid + ' ' + ((await c.clusterAnswers(lease.paths)) ? 'up' : 'down') + '\\n');
         lease.release();
         await new Promise((r) => setTimeout(r, 1000));
       })().catch((e) => { console.error(e); process.exit(1); });`;
    const [a, b] = await Promise.all([execa('node', ['-e', script('until-other')]), execa('node', ['-e', script(5000)])]);
    expect(a.stdout.trim()).toMatch(/^\d+ up$/);
    // The longer one still had the server up at its end: the first one's release did not stop it.
    expect(b.stdout.trim()).toBe(a.stdout.trim());
    // The first to finish found the other's lease and left the server running; the last one stopped it.
    const paths = clusterPaths(path.join(dir, 'pg15'));
    expect(await clusterAnswers(paths)).toBe(false);
    expect(fs.readFileSync(paths.logFile, 'utf8').match(/database system is ready to accept connections/g)).toHaveLength(1);
  });

  it('a half-made cluster a worker killed during initdb left is removed, and the cluster made again', async () => {
    const dir = serverDirFor('vs-initdb');
    dirs.push(dir);
    const root = path.join(dir, 'pg15');
    // What initdb leaves when its worker is killed part-way: a directory of its own, never renamed to data/.
    fs.mkdirSync(path.join(root, 'data.init-99999', 'base'), { recursive: true });
    fs.writeFileSync(path.join(root, 'data.init-99999', 'PG_VERSION'), '15\n');
    const lease = await ensureLocalServer({ dir, major: 15, idleMs: 0 });
    try {
      expect(await clusterAnswers(lease.paths)).toBe(true);
      expect(fs.readdirSync(root).filter((n) => n.startsWith('data')).sort()).toEqual(['data']);
    } finally {
      lease.release();
    }
  });
});
