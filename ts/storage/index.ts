export { open, Store } from './store.js';
export { prefixEnd } from './validate.js';
export * from './types.js';
export * from './raft-log.js';
export {
  encodeWrite, decodeWriteResult, type WriteRequest, type WriteResult, type LeaseGrantWriteResult, type LeaseRevokeResult,
  type LeaseRenewResult,
} from './write-request.js';
export { DEFAULT_DEDUP_HORIZON, type ApplyEntry, type ApplyOptions, type ApplyRequest, type AppliedState } from './state-machine.js';
export { Watch, WatchHub, type WatchEvent, type WatchFilter, type WatchOptions, type WatchResponse } from './watch.js';
export { Lessor, LESSOR_DEFAULTS, randomLeaseId, type LessorOptions, type StoredLease } from './lessor.js';
export { Decoder, Encoder } from './codec.js';
export { alarmOf, compactionOf, leaseEffect, type LeaseEffect, type PreparedWrite } from './write-request.js';
export { prepareAlarm, prepareCompact, type Alarm, type AlarmType } from './write-request.js';
