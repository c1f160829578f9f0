import { describe, expect, it } from 'vitest';
import { chooseClientTools, installCommand, type ToolCandidate } from '../src/activities/pgToolChoice';

const debian15: ToolCandidate = { binDir: '/usr/lib/postgresql/15/bin', major: 15, version: '15.20', source: 'debian' };
const tools16: ToolCandidate = { binDir: '/repo/.tools/postgresql-16/bin', major: 16, version: '16.15', source: '.tools' };
const tools17: ToolCandidate = { binDir: '/repo/.tools/postgresql-17/bin', major: 17, version: '17.11', source: '.tools' };
const tools18: ToolCandidate = { binDir: '/repo/.tools/postgresql-18/bin', major: 18, version: '18.6', source: '.tools' };
const debian17: ToolCandidate = { binDir: '/usr/lib/postgresql/17/bin', major: 17, version: '17.7', source: 'debian' };

describe('which client tools run against a server (chooseClientTools)', () => {
  it.each([
    { server: 15, found: [tools18, tools17, debian15], chosen: debian15, why: 'the same major as the server' },
    { server: 17, found: [debian15, tools16, tools18, tools17], chosen: tools17, why: 'the same major as the server' },
    { server: 14, found: [tools16, debian15], chosen: debian15, why: "the lowest major above the server's that was found (none for 14)" },
    { server: 17, found: [debian15, tools18], chosen: tools18, why: "the lowest major above the server's that was found (none for 17)" },
    { server: 17, found: [tools17, debian17], chosen: debian17, why: 'the same major as the server' },
  ])('server $server: picks $chosen.binDir because it is $why', ({ server, found, chosen, why }) => {
    const choice = chooseClientTools(found, server);
    expect(choice).toEqual({ ok: true, chosen, reason: `PostgreSQL ${chosen.version} in ${chosen.binDir} (${chosen.source}): ${why}` });
  });

  it('never picks 17 or newer for a server older than 17: its dumps start with SET transaction_timeout, which that server rejects', () => {
    expect(chooseClientTools([tools18, tools17], 15)).toEqual({
      ok: false,
      reason:
        'the server is PostgreSQL 15 and pg_dump must be that major or newer and older than 17 (from 17 on it writes SET transaction_timeout, which 15 rejects when the dump is verified or restored); ' +
        'found 18.6 in /repo/.tools/postgresql-18/bin (.tools), 17.11 in /repo/.tools/postgresql-17/bin (.tools)',
      fix: 'run "bash scripts/install-deps.sh"',
    });
    expect(chooseClientTools([tools18, tools17, tools16], 15)).toMatchObject({ ok: true, chosen: tools16 });
    expect(chooseClientTools([debian15, tools17], 16)).toMatchObject({ ok: false, fix: 'run "bash scripts/install-deps.sh --postgres 16"' });
  });

  it('refuses when every pg_dump found is older than the server, naming what was found and the one command that installs the right major', () => {
    expect(chooseClientTools([debian15, tools16], 17)).toEqual({
      ok: false,
      reason: 'the server is PostgreSQL 17 and pg_dump must be that major or newer; found 15.20 in /usr/lib/postgresql/15/bin (debian), 16.15 in /repo/.tools/postgresql-16/bin (.tools)',
      fix: 'run "bash scripts/install-deps.sh --postgres 17"',
    });
  });

  it('says so when no client tools were found at all', () => {
    expect(chooseClientTools([], 18)).toEqual({ ok: false, reason: 'the server is PostgreSQL 18 and pg_dump must be that major or newer; found no PostgreSQL client tools at all', fix: 'run "bash scripts/install-deps.sh --postgres 18"' });
  });

  it('never overrides PG_BIN_DIR: a PG_BIN_DIR older than the server is refused with the way out', () => {
    const explicit: ToolCandidate = { ...debian15, source: 'PG_BIN_DIR' };
    expect(chooseClientTools([explicit], 18)).toMatchObject({ ok: false, fix: `point PG_BIN_DIR at PostgreSQL 18's bin directory or unset it, or run "bash scripts/install-deps.sh --postgres 18"` });
  });

  it('names the install command per major: 15 is the default setup, others take --postgres', () => {
    expect([15, 16, 18].map(installCommand)).toEqual(['bash scripts/install-deps.sh', 'bash scripts/install-deps.sh --postgres 16', 'bash scripts/install-deps.sh --postgres 18']);
  });
});
