// IANA time zones read through Intl, as the schedules see them: wall clocks, offsets, and instants
// resolved the way the Temporal server (Go's time.Date) resolves them. Pure: no I/O and no clock.

/** "2026-03-09 02:00:00 -04:00": the wall clock of `at` in `timeZone` with its UTC offset, as people read it. */
export function formatLocal(at: Date, timeZone: string): string {
  const zone = zoneOf(timeZone);
  const sec = Math.floor(at.getTime() / 1000);
  const w = zone.wall(sec);
  const offsetMin = Math.round(zone.offset(sec) / 60);
  const sign = offsetMin < 0 ? '-' : '+';
  const abs = Math.abs(offsetMin);
  return `${w.y}-${pad(w.mo)}-${pad(w.d)} ${pad(w.h)}:${pad(w.m)}:${pad(w.s)} ${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** Wall-clock fields; month 1-12. */
interface WallClock {
  y: number;
  mo: number;
  d: number;
  h: number;
  m: number;
  s: number;
}

/** One IANA time zone, read through Intl; instants are Unix seconds. */
export interface Zone {
  wall(at: number): WallClock;
  /** Seconds east of UTC at the instant `at`. */
  offset(at: number): number;
  /** Day of week (0 = Sunday) of the instant on the wall clock. */
  weekday(at: number): number;
  /** The instant Go's time.Date gives for these fields (which may overflow, e.g. hour 24). */
  resolve(y: number, mo: number, d: number, h: number, m: number, s: number): number;
}

const zones = new Map<string, Zone>();

/** The zone named `name` (cached); a name Intl does not know is a RangeError naming an example. */
export function zoneOf(name: string): Zone {
  const known = zones.get(name);
  if (known) return known;
  let format: Intl.DateTimeFormat;
  try {
    format = new Intl.DateTimeFormat('en-US', { timeZone: name, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' });
  } catch (err) {
    throw new RangeError(`time zone "${name}" is not an IANA time zone name (e.g. "America/Toronto")`, { cause: err });
  }
  const wall = (at: number): WallClock => {
    const part: Record<string, number> = {};
    for (const p of format.formatToParts(new Date(at * 1000))) if (p.type !== 'literal') part[p.type] = Number(p.value);
    return { y: part.year!, mo: part.month!, d: part.day!, h: part.hour!, m: part.minute!, s: part.second! };
  };
  const asUtc = (y: number, mo: number, d: number, h: number, m: number, s: number) => Date.UTC(y, mo - 1, d, h, m, s) / 1000;
  const offset = (at: number) => {
    const w = wall(at);
    return asUtc(w.y, w.mo, w.d, w.h, w.m, w.s) - at;
  };
  const zone: Zone = {
    wall,
    offset,
    weekday: (at) => {
      const w = wall(at);
      return new Date(Date.UTC(w.y, w.mo - 1, w.d)).getUTCDay();
    },
    // Go's time.Date: take the offset in force at the fields read as UTC; if that instant, corrected
    // by it, lies in another offset period, use the offset of the corrected instant instead.
    resolve: (y, mo, d, h, m, s) => {
      const naive = asUtc(y, mo, d, h, m, s);
      return naive - offset(naive - offset(naive));
    },
  };
  zones.set(name, zone);
  return zone;
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
