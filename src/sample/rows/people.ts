// Tenants, their users and family members, settings and API keys.
import { at, type Ctx, insert, lit, PEOPLE, PER_TENANT, pick, rnd, sameTenant, series, SETTING_KEYS, tenantOf, TRICKY_TEXT, uuidOf } from './sql';

/** The rows of tenants. */
export function tenantsSql(ctx: Ctx): string {
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

/** The rows of users. */
export function usersSql(ctx: Ctx): string {
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

/** The rows of family_members. */
export function membersSql(ctx: Ctx): string {
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

/** The rows of settings. */
export function settingsSql(ctx: Ctx): string {
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

/** The rows of api_keys. */
export function apiKeysSql(ctx: Ctx): string {
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
