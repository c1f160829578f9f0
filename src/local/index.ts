export { LocalRuntime, LocalWorkflowHandle, type LocalRuntimeOptions, type LocalStartOptions } from './localRuntime';
export { WorkflowTaskFailedError, UnsupportedCommandError, type SinkLogger } from './execution';
export { UNLIMITED_ATTEMPTS_CAP, type ActivityAttempt } from './activityRunner';
