// Which PostgreSQL client tools to run against a server: a pure rule, shared by the activities,
// `fbb doctor` and the throwaway clusters, and tested against tables of cases.

/** A directory of PostgreSQL client programs, and where it was found. */
export interface ToolCandidate {
  binDir: string;
  /** pg_dump --version of this directory, e.g. { major: 17, version: '17.11' }. */
  major: number;
  version: string;
  source: 'PG_BIN_DIR' | 'debian' | '.tools';
}

/** The tools chosen and why, or why none fits. */
export type ToolChoice = { ok: true; chosen: ToolCandidate; reason: string } | { ok: false; reason: string; fix: string };

/** The one command that installs PostgreSQL `major`'s client tools where they are looked for. */
export function installCommand(major: number): string {
  return major === 15 ? 'bash scripts/install-deps.sh' : `bash scripts/install-deps.sh --postgres ${major}`;
}

const describe = (c: ToolCandidate) => `${c.version} in ${c.binDir} (${c.source})`;

/** pg_dump 17 and newer write `SET transaction_timeout`, which a server older than 17 rejects when the dump is replayed. */
const TRANSACTION_TIMEOUT_MAJOR = 17;

/**
 * Can tools of `major` dump this server and replay the dump into it (verification does)? pg_dump
 * refuses a server newer than itself, and from 17 on writes a setting servers before 17 reject.
 */
function fits(major: number, serverMajor: number): boolean {
  return major >= serverMajor && (serverMajor >= TRANSACTION_TIMEOUT_MAJOR || major < TRANSACTION_TIMEOUT_MAJOR);
}

/**
 * The server's major when found, else the lowest newer one that fits (see fits). PG_BIN_DIR, when
 * set, is the only candidate (an explicit choice is never overridden).
 */
export function chooseClientTools(candidates: ToolCandidate[], serverMajor: number): ToolChoice {
  const order = ['PG_BIN_DIR', 'debian', '.tools'];
  const usable = candidates
    .filter((c) => fits(c.major, serverMajor))
    .sort((a, b) => a.major - b.major || order.indexOf(a.source) - order.indexOf(b.source));
  const chosen = usable[0];
  if (chosen !== undefined) {
    const why = chosen.major === serverMajor ? 'the same major as the server' : `the lowest major above the server's that was found (none for ${serverMajor})`;
    return { ok: true, chosen, reason: `PostgreSQL ${describe(chosen)}: ${why}` };
  }
  const found = candidates.length === 0 ? 'no PostgreSQL client tools at all' : candidates.map(describe).join(', ');
  const rule =
    serverMajor < TRANSACTION_TIMEOUT_MAJOR
      ? `pg_dump must be that major or newer and older than ${TRANSACTION_TIMEOUT_MAJOR} (from ${TRANSACTION_TIMEOUT_MAJOR} on it writes SET transaction_timeout, which ${serverMajor} rejects when the dump is verified or restored)`
      : 'pg_dump must be that major or newer';
  return {
    ok: false,
    reason: `the server is PostgreSQL ${serverMajor} and ${rule}; found ${found}`,
    fix: candidates.some((c) => c.source === 'PG_BIN_DIR') ? `point PG_BIN_DIR at PostgreSQL ${serverMajor}'s bin directory or unset it, or run "${installCommand(serverMajor)}"` : `run "${installCommand(serverMajor)}"`,
  };
}
