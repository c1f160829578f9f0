-- The sample Family Second Brain schema (src/sample/fixture.ts loads it, then fills it with
-- deterministic rows). Embedding sizes: documents 1536 (DOC_DIMS), chunks 384 (CHUNK_DIMS).
CREATE EXTENSION IF NOT EXISTS vector;

CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$fn$;

CREATE TABLE tenants (
  id uuid PRIMARY KEY,
  slug text NOT NULL UNIQUE,
  name text NOT NULL,
  plan text NOT NULL CHECK (plan IN ('free', 'family', 'premium')),
  settings jsonb NOT NULL DEFAULT '{}',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE tenants IS 'One household ("famille") using the Family Second Brain.';

CREATE TABLE users (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  email text NOT NULL,
  display_name text NOT NULL,
  locale text,
  is_admin boolean NOT NULL DEFAULT false,
  last_login_at timestamptz,
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT users_tenant_email_key UNIQUE (tenant_id, email)
);

CREATE TABLE family_members (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid REFERENCES users (id) ON DELETE CASCADE,
  full_name text NOT NULL,
  relation text NOT NULL,
  birth_date date,
  allergies text[] NOT NULL DEFAULT '{}',
  notes text,
  profile jsonb
);

CREATE TABLE family_documents (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  owner_member_id bigint REFERENCES family_members (id) ON DELETE CASCADE,
  title text NOT NULL,
  body text NOT NULL,
  mime_type text NOT NULL,
  size_bytes bigint NOT NULL CHECK (size_bytes >= 0),
  labels text[],
  metadata jsonb NOT NULL DEFAULT '{}',
  embedding vector(1536),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE family_documents IS 'Documents the family stored, with their semantic embedding (NULL until processed).';
CREATE INDEX family_documents_tenant_created_idx ON family_documents (tenant_id, created_at DESC);

CREATE TABLE document_chunks (
  id bigserial PRIMARY KEY,
  document_id uuid NOT NULL REFERENCES family_documents (id) ON DELETE CASCADE,
  chunk_index integer NOT NULL CHECK (chunk_index >= 0),
  content text NOT NULL,
  token_count integer NOT NULL,
  embedding vector(384),
  UNIQUE (document_id, chunk_index)
);

CREATE TABLE tags (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL,
  color text,
  UNIQUE (tenant_id, name)
);

CREATE TABLE document_tags (
  document_id uuid NOT NULL REFERENCES family_documents (id) ON DELETE CASCADE,
  tag_id bigint NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
  PRIMARY KEY (document_id, tag_id)
);

CREATE TABLE chat_sessions (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  title text,
  model text NOT NULL,
  started_at timestamptz NOT NULL,
  ended_at timestamptz,
  metadata jsonb
);

CREATE TABLE chat_messages (
  id bigserial PRIMARY KEY,
  session_id uuid NOT NULL REFERENCES chat_sessions (id) ON DELETE CASCADE,
  position integer NOT NULL,
  role text NOT NULL CHECK (role IN ('system', 'user', 'assistant', 'tool')),
  content text NOT NULL,
  token_count integer,
  tool_calls jsonb,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (session_id, position)
);

CREATE TABLE ai_usage (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  user_id uuid REFERENCES users (id) ON DELETE CASCADE,
  request_id uuid NOT NULL UNIQUE,
  model text NOT NULL,
  prompt_tokens integer NOT NULL,
  completion_tokens integer NOT NULL,
  cost_usd numeric(12, 6) NOT NULL,
  occurred_at timestamptz NOT NULL
);

CREATE TABLE system_logs (
  id bigserial PRIMARY KEY,
  created_at timestamptz NOT NULL DEFAULT now(),
  level text NOT NULL,
  source text NOT NULL,
  message text NOT NULL,
  details jsonb
);

CREATE TABLE reminders (
  id bigserial PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  member_id bigint REFERENCES family_members (id) ON DELETE CASCADE,
  title text NOT NULL,
  due_at timestamptz NOT NULL,
  repeat_every interval,
  priority smallint NOT NULL DEFAULT 3 CHECK (priority BETWEEN 1 AND 5),
  done boolean NOT NULL DEFAULT false
);

CREATE TABLE api_keys (
  id uuid PRIMARY KEY,
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  name text NOT NULL,
  key_prefix text NOT NULL UNIQUE,
  key_hash bytea NOT NULL,
  scopes text[] NOT NULL,
  expires_at timestamptz,
  revoked boolean NOT NULL DEFAULT false
);

CREATE TABLE settings (
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  key text NOT NULL,
  value jsonb NOT NULL,
  PRIMARY KEY (tenant_id, key)
);

CREATE SEQUENCE expense_reference_seq START 1000;
CREATE TABLE expenses (
  id bigserial PRIMARY KEY,
  reference text NOT NULL UNIQUE DEFAULT 'EXP-' || lpad(nextval('expense_reference_seq')::text, 8, '0'),
  tenant_id uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
  member_id bigint REFERENCES family_members (id) ON DELETE CASCADE,
  category text NOT NULL,
  description text,
  amount numeric(18, 4) NOT NULL,
  currency char(3) NOT NULL DEFAULT 'EUR',
  exchange_rate numeric,
  paid_on date NOT NULL,
  recurring boolean NOT NULL DEFAULT false
);
ALTER SEQUENCE expense_reference_seq OWNED BY expenses.reference;

CREATE TRIGGER tenants_set_updated_at BEFORE UPDATE ON tenants FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER family_documents_set_updated_at BEFORE UPDATE ON family_documents FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE VIEW tenant_ai_usage AS
SELECT t.id AS tenant_id, t.name, count(u.id) AS requests,
       coalesce(sum(u.prompt_tokens + u.completion_tokens), 0) AS tokens,
       coalesce(sum(u.cost_usd), 0) AS cost_usd
FROM tenants t LEFT JOIN ai_usage u ON u.tenant_id = t.id
GROUP BY t.id, t.name;
