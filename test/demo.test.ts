// `npm run demo` as users run it: the built script (node dist/scripts/demo.js), with its own
// throwaway PostgreSQL and its own Temporal dev server (not the suite's), a real worker in its
// process, and the backup started through the Temporal client. Afterwards nothing it started runs.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { createDatabase, dropDatabase, tempDir } from './helpers';
import { alive, built, processesMentioning, spawnNode, userEnv, type Spawned } from './spawned';

let DEMO: string;
const pgInfo = inject('pg');
const running: Spawned[] = [];
const databases: string[] = [];

beforeAll(async () => {
  DEMO = await built('dist/scripts/demo.js');
});

afterAll(async () => {
  for (const child of running) child.kill('SIGKILL');
  await Promise.all(databases.map(dropDatabase));
});

function demo(args: string[], extra: Record<string, string> = {}): Spawned {
  const child = spawnNode([DEMO, ...args], userEnv({ BACKUP_DIR: tempDir(), ...extra }), os.tmpdir());
  running.push(child);
  return child;
}

/** What the demo says it started: the dev server's and PostgreSQL's pid and directory. */
function startedServers(stderr: string): { pid: number; dir: string; what: string }[] {
  const servers = [...stderr.matchAll(/^demo: (Temporal dev server|PostgreSQL 1\d) .*\(pid (\d+), files in (\S+)\)/gm)].map((m) => ({ what: m[1]!, pid: Number(m[2]), dir: m[3]! }));
  expect(servers.length).toBeGreaterThan(0);
  return servers;
}

/** Every server the demo started has exited, its directory is gone, and no process names it. */
function expectAllGone(servers: { pid: number; dir: string; what: string }[]): void {
  for (const s of servers) {
    expect({ ...s, alive: alive(s.pid), exists: fs.existsSync(s.dir), processes: processesMentioning(s.dir) }).toEqual({ ...s, alive: false, exists: false, processes: [] });
  }
}

describe('npm run demo', () => {
  it('makes a verified backup as a workflow on a real Temporal server, prints its link in the Web UI, and stops every server it started', async () => {
    const { code, stdout, stderr } = await demo([]).exited;
    expect({ code, stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    expect(stderr).not.toContain('--local');
    const ui = /^demo: Temporal dev server \S+ .*at (127\.0\.0\.1:\d+), Web UI (http:\/\/127\.0\.0\.1:\d+), up in/m.exec(stderr);
    expect(ui, stderr).not.toBeNull();
    expect(stderr).toMatch(/^demo: PostgreSQL 15 with pgvector at 127\.0\.0\.1:\d+ .*sample database family_brain loaded$/m);
    const workflowId = /^fbb: backup (backup-family_brain-manual-\d{8}T\d{6}Z) started on task queue family-brain-backup$/m.exec(stderr)?.[1];
    expect(workflowId, stderr).toBeDefined();
    expect(stdout).toMatch(/^backup family_brain_manual_\d{8}_\d{6}\.sql\.gz: verified\n {2}size .*\n {2}tables +15 tables, 2,260 rows; every count matched in a restored copy\n/);
    expect(stderr).toContain(`demo: the run in the Temporal Web UI: ${ui![2]}/namespaces/default/workflows/${workflowId}\n`);
    expect(stderr).toMatch(/demo: stopped the worker, the Temporal dev server, the throwaway PostgreSQL\n$/);
    expectAllGone(startedServers(stderr));
  });

  it('--postgres 17 runs the throwaway database on PostgreSQL 17 and backs it up with 17\'s pg_dump', async () => {
    const backups = tempDir();
    const { code, stdout, stderr } = await demo(['--postgres', '17', '--json'], { BACKUP_DIR: backups }).exited;
    expect({ code, stderr }).toEqual({ code: 0, stderr: expect.stringMatching(/^demo: starting a throwaway PostgreSQL 17 with the sample/) as unknown });
    expect(stderr).toMatch(/^demo: PostgreSQL 17 with pgvector at 127\.0\.0\.1:\d+ .*sample database family_brain loaded$/m);
    const result = JSON.parse(stdout) as { status: string; filename: string };
    expect(result.status).toBe('success');
    const manifest = JSON.parse(fs.readFileSync(path.join(backups, `${result.filename}.manifest.json`), 'utf8')) as { server_version: string; pg_dump_version: string; status: string };
    expect(manifest).toMatchObject({ status: 'verified', server_version: expect.stringMatching(/^17\.\d+/) as unknown, pg_dump_version: expect.stringMatching(/^17\.\d+$/) as unknown });
    expectAllGone(startedServers(stderr));
  });

  it('with PGHOST set and --keep, backs up that database and stays up for a look, the run in the Web UI, until Ctrl-C; the exit code is the backup\'s', async () => {
    const database = await createDatabase('demo_keep');
    databases.push(database);
    const child = demo(['--keep', '--json'], { PGHOST: pgInfo.host, PGPORT: String(pgInfo.port), PGUSER: pgInfo.user, PGPASSWORD: pgInfo.password, PGDATABASE: database, PG_BIN_DIR: pgInfo.binDir });
    await child.waitFor(/^demo: press Ctrl-C to stop everything$/m, 'stderr');
    expect(child.stderr()).toContain('demo: using the database from DATABASE_URL/PGHOST; starting a Temporal dev server...\n');
    expect(child.stderr()).not.toContain('PostgreSQL 15 with pgvector at');
    const result = JSON.parse(child.stdout()) as { status: string; filename: string; total_rows: number };
    expect(result).toMatchObject({ status: 'success', filename: expect.stringMatching(/^family_brain_manual_\d{8}_\d{6}\.sql\.gz$/), total_rows: 2260 });
    const link = /^demo: the run in the Temporal Web UI: (http:\/\/[^/]+)\/namespaces\/default\/workflows\/(\S+)$/m.exec(child.stderr());
    expect(link, child.stderr()).not.toBeNull();
    // What the Web UI shows for the run, from the UI server's own API.
    const shown = (await (await fetch(`${link![1]}/api/v1/namespaces/default/workflows/${link![2]}`)).json()) as { workflowExecutionInfo: { type: { name: string }; status: string } };
    expect(shown.workflowExecutionInfo).toMatchObject({ type: { name: 'backupDatabase' }, status: 'WORKFLOW_EXECUTION_STATUS_COMPLETED' });
    expect((await fetch(`${link![1]}/namespaces/default/workflows/${link![2]}`)).status).toBe(200);

    const servers = startedServers(child.stderr());
    expect(servers.every((s) => alive(s.pid))).toBe(true);
    child.kill('SIGINT');
    const { code, stderr } = await child.exited;
    expect(code).toBe(0);
    expect(stderr).toMatch(/demo: stopped the worker, the Temporal dev server\n$/);
    expectAllGone(servers);
  });

  it('exits with fbb\'s code when fbb refuses its arguments, and stops the servers it had started', async () => {
    const { code, stderr } = await demo(['--format', 'bogus']).exited;
    expect(code).toBe(2);
    expect(stderr).toContain("error: option '--format <format>' argument 'bogus' is invalid. Allowed choices are plain_gzip, plain_zstd, custom.");
    expect(stderr).toMatch(/demo: stopped the worker, the Temporal dev server, the throwaway PostgreSQL\n$/);
    expectAllGone(startedServers(stderr));
  });

  it('stops the PostgreSQL it started when the Temporal server cannot start, and exits 1 saying why', async () => {
    // A broken Temporal install, as a stand-in: a "temporal" that exits at once.
    const brokenCli = path.join(tempDir('broken-cli'), 'temporal');
    fs.writeFileSync(brokenCli, '#!/bin/sh\necho "temporal: cannot start (broken on purpose)" >&2\nexit 1\n', { mode: 0o755 });
    const { code, stderr } = await demo([], { TEMPORAL_CLI: brokenCli }).exited;
    expect(code).toBe(1);
    // The server's log tail follows: what it printed before it exited.
    expect(stderr).toContain('demo: temporal server start-dev exited at start:\n');
    expect(stderr).toContain('temporal: cannot start (broken on purpose)');
    expect(stderr).toMatch(/demo: stopped the throwaway PostgreSQL\n$/);
    expectAllGone(startedServers(stderr));
  });

  it('with --local, runs the backup as fbb backup --local does (a throwaway server, the worker in its own process), and says that it is not durable', async () => {
    const database = await createDatabase('demo_local');
    databases.push(database);
    const { code, stdout, stderr } = await demo(['--local'], { PGHOST: pgInfo.host, PGPORT: String(pgInfo.port), PGUSER: pgInfo.user, PGPASSWORD: pgInfo.password, PGDATABASE: database, PG_BIN_DIR: pgInfo.binDir }).exited;
    expect(code).toBe(0);
    expect(stderr).toContain('fbb: --local: running on a throwaway Temporal server with a worker in this process. This run is not durable: if this process stops, the run is lost and nothing resumes it.\n');
    expect(stderr).not.toContain('Temporal dev server');
    expect(stdout).toMatch(/^backup family_brain_manual_\d{8}_\d{6}\.sql\.gz: verified\n/);
  });
});
