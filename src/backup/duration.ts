// Durations as Temporal's TypeScript SDK reads them ("1 hour", "30 minutes", "90s", a number of ms):
// the grammar of the `ms` package, which the SDK parses timeouts and timers with. Pure, so workflows,
// activities and the client can validate and compute with the same rule the SDK applies.

const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, y: 31_557_600_000 };
const UNIT_OF: Record<string, keyof typeof UNIT_MS> = {
  milliseconds: 'ms', millisecond: 'ms', msecs: 'ms', msec: 'ms', ms: 'ms',
  seconds: 's', second: 's', secs: 's', sec: 's', s: 's',
  minutes: 'm', minute: 'm', mins: 'm', min: 'm', m: 'm',
  hours: 'h', hour: 'h', hrs: 'h', hr: 'h', h: 'h',
  days: 'd', day: 'd', d: 'd',
  weeks: 'w', week: 'w', w: 'w',
  years: 'y', year: 'y', yrs: 'y', yr: 'y', y: 'y',
};
const DURATION = /^(-?(?:\d+)?\.?\d+) *(milliseconds?|msecs?|ms|seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w|years?|yrs?|y)?$/i;

/** Milliseconds in `value` (a number is taken as ms), or undefined when the SDK would reject it as a duration. */
export function durationMs(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (value.length === 0 || value.length > 100) return undefined;
  const match = DURATION.exec(value);
  if (!match) return undefined;
  return parseFloat(match[1]!) * UNIT_MS[UNIT_OF[(match[2] ?? 'ms').toLowerCase()]!]!;
}
