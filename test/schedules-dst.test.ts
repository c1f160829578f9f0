// When the schedules run, around the 2026 daylight saving changes in Toronto. No Temporal server
// runs here, so the times come from nextFireTimes, which follows the server's calendar code
// (service/worker/scheduler/calendar.go); the expected instants below are written out by hand,
// in UTC and on a Toronto wall clock, from the calendar and the time zone rules.
import { describe, expect, it } from 'vitest';
import { windmillCronToCalendar } from '../src/schedules/cron';
import { desiredSchedules, type ScheduleDefinition } from '../src/schedules/definitions';
import { formatLocal, nextFireTimes, type CalendarScheduleSpec } from '../src/schedules/nextTimes';

const settings = { database: 'family_brain', taskQueue: 'family-brain-backup', timezone: 'America/Toronto', uploadToS3: true, format: 'plain_gzip' as const };
const [daily, weekly, monthly] = desiredSchedules(settings) as [ScheduleDefinition, ScheduleDefinition, ScheduleDefinition];

/** The next runs after `after` as [UTC instant, wall clock in the spec's time zone]. */
function runs(spec: CalendarScheduleSpec, after: string, count: number): [string, string][] {
  return nextFireTimes(spec, new Date(after), count).map((t) => [t.toISOString(), formatLocal(t, spec.timezone ?? 'UTC')]);
}

describe('the daily 02:00 backup in America/Toronto', () => {
  it('does not run on 2026-03-08, when clocks jump from 02:00 to 03:00, and runs at 02:00 EDT the day after', () => {
    expect(runs(daily.spec, '2026-03-06T12:00:00Z', 4)).toEqual([
      ['2026-03-07T07:00:00.000Z', '2026-03-07 02:00:00 -05:00'],
      ['2026-03-09T06:00:00.000Z', '2026-03-09 02:00:00 -04:00'],
      ['2026-03-10T06:00:00.000Z', '2026-03-10 02:00:00 -04:00'],
      ['2026-03-11T06:00:00.000Z', '2026-03-11 02:00:00 -04:00'],
    ]);
  });

  it('is not moved to 03:00 on 2026-03-08: a second before the jump, the next run is still the 9th', () => {
    expect(runs(daily.spec, '2026-03-08T06:59:59Z', 1)).toEqual([['2026-03-09T06:00:00.000Z', '2026-03-09 02:00:00 -04:00']]);
  });

  it('runs once on 2026-11-01, at 02:00 EST, after the repeated 01:00-02:00 hour', () => {
    expect(runs(daily.spec, '2026-10-30T12:00:00Z', 3)).toEqual([
      ['2026-10-31T06:00:00.000Z', '2026-10-31 02:00:00 -04:00'],
      ['2026-11-01T07:00:00.000Z', '2026-11-01 02:00:00 -05:00'],
      ['2026-11-02T07:00:00.000Z', '2026-11-02 02:00:00 -05:00'],
    ]);
  });

  it.each([
    ['in the first 01:30 (EDT)', '2026-11-01T05:30:00Z'],
    ['in the second 01:30 (EST)', '2026-11-01T06:30:00Z'],
  ])('asked %s on 2026-11-01, the next run is 02:00 EST', (_, after) => {
    expect(runs(daily.spec, after, 1)).toEqual([['2026-11-01T07:00:00.000Z', '2026-11-01 02:00:00 -05:00']]);
  });

  it('counts from the second: a run at exactly `after` is not next, one a millisecond later is', () => {
    expect(nextFireTimes(daily.spec, new Date('2026-03-07T07:00:00.000Z'), 1)).toEqual([new Date('2026-03-09T06:00:00Z')]);
    expect(nextFireTimes(daily.spec, new Date('2026-03-07T06:59:59.999Z'), 1)).toEqual([new Date('2026-03-07T07:00:00Z')]);
  });
});

describe('the weekly and monthly backups in America/Toronto', () => {
  it('weekly (Sunday 03:00) runs on both 2026 changeover Sundays, at 03:00 local time', () => {
    expect(runs(weekly.spec, '2026-03-01T12:00:00Z', 2)).toEqual([
      ['2026-03-08T07:00:00.000Z', '2026-03-08 03:00:00 -04:00'],
      ['2026-03-15T07:00:00.000Z', '2026-03-15 03:00:00 -04:00'],
    ]);
    expect(runs(weekly.spec, '2026-10-25T12:00:00Z', 2)).toEqual([
      ['2026-11-01T08:00:00.000Z', '2026-11-01 03:00:00 -05:00'],
      ['2026-11-08T08:00:00.000Z', '2026-11-08 03:00:00 -05:00'],
    ]);
  });

  it('monthly (the 1st at 04:00) stays at 04:00 local time on either side of each change', () => {
    expect(runs(monthly.spec, '2026-02-15T12:00:00Z', 2)).toEqual([
      ['2026-03-01T09:00:00.000Z', '2026-03-01 04:00:00 -05:00'],
      ['2026-04-01T08:00:00.000Z', '2026-04-01 04:00:00 -04:00'],
    ]);
    expect(runs(monthly.spec, '2026-10-15T12:00:00Z', 3)).toEqual([
      ['2026-11-01T09:00:00.000Z', '2026-11-01 04:00:00 -05:00'],
      ['2026-12-01T09:00:00.000Z', '2026-12-01 04:00:00 -05:00'],
      ['2027-01-01T09:00:00.000Z', '2027-01-01 04:00:00 -05:00'],
    ]);
  });
});

describe('other crons and time zones', () => {
  it('a daily 01:30 (SCHEDULE_DAILY_CRON="0 30 1 * * *") runs twice on 2026-11-01 in Toronto, once per pass of the repeated hour', () => {
    const [changed] = desiredSchedules({ ...settings, crons: { daily: '0 30 1 * * *' } });
    expect(runs(changed!.spec, '2026-10-31T12:00:00Z', 3)).toEqual([
      ['2026-11-01T05:30:00.000Z', '2026-11-01 01:30:00 -04:00'],
      ['2026-11-01T06:30:00.000Z', '2026-11-01 01:30:00 -05:00'],
      ['2026-11-02T06:30:00.000Z', '2026-11-02 01:30:00 -05:00'],
    ]);
  });

  it('a daily 02:30 in Europe/Berlin is skipped on 2026-03-29 and runs once on 2026-10-25, at 02:30 CET', () => {
    const [berlin] = desiredSchedules({ ...settings, timezone: 'Europe/Berlin', crons: { daily: '0 30 2 * * *' } });
    expect(runs(berlin!.spec, '2026-03-27T12:00:00Z', 2)).toEqual([
      ['2026-03-28T01:30:00.000Z', '2026-03-28 02:30:00 +01:00'],
      ['2026-03-30T00:30:00.000Z', '2026-03-30 02:30:00 +02:00'],
    ]);
    expect(runs(berlin!.spec, '2026-10-23T12:00:00Z', 3)).toEqual([
      ['2026-10-24T00:30:00.000Z', '2026-10-24 02:30:00 +02:00'],
      ['2026-10-25T01:30:00.000Z', '2026-10-25 02:30:00 +01:00'],
      ['2026-10-26T01:30:00.000Z', '2026-10-26 02:30:00 +01:00'],
    ]);
  });

  it('weekdays at 23:00 in Asia/Tokyo (no daylight saving) skip the weekend', () => {
    const spec = { calendars: [windmillCronToCalendar('0 0 23 * * 1-5')], timezone: 'Asia/Tokyo' };
    expect(runs(spec, '2026-03-06T00:00:00Z', 3)).toEqual([
      ['2026-03-06T14:00:00.000Z', '2026-03-06 23:00:00 +09:00'],
      ['2026-03-09T14:00:00.000Z', '2026-03-09 23:00:00 +09:00'],
      ['2026-03-10T14:00:00.000Z', '2026-03-10 23:00:00 +09:00'],
    ]);
  });

  it('with several calendars the earliest match comes first, and no time zone means UTC', () => {
    const spec = { calendars: [windmillCronToCalendar('0 0 3 * * 7'), windmillCronToCalendar('0 0 12 1 * *')] };
    expect(runs(spec, '2026-02-27T00:00:00Z', 3)).toEqual([
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

describe('nextFireTimes agrees with the schedules definitions.ts produces, all through 2026', () => {
  /** Every run of the schedule from 2026-01-01 00:00 to 2026-12-31 23:59:59 Toronto time, on the Toronto wall clock. */
  function runsIn2026(d: ScheduleDefinition): string[] {
    return nextFireTimes(d.spec, new Date('2026-01-01T04:59:59Z'), 400)
      .filter((t) => t < new Date('2027-01-01T05:00:00Z'))
      .map((t) => formatLocal(t, 'America/Toronto'));
  }
  const dateOf = (local: string) => local.slice(0, 10);
  const weekday = (local: string) => new Date(`${dateOf(local)}T00:00:00Z`).getUTCDay();

  it('daily: 02:00 every day but 2026-03-08 (364 runs)', () => {
    const all = runsIn2026(daily);
    expect(all).toHaveLength(364);
    expect(all.every((t) => / 02:00:00 -0[45]:00$/.test(t))).toBe(true);
    const days = new Set(all.map(dateOf));
    const missing: string[] = [];
    for (let t = Date.UTC(2026, 0, 1); t < Date.UTC(2027, 0, 1); t += 86_400_000) {
      const day = new Date(t).toISOString().slice(0, 10);
      if (!days.has(day)) missing.push(day);
    }
    expect(missing).toEqual(['2026-03-08']);
  });

  it('weekly: 03:00 on each of the 52 Sundays', () => {
    const all = runsIn2026(weekly);
    expect(all).toHaveLength(52);
    expect(all.every((t) => / 03:00:00 -0[45]:00$/.test(t) && weekday(t) === 0)).toBe(true);
    expect([all[0], all.at(-1)]).toEqual(['2026-01-04 03:00:00 -05:00', '2026-12-27 03:00:00 -05:00']);
  });

  it('monthly: 04:00 on the 1st of each month', () => {
    expect(runsIn2026(monthly).map((t) => t.slice(0, 19))).toEqual(
      Array.from({ length: 12 }, (_, i) => `2026-${String(i + 1).padStart(2, '0')}-01 04:00:00`),
    );
  });
});
