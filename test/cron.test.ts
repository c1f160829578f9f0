import { describe, expect, it } from 'vitest';
import { InvalidCronError, windmillCronToCalendar } from '../src/schedules/cron';

describe("Windmill's 6-field cron to Temporal calendar specs", () => {
  it.each([
    ['0 0 2 * * *', { second: 0, minute: 0, hour: 2, dayOfMonth: '*', month: '*', dayOfWeek: '*' }],
    ['0 0 3 * * 7', { second: 0, minute: 0, hour: 3, dayOfMonth: '*', month: '*', dayOfWeek: ['SUNDAY'] }],
    ['0 0 3 * * 0', { second: 0, minute: 0, hour: 3, dayOfMonth: '*', month: '*', dayOfWeek: ['SUNDAY'] }],
    ['0 0 4 1 * *', { second: 0, minute: 0, hour: 4, dayOfMonth: 1, month: '*', dayOfWeek: '*' }],
    ['0 30 1 * * 1-5', { second: 0, minute: 30, hour: 1, dayOfMonth: '*', month: '*', dayOfWeek: ['MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY'] }],
    ['0 0 */6 * * 6,7', { second: 0, minute: 0, hour: { start: 0, end: 23, step: 6 }, dayOfMonth: '*', month: '*', dayOfWeek: ['SUNDAY', 'SATURDAY'] }],
    ['0 15,45 9 1-7 1,7 *', { second: 0, minute: [{ start: 15, end: 15 }, { start: 45, end: 45 }], hour: 9, dayOfMonth: { start: 1, end: 7 }, month: [{ start: 'JANUARY', end: 'JANUARY' }, { start: 'JULY', end: 'JULY' }], dayOfWeek: '*' }],
  ])('%s', (cron, expected) => {
    expect(windmillCronToCalendar(cron)).toEqual(expected);
  });

  it('keeps a comment', () => {
    expect(windmillCronToCalendar('0 0 2 * * *', 'daily backup')).toMatchObject({ comment: 'daily backup' });
  });

  it.each([
    ['0 2 * * *', '"0 2 * * *" has 5 fields; Windmill cron has 6: seconds minutes hours day-of-month month day-of-week (e.g. "0 0 2 * * *")'],
    ['0 0 24 * * *', '"0 0 24 * * *": hours 24 is outside 0-23'],
    ['0 0 2 * * 8', '"0 0 2 * * 8": day of week 8 is outside 0-7'],
    ['0 0 2 * * MON', '"0 0 2 * * MON": day of week "MON" is not a number, range (a-b), list (a,b) or step (*/n)'],
    ['0 0 5-2 * * *', '"0 0 5-2 * * *": hours range 5-2 runs backwards'],
  ])('rejects %s with a message naming the field', (cron, message) => {
    expect(() => windmillCronToCalendar(cron)).toThrow(new InvalidCronError(message));
  });
});
