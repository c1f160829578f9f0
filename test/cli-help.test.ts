// Every command's --help shows examples, and every example is a command line fbb accepts: each is
// parsed through the real commander program (flags, choices, arguments) and stopped just before
// its action runs, so nothing is started and no server is needed.
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { buildProgram, runCli } from '../src/client/cli';
import type { CommandContext } from '../src/client/context';

/** Stops a parsed command before its action. */
class Parsed extends Error {
  constructor(readonly command: string) {
    super(`parsed ${command}`);
  }
}

function quietContext(): CommandContext & { output: () => string } {
  let text = '';
  const sink = new PassThrough().on('data', (d: Buffer) => (text += d.toString()));
  const fail = () => {
    throw new Error('an example reached its action');
  };
  return { config: fail, stdout: sink, stderr: sink, notice: () => undefined, setExitCode: () => undefined, interactive: false, prompt: fail, connect: fail, output: () => text };
}

async function help(args: string[]): Promise<string> {
  let stdout = '';
  const out = new PassThrough().on('data', (d: Buffer) => (stdout += d.toString()));
  const code = await runCli([...args, '--help'], { stdout: out, stderr: new PassThrough(), env: {} });
  expect(code).toBe(0);
  return stdout;
}

/** The `$ fbb ...` lines of a help text, split into arguments (quotes kept together). */
function examples(text: string): string[][] {
  return [...text.matchAll(/^ {2}\$ fbb (.+)$/gm)].map((m) => [...m[1]!.matchAll(/"[^"]*"|'[^']*'|\S+/g)].map((a) => a[0].replace(/^(["'])(.*)\1$/, '$2')));
}

/** Parses `argv` through a fresh program; returns the command that would run, or throws commander's error. */
async function parse(argv: string[]): Promise<string> {
  const ctx = quietContext();
  const program = buildProgram(ctx).hook('preAction', (_root, command) => {
    // A subcommand (fbb wal start) counts as its top-level command (wal).
    let top = command;
    while (top.parent && top.parent !== program) top = top.parent;
    throw new Parsed(top.name());
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof Parsed) return err.command;
    if (err instanceof CommanderError) throw new Error(`"fbb ${argv.join(' ')}" does not parse: ${ctx.output().trim()}`, { cause: err });
    throw err;
  }
  throw new Error(`"fbb ${argv.join(' ')}" ran no command`);
}

const COMMANDS = buildProgram(quietContext()).commands.map((c) => c.name());

describe('fbb --help', () => {
  it('has every command, each documented', () => {
    expect(COMMANDS).toEqual(['doctor', 'backup', 'list', 'restore', 'drill', 'status', 'history', 'schedules', 'up', 'basebackup', 'wal']);
  });

  it('shows examples and the exit codes at the top level', async () => {
    const text = await help([]);
    expect(examples(text).length).toBeGreaterThan(0);
    expect(text).toContain('Exit codes: 0 success, 1 the job failed, 2 bad input (nothing was started), 3 cannot reach Temporal or no worker, 4 restore rolled back, 5 restore cancelled or expired.');
    for (const argv of examples(text)) await expect(parse(argv)).resolves.toBe(argv[0]);
  });

  for (const name of COMMANDS) {
    it(`${name} --help shows examples that parse as real "fbb ${name}" command lines`, async () => {
      const found = examples(await help([name]));
      expect(found.length).toBeGreaterThan(0);
      for (const argv of found) {
        expect(argv[0]).toBe(name);
        await expect(parse(argv)).resolves.toBe(name);
      }
    });
  }

  it('the parser used here rejects a flag that does not exist', async () => {
    await expect(parse(['backup', '--type', 'daily', '--upload-to-s4'])).rejects.toThrow(/"fbb backup --type daily --upload-to-s4" does not parse: error: unknown option '--upload-to-s4'/);
    await expect(parse(['history', '--type', 'backups'])).rejects.toThrow(/Allowed choices are backup, restore/);
  });
});

/** Every `fbb ...` command line in the README's and docs' code blocks, split into arguments, without trailing comments. */
function documentedCommands(): { file: string; line: string; argv: string[] }[] {
  const files = ['README.md', ...fs.readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => path.join('docs', f))];
  const found: { file: string; line: string; argv: string[] }[] = [];
  for (const file of files) {
    const text = fs.readFileSync(file, 'utf8');
    for (const block of text.matchAll(/```(?:bash|sh)?\n([\s\S]*?)```/g)) {
      for (const raw of block[1]!.split('\n')) {
        const m = /^\s*(?:npx |docker compose exec worker node bin\/)?fbb(?:\.js)? (.+)$/.exec(raw);
        if (!m) continue;
        const line = m[1]!.replace(/\s+#.*$/, '').trim();
        found.push({ file, line, argv: [...line.matchAll(/"[^"]*"|'[^']*'|\S+/g)].map((a) => a[0].replace(/^(["'])(.*)\1$/, '$2')) });
      }
    }
  }
  return found;
}

describe('the docs', () => {
  const documented = documentedCommands();

  it('show fbb command lines (README, operations, deployment)', () => {
    expect(new Set(documented.map((d) => d.file))).toEqual(new Set(['README.md', 'docs/operations.md', 'docs/deployment.md']));
    expect(documented.length).toBeGreaterThan(25);
  });

  it('use only commands and flags fbb has', async () => {
    for (const { file, line, argv } of documented) {
      await expect(parse(argv).catch((err: Error) => Promise.reject(new Error(`${file}: fbb ${line}: ${err.message}`)))).resolves.toBe(argv[0]);
    }
  });
});
