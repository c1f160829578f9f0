// When the schedules run, around the 2026 daylight saving changes in Toronto: the times the Temporal
// dev server computes (ListScheduleMatchingTimes on a paused schedule with the same spec, in a
// namespace of this file's own) and the ones src/schedules/nextTimes.ts computes for
// `fbb schedules list --local`, each checked against instants written out by hand from the
// calendar and the time zone rules (the ones README.md and docs/design.md state).
import type { Client } from '@temporalio/client';
import { beforeAll, describe, expect, it } from 'vitest';
import { windmillCronToCalendar } from '../src/schedules/cron';
import { desiredSchedules, type ScheduleDefinition } from '../src/schedules/definitions';
import { nextFireTimes, type CalendarScheduleSpec } from '../src/schedules/nextTimes';
import { formatLocal } from '../src/schedules/zone';
import { createTestNamespace } from './namespaces';
import { dateOf, protoTime } from './protoTime';

const settings = { database: 'family_brain', taskQueue: 'family-brain-backup', timezone: 'America/Toronto', uploadToS3: true, format: 'plain_gzip' as const };
const [daily, weekly, monthly] = desiredSchedules(settings) as [ScheduleDefinition, ScheduleDefinition, ScheduleDefinition];

let server: { namespace: string; client: Client };
beforeAll(async () => {
  server = await createTestNamespace('dst');
});

const created = new Map<string, Promise<string>>();
/** A paused schedule with this spec on the dev server (one per spec), never starting anything; its ID. */
function scheduleWith(spec: CalendarScheduleSpec): Promise<string> {
  const key = JSON.stringify(spec);
  let id = created.get(key);
  if (id === undefined) {
    const scheduleId = `dst-${created.size + 1}`;
    id = server.client.schedule
      .create({ scheduleId, spec: { calendars: [...spec.calendars], timezone: spec.timezone }, action: { type: 'startWorkflow', workflowType: 'backupDatabase', taskQueue: 'nowhere' }, state: { paused: true } })
      .then(() => scheduleId);
    created.set(key, id);
  }
  return id;
}

/** The times the server would start the schedule, strictly after `after`, up to and including `until` (at most 1,000). */
async function serverTimes(spec: CalendarScheduleSpec, after: Date, until: Date): Promise<Date[]> {
  const scheduleId = await scheduleWith(spec);
  const { startTime } = await server.client.workflowService.listScheduleMatchingTimes({ namespace: server.namespace, scheduleId, startTime: protoTime(after.getTime()), endTime: protoTime(until.getTime()) });
  return (startTime ?? []).map((t) => dateOf(t));
}

const DAY = 86_400_000;
/** The next `count` runs after `after` as [UTC instant, wall clock in the spec's time zone], as nextTimes.ts and as the server compute them. */
async function runs(spec: CalendarScheduleSpec, after: string, count: number): Promise<{ local: [string, string][]; server: [string, string][] }> {
  const show = (times: Date[]) => times.map((t): [string, string] => [t.toISOString(), formatLocal(t, spec.timezone ?? 'UTC')]);
  const from = new Date(after);
  const fromServer = await serverTimes(spec, from, new Date(from.getTime() + 400 * DAY));
  return { local: show(nextFireTimes(spec, from, count)), server: show(fromServer.slice(0, count)) };
}

/** Expects the server and nextTimes.ts to give exactly `expected`. */
async function expectRuns(spec: CalendarScheduleSpec, after: string, expected: [string, string][]): Promise<void> {
  const both = await runs(spec, after, expected.length);
  expect(both).toEqual({ local: expected, server: expected });
}

describe('the daily 02:00 backup in America/Toronto', () => {
  it('does not run on 2026-03-08, when clocks jump from 02:00 to 03:00, and runs at 02:00 EDT the day after', async () => {
    await expectRuns(daily.spec, '2026-03-06T12:00:00Z', [
      ['2026-03-07T07:00:00.000Z', '2026-03-07 02:00:00 -05:00'],
      ['2026-03-09T06:00:00.000Z', '2026-03-09 02:00:00 -04:00'],
      ['2026-03-10T06:00:00.000Z', '2026-03-10 02:00:00 -04:00'],
      ['2026-03-11T06:00:00.000Z', '2026-03-11 02:00:00 -04:00'],
    ]);
  });

  it('is not moved to 03:00 on 2026-03-08: a second before the jump, the next run is still the 9th', async () => {
    await expectRuns(daily.spec, '2026-03-08T06:59:59Z', [['2026-03-09T06:00:00.000Z', '2026-03-09 02:00:00 -04:00']]);
  });

  it('runs once on 2026-11-01, at 02:00 EST, after the repeated 01:00-02:00 hour', async () => {
    await expectRuns(daily.spec, '2026-10-30T12:00:00Z', [
      ['2026-10-31T06:00:00.000Z', '2026-10-31 02:00:00 -04:00'],
      ['2026-11-01T07:00:00.000Z', '2026-11-01 02:00:00 -05:00'],
      ['2026-11-02T07:00:00.000Z', '2026-11-02 02:00:00 -05:00'],
    ]);
  });

  it.each([
    ['in the first 01:30 (EDT)', '2026-11-01T05:30:00Z'],
    ['in the second 01:30 (EST)', '2026-11-01T06:30:00Z'],
  ])('asked %s on 2026-11-01, the next run is 02:00 EST', async (_, after) => {
    await expectRuns(daily.spec, after, [['2026-11-01T07:00:00.000Z', '2026-11-01 02:00:00 -05:00']]);
  });

  it('counts from the second: a run at exactly `after` is not next, one a millisecond later is', () => {
    expect(nextFireTimes(daily.spec, new Date('2026-03-07T07:00:00.000Z'), 1)).toEqual([new Date('2026-03-09T06:00:00Z')]);
    expect(nextFireTimes(daily.spec, new Date('2026-03-07T06:59:59.999Z'), 1)).toEqual([new Date('2026-03-07T07:00:00Z')]);
  });
});

describe('the weekly and monthly backups in America/Toronto', () => {
  it('weekly (Sunday 03:00) runs on both 2026 changeover Sundays, at 03:00 local time', async () => {
    await expectRuns(weekly.spec, '2026-03-01T12:00:00Z', [
      ['2026-03-08T07:00:00.000Z', '2026-03-08 03:00:00 -04:00'],
      ['2026-03-15T07:00:00.000Z', '2026-03-15 03:00:00 -04:00'],
    ]);
    await expectRuns(weekly.spec, '2026-10-25T12:00:00Z', [
      ['2026-11-01T08:00:00.000Z', '2026-11-01 03:00:00 -05:00'],
      ['2026-11-08T08:00:00.000Z', '2026-11-08 03:00:00 -05:00'],
    ]);
  });

  it('monthly (the 1st at 04:00) stays at 04:00 local time on either side of each change', async () => {
    await expectRuns(monthly.spec, '2026-02-15T12:00:00Z', [
      ['2026-03-01T09:00:00.000Z', '2026-03-01 04:00:00 -05:00'],
      ['2026-04-01T08:00:00.000Z', '2026-04-01 04:00:00 -04:00'],
    ]);
    await expectRuns(monthly.spec, '2026-10-15T12:00:00Z', [
      ['2026-11-01T09:00:00.000Z', '2026-11-01 04:00:00 -05:00'],
      ['2026-12-01T09:00:00.000Z', '2026-12-01 04:00:00 -05:00'],
      ['2027-01-01T09:00:00.000Z', '2027-01-01 04:00:00 -05:00'],
    ]);
  });
});

describe('other crons and time zones', () => {
  it('a daily 01:30 (SCHEDULE_DAILY_CRON="0 30 1 * * *") runs twice on 2026-11-01 in Toronto, once per pass of the repeated hour', async () => {
    const [changed] = desiredSchedules({ ...settings, crons: { daily: '0 30 1 * * *' } });
    await expectRuns(changed!.spec, '2026-10-31T12:00:00Z', [
      ['2026-11-01T05:30:00.000Z', '2026-11-01 01:30:00 -04:00'],
      ['2026-11-01T06:30:00.000Z', '2026-11-01 01:30:00 -05:00'],
      ['2026-11-02T06:30:00.000Z', '2026-11-02 01:30:00 -05:00'],
    ]);
  });

  it('a daily 02:30 in Europe/Berlin is skipped on 2026-03-29 and runs once on 2026-10-25, at 02:30 CET', async () => {
    const [berlin] = desiredSchedules({ ...settings, timezone: 'Europe/Berlin', crons: { daily: '0 30 2 * * *' } });
    await expectRuns(berlin!.spec, '2026-03-27T12:00:00Z', [
      ['2026-03-28T01:30:00.000Z', '2026-03-28 02:30:00 +01:00'],
      ['2026-03-30T00:30:00.000Z', '2026-03-30 02:30:00 +02:00'],
    ]);
    await expectRuns(berlin!.spec, '2026-10-23T12:00:00Z', [
      ['2026-10-24T00:30:00.000Z', '2026-10-24 02:30:00 +02:00'],
      ['2026-10-25T01:30:00.000Z', '2026-10-25 02:30:00 +01:00'],
      ['2026-10-26T01:30:00.000Z', '2026-10-26 02:30:00 +01:00'],
    ]);
  });

  it('weekdays at 23:00 in Asia/Tokyo (no daylight saving) skip the weekend', async () => {
    const spec = { calendars: [windmillCronToCalendar('0 0 23 * * 1-5')], timezone: 'Asia/Tokyo' };
    await expectRuns(spec, '2026-03-06T00:00:00Z', [
      ['2026-03-06T14:00:00.000Z', '2026-03-06 23:00:00 +09:00'],
      ['2026-03-09T14:00:00.000Z', '2026-03-09 23:00:00 +09:00'],
      ['2026-03-10T14:00:00.000Z', '2026-03-10 23:00:00 +09:00'],
    ]);
  });

  it('with several calendars the earliest match comes first, and no time zone means UTC', async () => {
    const spec = { calendars: [windmillCronToCalendar('0 0 3 * * 7'), windmillCronToCalendar('0 0 12 1 * *')] };
    await expectRuns(spec, '2026-02-27T00:00:00Z', [
      ['2026-03-01T03:00:00.000Z', '2026-03-01 03:00:00 +00:00'],
      ['2026-03-01T12:00:00.000Z', '2026-03-01 12:00:00 +00:00'],
      ['2026-03-08T03:00:00.000Z', '2026-03-08 03:00:00 +00:00'],
    ]);
  });

  it('rejects a calendar value outside what the server accepts, naming the field', () => {
    expect(() => nextFireTimes({ calendars: [{ hour: 24 }], timezone: 'America/Toronto' }, new Date(), 1)).toThrow(
      new TypeError('calendar hour: 24 is not a value or range within 0-23'),
    );
  });

  it('rejects a time zone that is not an IANA name, saying what it expected', () => {
    expect(() => nextFireTimes({ calendars: [windmillCronToCalendar('0 0 2 * * *')], timezone: 'Toronto' }, new Date(), 1)).toThrow(
      new RangeError('time zone "Toronto" is not an IANA time zone name (e.g. "America/Toronto")'),
    );
  });
});

describe('the server and nextTimes.ts agree on every run of 2026', () => {
  const start = new Date('2026-01-01T04:59:59Z'); // 2025-12-31 23:59:59 in Toronto
  const end = new Date('2027-01-01T04:59:59Z');
  /** Every run of the spec in 2026 (Toronto time) on the spec's wall clock, from the server, after checking nextTimes.ts gives the same instants. */
  async function runsIn2026(spec: CalendarScheduleSpec): Promise<string[]> {
    const fromServer = await serverTimes(spec, start, end);
    expect(nextFireTimes(spec, start, 1000).filter((t) => t <= end)).toEqual(fromServer);
    return fromServer.map((t) => formatLocal(t, spec.timezone ?? 'UTC'));
  }
  const dateOf = (local: string) => local.slice(0, 10);
  const weekday = (local: string) => new Date(`${dateOf(local)}T00:00:00Z`).getUTCDay();

  it('daily: 02:00 every day but 2026-03-08 (364 runs)', async () => {
    const all = await runsIn2026(daily.spec);
    expect(all).toHaveLength(364);
    expect(all.every((t) => / 02:00:00 -0[45]:00$/.test(t))).toBe(true);
    const days = new Set(all.map(dateOf));
    const missing: string[] = [];
    for (let t = Date.UTC(2026, 0, 1); t < Date.UTC(2027, 0, 1); t += DAY) {
      const day = new Date(t).toISOString().slice(0, 10);
      if (!days.has(day)) missing.push(day);
    }
    expect(missing).toEqual(['2026-03-08']);
  });

  it('weekly: 03:00 on each of the 52 Sundays', async () => {
    const all = await runsIn2026(weekly.spec);
    expect(all).toHaveLength(52);
    expect(all.every((t) => / 03:00:00 -0[45]:00$/.test(t) && weekday(t) === 0)).toBe(true);
    expect([all[0], all.at(-1)]).toEqual(['2026-01-04 03:00:00 -05:00', '2026-12-27 03:00:00 -05:00']);
  });

  it('monthly: 04:00 on the 1st of each month', async () => {
    expect((await runsIn2026(monthly.spec)).map((t) => t.slice(0, 19))).toEqual(
      Array.from({ length: 12 }, (_, i) => `2026-${String(i + 1).padStart(2, '0')}-01 04:00:00`),
    );
  });

  it.each([
    ['a daily 01:30 in Toronto (366 runs: twice on 2026-11-01)', { calendars: [windmillCronToCalendar('0 30 1 * * *')], timezone: 'America/Toronto' }, 366],
    ['a daily 02:30 in Toronto (364 runs: none on 2026-03-08)', { calendars: [windmillCronToCalendar('0 30 2 * * *')], timezone: 'America/Toronto' }, 364],
    ['a daily 02:30 in Europe/Berlin (364 runs: none on 2026-03-29, once on 2026-10-25)', { calendars: [windmillCronToCalendar('0 30 2 * * *')], timezone: 'Europe/Berlin' }, 364],
    ['on Sundays at 01:00, 01:30, 02:00, 02:30 in Toronto (208 runs: 2 on 2026-03-08, 6 on 2026-11-01)', { calendars: [windmillCronToCalendar('0 0,30 1-2 * * 7')], timezone: 'America/Toronto' }, 52 * 4 - 2 + 2],
  ])('%s', async (_, spec, count) => {
    expect(await runsIn2026(spec)).toHaveLength(count);
  });
});
