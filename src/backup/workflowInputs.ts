// Inputs of listBackups, restoreDrill and checkEnvironment, validated before anything runs (as
// backupDatabase's in ./input.ts): unknown keys and wrong types fail at once, naming what is wrong.
import { ApplicationFailure } from '@temporalio/common';

/** A key's expectation: the values it may take, said in words for the message. */
interface KeySpec {
  allowed: (value: unknown) => boolean;
  expected: string;
}

const bool: KeySpec = { allowed: (v) => typeof v === 'boolean', expected: 'true or false' };
const oneOf = (...values: string[]): KeySpec => ({ allowed: (v) => typeof v === 'string' && values.includes(v), expected: `one of ${values.map((v) => `"${v}"`).join(', ')}` });

function describe(value: unknown): string {
  if (typeof value === 'string') return `"${value}"`;
  if (Array.isArray(value)) return 'an array';
  return value === null ? 'null' : `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * Checks `raw` against `keys` (every key optional; no input at all is `{}`); throws a non-retryable
 * InvalidInput naming every problem and an example, or returns the object.
 */
function parseObject<T>(workflow: string, raw: unknown, keys: Record<string, KeySpec>, example: string): T {
  if (raw === undefined) return {} as T;
  const problems: string[] = [];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) problems.push(`expected a JSON object, got ${describe(raw)}`);
  else {
    for (const [key, value] of Object.entries(raw)) {
      const spec = keys[key];
      if (spec === undefined) problems.push(`unknown key "${key}" (known: ${Object.keys(keys).join(', ') || 'none'})`);
      else if (value !== undefined && !spec.allowed(value)) problems.push(`"${key}" must be ${spec.expected}, got ${describe(value)}`);
    }
  }
  if (problems.length > 0) {
    throw ApplicationFailure.create({ type: 'InvalidInput', nonRetryable: true, message: `invalid ${workflow} input: ${problems.join('; ')}. Nothing was run. Example input: ${example}`, details: [problems] });
  }
  return raw as T;
}

/** listBackups: `{"include_s3": true}`. */
export function parseListInput(raw: unknown): { include_s3?: boolean } {
  return parseObject('listBackups', raw, { include_s3: bool }, '{"include_s3": true}');
}

/** restoreDrill: `{"source": "s3"}` (or nothing: S3 when the worker has it). */
export function parseDrillInput(raw: unknown): { source?: 'local' | 's3' } {
  return parseObject('restoreDrill', raw, { source: oneOf('local', 's3') }, '{"source": "local"}');
}

/** checkEnvironment: `{"mode": "temporal", "notify_test": false}`. */
export function parseDoctorInput(raw: unknown): { mode?: 'local' | 'temporal'; notify_test?: boolean } {
  return parseObject('checkEnvironment', raw, { mode: oneOf('local', 'temporal'), notify_test: bool }, '{"mode": "temporal", "notify_test": false}');
}
