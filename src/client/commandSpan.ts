// The root of a run's trace: the span of the fbb command that started it (`fbb backup`, `fbb restore
// confirm`), whose children are the client's StartWorkflow / Update spans, and through them the
// workflow's and its activities'. Only when OTEL_EXPORTER_OTLP_ENDPOINT is set.
import { SpanStatusCode } from '@opentelemetry/api';
import { ConfigError, loadConfig } from '../config';
import { tracingFor } from '../observability/tracing';

/**
 * Runs `fn` inside the span "fbb <command>" when tracing is on, and sends the spans before
 * returning. A configuration that does not load runs `fn` untraced: the command reports the error.
 */
export async function withCommandSpan<T>(argv: string[], env: NodeJS.ProcessEnv, fn: () => Promise<T>): Promise<T> {
  // `fbb up` runs for days and starts no run itself (the schedules do): no span for it.
  if (!env.OTEL_EXPORTER_OTLP_ENDPOINT || argv[0] === 'up') return fn();
  let config;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return fn();
    throw err;
  }
  const tracing = tracingFor(config);
  if (tracing === undefined) return fn();
  const words = argv.filter((a) => !a.startsWith('-')).slice(0, 2);
  const command = words[0] === 'restore' || words[0] === 'schedules' ? words.join(' ') : (words[0] ?? '');
  try {
    return await tracing.tracer.startActiveSpan(`fbb ${command}`.trim(), { attributes: { 'fbb.command': command, 'fbb.database': config.database.database } }, async (span) => {
      try {
        return await fn();
      } catch (err) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : 'error' });
        throw err;
      } finally {
        span.end();
      }
    });
  } finally {
    await tracing.processor.forceFlush().catch(() => undefined);
  }
}
