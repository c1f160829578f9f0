// The WAL archive's names and positions: the layout the base backups and point-in-time restores read.
import { describe, expect, it } from 'vitest';
import { archiveLag } from '../src/wal/status';
import { defaultSlotName, lsnToBigInt, missingSegments, parseSpoolName, parseStoredName, segmentOfLsn, segmentStartLsn, storedName, walDir } from '../src/wal/layout';

describe('the WAL archive layout', () => {
  it('names stored files <segment>.gz, <timeline>.history.gz and <segment>.partial.gz, with .age when encrypted', () => {
    const seg = parseSpoolName('000000010000000A000000FF')!;
    expect(seg).toEqual({ kind: 'segment', name: '000000010000000A000000FF', timeline: 1 });
    expect(storedName(seg, false)).toBe('000000010000000A000000FF.gz');
    expect(storedName(seg, true)).toBe('000000010000000A000000FF.gz.age');
    expect(storedName(parseSpoolName('000000020000000000000003.partial')!, false)).toBe('000000020000000000000003.partial.gz');
    expect(storedName(parseSpoolName('00000002.history')!, true)).toBe('00000002.history.gz.age');
    expect(walDir('7715959424024016852')).toBe('wal/7715959424024016852');
  });

  it('ignores temporary and foreign names in the spool and the archive', () => {
    for (const name of ['00000001000000000000000', '000000010000000000000003.tmp', '.000000010000000000000003.gz.tmp-1-2', 'backup_label', '00000001.history.partial']) {
      expect(parseSpoolName(name), name).toBeUndefined();
    }
    expect(parseStoredName('000000010000000000000003.gz.sha256')).toBeUndefined();
    expect(parseStoredName('000000010000000000000003.partial.gz.age')).toMatchObject({ kind: 'partial', encrypted: true });
  });

  it('refuses a system identifier that is not a decimal number', () => {
    expect(() => walDir('../etc')).toThrow('system identifier "../etc" is not a decimal number');
  });

  it('maps LSNs to segments and finds gaps in a sequence, across the 0xFF → next log boundary', () => {
    expect(segmentOfLsn('0/3000000', 1)).toBe('000000010000000000000003');
    expect(segmentOfLsn('A/FFFFFFFF', 1)).toBe('000000010000000A000000FF');
    expect(segmentStartLsn('000000010000000B00000000')).toBe('B/0');
    expect(lsnToBigInt('1/0')).toBe(0x100000000n);
    expect(missingSegments(['000000010000000A000000FE', '000000010000000B00000000'])).toEqual(['000000010000000A000000FF']);
    expect(missingSegments(['000000010000000A000000FF', '000000010000000B00000000'])).toEqual([]);
  });

  it('names the default slot fbb_<database> in slot characters', () => {
    expect(defaultSlotName('Family-Brain')).toBe('fbb_family_brain');
  });

  it('computes the lag: 0 when the archive holds all the server wrote, else the age of its newest copy', () => {
    const now = new Date('2026-12-05T12:00:30Z');
    expect(archiveLag('0/3000000', '0/3000000', '2026-12-05T12:00:00Z', now)).toEqual({ lag_bytes: 0, lag_seconds: 0 });
    expect(archiveLag('0/3000100', '0/3000000', '2026-12-05T12:00:00Z', now)).toEqual({ lag_bytes: 256, lag_seconds: 30 });
    expect(archiveLag('0/3000100', null, null, now)).toEqual({ lag_bytes: null, lag_seconds: null });
  });
});
