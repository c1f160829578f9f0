import fs from 'node:fs';
import path from 'node:path';
import { bundleWorkflowCode, type WorkflowBundleWithSourceMap } from '@temporalio/worker';

/** The project's workflow entry point, from src/ (tests, tsx) or dist/ (the built CLI and worker). */
export function defaultWorkflowsPath(): string {
  const dir = path.resolve(__dirname, 'workflows');
  for (const candidate of ['index.ts', 'index.js']) {
    const file = path.join(dir, candidate);
    if (fs.existsSync(file)) return file;
  }
  throw new Error(`no workflow entry point in ${dir} (expected index.ts or index.js); run "npm run build"`);
}

/** The workflow interceptors module (tracing, src/workflows/interceptors.ts), bundled with every workflow entry point. */
export function workflowInterceptorsPath(): string {
  return defaultWorkflowsPath().replace(/index\.(ts|js)$/, 'interceptors.$1');
}

/** Where `npm run build` puts the prebuilt bundle: dist/workflow-bundle.js (only the built code looks for it). */
export function prebuiltBundlePath(): string {
  return path.resolve(__dirname, '../workflow-bundle.js');
}

/** The prebuilt bundle's path when this is the built code and the bundle exists. */
export function findPrebuiltBundle(): string | undefined {
  const file = prebuiltBundlePath();
  return __filename.endsWith('.js') && fs.existsSync(file) ? file : undefined;
}

/** The workflow code cannot be bundled: usually a Node built-in or an I/O module imported by a workflow. */
export class WorkflowBundleError extends Error {
  override readonly name = 'WorkflowBundleError';
}

const bundles = new Map<string, Promise<WorkflowBundleWithSourceMap>>();

/**
 * Bundles workflow code once per process and path. The bundler rejects workflows that import
 * Node built-ins or other non-deterministic modules, so this is also a determinism check.
 */
export function bundleWorkflows(workflowsPath: string = defaultWorkflowsPath()): Promise<WorkflowBundleWithSourceMap> {
  let bundle = bundles.get(workflowsPath);
  if (bundle === undefined) {
    bundle = bundle$(workflowsPath);
    bundles.set(workflowsPath, bundle);
    bundle.catch(() => bundles.delete(workflowsPath));
  }
  return bundle;
}

async function bundle$(workflowsPath: string): Promise<WorkflowBundleWithSourceMap> {
  const problems: string[] = [];
  const noop = (): void => undefined;
  // The bundler logs every build at info; only its warnings and errors matter, and they go in the error.
  const record = (message: string, meta?: Record<string, unknown>) => problems.push(meta ? `${message} ${JSON.stringify(meta)}` : message);
  try {
    return await bundleWorkflowCode({
      workflowsPath,
      workflowInterceptorModules: [workflowInterceptorsPath()],
      logger: { trace: noop, debug: noop, info: noop, warn: record, error: record, log: noop },
    });
  } catch (err) {
    const detail = problems.join('\n').split('\n').filter((line) => /Error|not allowed|import|require/i.test(line)).slice(0, 8).join('\n');
    throw new WorkflowBundleError(
      `workflow code in ${workflowsPath} cannot be bundled; workflows must not import Node built-ins, I/O modules or activities as values (use "import type"):\n${detail || (err as Error).message}`,
      { cause: err },
    );
  }
}
