/**
 * The packed formats that cross to the native addon (see native/apply.h and native/mvcc.h):
 * requests are encoded once per batch, results decoded once per batch.
 */
import { AxisError, type ErrorCode } from '../errors/index.js';
import type {
  ChangesResult, Compare, DeleteResult, Event, KeyValue, PutResult, RangeOptions, RangeResult,
  RequestOp, ResponseOp, TxnRequest, TxnResult,
} from './types.js';
import { toBuffer } from './validate.js';

const TWO32 = 4294967296;

export const enum RangeKind { One = 0, Bounded = 1, From = 2 }
const enum OpType { Put = 1, Delete = 2, Range = 3, Txn = 4 }
export const enum RequestKind {
  Txn = 1, Compact = 2, RaftAppend = 3, RaftCompact = 4, Apply = 5,
  LeaseGrant = 6, LeaseRevoke = 7, LeaseCheckpoint = 8, LeaseRenew = 9, LeaseExpire = 10, Alarm = 11,
}

const COMPARE_TARGET = { value: 0, version: 1, createRevision: 2, modRevision: 3, lease: 4 } as const;
const COMPARE_RESULT = { '=': 0, '!=': 1, '<': 2, '>': 3 } as const;

export class Encoder {
  buf: Buffer;
  pos = 0;

  constructor(size = 4096) {
    this.buf = Buffer.allocUnsafeSlow(size);
  }

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = Buffer.allocUnsafeSlow(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.room(1);
    this.buf[this.pos++] = v;
  }

  u32(v: number): void {
    this.room(4);
    this.buf.writeUInt32LE(v, this.pos);
    this.pos += 4;
  }

  u64(v: number): void {
    this.room(8);
    this.buf.writeUInt32LE(v % TWO32, this.pos);
    this.buf.writeUInt32LE(Math.floor(v / TWO32), this.pos + 4);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.room(4 + b.length);
    this.buf.writeUInt32LE(b.length, this.pos);
    this.buf.set(b, this.pos + 4);
    this.pos += 4 + b.length;
  }

  /** Starts a length-prefixed section; `end(at)` fills the length in. */
  begin(): number {
    this.u32(0);
    return this.pos;
  }

  end(at: number): void {
    this.buf.writeUInt32LE(this.pos - at, at - 4);
  }

  /** The bytes so far (valid until the next write), and a reset. */
  take(): Buffer {
    const out = this.buf.subarray(0, this.pos);
    this.pos = 0;
    return out;
  }
}

export function encodeRange(e: Encoder, start: Buffer, end: Buffer | null | undefined): void {
  // undefined: the one key; null: every key from start on.
  if (end === undefined) {
    e.u8(RangeKind.One);
    e.bytes(start);
  } else if (end === null) {
    e.u8(RangeKind.From);
    e.bytes(start);
  } else {
    e.u8(RangeKind.Bounded);
    e.bytes(start);
    e.bytes(end);
  }
}

/** Whether the result order differs from key order (then limit applies after sorting, in JS). */
export function sortsInJs(o: RangeOptions | undefined): boolean {
  const s = o?.sort;
  if (s === undefined) return false;
  return (s.target ?? 'key') !== 'key' || (s.order ?? 'ascend') !== 'ascend';
}

export function encodeRangeOptions(e: Encoder, o: RangeOptions | undefined): void {
  e.u64(o?.revision ?? 0);
  e.u64(sortsInJs(o) ? 0 : (o?.limit ?? 0));
  e.u64(o?.minModRevision ?? 0);
  e.u64(o?.maxModRevision ?? 0);
  e.u64(o?.minCreateRevision ?? 0);
  e.u64(o?.maxCreateRevision ?? 0);
  // Sorting by value needs the values; they are blanked after the sort (as etcd does).
  const keysOnly = o?.keysOnly && !(sortsInJs(o) && o.sort?.target === 'value');
  e.u8((keysOnly ? 1 : 0) | (o?.countOnly ? 2 : 0));
}

function encodeCompare(e: Encoder, c: Compare): void {
  e.u8(COMPARE_TARGET[c.target]);
  e.u8(COMPARE_RESULT[c.result]);
  encodeRange(e, toBuffer(c.key, 'key'), c.rangeEnd === undefined ? undefined : toBuffer(c.rangeEnd, 'range end'));
  if (c.target === 'value') e.bytes(toBuffer(c.value as Uint8Array | string, 'value'));
  else e.u64(c.value as number);
}

function optEnd(end: Uint8Array | string | null | undefined): Buffer | null | undefined {
  return end === undefined || end === null ? end : toBuffer(end, 'range end');
}

export function encodePut(e: Encoder, key: Buffer, value: Buffer, lease: number, flags: number): void {
  e.u8(OpType.Put);
  e.bytes(key);
  e.bytes(value);
  e.u64(lease);
  e.u8(flags);
}

export function putFlags(o: { prevKv?: boolean; ignoreValue?: boolean; ignoreLease?: boolean } | undefined): number {
  return (o?.prevKv ? 1 : 0) | (o?.ignoreValue ? 2 : 0) | (o?.ignoreLease ? 4 : 0);
}

export function encodeDelete(e: Encoder, start: Buffer, end: Buffer | null | undefined, prevKv: boolean): void {
  e.u8(OpType.Delete);
  encodeRange(e, start, end);
  e.u8(prevKv ? 1 : 0);
}

function encodeOp(e: Encoder, op: RequestOp): void {
  if ('put' in op) {
    const p = op.put;
    encodePut(e, toBuffer(p.key, 'key'), toBuffer(p.value, 'value'), p.lease ?? 0, putFlags(p));
  } else if ('deleteRange' in op) {
    const d = op.deleteRange;
    encodeDelete(e, toBuffer(d.key, 'key'), optEnd(d.rangeEnd), d.prevKv ?? false);
  } else if ('range' in op) {
    const r = op.range;
    e.u8(OpType.Range);
    encodeRange(e, toBuffer(r.key, 'key'), optEnd(r.rangeEnd));
    encodeRangeOptions(e, r);
  } else {
    e.u8(OpType.Txn);
    encodeTxnBody(e, op.txn);
  }
}

export function encodeTxnBody(e: Encoder, t: TxnRequest): void {
  e.u32(t.compare?.length ?? 0);
  for (const c of t.compare ?? []) encodeCompare(e, c);
  for (const branch of [t.success ?? [], t.failure ?? []]) {
    e.u32(branch.length);
    for (const op of branch) encodeOp(e, op);
  }
}

export class Decoder {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  u8(): number {
    return this.buf[this.pos++]!;
  }
  u32(): number {
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }
  u64(): number {
    const v = this.buf.readUInt32LE(this.pos) + this.buf.readUInt32LE(this.pos + 4) * TWO32;
    this.pos += 8;
    return v;
  }
  /** A view into the result buffer: results are fresh per call, so views are safe to hand out. */
  bytes(n: number): Buffer {
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  string(): string {
    return this.bytes(this.u32()).toString('utf8');
  }

  kv(): KeyValue {
    const createRevision = this.u64();
    const modRevision = this.u64();
    const version = this.u64();
    const lease = this.u64();
    const keyLen = this.u32();
    const valueLen = this.u32();
    const key = this.bytes(keyLen);
    const value = this.bytes(valueLen);
    return { key, value, createRevision, modRevision, version, lease };
  }

  kvs(n: number): KeyValue[] {
    const out = new Array<KeyValue>(n);
    for (let i = 0; i < n; i++) out[i] = this.kv();
    return out;
  }

  events(n: number): Event[] {
    const out = new Array<Event>(n);
    for (let i = 0; i < n; i++) {
      const type = this.u8() === 1 ? 'delete' : 'put';
      out[i] = { type, kv: this.kv() };
    }
    return out;
  }

  /** A request's status byte: throws its error, if it failed. */
  status(): void {
    if (this.u8() === 0) return;
    const code = this.string() as ErrorCode;
    throw new AxisError(code, this.string());
  }
}

/**
 * Reads the kv a native get wrote into the shared out buffer (header as u32 words, then key and
 * value), copying it out. The hot path of every point read: no method calls it can avoid.
 */
export class SharedKv {
  private readonly words: Uint32Array;
  private readonly bytes: Uint8Array;

  constructor(out: Buffer) {
    this.words = new Uint32Array(out.buffer, out.byteOffset, 10);
    this.bytes = new Uint8Array(out.buffer, out.byteOffset, out.length);
  }

  read(): KeyValue {
    const w = this.words;
    const keyLen = w[8]!;
    const valueLen = w[9]!;
    const key = Buffer.allocUnsafe(keyLen);
    for (let i = 0; i < keyLen; i++) key[i] = this.bytes[40 + i]!; // short: a loop beats a subarray
    const value = Buffer.allocUnsafe(valueLen);
    value.set(this.bytes.subarray(40 + keyLen, 40 + keyLen + valueLen));
    return {
      key,
      value,
      createRevision: w[0]! + w[1]! * TWO32,
      modRevision: w[2]! + w[3]! * TWO32,
      version: w[4]! + w[5]! * TWO32,
      lease: w[6]! + w[7]! * TWO32,
    };
  }
}

const SORT_KEY = {
  key: null,
  version: (kv: KeyValue) => kv.version,
  createRevision: (kv: KeyValue) => kv.createRevision,
  modRevision: (kv: KeyValue) => kv.modRevision,
  value: null,
} as const;

/** etcd's result ordering for a range: sort (stable: ties stay in key order), then limit. */
export function sortAndLimit(kvs: KeyValue[], o: RangeOptions | undefined): { kvs: KeyValue[]; more: boolean } {
  if (!sortsInJs(o)) return { kvs, more: false };
  const target = o!.sort!.target ?? 'key';
  const sign = (o!.sort!.order ?? 'ascend') === 'descend' ? -1 : 1;
  const num = SORT_KEY[target];
  const sorted = [...kvs].sort((a, b) => {
    if (num) return sign * (num(a) - num(b));
    const field = target === 'key' ? 'key' : 'value';
    return sign * Buffer.compare(a[field], b[field]);
  });
  const limit = o?.limit ?? 0;
  if (limit > 0 && sorted.length > limit) return { kvs: sorted.slice(0, limit), more: true };
  return { kvs: sorted, more: false };
}

export function decodeRange(d: Decoder, o: RangeOptions | undefined, revision: number): RangeResult {
  const count = d.u64();
  const more = d.u8() === 1;
  const kvs = d.kvs(d.u32());
  if (o?.countOnly) return { kvs: [], more: false, count, revision };
  if (!sortsInJs(o)) return { kvs, more, count, revision };
  const s = sortAndLimit(kvs, o);
  if (o?.keysOnly) for (const kv of s.kvs) kv.value = Buffer.alloc(0);
  return { kvs: s.kvs, more: s.more, count, revision };
}

export function decodeChanges(d: Decoder, revision: number): ChangesResult {
  const next = d.u64();
  const more = d.u8() === 1;
  const events = d.events(d.u32());
  return { events, more, next, revision };
}

function decodeResponses(d: Decoder, ops: RequestOp[], revision: number): ResponseOp[] {
  const n = d.u32();
  const out: ResponseOp[] = [];
  for (let i = 0; i < n; i++) {
    const type = d.u8();
    const op = ops[i]!;
    if (type === OpType.Put) {
      const r: PutResult = { revision };
      if (d.u8() === 1) r.prevKv = d.kv();
      out.push({ put: r });
    } else if (type === OpType.Delete) {
      out.push({ deleteRange: decodeDelete(d, revision) });
    } else if (type === OpType.Range) {
      out.push({ range: decodeRange(d, 'range' in op ? op.range : undefined, revision) });
    } else {
      out.push({ txn: decodeTxnResult(d, 'txn' in op ? op.txn : {}, revision) });
    }
  }
  return out;
}

export function decodeDelete(d: Decoder, revision: number): DeleteResult {
  const deleted = d.u64();
  const prevKvs = d.kvs(d.u32());
  return { revision, deleted, prevKvs };
}

export function decodeTxnResult(d: Decoder, t: TxnRequest, revision: number): TxnResult {
  const succeeded = d.u8() === 1;
  const responses = decodeResponses(d, (succeeded ? t.success : t.failure) ?? [], revision);
  return { succeeded, revision, responses };
}
