// The moment a point-in-time restore goes to: parsed strictly, and judged against the restorable window.
import { ErrorType, permanent } from '../errors';

/** A recovery target: a moment, or the end of the archived WAL. */
export type RecoveryTarget = { kind: 'latest' } | { kind: 'time'; at: string };

const ISO_WITH_OFFSET = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$/;

/** "latest", or ISO 8601 with seconds optional and an offset or Z ("2026-12-05T23:10:00+01:00"); anything else is InvalidInput. */
export function parseRecoveryTarget(text: string): RecoveryTarget {
  if (text === 'latest') return { kind: 'latest' };
  const valid = ISO_WITH_OFFSET.test(text) ? new Date(text) : undefined;
  if (valid === undefined || Number.isNaN(valid.getTime()) || !sameCalendarFields(text, valid)) {
    throw permanent(
      ErrorType.InvalidInput,
      `--to-time "${text}" is not a moment this restore can use: expected "latest" or ISO 8601 with an offset or Z, like 2026-12-05T23:10:00Z or 2026-12-05T18:10:00-05:00; nothing was changed`,
    );
  }
  return { kind: 'time', at: valid.toISOString() };
}

/** Rejects dates JavaScript rolls over ("2026-02-30" becomes March 2). */
function sameCalendarFields(text: string, parsed: Date): boolean {
  const offset = /(Z|[+-]\d{2}:\d{2})$/.exec(text)![1]!;
  const minutes = offset === 'Z' ? 0 : (offset.startsWith('-') ? -1 : 1) * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6)));
  const local = new Date(parsed.getTime() + minutes * 60_000).toISOString();
  return local.slice(0, 16) === text.slice(0, 16);
}

/** The moments a restore can reach: from the end of the oldest usable base backup to the newest archived WAL. */
export interface RestorableWindow {
  oldest: string;
  newest: string;
}

/** Before the window or in the future: RecoveryTargetOutsideWindow, naming the window, before anything runs. */
export function assertInWindow(at: string, window: RestorableWindow | null, now: Date): void {
  const where = window === null ? 'there is no restorable window yet (no base backup with its WAL archived)' : `the restorable window is ${window.oldest} to ${window.newest}`;
  const next = 'pick a moment inside it ("fbb list" shows it), or "latest"; nothing was changed';
  if (new Date(at).getTime() > now.getTime()) throw permanent(ErrorType.RecoveryTargetOutsideWindow, `--to-time ${at} is in the future (now ${now.toISOString()}); ${where}; ${next}`);
  if (window === null) throw permanent(ErrorType.RecoveryTargetOutsideWindow, `--to-time ${at}: ${where}; run "fbb basebackup" with the WAL archive running first`);
  if (at < window.oldest) throw permanent(ErrorType.RecoveryTargetOutsideWindow, `--to-time ${at} is before the oldest moment a base backup reaches; ${where}; ${next}`);
  if (at > window.newest) throw permanent(ErrorType.RecoveryTargetOutsideWindow, `--to-time ${at} is after the newest archived WAL; ${where}; ${next}`);
}
