// Documents with their embeddings and index, chunks, tags and document tags.
import { at, CHUNKS_PER_DOCUMENT, type Ctx, insert, lit, PER_TENANT, pick, rnd, sameTenant, series, TAG_NAMES, tenantOf, TRICKY_TEXT, uuidOf } from './sql';
import { CHUNK_DIMS, DOC_DIMS, embedding, embeddingSource } from './vectors';

/** The rows of family_documents. */
export function documentsSql(ctx: Ctx): string {
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

/** The HNSW index on document embeddings, built after the rows (as a restore builds it). */
export function documentIndexSql(): string {
  return 'CREATE INDEX family_documents_embedding_idx ON family_documents USING hnsw (embedding vector_cosine_ops);';
}

/** The rows of document_chunks. */
export function chunksSql(ctx: Ctx): string {
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

/** The rows of tags. */
export function tagsSql(ctx: Ctx): string {
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

/** The rows of document_tags. */
export function documentTagsSql(ctx: Ctx): string {
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
