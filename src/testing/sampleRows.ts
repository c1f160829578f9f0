// The sample database's rows: deterministic, generated in SQL from a seed, scaled by the tenant count.
import type { SampleOptions } from './fixture';

const BASE_TENANTS = 5;
const DEFAULT_SEED = 1;
const EPOCH = "timestamptz '2025-01-01 00:00:00+00'";
const DOC_DIMS = 1536;
const CHUNK_DIMS = 384;
const BASIS_ADDITIVE = 64;
const BASIS_MODULATORS = 32;

/** Rows per tenant; every other count derives from the tenant count so references stay within a tenant. */
const PER_TENANT = {
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

const CHUNKS_PER_DOCUMENT = 3;
const MESSAGES_PER_SESSION = 15;
const SETTING_KEYS = ['locale', 'timezone', 'notifications', 'assistant'] as const;
const TAG_NAMES = ['santé', 'école', 'factures', '家族', 'vacances 🏖️', 'impôts "2024"'] as const;

/** Strings that exercise encodings and COPY/CSV escaping. */
const TRICKY_TEXT = [
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

const PEOPLE = [
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

const MODELS = ['gpt-4o-mini', 'gpt-4.1', 'claude-sonnet-4', 'mistral-large', 'text-embedding-3-small'] as const;

interface Counts {
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

interface Ctx {
  seed: number;
  n: Counts;
}

/** INSERTs that fill the sample schema with deterministic rows for `options`. */
export function sampleRowsSql(options: SampleOptions = {}): string {
  return dataSql(context(options));
}

function context(options: SampleOptions): Ctx {
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
function lit(value: string): string {
  const escaped = value
    .replace(/\\/g, '\\\\')
    .replace(/'/g, "''")
    .replace(/\n/g, '\\n')
    .replace(/\r/g, '\\r')
    .replace(/\t/g, '\\t');
  return `E'${escaped}'`;
}

/** Deterministic pseudo-random integer in [0, 2^28) for a (seed, salt, key) triple. */
function rnd(ctx: Ctx, salt: string, key: string): string {
  return `(('x' || substr(md5('${ctx.seed}:${salt}:' || (${key})), 1, 7))::bit(28)::int)`;
}

/** Deterministic uuid for entity number `key` of a given kind. */
function uuidOf(ctx: Ctx, kind: string, key: string): string {
  return `md5('${ctx.seed}:${kind}:' || (${key}))::uuid`;
}

/** Picks one of `values` using the random integer expression `random`. */
function pick(values: readonly string[], random: string): string {
  return `(ARRAY[${values.map(lit).join(', ')}]::text[])[1 + ${random} % ${values.length}]`;
}

/** Fixed timestamp `step` × `key` after the sample epoch. */
function at(key: string, step: string): string {
  return `${EPOCH} + (${key}) * interval '${step}'`;
}

/** Tenant number (1-based) of row `key` when rows are spread round-robin over tenants. */
function tenantOf(ctx: Ctx, key: string): string {
  return `(1 + ((${key}) - 1) % ${ctx.n.tenants})`;
}

/** Number of one of the `perTenant` entities that belong to tenant number `tenant`. */
function sameTenant(ctx: Ctx, tenant: string, perTenant: number, random: string): string {
  return `(${tenant} + ${ctx.n.tenants} * (${random} % ${perTenant}))`;
}

/** Temporary table of sinusoid basis vectors that document embeddings are combined from (cheap per row). */
function basisSql(ctx: Ctx): string {
  return [
    'CREATE TEMP TABLE sample_basis (dims integer NOT NULL, k integer NOT NULL, v vector NOT NULL, PRIMARY KEY (dims, k));',
    basisInsertSql(ctx, DOC_DIMS),
    basisInsertSql(ctx, CHUNK_DIMS),
  ].join('\n');
}

function basisInsertSql(ctx: Ctx, dims: number): string {
  const amplitude = (0.6 / Math.sqrt(dims / 2)).toFixed(6);
  const value = `CASE WHEN b.k < ${BASIS_ADDITIVE} THEN ${amplitude} * sin(d * b.f + b.p) ELSE 1 + 0.5 * sin(d * b.f + b.p) END`;
  const salt = `basis-${dims}`;
  return insert(
    'sample_basis',
    {
      dims: String(dims),
      k: 'b.k',
      v: `(SELECT array_agg((${value})::real ORDER BY d) FROM generate_series(1, ${dims}) AS d)::vector`,
    },
    `(SELECT k, ${unit(rnd(ctx, `${salt}-f`, 'k'), 0.001, 3.1)} AS f, ${unit(rnd(ctx, `${salt}-p`, 'k'), 0, 6.283)} AS p` +
      ` FROM generate_series(0, ${BASIS_ADDITIVE + BASIS_MODULATORS - 1}) AS k OFFSET 0) AS b`,
  );
}

/** Embedding for the row in `scope`: (a1 + a2) * m1 + a3 * m2 over basis vectors, roughly unit length. */
function embedding(dims: number, scope: string): string {
  const basis = (column: string): string => `(SELECT v FROM sample_basis WHERE dims = ${dims} AND k = ${scope}.${column})`;
  return `((${basis('a1')} + ${basis('a2')}) * ${basis('m1')} + ${basis('a3')} * ${basis('m2')})::vector(${dims})`;
}

/** Row source exposing `i`, a random `h` and basis picks; OFFSET 0 makes the picks computed once per row. */
function embeddingSource(ctx: Ctx, salt: string, count: number): string {
  const r = (part: string): string => rnd(ctx, `${salt}-${part}`, 'i');
  return (
    `(SELECT i, ${r('h')} AS h, ${r('a1')} % ${BASIS_ADDITIVE} AS a1, ${r('a2')} % ${BASIS_ADDITIVE} AS a2,` +
    ` ${r('a3')} % ${BASIS_ADDITIVE} AS a3, ${BASIS_ADDITIVE} + ${r('m1')} % ${BASIS_MODULATORS} AS m1,` +
    ` ${BASIS_ADDITIVE} + ${r('m2')} % ${BASIS_MODULATORS} AS m2` +
    ` FROM generate_series(1, ${count}) AS i OFFSET 0) AS e`
  );
}

/** Maps a `rnd` integer to a double precision in [low, low + width). */
function unit(random: string, low: number, width: number): string {
  return `(${low} + ${random} / 268435456.0 * ${width})::float8`;
}

/** INSERT … SELECT of the given column expressions over `source`. */
function insert(table: string, columns: Record<string, string>, source: string, where = ''): string {
  const names = Object.keys(columns).join(', ');
  const values = Object.values(columns).join(',\n  ');
  return `INSERT INTO ${table} (${names})\nSELECT\n  ${values}\nFROM ${source}${where ? `\nWHERE ${where}` : ''};`;
}

function series(count: number): string {
  return `generate_series(1, ${count}) AS i`;
}

function dataSql(ctx: Ctx): string {
  return [
    tenantsSql(ctx),
    usersSql(ctx),
    membersSql(ctx),
    basisSql(ctx),
    documentsSql(ctx),
    documentIndexSql(),
    chunksSql(ctx),
    'DROP TABLE sample_basis;',
    tagsSql(ctx),
    documentTagsSql(ctx),
    sessionsSql(ctx),
    messagesSql(ctx),
    usageSql(ctx),
    logsSql(ctx),
    remindersSql(ctx),
    apiKeysSql(ctx),
    settingsSql(ctx),
    expensesSql(ctx),
    `SELECT setval('family_members_id_seq', ${ctx.n.members});`,
    `SELECT setval('tags_id_seq', ${ctx.n.tags});`,
  ].join('\n\n');
}

function tenantsSql(ctx: Ctx): string {
  const h = rnd(ctx, 'tenant', 'i');
  return insert(
    'tenants',
    {
      id: uuidOf(ctx, 'tenant', 'i'),
      slug: `'famille-' || i`,
      name: `${pick(PEOPLE, h)} || ' — famille ' || i`,
      plan: pick(['free', 'family', 'premium'], h),
      settings: `jsonb_build_object('theme', ${pick(['clair', 'sombre', 'auto'], h)}, 'features', jsonb_build_array('chat', 'docs', i % 2 = 0),
    'limits', jsonb_build_object('documents', ${h} % 1000, 'nested', jsonb_build_object('deep', jsonb_build_array(1, 2.5, NULL, true, 'x'))),
    'motto', ${pick(TRICKY_TEXT, h)})`,
      created_at: at('i', '3 days'),
      updated_at: at('i', '4 days'),
    },
    series(ctx.n.tenants),
  );
}

function usersSql(ctx: Ctx): string {
  const h = rnd(ctx, 'user', 'i');
  return insert(
    'users',
    {
      id: uuidOf(ctx, 'user', 'i'),
      tenant_id: uuidOf(ctx, 'tenant', tenantOf(ctx, 'i')),
      email: `'user' || i || '@famille-' || ${tenantOf(ctx, 'i')} || '.example'`,
      display_name: pick(PEOPLE, h),
      locale: `CASE WHEN i % 5 = 0 THEN NULL ELSE ${pick(['fr-FR', 'en-GB', 'de-DE', 'ja-JP'], h)} END`,
      is_admin: `i <= ${ctx.n.tenants}`,
      last_login_at: `CASE WHEN i % 4 = 0 THEN NULL ELSE ${at(`${h} % 100000`, '7 minutes')} END`,
      created_at: at('i', '1 day'),
      updated_at: at('i', '2 days'),
    },
    series(ctx.n.users),
  );
}

function membersSql(ctx: Ctx): string {
  const h = rnd(ctx, 'member', 'i');
  const t = tenantOf(ctx, 'i');
  return insert(
    'family_members',
    {
      id: 'i',
      tenant_id: uuidOf(ctx, 'tenant', t),
      user_id: `CASE WHEN i % 4 = 0 THEN NULL ELSE ${uuidOf(ctx, 'user', sameTenant(ctx, t, PER_TENANT.users, h))} END`,
      full_name: pick(PEOPLE, h),
      relation: pick(['parent', 'enfant', 'grand-parent', 'animal 🐶', 'autre'], h),
      birth_date: `CASE WHEN i % 6 = 0 THEN NULL ELSE date '1940-01-01' + ${h} % 30000 END`,
      allergies: `CASE i % 3 WHEN 0 THEN '{}'::text[] WHEN 1 THEN ARRAY['arachides', 'gluten'] ELSE ARRAY['lactose', 'pollen 🌸', ${lit('a,b "quoted" {x}')}, ''] END`,
      notes: `CASE WHEN i % 3 = 0 THEN NULL ELSE ${pick(TRICKY_TEXT, h)} END`,
      profile: `CASE WHEN i % 2 = 0 THEN NULL ELSE jsonb_build_object('height_cm', 50 + ${h} % 150, 'school', jsonb_build_object('name', 'École Jules-Ferry', 'grades', jsonb_build_array(12.5, 14, NULL)), 'note', ${pick(TRICKY_TEXT, h)}) END`,
    },
    series(ctx.n.members),
  );
}

function documentsSql(ctx: Ctx): string {
  const t = tenantOf(ctx, 'e.i');
  return insert(
    'family_documents',
    {
      id: uuidOf(ctx, 'document', 'e.i'),
      tenant_id: uuidOf(ctx, 'tenant', t),
      owner_member_id: `CASE WHEN e.i % 7 = 0 THEN NULL ELSE ${sameTenant(ctx, t, PER_TENANT.members, 'e.h')} END`,
      title: `${pick(['Ordonnance', 'Facture EDF', 'Bulletin scolaire', 'Recette de grand-mère', '保険証', 'Passeport'], 'e.h')} || ' #' || e.i`,
      body: `concat_ws(E'\\n', 'Document ' || e.i, ${pick(TRICKY_TEXT, 'e.h')}, repeat('La famille range ses papiers. ', 1 + e.h % 40))`,
      mime_type: pick(['application/pdf', 'text/plain', 'image/jpeg', 'text/markdown'], 'e.h'),
      size_bytes: `CASE WHEN e.i % 50 = 0 THEN 5000000000 + e.h ELSE e.h % 10000000 END`,
      labels: `CASE WHEN e.i % 4 = 0 THEN NULL ELSE ARRAY['scan', ${pick(TAG_NAMES, 'e.h')}] END`,
      metadata: `jsonb_build_object('pages', 1 + e.h % 40, 'ocr', jsonb_build_object('lang', 'fra', 'confidence', (e.h % 1000) / 1000.0),
    'history', jsonb_build_array(jsonb_build_object('op', 'upload', 'by', e.h % 10), jsonb_build_object('op', 'embed', 'ok', e.i % 10 <> 0)))`,
      embedding: `CASE WHEN e.i % 10 = 0 THEN NULL ELSE ${embedding(DOC_DIMS, 'e')} END`,
      created_at: at('e.i', '37 minutes'),
      updated_at: at('e.i', '41 minutes'),
    },
    embeddingSource(ctx, 'document', ctx.n.documents),
  );
}

function documentIndexSql(): string {
  return 'CREATE INDEX family_documents_embedding_idx ON family_documents USING hnsw (embedding vector_cosine_ops);';
}

function chunksSql(ctx: Ctx): string {
  return insert(
    'document_chunks',
    {
      document_id: uuidOf(ctx, 'document', `1 + (e.i - 1) / ${CHUNKS_PER_DOCUMENT}`),
      chunk_index: `(e.i - 1) % ${CHUNKS_PER_DOCUMENT}`,
      content: `'Extrait ' || e.i || E'\\t' || ${pick(TRICKY_TEXT, 'e.h')}`,
      token_count: '10 + e.h % 500',
      embedding: `CASE WHEN e.i % 9 = 0 THEN NULL ELSE ${embedding(CHUNK_DIMS, 'e')} END`,
    },
    embeddingSource(ctx, 'chunk', ctx.n.chunks),
  );
}

function tagsSql(ctx: Ctx): string {
  return insert(
    'tags',
    {
      id: 'i',
      tenant_id: uuidOf(ctx, 'tenant', tenantOf(ctx, 'i')),
      name: `(ARRAY[${TAG_NAMES.map(lit).join(', ')}])[1 + (i - 1) / ${ctx.n.tenants}]`,
      color: `CASE WHEN i % 3 = 0 THEN NULL ELSE '#' || substr(md5('${ctx.seed}:tag:' || i), 1, 6) END`,
    },
    series(ctx.n.tags),
  );
}

function documentTagsSql(ctx: Ctx): string {
  const h = rnd(ctx, 'document-tag', 'i');
  return insert(
    'document_tags',
    {
      document_id: uuidOf(ctx, 'document', 'i'),
      tag_id: sameTenant(ctx, tenantOf(ctx, 'i'), PER_TENANT.tags, `(${h} + j)`),
    },
    `${series(ctx.n.documents)} CROSS JOIN generate_series(1, 2) AS j`,
    'i % 5 <> 0 AND (j = 1 OR i % 2 = 0)',
  );
}

function sessionsSql(ctx: Ctx): string {
  const h = rnd(ctx, 'session', 'i');
  const t = tenantOf(ctx, 'i');
  return insert(
    'chat_sessions',
    {
      id: uuidOf(ctx, 'session', 'i'),
      tenant_id: uuidOf(ctx, 'tenant', t),
      user_id: uuidOf(ctx, 'user', sameTenant(ctx, t, PER_TENANT.users, h)),
      title: `CASE WHEN i % 6 = 0 THEN NULL ELSE ${pick(['Menus de la semaine 🍲', 'Devoirs de maths', 'Vacances au Japon 日本', 'Impôts', ''], h)} END`,
      model: pick(MODELS.slice(0, 4), h),
      started_at: at('i', '5 hours 13 minutes'),
      ended_at: `CASE WHEN i % 5 = 0 THEN NULL ELSE ${at('i', '5 hours 13 minutes')} + interval '20 minutes' END`,
      metadata: `CASE WHEN i % 3 = 0 THEN NULL ELSE jsonb_build_object('client', 'ios', 'temperature', 0.7, 'context_docs', jsonb_build_array(${uuidOf(ctx, 'document', `1 + ${h} % ${ctx.n.documents}`)})) END`,
    },
    series(ctx.n.sessions),
  );
}

function messagesSql(ctx: Ctx): string {
  const h = rnd(ctx, 'message', 'i');
  const position = `((i - 1) % ${MESSAGES_PER_SESSION})`;
  const session = `(1 + (i - 1) / ${MESSAGES_PER_SESSION})`;
  const role = `CASE WHEN ${position} = 0 THEN 'system' WHEN ${position} % 7 = 6 THEN 'tool' WHEN ${position} % 2 = 1 THEN 'user' ELSE 'assistant' END`;
  return insert(
    'chat_messages',
    {
      session_id: uuidOf(ctx, 'session', session),
      position,
      role,
      content: `CASE WHEN ${position} = 0 THEN 'Tu es l''assistant de la famille.' ELSE ${pick(TRICKY_TEXT, h)} || ' (message ' || i || ')' END`,
      token_count: `CASE WHEN i % 11 = 0 THEN NULL ELSE ${h} % 2000 END`,
      tool_calls: `CASE WHEN ${position} % 7 = 6 THEN jsonb_build_object('name', 'search_documents', 'arguments', jsonb_build_object('query', ${pick(TRICKY_TEXT, h)}, 'k', 5), 'result', jsonb_build_array()) END`,
      created_at: `${at(session, '5 hours 13 minutes')} + ${position} * interval '45 seconds'`,
    },
    series(ctx.n.messages),
  );
}

function usageSql(ctx: Ctx): string {
  const h = rnd(ctx, 'usage', 'i');
  const t = tenantOf(ctx, 'i');
  const prompt = `(${h} % 8000)`;
  const completion = `(${h} % 1500)`;
  return insert(
    'ai_usage',
    {
      tenant_id: uuidOf(ctx, 'tenant', t),
      user_id: `CASE WHEN i % 8 = 0 THEN NULL ELSE ${uuidOf(ctx, 'user', sameTenant(ctx, t, PER_TENANT.users, h))} END`,
      request_id: uuidOf(ctx, 'request', 'i'),
      model: pick(MODELS, h),
      prompt_tokens: prompt,
      completion_tokens: completion,
      cost_usd: `CASE WHEN i % 97 = 0 THEN -1 ELSE 1 END * round((${prompt} * 0.15 + ${completion} * 0.6) / 1000000.0, 6)`,
      occurred_at: at('i', '17 minutes'),
    },
    series(ctx.n.usage),
  );
}

function logsSql(ctx: Ctx): string {
  const h = rnd(ctx, 'log', 'i');
  return insert(
    'system_logs',
    {
      created_at: at('i', '11 minutes'),
      level: pick(['debug', 'info', 'info', 'warn', 'error'], h),
      source: pick(['worker', 'api', 'embedder', 'scheduler', 'backup'], h),
      message: `${pick(TRICKY_TEXT, h)} || ' #' || i`,
      details: `CASE WHEN i % 3 = 0 THEN NULL ELSE jsonb_build_object('request', jsonb_build_object('id', ${uuidOf(ctx, 'log-request', 'i')}, 'path', '/api/v1/docs/' || i,
    'headers', jsonb_build_object('user-agent', ${lit('Mozilla/5.0 "quoted" \\ back')})), 'durations_ms', jsonb_build_array(${h} % 100, ${h} % 1000, 1.5), 'empty', '', 'unicode', '家族 ☕') END`,
    },
    series(ctx.n.logs),
  );
}

function remindersSql(ctx: Ctx): string {
  const h = rnd(ctx, 'reminder', 'i');
  const t = tenantOf(ctx, 'i');
  return insert(
    'reminders',
    {
      tenant_id: uuidOf(ctx, 'tenant', t),
      member_id: `CASE WHEN i % 5 = 0 THEN NULL ELSE ${sameTenant(ctx, t, PER_TENANT.members, h)} END`,
      title: pick(['Rendez-vous pédiatre 🩺', 'Payer la cantine', 'Renouveler le passeport', '誕生日パーティー', 'Vaccin du chien'], h),
      due_at: at('i', '1 day 3 hours'),
      repeat_every: `CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN interval '1 week' WHEN 2 THEN interval '1 month' ELSE interval '1 year 2 days 03:04:05' END`,
      priority: `(1 + ${h} % 5)::smallint`,
      done: 'i % 3 = 0',
    },
    series(ctx.n.reminders),
  );
}

function apiKeysSql(ctx: Ctx): string {
  return insert(
    'api_keys',
    {
      id: uuidOf(ctx, 'api-key', 'i'),
      tenant_id: uuidOf(ctx, 'tenant', tenantOf(ctx, 'i')),
      name: `CASE WHEN i % 2 = 0 THEN 'Home Assistant' ELSE 'Backup bot 🤖' END`,
      key_prefix: `'fbk_' || substr(md5('${ctx.seed}:api-key-prefix:' || i), 1, 12)`,
      key_hash: `decode(md5('${ctx.seed}:api-key-secret:' || i) || '00ff0a5c', 'hex')`,
      scopes: `CASE WHEN i % 2 = 0 THEN ARRAY['documents:read', 'chat:write'] ELSE ARRAY['backup:*'] END`,
      expires_at: `CASE WHEN i % 3 = 0 THEN NULL ELSE ${at('i', '30 days')} END`,
      revoked: 'i % 4 = 0',
    },
    series(ctx.n.apiKeys),
  );
}

function settingsSql(ctx: Ctx): string {
  const key = `(1 + (i - 1) / ${ctx.n.tenants})`;
  return insert(
    'settings',
    {
      tenant_id: uuidOf(ctx, 'tenant', tenantOf(ctx, 'i')),
      key: `(ARRAY[${SETTING_KEYS.map(lit).join(', ')}])[${key}]`,
      value: `CASE ${key}
    WHEN 1 THEN to_jsonb('fr-FR'::text)
    WHEN 2 THEN jsonb_build_object('tz', 'Europe/Paris', 'dst', true)
    WHEN 3 THEN jsonb_build_object('email', true, 'push', jsonb_build_object('quiet_hours', jsonb_build_array('22:00', '07:00')), 'channels', '[]'::jsonb)
    ELSE jsonb_build_object('model', 'gpt-4o-mini', 'max_tokens', 4096, 'system_prompt', ${lit('Réponds en français.\n\tSois bref. \\o/')}, 'nothing', NULL)
  END`,
    },
    series(ctx.n.settings),
  );
}

function expensesSql(ctx: Ctx): string {
  const h = rnd(ctx, 'expense', 'i');
  const t = tenantOf(ctx, 'i');
  return insert(
    'expenses',
    {
      tenant_id: uuidOf(ctx, 'tenant', t),
      member_id: `CASE WHEN i % 4 = 0 THEN NULL ELSE ${sameTenant(ctx, t, PER_TENANT.members, h)} END`,
      category: pick(['courses', 'santé', 'école', 'loisirs', 'énergie'], h),
      description: `CASE i % 5 WHEN 0 THEN NULL WHEN 1 THEN '' ELSE ${pick(TRICKY_TEXT, h)} END`,
      amount: `CASE WHEN i % 149 = 0 THEN 99999999999999.9999 WHEN i % 50 = 0 THEN -(${h} % 100000) / 100.0 ELSE (${h} % 50000) / 100.0 END`,
      currency: pick(['EUR', 'EUR', 'CHF', 'JPY', 'USD'], h),
      exchange_rate: `CASE i % 7 WHEN 0 THEN NULL WHEN 1 THEN 123456789012345678901234567890.123456789012 WHEN 2 THEN 0.000000000000000001 WHEN 3 THEN -0.5 ELSE 1.0842 END`,
      paid_on: `date '2024-01-01' + i % 730`,
      recurring: 'i % 6 = 0',
    },
    series(ctx.n.expenses),
  );
}
