// `fbb schedules list --local`: the schedules as configured, with next runs computed in-process.
// The clock is set (Date only) so the next runs are known; nothing here needs a Temporal server.
import { captured } from './helpers';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { runCli } from '../src/client/cli';
import { LOCAL_SCHEDULES_NOTICE } from '../src/client/commands/schedules';

async function fbb(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = captured();
  const code = await runCli(args, { stdout: io.stdout, stderr: io.stderr, env: { TEMPORAL_ADDRESS: '127.0.0.1:1', ...env } });
  return { code, ...io.text() };
}

/** Sets "now" for the command. */
function now(iso: string): void {
  vi.setSystemTime(new Date(iso));
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('fbb schedules list --local', () => {
  it('prints each schedule with its cron, time zone and next three runs on the local wall clock, skipping 02:00 on 2026-03-08', async () => {
    now('2026-03-06T12:00:00Z');
    const { code, stdout, stderr } = await fbb(['schedules', 'list', '--local']);
    expect(stdout).toBe(
      [
        'SCHEDULE                 CRON         TIME ZONE        NEXT RUNS (local time)',
        'schedule_daily_backup    0 0 2 * * *  America/Toronto  2026-03-07 02:00:00 -05:00, 2026-03-09 02:00:00 -04:00, 2026-03-10 02:00:00 -04:00',
        'schedule_weekly_backup   0 0 3 * * 7  America/Toronto  2026-03-08 03:00:00 -04:00, 2026-03-15 03:00:00 -04:00, 2026-03-22 03:00:00 -04:00',
        'schedule_monthly_backup  0 0 4 1 * *  America/Toronto  2026-04-01 04:00:00 -04:00, 2026-05-01 04:00:00 -04:00, 2026-06-01 04:00:00 -04:00',
        '',
      ].join('\n'),
    );
    expect(stderr).toBe(`${LOCAL_SCHEDULES_NOTICE}\n`);
    expect(code).toBe(0);
  });

  it('--json gives the configured crons and time zone, and each next run in UTC and local time', async () => {
    now('2026-10-31T12:00:00Z');
    const { code, stdout } = await fbb(['schedules', 'list', '--local', '--json'], { SCHEDULE_DAILY_CRON: '0 30 1 * * *', SCHEDULE_TIMEZONE: 'America/Toronto' });
    expect(JSON.parse(stdout)).toEqual([
      {
        id: 'schedule_daily_backup',
        cron: '0 30 1 * * *',
        timezone: 'America/Toronto',
        nextActionTimes: ['2026-11-01T05:30:00.000Z', '2026-11-01T06:30:00.000Z', '2026-11-02T06:30:00.000Z'],
        nextActionTimesLocal: ['2026-11-01 01:30:00 -04:00', '2026-11-01 01:30:00 -05:00', '2026-11-02 01:30:00 -05:00'],
      },
      {
        id: 'schedule_weekly_backup',
        cron: '0 0 3 * * 7',
        timezone: 'America/Toronto',
        nextActionTimes: ['2026-11-01T08:00:00.000Z', '2026-11-08T08:00:00.000Z', '2026-11-15T08:00:00.000Z'],
        nextActionTimesLocal: ['2026-11-01 03:00:00 -05:00', '2026-11-08 03:00:00 -05:00', '2026-11-15 03:00:00 -05:00'],
      },
      {
        id: 'schedule_monthly_backup',
        cron: '0 0 4 1 * *',
        timezone: 'America/Toronto',
        nextActionTimes: ['2026-11-01T09:00:00.000Z', '2026-12-01T09:00:00.000Z', '2027-01-01T09:00:00.000Z'],
        nextActionTimesLocal: ['2026-11-01 04:00:00 -05:00', '2026-12-01 04:00:00 -05:00', '2027-01-01 04:00:00 -05:00'],
      },
    ]);
    expect(code).toBe(0);
  });

  it('uses SCHEDULE_TIMEZONE for the runs and their wall clock', async () => {
    now('2026-03-27T12:00:00Z');
    const { code, stdout } = await fbb(['schedules', 'list', '--local', '--json'], { SCHEDULE_TIMEZONE: 'Europe/Berlin' });
    const daily = (JSON.parse(stdout) as { id: string; timezone: string; nextActionTimesLocal: string[] }[])[0]!;
    expect(daily).toMatchObject({ id: 'schedule_daily_backup', timezone: 'Europe/Berlin', nextActionTimesLocal: ['2026-03-28 02:00:00 +01:00', '2026-03-30 02:00:00 +02:00', '2026-03-31 02:00:00 +02:00'] });
    expect(code).toBe(0);
  });

  it('exits 2 naming the variable when a configured cron is invalid', async () => {
    const { code, stdout, stderr } = await fbb(['schedules', 'list', '--local'], { SCHEDULE_WEEKLY_CRON: '0 0 24 * * 7' });
    expect(stderr).toContain('  - SCHEDULE_WEEKLY_CRON="0 0 24 * * 7": hours 24 is outside 0-23 (example: SCHEDULE_WEEKLY_CRON=0 0 3 * * 7)\n');
    expect(stdout).toBe('');
    expect(code).toBe(2);
  });

  it.each(['apply', 'pause'])('refuses --local for "%s", which changes the server, and exits 2', async (action) => {
    const { code, stderr } = await fbb(['schedules', action, 'daily', '--local']);
    expect(stderr).toBe(`fbb: fbb schedules ${action} changes the schedules on the Temporal server, so it has no --local; run it without --local (only "fbb schedules list" has one)\n`);
    expect(code).toBe(2);
  });

  it('is among the examples of fbb schedules --help', async () => {
    const { code, stdout } = await fbb(['schedules', '--help']);
    expect(stdout).toContain('  $ fbb schedules list --local\n');
    expect(code).toBe(0);
  });
});
