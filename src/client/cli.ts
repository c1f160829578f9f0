import { createInterface } from 'node:readline/promises';
import { Command, CommanderError } from 'commander';
import { ConfigError, loadConfig, type Config } from '../config';
import { withCommandSpan } from './commandSpan';
import { registerBackup } from './commands/backup';
import { registerBaseBackup } from './commands/basebackup';
import { registerDoctor } from './commands/doctor';
import { registerDrill } from './commands/drill';
import { registerHistory } from './commands/history';
import { registerList } from './commands/list';
import { registerRestore } from './commands/restore';
import { registerSchedules } from './commands/schedules';
import { registerStatus } from './commands/status';
import { registerUp } from './commands/up';
import { registerWal } from './commands/wal';
import { connectTemporal } from './connection';
import type { CommandContext } from './context';
import { CliError, ExitCode } from './exitCodes';
import { failureJson } from './failures';
import { printJson } from './output';
import type { ConnectTemporal } from './runner';

/** Runs the fbb CLI with `argv` (without node and script) and returns the exit code. */
export async function runCli(
  argv: string[],
  io: {
    stdout?: NodeJS.WritableStream;
    stderr?: NodeJS.WritableStream;
    env?: NodeJS.ProcessEnv;
    prompt?: CommandContext['prompt'];
    /** Opens the Temporal client; default src/client/connection.ts. */
    connect?: ConnectTemporal;
  } = {},
): Promise<number> {
  const stdout = io.stdout ?? process.stdout;
  const stderr = io.stderr ?? process.stderr;
  let exitCode: number = ExitCode.ok;
  let config: Config | undefined;
  const ctx: CommandContext = {
    config: () => (config ??= loadConfig(io.env ?? process.env)),
    stdout,
    stderr,
    notice: (line) => stderr.write(`${line}\n`),
    setExitCode: (code) => (exitCode = code),
    interactive: io.prompt !== undefined || process.stdin.isTTY === true,
    prompt: io.prompt ?? terminalPrompt,
    connect: io.connect ?? connectTemporal,
  };
  const program = buildProgram(ctx);
  try {
    await withCommandSpan(argv, io.env ?? process.env, () => program.parseAsync(argv, { from: 'user' }));
    return exitCode;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.ok : ExitCode.badInput;
    if (err instanceof ConfigError) {
      stderr.write(`fbb: ${err.message}\n`);
      if (argv.includes('--json')) printJson(failureJson(err), stdout);
      return ExitCode.badInput;
    }
    if (err instanceof CliError) {
      stderr.write(`fbb: ${err.message}\n`);
      if (argv.includes('--json')) printJson(failureJson(err), stdout);
      return err.exitCode;
    }
    stderr.write(`fbb: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\nPlease report it with the output above.\n`);
    return ExitCode.failed;
  }
}

/** The fbb program with every command registered; parsing runs the command's action. */
export function buildProgram(ctx: CommandContext): Command {
  const program = new Command('fbb')
    .description('Verified backups and safe restores of the Family Second Brain database (PostgreSQL + pgvector), orchestrated by Temporal')
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) })
    .showHelpAfterError('(run "fbb --help" for usage)')
    .addHelpText(
      'after',
      '\nExamples:\n  $ fbb doctor --local\n  $ fbb backup --local\n  $ fbb history --type backup --limit 5\n\n' +
        "Each command's options and examples: fbb <command> --help\n" +
        'Exit codes: 0 success, 1 the job failed, 2 bad input (nothing was started), 3 cannot reach Temporal or no worker, 4 restore rolled back, 5 restore cancelled or expired.\n',
    );
  registerDoctor(program, ctx);
  registerBackup(program, ctx);
  registerList(program, ctx);
  registerRestore(program, ctx);
  registerDrill(program, ctx);
  registerStatus(program, ctx);
  registerHistory(program, ctx);
  registerSchedules(program, ctx);
  registerUp(program, ctx);
  registerBaseBackup(program, ctx);
  registerWal(program, ctx);
  for (const command of program.commands) command.showHelpAfterError(`(run "fbb ${command.name()} --help" for usage and examples)`);
  return program;
}

/** Asks on the terminal. */
async function terminalPrompt(question: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
}

/** Entry point for bin/fbb.js. */
export function main(): void {
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`fbb: ${String(err)}\n`);
      process.exitCode = ExitCode.failed;
    },
  );
}
