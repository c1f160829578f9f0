// Our duration rule (src/backup/duration.ts) against the one the SDK applies to timers and timeouts
// (msToNumber, a deprecated public export of @temporalio/common): the same answer for every input.
import { msToNumber, type Duration } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { durationMs } from '../src/backup/duration';

/** The SDK's answer, or undefined where it throws. */
function sdk(value: string | number): number | undefined {
  try {
    const ms = msToNumber(value as Duration);
    return Number.isFinite(ms) ? ms : undefined;
  } catch {
    return undefined;
  }
}

const INPUTS = [
  '1 hour', '30 minutes', '90s', '1h', '2 days', '1.5h', '.5 hours', '-1h', '1 week', '1 year', '250', '250ms', '3 msecs', '10 Sec', '5 MINS', '2 Hrs',
  '1 hour ', ' 1 hour', '1  hour', '1hours', 'one hour', '', 'h', '1 fortnight', '1 hour 30 minutes', '1e3', '0', 'PT1H', `${'1'.repeat(101)}`,
  1500, 0,
];

describe('durations', () => {
  it.each(INPUTS)('reads %j as the SDK does', (value) => {
    expect(durationMs(value)).toBe(sdk(value));
  });

  it('reads the restore default and the longest allowed wait', () => {
    expect(durationMs('1 hour')).toBe(3_600_000);
    expect(durationMs('12 hours')).toBe(43_200_000);
    expect(durationMs('soon')).toBeUndefined();
  });
});
