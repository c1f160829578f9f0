// Bad input from issue 12: settings that must not leak a password, failures a script can read.
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config';

function problems(env: NodeJS.ProcessEnv): string[] {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
}

describe('a malformed DATABASE_URL', () => {
  it.each([
    ['postgres:backup:hunter2@db.example/family_brain'],
    ['backup:hunter2@db.example:5432/family_brain'],
    ['host=db.example password=hunter2 dbname=family_brain'],
  ])('without "://" (%s) is reported without its password', (url) => {
    const [problem] = problems({ DATABASE_URL: url });
    expect(problem).toBe(
      'DATABASE_URL="<not shown: not a postgres://user:password@host URL, so a password in it cannot be told apart>": must start with postgres:// or postgresql:// ' +
        '(example: DATABASE_URL=postgres://backup:secret@db.example:5432/family_brain)',
    );
    expect(problem).not.toContain('hunter2');
  });

  it('with an "@" inside the password is reported without any of the password', () => {
    const [problem] = problems({ DATABASE_URL: 'mysql://root:hun@ter2@db/x' });
    expect(problem).toMatch(/^DATABASE_URL="mysql:\/\/root:\*\*\*@db\/x": must start with postgres:\/\//);
    expect(problem).not.toContain('ter2');
  });

  it('that holds no password is shown as typed, so the user sees the mistake', () => {
    expect(problems({ DATABASE_URL: 'localhost' })[0]).toMatch(/^DATABASE_URL="localhost": must start with postgres:\/\//);
  });
});
