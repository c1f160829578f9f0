// Windmill's 6-field cron strings (`sec min hour day month weekday`, weekday 1-7 = Monday-Sunday,
// 0 also Sunday) turned into Temporal calendar specs. Pure: shared by the CLI and its tests.
import type { CalendarSpec, DayOfWeek, LooseRange, Month } from '@temporalio/client';

/** A cron string that cannot be turned into a calendar spec; the message names the field. */
export class InvalidCronError extends Error {
  override readonly name = 'InvalidCronError';
}

const MONTHS: Month[] = ['JANUARY', 'FEBRUARY', 'MARCH', 'APRIL', 'MAY', 'JUNE', 'JULY', 'AUGUST', 'SEPTEMBER', 'OCTOBER', 'NOVEMBER', 'DECEMBER'];
const DAYS: DayOfWeek[] = ['SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY'];

/** A parsed field part: start to end (inclusive) every step. */
interface Span {
  start: number;
  end: number;
  step: number;
}

interface Field {
  name: string;
  min: number;
  max: number;
}

const FIELDS: Field[] = [
  { name: 'seconds', min: 0, max: 59 },
  { name: 'minutes', min: 0, max: 59 },
  { name: 'hours', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day of week', min: 0, max: 7 },
];

/** Parses one field into ranges; '*' stays '*'. */
function parseField(text: string, field: Field, expr: string): Span[] | '*' {
  if (text === '*') return '*';
  return text.split(',').map((part): Span => {
    const m = /^(\*|\d+)(?:-(\d+))?(?:\/(\d+))?$/.exec(part);
    if (!m) throw new InvalidCronError(`"${expr}": ${field.name} "${part}" is not a number, range (a-b), list (a,b) or step (*/n)`);
    const start = m[1] === '*' ? field.min : Number(m[1]);
    const end = m[2] !== undefined ? Number(m[2]) : m[1] === '*' || m[3] !== undefined ? field.max : start;
    const step = m[3] !== undefined ? Number(m[3]) : 1;
    for (const v of [start, end]) {
      if (v < field.min || v > field.max) throw new InvalidCronError(`"${expr}": ${field.name} ${v} is outside ${field.min}-${field.max}`);
    }
    if (end < start) throw new InvalidCronError(`"${expr}": ${field.name} range ${start}-${end} runs backwards`);
    if (step < 1) throw new InvalidCronError(`"${expr}": ${field.name} step must be at least 1`);
    return { start, end, step };
  });
}

/** Spans as Temporal ranges: a single value stays a value, step 1 is left out. */
function toRanges<T>(spans: Span[], unit: (n: number) => T): LooseRange<T> | LooseRange<T>[] {
  const one = spans[0]!;
  if (spans.length === 1 && one.start === one.end) return unit(one.start);
  const ranges = spans.map((s): LooseRange<T> => (s.step === 1 ? { start: unit(s.start), end: unit(s.end) } : { start: unit(s.start), end: unit(s.end), step: s.step }));
  return ranges.length === 1 ? ranges[0]! : ranges;
}

/** Windmill weekdays (1 = Monday ... 7 = Sunday, 0 = Sunday too) as Temporal's day names. */
function weekdays(spans: Span[] | '*'): CalendarSpec['dayOfWeek'] {
  if (spans === '*') return '*';
  const days = new Set<number>();
  for (const s of spans) for (let d = s.start; d <= s.end; d += s.step) days.add(d % 7);
  return [...days].sort((a, b) => a - b).map((d) => DAYS[d]!);
}

/** Converts "0 0 3 * * 7" into a Temporal calendar spec (here: Sundays at 03:00:00). */
export function windmillCronToCalendar(expr: string, comment?: string): CalendarSpec {
  const parts = expr.trim().split(/\s+/);
  if (parts.length !== 6) {
    throw new InvalidCronError(`"${expr}" has ${parts.length} fields; Windmill cron has 6: seconds minutes hours day-of-month month day-of-week (e.g. "0 0 2 * * *")`);
  }
  const [sec, min, hour, dom, month, dow] = parts.map((p, i) => parseField(p, FIELDS[i]!, expr)) as Array<Span[] | '*'>;
  const numbers = (spans: Span[] | '*' | undefined) => (spans === '*' || spans === undefined ? '*' : toRanges(spans, (n) => n));
  const spec: CalendarSpec = {
    second: numbers(sec),
    minute: numbers(min),
    hour: numbers(hour),
    dayOfMonth: numbers(dom),
    month: month === '*' || month === undefined ? '*' : toRanges(month, (n) => MONTHS[n - 1]!),
    dayOfWeek: weekdays(dow ?? '*'),
  };
  return comment === undefined ? spec : { ...spec, comment };
}
