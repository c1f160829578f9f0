// Building blocks of the sample rows' SQL: counts per tenant, deterministic randomness from the seed,
// literals and INSERT ... SELECT. Every generator in this folder uses them.
import type { SampleOptions } from '../fixture';

const BASE_TENANTS = 5;
const DEFAULT_SEED = 1;

/** The sample rows' time zero, as SQL. */
export const EPOCH = "timestamptz '2025-01-01 00:00:00+00'";

/** Rows per tenant; every other count derives from the tenant count so references stay within a tenant. */
export const PER_TENANT = {
  users: 3,
  members: 4,
  documents: 60,
  chunkedDocuments: 4,
  tags: 6,
  sessions: 8,
  usage: 80,
  logs: 40,
  reminders: 10,
  apiKeys: 2,
  expenses: 30,
} as const;

/** Chunks of each chunked document. */
export const CHUNKS_PER_DOCUMENT = 3;
/** Messages in each chat session. */
export const MESSAGES_PER_SESSION = 15;
/** Setting keys every tenant has. */
export const SETTING_KEYS = ['locale', 'timezone', 'notifications', 'assistant'] as const;
/** Tag names, with accents, CJK, emoji and quotes. */
export const TAG_NAMES = ['santé', 'école', 'factures', '家族', 'vacances 🏖️', 'impôts "2024"'] as const;

/** Strings that exercise encodings and COPY/CSV escaping. */
export const TRICKY_TEXT = [
  "Café crème ☕ avant l'école",
  '家族の写真 — 家族',
  'Ünïcödé façade: naïve coöperation',
  'Emoji party 🎉👨‍👩‍👧‍👦🏠',
  'Line one\nLine two\nLine three',
  'Tab\tseparated\tvalues',
  'Windows path C:\\Users\\famille\\Documents\\',
  'Backslash-N literal \\N is not NULL',
  '\\.',
  'She said "bonjour" and l\'enfant répondit \'salut\'',
  'Carriage\r\nreturn',
  '',
  '   leading and trailing spaces   ',
  'Ελληνικά, русский, עברית, العربية',
  'Semicolon; comma, pipe | and percent 100%',
] as const;

/** Display names, with the scripts and punctuation families use. */
export const PEOPLE = [
  'Camille Dupont',
  'Léa Müller',
  'Zoë Ørsted',
  'Jürgen Groß',
  'Amélie Poulain',
  '王小明',
  '山田 花子',
  'José Núñez',
  "Seán O'Brien",
  '👩 Maman',
] as const;

/** AI model names for usage rows. */
export const MODELS = ['gpt-4o-mini', 'gpt-4.1', 'claude-sonnet-4', 'mistral-large', 'text-embedding-3-small'] as const;

/** How many rows each table gets. */
export interface Counts {
  tenants: number;
  users: number;
  members: number;
  documents: number;
  chunks: number;
  tags: number;
  sessions: number;
  messages: number;
  usage: number;
  logs: number;
  reminders: number;
  apiKeys: number;
  settings: number;
  expenses: number;
}

/** What every generator reads: the seed and the row counts. */
export interface Ctx {
  seed: number;
  n: Counts;
}

/** The seed and counts for `options`; a bad scale or seed is a RangeError naming it. */
export function context(options: SampleOptions): Ctx {
  const scale = options.scale ?? 1;
  const seed = options.seed ?? DEFAULT_SEED;
  if (!Number.isFinite(scale) || scale <= 0) throw new RangeError(`scale must be a positive number, got ${scale}`);
  if (!Number.isSafeInteger(seed)) throw new RangeError(`seed must be an integer, got ${seed}`);
  return { seed, n: counts(Math.max(1, Math.round(BASE_TENANTS * scale))) };
}

function counts(tenants: number): Counts {
  return {
    tenants,
    users: tenants * PER_TENANT.users,
    members: tenants * PER_TENANT.members,
    documents: tenants * PER_TENANT.documents,
    chunks: tenants * PER_TENANT.chunkedDocuments * CHUNKS_PER_DOCUMENT,
    tags: tenants * PER_TENANT.tags,
    sessions: tenants * PER_TENANT.sessions,
    messages: tenants * PER_TENANT.sessions * MESSAGES_PER_SESSION,
    usage: tenants * PER_TENANT.usage,
    logs: tenants * PER_TENANT.logs,
    reminders: tenants * PER_TENANT.reminders,
    apiKeys: tenants * PER_TENANT.apiKeys,
    settings: tenants * SETTING_KEYS.length,
    expenses: tenants * PER_TENANT.expenses,
  };
}

/** SQL string literal that is safe whatever standard_conforming_strings says. */
export function lit(value: string): string {
  const escaped = value
    .replace(/\\/g, '\\\\')
    .replace(/'/g, "''")
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t');
  return `E'${escaped}'`;
}

/** Deterministic pseudo-random integer in [0, 2^28) for a (seed, salt, key) triple. */
export function rnd(ctx: Ctx, salt: string, key: string): string {
  return `(('x' || substr(md5('${ctx.seed}:${salt}:' || (${key})), 1, 7))::bit(28)::int)`;
}

/** Deterministic uuid for entity number `key` of a given kind. */
export function uuidOf(ctx: Ctx, kind: string, key: string): string {
  return `md5('${ctx.seed}:${kind}:' || (${key}))::uuid`;
}

/** Picks one of `values` using the random integer expression `random`. */
export function pick(values: readonly string[], random: string): string {
  return `(ARRAY[${values.map(lit).join(', ')}]::text[])[1 + ${random} % ${values.length}]`;
}

/** Fixed timestamp `step` × `key` after the sample epoch. */
export function at(key: string, step: string): string {
  return `${EPOCH} + (${key}) * interval '${step}'`;
}

/** Tenant number (1-based) of row `key` when rows are spread round-robin over tenants. */
export function tenantOf(ctx: Ctx, key: string): string {
  return `(1 + ((${key}) - 1) % ${ctx.n.tenants})`;
}

/** Number of one of the `perTenant` entities that belong to tenant number `tenant`. */
export function sameTenant(ctx: Ctx, tenant: string, perTenant: number, random: string): string {
  return `(${tenant} + ${ctx.n.tenants} * (${random} % ${perTenant}))`;
}

/** Maps a `rnd` integer to a double precision in [low, low + width). */
export function unit(random: string, low: number, width: number): string {
  return `(${low} + ${random} / 268435456.0 * ${width})::float8`;
}

/** INSERT … SELECT of the given column expressions over `source`. */
export function insert(table: string, columns: Record<string, string>, source: string, where = ''): string {
  const names = Object.keys(columns).join(', ');
  const values = Object.values(columns).join(',\n  ');
  return `INSERT INTO ${table} (${names})\nSELECT\n  ${values}\nFROM ${source}${where ? `\nWHERE ${where}` : ''};`;
}

/** Row source `i` = 1..count. */
export function series(count: number): string {
  return `generate_series(1, ${count}) AS i`;
}
