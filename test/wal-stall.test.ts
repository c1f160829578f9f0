// The WAL archive's watchdog (issue 26, soak seed 1616 per host, cycle 54: a session heartbeated and
// stored nothing for 2.5 minutes, until its worker was killed; a base backup waiting for its WAL
// failed meanwhile). A session that stops making progress fails its attempt, retryable, so that the
// archive goes on from the slot: here pg_receivewal is frozen (SIGSTOP: a hung process or connection),
// and S3 accepts connections and never answers (a firewall dropping packets). Real PostgreSQL,
// pg_receivewal and sockets; the activity runs in this process (MockActivityEnvironment).
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { archiveWalSession } from '../src/activities/wal/session';
import type { Config } from '../src/config';
import { startPgCluster, type PgCluster } from '../src/sample/pgCluster';
import { walDir } from '../src/wal/layout';
import { eventually } from './eventually';
import { freePort } from '../src/ports';
import { localSegments, sql, switchSegment, systemIdentifier, walConfigFor } from './wal';

let cluster: PgCluster;
let config: Config;
let local: string;
const warnings: string[] = [];

const quiet = () => undefined;
const activityEnv = () => new MockActivityEnvironment({ attempt: 1 }, { logger: { log: quiet, trace: quiet, debug: quiet, info: quiet, warn: (m: string) => void warnings.push(m), error: quiet } });
const slotActive = () => sql<{ active: boolean }>(cluster, "SELECT active FROM pg_replication_slots WHERE slot_name = 'fbb_postgres'");

/** Runs a session; resolves with its failure (undefined when it ended without one), and the seconds it ran. */
function session(env: MockActivityEnvironment, cfg: Config): Promise<{ failure: Error | undefined; seconds: number }> {
  const started = Date.now();
  return env.run(archiveWalSession, cfg, { session_seconds: 600 }).then(
    () => ({ failure: undefined, seconds: (Date.now() - started) / 1000 }),
    (err: unknown) => ({ failure: err as Error, seconds: (Date.now() - started) / 1000 }),
  );
}

beforeAll(async () => {
  cluster = await startPgCluster();
  config = { ...walConfigFor(cluster, { stallSeconds: 10 }), s3: undefined };
  local = path.join(config.backup.dir, walDir(await systemIdentifier(cluster)));
});

afterAll(async () => {
  await cluster?.stop();
});

describe('a WAL archive session that stops making progress (WAL_STALL_SECONDS=10)', () => {
  it('with pg_receivewal frozen while the server writes: fails, retryable, naming it; pg_receivewal is stopped; the next session archives the WAL from the slot', async () => {
    const env = activityEnv();
    const run = session(env, config);
    await eventually('the slot is streamed', slotActive, (r) => r[0]?.active === true, 60_000);
    const pids = (await execa('pgrep', ['-f', `pg_receivewal -D ${config.wal!.spoolDir}`], { reject: false })).stdout.split('\n').filter(Boolean).map(Number);
    expect(pids).toHaveLength(1);
    const receiver = pids[0]!;
    let beats = 0;
    env.on('heartbeat', () => beats++);
    process.kill(receiver, 'SIGSTOP');
    try {
      const written = await switchSegment(cluster);
      const { failure, seconds } = await run;
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect((failure as ApplicationFailure).type).toBe('WalArchiveFailed');
      expect((failure as ApplicationFailure).nonRetryable).toBe(false);
      expect(failure!.message).toMatch(/^the WAL archive of 127\.0\.0\.1:\d+ \(slot fbb_postgres\) stalled: pg_receivewal confirmed nothing for \d+ s while the server wrote past the slot \(server at [0-9A-F]+\/[0-9A-F]+, slot at [0-9A-F]+\/[0-9A-F]+\); the attempt is failed and retried/);
      expect(warnings.some((w) => w.includes('stalled: pg_receivewal confirmed nothing'))).toBe(true);
      // Within the stall time, a sample and the receiver's stop (SIGKILL after 10 s: a frozen process ignores SIGINT), not the session's 600 s.
      expect(seconds).toBeLessThan(60);
      expect(beats).toBeGreaterThan(0);
      // The frozen pg_receivewal was stopped (killed) with the attempt: nothing holds the slot.
      expect(fs.existsSync(`/proc/${receiver}`)).toBe(false);
      expect((await slotActive())[0]?.active).toBe(false);

      // The retry streams from the slot, which kept the WAL.
      const next = activityEnv();
      const retry = session(next, config);
      await eventually(`${written} archived`, async () => localSegments(local), (names) => names.includes(`${written}.gz`), 60_000);
      next.cancel();
      expect((await retry).failure).toBeUndefined();
    } finally {
      if (fs.existsSync(`/proc/${receiver}`)) process.kill(receiver, 'SIGKILL');
    }
  });

  it('with S3 accepting connections and never answering: fails within the stall time, naming the step, and leaves nothing streaming', async () => {
    const sockets = new Set<net.Socket>();
    const silent = net.createServer((socket) => void sockets.add(socket));
    const port = await freePort();
    await new Promise<void>((resolve) => silent.listen(port, '127.0.0.1', resolve));
    try {
      const withS3 = walConfigFor(cluster, { stallSeconds: 10 });
      const cfg: Config = { ...withS3, wal: { ...withS3.wal!, spoolDir: config.wal!.spoolDir }, s3: { ...withS3.s3!, endpoint: `http://127.0.0.1:${port}` } };
      const { failure, seconds } = await session(activityEnv(), cfg);
      expect((failure as ApplicationFailure).type).toBe('WalArchiveFailed');
      expect(failure!.message).toMatch(/^the WAL archive of 127\.0\.0\.1:\d+ \(slot fbb_postgres\) stalled: .+ has not finished nor moved for \d+ s; the attempt is failed and retried/);
      expect(seconds).toBeLessThan(60);
      expect(sockets.size).toBeGreaterThan(0);
      expect((await slotActive())[0]?.active).toBe(false);
    } finally {
      for (const s of sockets) s.destroy();
      silent.close();
    }
  });
});
