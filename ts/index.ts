export * from './storage/index.js';
export { AxisError, ErrorCode, isAxisError } from './errors/index.js';
