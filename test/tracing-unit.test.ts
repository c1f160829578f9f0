// Tracing off, and what may become a span attribute: no server needed.
import { trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { activeTracing, tracingFor } from '../src/observability/tracing';
import { traceAttributes } from '../src/observability/traceAttributes';
import { clientInterceptors, workerTracing } from '../src/observability/tracingInterceptors';

describe('tracing without OTEL_EXPORTER_OTLP_ENDPOINT', () => {
  it('starts nothing: no tracer provider, no client or activity interceptor, only a sink that drops what a traced client sent', () => {
    expect(tracingFor({})).toBeUndefined();
    expect(activeTracing()).toBeUndefined();
    // The global provider is still the API's no-op proxy: a span started now records nothing.
    expect(trace.getTracer('x').startSpan('probe').isRecording()).toBe(false);
    expect(clientInterceptors(undefined)).toBeUndefined();
    const worker = workerTracing(undefined, { database: 'family_brain' });
    expect(worker.interceptors).toBeUndefined();
    expect(Object.keys(worker.sinks ?? {})).toEqual(['exporter']);
  });
});

describe('traceAttributes', () => {
  it('keeps the database, a backup file name, sizes and counts', () => {
    expect(traceAttributes({ database: 'family_brain', filename: 'family_brain_daily_20261201_020000.sql.gz', size_bytes: 2048, total_rows: 12, status: 'verified' })).toEqual({
      'fbb.database': 'family_brain',
      'fbb.file': 'family_brain_daily_20261201_020000.sql.gz',
      'fbb.size_bytes': 2048,
      'fbb.rows': 12,
      'fbb.status': 'verified',
    });
    expect(traceAttributes('family_brain_manual_20261201_020000.sql.zst.age')).toEqual({ 'fbb.file': 'family_brain_manual_20261201_020000.sql.zst.age' });
  });

  it('drops every other key and value: URLs, passwords, identities, nested objects, strings that are not backup files', () => {
    expect(
      traceAttributes({
        url: 'postgres://backup:hunter2@db/family_brain',
        password: 'hunter2',
        age_identity_file: '/run/secrets/key.txt',
        s3: { endpoint: 'http://minio:9000' },
        filename: 'postgres://backup:hunter2@db/x.sql.gz',
        database: { name: 'nested' },
      }),
    ).toEqual({});
    expect(traceAttributes('postgres://backup:hunter2@db/family_brain')).toEqual({});
    expect(traceAttributes(['family_brain_daily_20261201_020000.sql.gz'])).toEqual({});
  });
});
