// The sample database's rows: deterministic, generated in SQL from a seed, scaled by the tenant count.
// One generator per table, by family: sample/people.ts, sample/documents.ts, sample/activity.ts.
import type { SampleOptions } from './fixture';
import { expensesSql, logsSql, messagesSql, remindersSql, sessionsSql, usageSql } from './rows/activity';
import { chunksSql, documentIndexSql, documentsSql, documentTagsSql, tagsSql } from './rows/documents';
import { apiKeysSql, membersSql, settingsSql, tenantsSql, usersSql } from './rows/people';
import { context, type Ctx } from './rows/sql';
import { basisSql } from './rows/vectors';

/** INSERTs that fill the sample schema with deterministic rows for `options`. */
export function sampleRowsSql(options: SampleOptions = {}): string {
  return dataSql(context(options));
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
