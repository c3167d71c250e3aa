export { open, Store } from './store.js';
export { prefixEnd } from './validate.js';
export * from './types.js';
export * from './raft-log.js';
