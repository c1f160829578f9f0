// Every workflow the worker registers.
export { checkEnvironment } from './checkEnvironment';
