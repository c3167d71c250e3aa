/**
 * Write requests as the native writer takes them (native/apply.h: u8 kind | body) and their
 * results, shared by the embedded store and a cluster member: the member encodes a client's write
 * once, puts the bytes in a Raft entry, and decodes the result the entry's APPLY gave.
 */
import { AxisError, ErrorCode } from '../errors/index.js';
import { Decoder, Encoder, RequestKind, decodeDelete, decodeTxnResult, encodeDelete, encodePut, encodeTxnBody, putFlags } from './codec.js';
import type {
  Bytes, DeleteOptions, DeleteResult, LeaseCheckpoint, PutOptions, PutResult, TxnRequest, TxnResult,
} from './types.js';
import { checkCount, checkInteger, checkKey, checkLeaseCheckpoints, checkLeaseId, checkLeaseTtl, checkRange, checkTxn, checkValue } from './validate.js';

/** One write, as `Store.put`, `delete`, `deleteRange`, `txn` and `compact` take it. */
export type WriteRequest =
  | { put: { key: Bytes; value: Bytes; options?: PutOptions } }
  | { delete: { key: Bytes; options?: DeleteOptions } }
  | { deleteRange: { start: Bytes; end?: Bytes | null; options?: DeleteOptions } }
  | { txn: TxnRequest }
  | { compact: { revision: number } }
  /** A new lease (the caller picks the id; AXIS_LEASE_EXISTS if taken). No new revision. */
  | { leaseGrant: { id: number; ttl: number } }
  /** Deletes the lease's keys in one revision (none if it has none), then the lease. */
  | { leaseRevoke: { id: number } }
  /** Remaining TTLs to persist; ids with no lease are skipped. No new revision. */
  | { leaseCheckpoint: { leases: LeaseCheckpoint[] } }
  /** A keepalive's persistent part: clears the lease's checkpoint (full TTL from now). */
  | { leaseRenew: { id: number } }
  /** A lessor's revoke of a due lease: AXIS_LEASE_RENEWED (nothing changes) unless it has had exactly `renewals` keepalives. */
  | { leaseExpire: { id: number; renewals: number } }
  /** Raises or clears an alarm for a member (a cluster's replicated alarms, as etcd's). */
  | { alarm: { activate: boolean; type: AlarmType; member: number } };

/** NOSPACE: a member's store passed its quota (writes that add data are refused). CORRUPT: members' hashes differ. */
export type AlarmType = 'NOSPACE' | 'CORRUPT';
const ALARM_CODES: Record<AlarmType, number> = { NOSPACE: 1, CORRUPT: 2 };

export interface Alarm {
  type: AlarmType;
  member: number;
}

/** native alarms(): u32 n | (u8 type | u64 member)* */
export function decodeAlarms(buf: Buffer): Alarm[] {
  const d = new Decoder(buf);
  const n = d.u32();
  const out: Alarm[] = [];
  for (let i = 0; i < n; i++) {
    const code = d.u8();
    const member = d.u64();
    out.push({ type: code === 1 ? 'NOSPACE' : 'CORRUPT', member });
  }
  return out;
}

export function prepareAlarm(activate: boolean, type: AlarmType, member: number): PreparedWrite<{ revision: number }> {
  const code = ALARM_CODES[type];
  if (code === undefined) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `an alarm is NOSPACE or CORRUPT, not ${String(type)}`);
  const m = checkInteger(member, 'member');
  return {
    encode: (e) => {
      e.u8(RequestKind.Alarm);
      e.u8(activate ? 1 : 0);
      e.u8(code);
      e.u64(m);
    },
    decode: decodeCompact,
  };
}

/** The result of a lease grant through `encodeWrite`. */
export interface LeaseGrantWriteResult { revision: number; id: number; ttl: number }
/** The result of a lease revoke: `deleted` keys went in `revision` (the current one if none). */
export interface LeaseRevokeResult { revision: number; deleted: number }
/** The result of a lease renew: the lease's granted TTL. */
export interface LeaseRenewResult { revision: number; ttl: number; renewals: number }

/** What a write request's result decodes to. */
export type WriteResult<R extends WriteRequest = WriteRequest> = R extends { put: unknown }
  ? PutResult
  : R extends { delete: unknown } | { deleteRange: unknown }
    ? DeleteResult
    : R extends { txn: unknown }
      ? TxnResult
      : R extends { leaseGrant: unknown }
        ? LeaseGrantWriteResult
        : R extends { leaseRevoke: unknown } | { leaseExpire: unknown }
          ? LeaseRevokeResult
          : R extends { leaseRenew: unknown }
            ? LeaseRenewResult
            : { revision: number };

/** A validated write: `encode` appends it to a batch, `decode` reads its result (after the status byte). */
export interface PreparedWrite<T> {
  encode(e: Encoder): void;
  decode(d: Decoder): T;
}

/** A txn of one op, no compares: its response is the op's. Reads up to the op's response. */
function singleOpRevision(d: Decoder): number {
  const revision = d.u64();
  d.u8(); // succeeded
  d.u32(); // one response
  d.u8(); // its op type
  return revision;
}

function singleOp(encodeOp: (e: Encoder) => void): (e: Encoder) => void {
  return (e) => {
    e.u8(RequestKind.Txn);
    e.u32(0); // compares
    e.u32(1); // success ops
    encodeOp(e);
    e.u32(0); // failure ops
  };
}

function decodePut(d: Decoder): PutResult {
  const r: PutResult = { revision: singleOpRevision(d) };
  if (d.u8() === 1) r.prevKv = d.kv();
  return r;
}

const decodeDeleteOp = (d: Decoder): DeleteResult => decodeDelete(d, singleOpRevision(d));
const decodeCompact = (d: Decoder): { revision: number } => ({ revision: d.u64() });
const txnDecoder = (t: TxnRequest) => (d: Decoder): TxnResult => decodeTxnResult(d, t, d.u64());

export function preparePut(key: Bytes, value: Bytes, options?: PutOptions): PreparedWrite<PutResult> {
  const k = checkKey(key);
  const v = checkValue(value);
  const lease = checkCount(options?.lease, 'lease');
  if (options?.ignoreValue && v.length > 0) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'ignoreValue is set but a value is given');
  if (options?.ignoreLease && lease) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'ignoreLease is set but a lease is given');
  return { encode: singleOp((e) => encodePut(e, k, v, lease, putFlags(options))), decode: decodePut };
}

/** One key (`end` undefined) or a range (validated as `Store.deleteRange`). */
export function prepareDelete(start: Bytes, end: Bytes | null | undefined, options: DeleteOptions | undefined, range: boolean): PreparedWrite<DeleteResult> {
  let s: Buffer;
  let e: Buffer | null | undefined;
  if (range) [s, e] = checkRange(start, end);
  else s = checkKey(start);
  const prevKv = options?.prevKv ?? false;
  return { encode: singleOp((enc) => encodeDelete(enc, s, e, prevKv)), decode: decodeDeleteOp };
}

export function prepareTxn(request: TxnRequest): PreparedWrite<TxnResult> {
  checkTxn(request);
  return {
    encode: (e) => {
      e.u8(RequestKind.Txn);
      encodeTxnBody(e, request);
    },
    decode: txnDecoder(request),
  };
}

export function prepareCompact(revision: number): PreparedWrite<{ revision: number }> {
  const floor = checkCount(revision, 'revision');
  if (floor === 0) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'compaction revision must be 1 or later');
  return {
    encode: (e) => {
      e.u8(RequestKind.Compact);
      e.u64(floor);
    },
    decode: decodeCompact,
  };
}

export function prepareLeaseGrant(id: number, ttl: number): PreparedWrite<LeaseGrantWriteResult> {
  const i = checkLeaseId(id);
  const t = checkLeaseTtl(ttl);
  return {
    encode: (e) => {
      e.u8(RequestKind.LeaseGrant);
      e.u64(i);
      e.u64(t);
    },
    decode: (d) => ({ revision: d.u64(), id: i, ttl: t }),
  };
}

export function prepareLeaseRevoke(id: number): PreparedWrite<LeaseRevokeResult> {
  const i = checkLeaseId(id);
  return {
    encode: (e) => {
      e.u8(RequestKind.LeaseRevoke);
      e.u64(i);
    },
    decode: (d) => ({ revision: d.u64(), deleted: d.u64() }),
  };
}

export function prepareLeaseCheckpoint(leases: readonly LeaseCheckpoint[]): PreparedWrite<{ revision: number }> {
  const list = checkLeaseCheckpoints(leases);
  return {
    encode: (e) => {
      e.u8(RequestKind.LeaseCheckpoint);
      e.u32(list.length);
      for (const c of list) {
        e.u64(c.id);
        e.u64(c.remainingMs);
      }
    },
    decode: decodeCompact,
  };
}

export function prepareLeaseRenew(id: number): PreparedWrite<LeaseRenewResult> {
  const i = checkLeaseId(id);
  return {
    encode: (e) => {
      e.u8(RequestKind.LeaseRenew);
      e.u64(i);
    },
    decode: (d) => ({ revision: d.u64(), ttl: d.u64(), renewals: d.u64() }),
  };
}

/** A lessor's revoke of a lease it found due: refused (AXIS_LEASE_RENEWED) if a keepalive was applied since it counted `renewals`. */
export function prepareLeaseExpire(id: number, renewals: number): PreparedWrite<LeaseRevokeResult> {
  const i = checkLeaseId(id);
  const n = checkInteger(renewals, 'renewals');
  return {
    encode: (e) => {
      e.u8(RequestKind.LeaseExpire);
      e.u64(i);
      e.u64(n);
    },
    decode: (d) => ({ revision: d.u64(), deleted: d.u64() }),
  };
}

function field(req: object, name: string): Record<string, unknown> {
  const v = (req as Record<string, unknown>)[name];
  if (typeof v !== 'object' || v === null) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `write request's ${name} must be an object`);
  return v as Record<string, unknown>;
}

const KINDS = ['put', 'delete', 'deleteRange', 'txn', 'compact', 'leaseGrant', 'leaseRevoke', 'leaseCheckpoint', 'leaseRenew', 'leaseExpire', 'alarm'] as const;

function kindOf(req: WriteRequest): (typeof KINDS)[number] {
  if (typeof req !== 'object' || req === null) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'write request must be an object');
  for (const k of KINDS) if (k in req) return k;
  throw new AxisError(ErrorCode.INVALID_ARGUMENT, `write request must be one of ${KINDS.join(', ')}`);
}

/** Validates `req` exactly as the Store method of the same name does (same errors), before anything happens. */
export function prepareWrite<R extends WriteRequest>(req: R): PreparedWrite<WriteResult<R>>;
export function prepareWrite(req: WriteRequest): PreparedWrite<WriteResult> {
  const kind = kindOf(req);
  const f = kind === 'txn' ? undefined : field(req, kind);
  switch (kind) {
    case 'put':
      return preparePut(f!.key as Bytes, f!.value as Bytes, f!.options as PutOptions | undefined);
    case 'delete':
      return prepareDelete(f!.key as Bytes, undefined, f!.options as DeleteOptions | undefined, false);
    case 'deleteRange':
      return prepareDelete(f!.start as Bytes, f!.end as Bytes | null | undefined, f!.options as DeleteOptions | undefined, true);
    case 'txn':
      return prepareTxn((req as { txn: TxnRequest }).txn);
    case 'compact':
      return prepareCompact(f!.revision as number);
    case 'leaseGrant':
      return prepareLeaseGrant(f!.id as number, f!.ttl as number);
    case 'leaseRevoke':
      return prepareLeaseRevoke(f!.id as number);
    case 'leaseCheckpoint':
      return prepareLeaseCheckpoint(f!.leases as LeaseCheckpoint[]);
    case 'leaseRenew':
      return prepareLeaseRenew(f!.id as number);
    case 'leaseExpire':
      return prepareLeaseExpire(f!.id as number, f!.renewals as number);
    case 'alarm':
      return prepareAlarm(f!.activate === true, f!.type as AlarmType, f!.member as number);
  }
}

/**
 * A write request's bytes (u8 kind | body, as native/apply.h reads them): what a cluster member
 * puts in a Raft entry. Validates as the Store does (same AxisError codes) and throws before
 * anything happens.
 */
export function encodeWrite(req: WriteRequest): Buffer {
  const w = prepareWrite(req);
  const e = new Encoder(256);
  w.encode(e);
  return Buffer.from(e.take());
}

/**
 * Decodes the result of `req` (the bytes an applied entry gave: `u8 0 | ...` or the error form),
 * as the Store method would have resolved; throws the AxisError of an error result.
 */
export function decodeWriteResult<R extends WriteRequest>(req: R, result: Uint8Array): WriteResult<R>;
export function decodeWriteResult(req: WriteRequest, result: Uint8Array): WriteResult {
  const d = new Decoder(Buffer.isBuffer(result) ? result : Buffer.from(result.buffer, result.byteOffset, result.byteLength));
  d.status();
  const kind = kindOf(req);
  switch (kind) {
    case 'put':
      return decodePut(d);
    case 'delete':
    case 'deleteRange':
      return decodeDeleteOp(d);
    case 'txn':
      return txnDecoder((req as { txn: TxnRequest }).txn)(d);
    case 'compact':
    case 'leaseCheckpoint':
    case 'alarm':
      return decodeCompact(d);
    case 'leaseGrant':
    case 'leaseRevoke':
    case 'leaseRenew':
    case 'leaseExpire':
      return prepareWrite(req).decode(d);
  }
}

/** What an applied lease write means for a lessor's deadlines. */
export type LeaseEffect =
  | { started: { id: number; ttl: number; renewals: number } }
  | { revoked: { id: number } }
  | { checkpointed: LeaseCheckpoint[] };

/**
 * The lease effect of an applied write (its encoded request and its result bytes): a grant or a
 * renew starts the lease's full TTL, a revoke or expiry ends it, a checkpoint restates remaining
 * TTLs; undefined for anything else or a failure.
 */
export function leaseEffect(body: Uint8Array, result: Uint8Array): LeaseEffect | undefined {
  const kind = body[0];
  if (kind === undefined || kind < RequestKind.LeaseGrant || kind > RequestKind.LeaseExpire) return undefined;
  const r = new Decoder(Buffer.from(result.buffer, result.byteOffset, result.byteLength));
  if (r.u8() !== 0) return undefined;
  const b = new Decoder(Buffer.from(body.buffer, body.byteOffset + 1, body.byteLength - 1));
  if (kind === RequestKind.LeaseCheckpoint) {
    const n = b.u32();
    const list: LeaseCheckpoint[] = [];
    for (let i = 0; i < n; i++) list.push({ id: b.u64(), remainingMs: b.u64() });
    return { checkpointed: list };
  }
  const id = b.u64();
  if (kind === RequestKind.LeaseRevoke || kind === RequestKind.LeaseExpire) return { revoked: { id } };
  if (kind === RequestKind.LeaseGrant) return { started: { id, ttl: b.u64(), renewals: 0 } };
  r.u64(); // revision
  return { started: { id, ttl: r.u64(), renewals: r.u64() } };
}

/** The revision an applied write compacted the store to; undefined for anything else or a failure. */
export function compactionOf(body: Uint8Array, result: Uint8Array): number | undefined {
  if (body[0] !== RequestKind.Compact || result[0] !== 0) return undefined;
  return new Decoder(Buffer.from(body.buffer, body.byteOffset + 1, body.byteLength - 1)).u64();
}

/** What an applied alarm write did; undefined for anything else or a failure. */
export function alarmOf(body: Uint8Array, result: Uint8Array): { activate: boolean; type: AlarmType; member: number } | undefined {
  if (body[0] !== RequestKind.Alarm || result[0] !== 0) return undefined;
  const d = new Decoder(Buffer.from(body.buffer, body.byteOffset + 1, body.byteLength - 1));
  const activate = d.u8() === 1;
  const type: AlarmType = d.u8() === ALARM_CODES.NOSPACE ? 'NOSPACE' : 'CORRUPT';
  return { activate, type, member: d.u64() };
}
