// When the Temporal server will start our schedules, computed here without a server, the way the
// server computes it, for `fbb schedules list --local` (with a server, its own times are shown). Pure: no I/O
// and no clock (the caller passes "now"); time zones come from src/schedules/zone.ts.
import type { CalendarSpec, DayOfWeek, LooseRange, Month } from '@temporalio/client';
import { zoneOf, type Zone } from './zone';

/** The part of a Temporal ScheduleSpec that our definitions use: calendars read in one time zone. */
export interface CalendarScheduleSpec {
  calendars: readonly CalendarSpec[];
  /** IANA name; empty or missing means UTC, as on the server. */
  timezone?: string;
}

/**
 * The next `count` instants strictly after `after` at which the Temporal server starts a schedule
 * with this spec, earliest first (fewer if the calendars run out before the year 2100).
 *
 * Mirrors the server (temporalio/temporal, `service/worker/scheduler/spec.go`
 * `CompiledSpec.GetNextTime` → `rawNextTime`, and `calendar.go` `compiledCalendar.next`; the newer
 * CHASM scheduler, `chasm/lib/scheduler/spec_processor.go`, calls the same code):
 * - Calendars are matched on the wall clock of the spec's time zone, to the second; with several
 *   calendars the earliest match wins. Unset fields mean what the TypeScript SDK sends: second,
 *   minute and hour 0, the other fields every value.
 * - A wall-clock time that does not exist (spring forward) is skipped, not moved: the daily 02:00
 *   in America/Toronto does not run on 2026-03-08. Its runs are 2026-03-07 02:00 EST
 *   (07:00Z), then 2026-03-09 02:00 EDT (06:00Z); no run is made up for the lost one.
 * - A wall-clock time in a repeated hour (fall back) fires in both passes: 01:30 in Toronto on
 *   2026-11-01 fires at 01:30 EDT (05:30Z) and again at 01:30 EST (06:30Z). A time outside the
 *   repeated hour fires once: the daily 02:00 runs at 02:00 EST (07:00Z).
 * - A wall-clock time becomes an instant as Go's `time.Date` makes it (the offset at the time read
 *   as UTC, corrected once). East of UTC this picks the second pass of a repeated hour when the
 *   search arrives at it directly: 02:30 daily in Europe/Berlin fires once on 2026-10-25, at
 *   02:30 CET (01:30Z), not at 02:30 CEST.
 * Not modelled (our definitions use none): intervals, skip calendars, start/end times, jitter.
 * test/schedules-dst.test.ts compares it with the dev server's ListScheduleMatchingTimes over all of 2026.
 */
export function nextFireTimes(spec: CalendarScheduleSpec, after: Date, count: number): Date[] {
  const zone = zoneOf(spec.timezone || 'UTC');
  const calendars = spec.calendars.map(compileCalendar);
  const times: Date[] = [];
  let from = Math.floor(after.getTime() / 1000);
  while (times.length < count) {
    let earliest: number | undefined;
    for (const calendar of calendars) {
      const at = nextMatch(calendar, zone, from);
      if (at !== undefined && (earliest === undefined || at < earliest)) earliest = at;
    }
    if (earliest === undefined) break;
    times.push(new Date(earliest * 1000));
    from = earliest;
  }
  return times;
}

const MAX_YEAR = 2100; // the server stops looking here (calendar.go maxCalendarYear)

/** A calendar spec as sets of matching values per field; `year` undefined matches every year. */
interface Matcher {
  second: Set<number>;
  minute: Set<number>;
  hour: Set<number>;
  dayOfMonth: Set<number>;
  month: Set<number>;
  dayOfWeek: Set<number>;
  year: Set<number> | undefined;
}

/**
 * The first instant (Unix seconds) after `from` whose wall clock in `zone` matches, or undefined.
 * Walks the wall clock field by field, outermost first, the way compiledCalendar.next does, so that
 * skipped and repeated wall-clock times come out as they do on the server.
 */
function nextMatch(cal: Matcher, zone: Zone, from: number): number | undefined {
  let { y, mo, d, h, m, s } = zone.wall(from);
  // `repeat` is 3600 while walking the second pass of a repeated hour: its wall-clock times are
  // resolved to the first pass, then moved one hour on. `from` may already be in that second pass.
  let repeat = zone.wall(from - 3600).h === h ? 3600 : 0;
  s += 1;
  search: for (;;) {
    if (s > 59) [m, s] = [m + 1, 0];
    if (m > 59) {
      const hourStart = zone.resolve(y, mo, d, h, 0, 0);
      [h, m] = [h + 1, 0];
      // Two real hours to the next wall-clock hour: the hour just left is about to repeat, so walk it again.
      if (repeat === 0 && zone.resolve(y, mo, d, h, 0, 0) - hourStart > 3600) [h, repeat] = [h - 1, 3600];
      else repeat = 0;
    }
    if (h > 23) [d, h] = [d + 1, 0];
    if (d > daysInMonth(y, mo)) [mo, d] = [mo + 1, 1];
    if (mo > 12) [y, mo] = [y + 1, 1];
    if (y > MAX_YEAR) return undefined;
    if (cal.year !== undefined && !cal.year.has(y)) {
      [y, mo, d, h, m, s, repeat] = [y + 1, 1, 1, 0, 0, 0, 0];
      continue;
    }
    while (!cal.month.has(mo)) {
      [mo, d, h, m, s, repeat] = [mo + 1, 1, 0, 0, 0, 0];
      if (mo > 12) continue search;
    }
    while (!cal.dayOfMonth.has(d) || (cal.dayOfWeek.size < 7 && !cal.dayOfWeek.has(zone.weekday(zone.resolve(y, mo, d, h, m, s))))) {
      [d, h, m, s, repeat] = [d + 1, 0, 0, 0, 0];
      if (d > daysInMonth(y, mo)) continue search;
    }
    while (!cal.hour.has(h)) {
      [h, m, s, repeat] = [h + 1, 0, 0, 0];
      if (h > 23) continue search;
    }
    while (!cal.minute.has(m)) {
      [m, s] = [m + 1, 0];
      if (m > 59) continue search;
    }
    while (!cal.second.has(s)) {
      s += 1;
      if (s > 59) continue search;
    }
    const at = zone.resolve(y, mo, d, h, m, s);
    // A wall-clock time that spring-forward skips resolves into another hour: it never happens.
    if (zone.wall(at).h !== h) {
      [h, m, s] = [h + 1, 0, 0];
      continue;
    }
    return at + repeat;
  }
}

const MONTHS: readonly Month[] = ['JANUARY', 'FEBRUARY', 'MARCH', 'APRIL', 'MAY', 'JUNE', 'JULY', 'AUGUST', 'SEPTEMBER', 'OCTOBER', 'NOVEMBER', 'DECEMBER'];
const DAYS: readonly DayOfWeek[] = ['SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY'];

/** Field bounds as the server validates them, and what an unset field means in the TypeScript SDK. */
const FIELDS = {
  second: { min: 0, max: 59, unset: 'zero' },
  minute: { min: 0, max: 59, unset: 'zero' },
  hour: { min: 0, max: 23, unset: 'zero' },
  dayOfMonth: { min: 1, max: 31, unset: 'all' },
  month: { min: 1, max: 12, unset: 'all' },
  dayOfWeek: { min: 0, max: 6, unset: 'all' },
} as const;

function compileCalendar(spec: CalendarSpec): Matcher {
  const field = (name: keyof typeof FIELDS, toNumber: (v: unknown) => number | undefined): Set<number> => {
    const { min, max, unset } = FIELDS[name];
    const value = spec[name] as LooseRange<unknown> | LooseRange<unknown>[] | '*' | undefined;
    if (value === '*' || (value === undefined && unset === 'all')) return span(min, max, 1);
    if (value === undefined) return new Set([0]);
    return valuesOf(value, name, min, max, toNumber);
  };
  const number = (v: unknown) => (typeof v === 'number' && Number.isInteger(v) ? v : undefined);
  return {
    second: field('second', number),
    minute: field('minute', number),
    hour: field('hour', number),
    dayOfMonth: field('dayOfMonth', number),
    month: field('month', (v) => (MONTHS.includes(v as Month) ? MONTHS.indexOf(v as Month) + 1 : undefined)),
    dayOfWeek: field('dayOfWeek', (v) => (DAYS.includes(v as DayOfWeek) ? DAYS.indexOf(v as DayOfWeek) : undefined)),
    // No year, '*' and [] (how the server describes "every year" back) all match every year.
    year: spec.year === undefined || spec.year === '*' || (Array.isArray(spec.year) && spec.year.length === 0) ? undefined : valuesOf(spec.year, 'year', 2000, MAX_YEAR, number),
  };
}

/** Values of one field: single values, and ranges (start to end, inclusive, every step) as the server reads them. */
function valuesOf(value: LooseRange<unknown> | LooseRange<unknown>[], name: string, min: number, max: number, toNumber: (v: unknown) => number | undefined): Set<number> {
  const values = new Set<number>();
  for (const item of Array.isArray(value) ? value : [value]) {
    const range: { start: unknown; end?: unknown; step?: unknown } = typeof item === 'object' && item !== null && 'start' in item ? item : { start: item };
    const start = toNumber(range.start);
    const end = range.end === undefined ? start : toNumber(range.end);
    const step = typeof range.step === 'number' && range.step > 0 ? range.step : 1;
    if (start === undefined || end === undefined || start < min || end > max || end < start) {
      throw new TypeError(`calendar ${name}: ${JSON.stringify(item)} is not a value or range within ${min}-${max}`);
    }
    for (const v of span(start, end, step)) values.add(v);
  }
  return values;
}

function span(start: number, end: number, step: number): Set<number> {
  const values = new Set<number>();
  for (let v = start; v <= end; v += step) values.add(v);
  return values;
}

function daysInMonth(y: number, mo: number): number {
  return new Date(Date.UTC(y, mo, 0)).getUTCDate();
}
