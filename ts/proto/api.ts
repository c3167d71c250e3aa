/**
 * The client API's wire format (api.proto): encoding and decoding of Request/Reply frames, and the
 * conversions between the protobuf messages and the store's TypeScript types, used by both ends
 * (ts/server and ts/client) so they cannot disagree.
 */
import { AxisError, ErrorCode } from '../errors/index.js';
import { Limits } from '../storage/types.js';
import type {
  ChangesResult, Compare, CompareResult, CompareTarget, DeleteResult, Event, KeyValue, PutResult, RangeOptions,
  RangeResult, RequestOp, ResponseOp, SortOrder, SortTarget, TxnRequest, TxnResult,
} from '../storage/types.js';
import protobuf from 'protobufjs';
import { loadProto } from './load.js';

export const API_VERSION = 1;

/** etcd's --max-request-bytes (1.5 MiB), plus room for the envelope around a largest value. */
export const MAX_REQUEST_BYTES = Limits.maxValueBytes + 64 * 1024;

const root = loadProto('api.proto');
const RequestType = root.lookupType('axis.api.Request');
const ReplyType = root.lookupType('axis.api.Reply');

// ---- protobuf shapes (what protobufjs hands back; numbers, not Longs) ----------------------------

export interface PbKv { key: Uint8Array; value: Uint8Array; createRevision: number; modRevision: number; version: number; lease: number }
export interface PbRangeOptions {
  revision?: number; limit?: number; keysOnly?: boolean; countOnly?: boolean; sort?: { target?: string; order?: string } | null;
  minModRevision?: number; maxModRevision?: number; minCreateRevision?: number; maxCreateRevision?: number;
}
export const enum EndKind { Absent = 0, Bytes = 1, Null = 2 }
export interface PbPut { key: Uint8Array; value: Uint8Array; lease?: number; prevKv?: boolean; ignoreValue?: boolean; ignoreLease?: boolean }
export interface PbDelete { key: Uint8Array; rangeEnd?: Uint8Array; endKind?: EndKind; prevKv?: boolean }
export interface PbRangeOp { key: Uint8Array; rangeEnd?: Uint8Array; endKind?: EndKind; options?: PbRangeOptions | null }
export interface PbCompare { key: Uint8Array; rangeEnd?: Uint8Array; hasRangeEnd?: boolean; target: string; result: string; value?: Uint8Array; number?: number }
export interface PbRequestOp { put?: PbPut | null; deleteRange?: PbDelete | null; range?: PbRangeOp | null; txn?: PbTxn | null }
export interface PbTxn { compare?: PbCompare[]; success?: PbRequestOp[]; failure?: PbRequestOp[] }
export interface PbPutResult { revision: number; prevKv?: PbKv | null }
export interface PbDeleteResult { revision: number; deleted: number; prevKvs?: PbKv[] }
export interface PbRangeResult { kvs?: PbKv[]; more: boolean; count: number; revision: number }
export interface PbResponseOp { put?: PbPutResult | null; deleteRange?: PbDeleteResult | null; range?: PbRangeResult | null; txn?: PbTxnResult | null }
export interface PbTxnResult { succeeded: boolean; revision: number; responses?: PbResponseOp[] }
export interface PbEvent { type: string; kv?: PbKv | null; prevKv?: PbKv | null }
export interface PbWatchCreate {
  key: Uint8Array; rangeEnd?: Uint8Array; endKind?: EndKind; prefix?: boolean; startRevision?: number; prevKv?: boolean;
  filters?: string[]; progressNotify?: boolean;
}
export interface PbWatchResponse {
  watchId: number; created?: boolean; events?: PbEvent[]; revision: number; canceled?: boolean; compactRevision?: number; cancelReason?: string;
}
export interface PbChanges { events?: PbEvent[]; more: boolean; next: number; revision: number }
export interface PbMember { id: number; name: string; peerUrl: string; clientUrl: string; learner?: boolean }
export interface PbStatus {
  member?: PbMember | null; members?: PbMember[]; leader: number; raftTerm: number; commitIndex: number; appliedIndex: number;
  role: string; revision: number; compactRevision: number; dbSize: number; dbSizeInUse: number; learner: boolean;
  raftIndex?: number; alarms?: PbAlarm[]; version?: string;
}
export interface PbHeader { clusterId: number; memberId: number; revision: number; raftTerm: number; leader: number }

export interface PbRequest {
  version: number;
  id: number;
  client?: number;
  seq?: number;
  acked?: number;
  get?: { key: Uint8Array; revision?: number; serializable?: boolean } | null;
  range?: { key: Uint8Array; rangeEnd?: Uint8Array; endKind?: EndKind; prefix?: boolean; options?: PbRangeOptions | null; serializable?: boolean } | null;
  put?: PbPut | null;
  deleteRange?: PbDelete | null;
  txn?: PbTxn | null;
  compact?: { revision: number; physical?: boolean } | null;
  history?: { key: Uint8Array; from?: number; to?: number; serializable?: boolean } | null;
  changes?: { from: number; to?: number; limit?: number; serializable?: boolean } | null;
  status?: object | null;
  watchCreate?: PbWatchCreate | null;
  watchCancel?: { watchId: number } | null;
  watchProgress?: { watchId: number } | null;
  leaseGrant?: { ttl: number; id?: number } | null;
  leaseRevoke?: { id: number } | null;
  leaseKeepAlive?: { id: number } | null;
  leaseTimeToLive?: { id: number; keys?: boolean } | null;
  leaseLeases?: object | null;
  snapshotRead?: { id?: number; offset?: number } | null;
  memberList?: object | null;
  memberAdd?: { name: string; peerUrl: string; clientUrl?: string; learner?: boolean } | null;
  memberRemove?: { id: number } | null;
  memberPromote?: { id: number } | null;
  memberUpdate?: { id: number; peerUrl?: string; clientUrl?: string } | null;
  moveLeader?: { target: number } | null;
  hashKv?: { revision?: number } | null;
  alarmList?: object | null;
  alarmDisarm?: { type?: string; member?: number } | null;
}

export interface PbMemberList {
  members?: PbMember[];
  clusterId?: number;
  member?: PbMember | null;
}

export interface PbReply {
  version: number;
  id: number;
  header?: PbHeader | null;
  error?: { code: string; message: string } | null;
  get?: { kv?: PbKv | null } | null;
  range?: PbRangeResult | null;
  put?: PbPutResult | null;
  deleteRange?: PbDeleteResult | null;
  txn?: PbTxnResult | null;
  compact?: { revision: number } | null;
  history?: { events?: PbEvent[] } | null;
  changes?: PbChanges | null;
  status?: PbStatus | null;
  watch?: PbWatchResponse | null;
  leaseGrant?: { id: number; ttl: number } | null;
  leaseRevoke?: { revision: number; deleted: number } | null;
  leaseKeepAlive?: { id: number; ttl: number } | null;
  leaseTimeToLive?: { id: number; ttl: number; remaining: number; keys?: Uint8Array[] } | null;
  leaseLeases?: { ids?: number[] } | null;
  snapshotRead?: { id: number; size: number; offset: number; data: Uint8Array; index: number; term: number; revision: number } | null;
  memberList?: PbMemberList | null;
  memberAdd?: PbMemberList | null;
  memberRemove?: PbMemberList | null;
  memberPromote?: PbMemberList | null;
  memberUpdate?: PbMemberList | null;
  moveLeader?: { leader: number } | null;
  hashKv?: { hash: string; revision: number; compactRevision: number } | null;
  alarmList?: { alarms?: PbAlarm[] } | null;
  alarmDisarm?: { alarms?: PbAlarm[] } | null;
}

export interface PbAlarm { type: string; member: number }

export const REQUEST_BODIES = ['get', 'range', 'put', 'deleteRange', 'txn', 'compact', 'history', 'changes', 'status', 'watchCreate', 'watchCancel', 'watchProgress',
  'leaseGrant', 'leaseRevoke', 'leaseKeepAlive', 'leaseTimeToLive', 'leaseLeases', 'snapshotRead',
  'memberList', 'memberAdd', 'memberRemove', 'memberPromote', 'memberUpdate', 'moveLeader', 'hashKv', 'alarmList', 'alarmDisarm'] as const;
export type RequestBody = (typeof REQUEST_BODIES)[number];

// ---- frames ------------------------------------------------------------------------------------
//
// A ZeroMQ frame carries one or more messages, each prefixed with its length (a protobuf varint):
// a client sends the requests of one turn together, a member the replies of one turn to one client
// together, so a busy connection makes one send per turn instead of one per request.

/** Length-prefixes each message and concatenates them into one frame. */
export function joinFrame(messages: readonly Uint8Array[]): Buffer {
  const w = protobuf.Writer.create();
  for (const m of messages) w.bytes(m);
  return Buffer.from(w.finish());
}

/** The messages of a frame; AXIS_MALFORMED_REQUEST if the framing is broken (nothing of it is served). */
export function splitFrame(frame: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  try {
    const r = protobuf.Reader.create(frame);
    while (r.pos < r.len) out.push(r.bytes());
  } catch (err) {
    throw new AxisError(ErrorCode.MALFORMED_REQUEST, `frame is not a sequence of length-prefixed messages: ${(err as Error).message}`);
  }
  return out;
}

export function encodeRequest(r: PbRequest): Buffer {
  return Buffer.from(RequestType.encode(r as never).finish());
}

/** Decodes a request frame; AXIS_MALFORMED_REQUEST / AXIS_UNSUPPORTED_VERSION when it cannot be served. */
export function decodeRequest(frame: Uint8Array): PbRequest {
  let r: PbRequest;
  try {
    r = RequestType.decode(frame) as unknown as PbRequest;
  } catch (err) {
    throw new AxisError(ErrorCode.MALFORMED_REQUEST, `request frame does not decode: ${(err as Error).message}`);
  }
  if (r.version !== API_VERSION) {
    throw new AxisError(ErrorCode.UNSUPPORTED_VERSION, `API version ${r.version} is not supported (this member speaks ${API_VERSION})`);
  }
  return r;
}

/** The one body a request carries, or undefined when it carries none this member knows. */
export function requestBody(r: PbRequest): RequestBody | undefined {
  for (const b of REQUEST_BODIES) if (r[b] !== null && r[b] !== undefined) return b;
  return undefined;
}

export function encodeReply(r: PbReply): Buffer {
  return Buffer.from(ReplyType.encode(r as never).finish());
}

export function decodeReply(frame: Uint8Array): PbReply {
  let r: PbReply;
  try {
    r = ReplyType.decode(frame) as unknown as PbReply;
  } catch (err) {
    throw new AxisError(ErrorCode.MALFORMED_REQUEST, `reply frame does not decode: ${(err as Error).message}`);
  }
  if (r.version !== API_VERSION) {
    throw new AxisError(ErrorCode.UNSUPPORTED_VERSION, `reply of API version ${r.version}; this client speaks ${API_VERSION}`);
  }
  return r;
}

/** The request's ids only, from a frame that may not decode whole (to address an error reply). */
export function peekRequestId(frame: Uint8Array): number {
  try {
    return Number((RequestType.decode(frame) as unknown as PbRequest).id ?? 0);
  } catch {
    return 0;
  }
}

// ---- conversions -------------------------------------------------------------------------------

const EMPTY = Buffer.alloc(0);

export function buf(b: Uint8Array | null | undefined): Buffer {
  if (!b || b.length === 0) return EMPTY;
  return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** A Bytes given by a caller, as the wire wants it (validation is the member's). */
export function bytesOf(b: unknown, what: string): Buffer {
  if (typeof b === 'string') return Buffer.from(b, 'utf8');
  if (b instanceof Uint8Array) return buf(b);
  throw new AxisError(ErrorCode.INVALID_ARGUMENT, `${what} must be a string or a Uint8Array`);
}

export function kvToPb(kv: KeyValue): PbKv {
  return kv;
}

export function kvFromPb(p: PbKv): KeyValue {
  return {
    key: buf(p.key),
    value: buf(p.value),
    createRevision: p.createRevision,
    modRevision: p.modRevision,
    version: p.version,
    lease: p.lease,
  };
}

export function rangeOptionsToPb(o: RangeOptions | undefined): PbRangeOptions | undefined {
  if (!o) return undefined;
  const p: PbRangeOptions = {};
  if (o.revision !== undefined) p.revision = o.revision;
  if (o.limit !== undefined) p.limit = o.limit;
  if (o.keysOnly !== undefined) p.keysOnly = o.keysOnly;
  if (o.countOnly !== undefined) p.countOnly = o.countOnly;
  if (o.sort !== undefined) p.sort = { ...(o.sort.target ? { target: o.sort.target } : {}), ...(o.sort.order ? { order: o.sort.order } : {}) };
  if (o.minModRevision !== undefined) p.minModRevision = o.minModRevision;
  if (o.maxModRevision !== undefined) p.maxModRevision = o.maxModRevision;
  if (o.minCreateRevision !== undefined) p.minCreateRevision = o.minCreateRevision;
  if (o.maxCreateRevision !== undefined) p.maxCreateRevision = o.maxCreateRevision;
  return p;
}

export function rangeOptionsFromPb(p: PbRangeOptions | null | undefined): RangeOptions | undefined {
  if (!p) return undefined;
  const o: RangeOptions = {};
  if (p.revision) o.revision = p.revision;
  if (p.limit) o.limit = p.limit;
  if (p.keysOnly) o.keysOnly = true;
  if (p.countOnly) o.countOnly = true;
  if (p.sort) {
    o.sort = {};
    if (p.sort.target) o.sort.target = p.sort.target as SortTarget;
    if (p.sort.order) o.sort.order = p.sort.order as SortOrder;
  }
  if (p.minModRevision) o.minModRevision = p.minModRevision;
  if (p.maxModRevision) o.maxModRevision = p.maxModRevision;
  if (p.minCreateRevision) o.minCreateRevision = p.minCreateRevision;
  if (p.maxCreateRevision) o.maxCreateRevision = p.maxCreateRevision;
  return o;
}

/** A range end as the API takes it (undefined: absent, null: to the end) ↔ the wire's pair. */
export function endToPb(end: unknown): { rangeEnd?: Buffer; endKind: EndKind } {
  if (end === undefined) return { endKind: EndKind.Absent };
  if (end === null) return { endKind: EndKind.Null };
  return { rangeEnd: bytesOf(end, 'range end'), endKind: EndKind.Bytes };
}

export function endFromPb(rangeEnd: Uint8Array | undefined, kind: EndKind | undefined): Buffer | null | undefined {
  if (kind === EndKind.Bytes) return buf(rangeEnd);
  if (kind === EndKind.Null) return null;
  return undefined;
}

function compareToPb(c: Compare): PbCompare {
  if (typeof c !== 'object' || c === null) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'a compare must be an object');
  const p: PbCompare = { key: bytesOf(c.key, 'compare key'), target: String(c.target), result: String(c.result) };
  if (c.rangeEnd !== undefined) {
    p.rangeEnd = bytesOf(c.rangeEnd, 'compare range end');
    p.hasRangeEnd = true;
  }
  if (c.target === 'value') p.value = bytesOf(c.value, 'compare value');
  else if (typeof c.value === 'number') p.number = c.value;
  else throw new AxisError(ErrorCode.INVALID_ARGUMENT, `compare on ${String(c.target)} needs a number`);
  return p;
}

function compareFromPb(p: PbCompare): Compare {
  const c: Compare = {
    key: buf(p.key),
    target: p.target as CompareTarget,
    result: p.result as CompareResult,
    value: p.target === 'value' ? buf(p.value) : (p.number ?? 0),
  };
  if (p.hasRangeEnd) c.rangeEnd = buf(p.rangeEnd);
  return c;
}

export function putToPb(key: unknown, value: unknown, o: { lease?: number; prevKv?: boolean; ignoreValue?: boolean; ignoreLease?: boolean } | undefined): PbPut {
  const p: PbPut = { key: bytesOf(key, 'key'), value: bytesOf(value, 'value') };
  if (o?.lease !== undefined) p.lease = o.lease;
  if (o?.prevKv) p.prevKv = true;
  if (o?.ignoreValue) p.ignoreValue = true;
  if (o?.ignoreLease) p.ignoreLease = true;
  return p;
}

function opToPb(op: RequestOp): PbRequestOp {
  if (typeof op !== 'object' || op === null) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'a txn op must be an object');
  if ('put' in op) return { put: putToPb(op.put.key, op.put.value, op.put) };
  if ('deleteRange' in op) {
    return { deleteRange: { key: bytesOf(op.deleteRange.key, 'key'), ...endToPb(op.deleteRange.rangeEnd), prevKv: op.deleteRange.prevKv ?? false } };
  }
  if ('range' in op) {
    const { key, rangeEnd, ...options } = op.range;
    const o = rangeOptionsToPb(options);
    return { range: { key: bytesOf(key, 'key'), ...endToPb(rangeEnd), ...(o ? { options: o } : {}) } };
  }
  if ('txn' in op) return { txn: txnToPb(op.txn) };
  throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'a txn op must be put, deleteRange, range or txn');
}

function opFromPb(p: PbRequestOp): RequestOp {
  if (p.put) return { put: putFromPb(p.put) };
  if (p.deleteRange) {
    const end = endFromPb(p.deleteRange.rangeEnd, p.deleteRange.endKind);
    return { deleteRange: { key: buf(p.deleteRange.key), ...(end !== undefined ? { rangeEnd: end } : {}), ...(p.deleteRange.prevKv ? { prevKv: true } : {}) } };
  }
  if (p.range) {
    const end = endFromPb(p.range.rangeEnd, p.range.endKind);
    return { range: { key: buf(p.range.key), ...(end !== undefined ? { rangeEnd: end } : {}), ...rangeOptionsFromPb(p.range.options) } };
  }
  if (p.txn) return { txn: txnFromPb(p.txn) };
  throw new AxisError(ErrorCode.MALFORMED_REQUEST, 'a txn op of no known kind');
}

export function putFromPb(p: PbPut): { key: Buffer; value: Buffer; lease?: number; prevKv?: boolean; ignoreValue?: boolean; ignoreLease?: boolean } {
  return {
    key: buf(p.key),
    value: buf(p.value),
    ...(p.lease ? { lease: p.lease } : {}),
    ...(p.prevKv ? { prevKv: true } : {}),
    ...(p.ignoreValue ? { ignoreValue: true } : {}),
    ...(p.ignoreLease ? { ignoreLease: true } : {}),
  };
}

export function txnToPb(t: TxnRequest): PbTxn {
  if (typeof t !== 'object' || t === null) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'a txn must be an object');
  const list = <T, U>(a: T[] | undefined, what: string, f: (x: T) => U): U[] => {
    if (a === undefined) return [];
    if (!Array.isArray(a)) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `txn ${what} must be an array`);
    return a.map(f);
  };
  return { compare: list(t.compare, 'compare', compareToPb), success: list(t.success, 'success', opToPb), failure: list(t.failure, 'failure', opToPb) };
}

export function txnFromPb(p: PbTxn): TxnRequest {
  return {
    compare: (p.compare ?? []).map(compareFromPb),
    success: (p.success ?? []).map(opFromPb),
    failure: (p.failure ?? []).map(opFromPb),
  };
}

export function putResultFromPb(p: PbPutResult): PutResult {
  const r: PutResult = { revision: p.revision };
  if (p.prevKv) r.prevKv = kvFromPb(p.prevKv);
  return r;
}

export function deleteResultFromPb(p: PbDeleteResult): DeleteResult {
  return { revision: p.revision, deleted: p.deleted, prevKvs: (p.prevKvs ?? []).map(kvFromPb) };
}

export function rangeResultFromPb(p: PbRangeResult): RangeResult {
  return { kvs: (p.kvs ?? []).map(kvFromPb), more: p.more, count: p.count, revision: p.revision };
}

function responseOpToPb(r: ResponseOp): PbResponseOp {
  if ('put' in r) return { put: r.put };
  if ('deleteRange' in r) return { deleteRange: r.deleteRange };
  if ('range' in r) return { range: r.range };
  return { txn: txnResultToPb(r.txn) };
}

export function txnResultToPb(r: TxnResult): PbTxnResult {
  return { succeeded: r.succeeded, revision: r.revision, responses: r.responses.map(responseOpToPb) };
}

function responseOpFromPb(p: PbResponseOp): ResponseOp {
  if (p.put) return { put: putResultFromPb(p.put) };
  if (p.deleteRange) return { deleteRange: deleteResultFromPb(p.deleteRange) };
  if (p.range) return { range: rangeResultFromPb(p.range) };
  if (p.txn) return { txn: txnResultFromPb(p.txn) };
  throw new AxisError(ErrorCode.MALFORMED_REQUEST, 'a txn response of no known kind');
}

export function txnResultFromPb(p: PbTxnResult): TxnResult {
  return { succeeded: p.succeeded, revision: p.revision, responses: (p.responses ?? []).map(responseOpFromPb) };
}

export function eventsToPb(events: Event[]): PbEvent[] {
  return events;
}

export function eventsFromPb(p: PbEvent[] | undefined): (Event & { prevKv?: KeyValue })[] {
  return (p ?? []).map((e) => ({
    type: e.type as Event['type'],
    kv: kvFromPb(e.kv ?? ({} as PbKv)),
    ...(e.prevKv ? { prevKv: kvFromPb(e.prevKv) } : {}),
  }));
}

export function changesFromPb(p: PbChanges): ChangesResult {
  return { events: eventsFromPb(p.events), more: p.more, next: p.next, revision: p.revision };
}
