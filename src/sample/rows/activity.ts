// What families do: chat sessions and messages, AI usage, logs, reminders and expenses.
import { at, type Ctx, insert, lit, MESSAGES_PER_SESSION, MODELS, PER_TENANT, pick, rnd, sameTenant, series, tenantOf, TRICKY_TEXT, uuidOf } from './sql';

/** The rows of chat_sessions. */
export function sessionsSql(ctx: Ctx): string {
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

/** The rows of chat_messages: system first, then user, assistant and tool turns. */
export function messagesSql(ctx: Ctx): string {
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

/** The rows of ai_usage. */
export function usageSql(ctx: Ctx): string {
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

/** The rows of system_logs. */
export function logsSql(ctx: Ctx): string {
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

/** The rows of reminders. */
export function remindersSql(ctx: Ctx): string {
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

/** The rows of expenses. */
export function expensesSql(ctx: Ctx): string {
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
