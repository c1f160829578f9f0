// The --local engine: the project's workflows in Temporal's sandbox in this process (tests use it too).
export { LocalRuntime } from './localRuntime';
