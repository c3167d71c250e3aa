/** Argument checks shared by every KV implementation: bad input fails here, before anything changes. */
import { AxisError, ErrorCode } from '../errors/index.js';
import { Limits, type Bytes, type Compare, type LeaseCheckpoint, type RequestOp, type TxnRequest, type RangeOptions } from './types.js';

export function toBuffer(b: Bytes, what: string): Buffer {
  if (typeof b === 'string') return Buffer.from(b, 'utf8');
  if (b instanceof Uint8Array) return Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  throw new AxisError(ErrorCode.INVALID_ARGUMENT, `${what} must be a string or a Uint8Array`);
}

export function checkKey(key: Bytes, what = 'key'): Buffer {
  const k = toBuffer(key, what);
  if (k.length === 0) throw new AxisError(ErrorCode.EMPTY_KEY, `${what} is empty`);
  if (k.length > Limits.maxKeyBytes) {
    throw new AxisError(ErrorCode.KEY_TOO_LARGE, `${what} is ${k.length} bytes; the limit is ${Limits.maxKeyBytes}`);
  }
  return k;
}

export function checkValue(value: Bytes): Buffer {
  const v = toBuffer(value, 'value');
  if (v.length > Limits.maxValueBytes) {
    throw new AxisError(ErrorCode.VALUE_TOO_LARGE, `value is ${v.length} bytes; the limit is ${Limits.maxValueBytes}`);
  }
  return v;
}

/** A range's end: null means "every key from start on". */
export function checkRange(start: Bytes, end: Bytes | null | undefined): [Buffer, Buffer | null] {
  const s = checkKey(start, 'range start');
  if (end === undefined || end === null) return [s, null];
  const e = toBuffer(end, 'range end');
  if (e.length > Limits.maxKeyBytes) {
    throw new AxisError(ErrorCode.KEY_TOO_LARGE, `range end is ${e.length} bytes; the limit is ${Limits.maxKeyBytes}`);
  }
  if (Buffer.compare(s, e) > 0) throw new AxisError(ErrorCode.INVALID_RANGE, 'range start is after range end');
  return [s, e];
}

/** The smallest key after every key that starts with `prefix`; null when there is none (all 0xff, or empty). */
export function prefixEnd(prefix: Bytes): Buffer | null {
  const p = Buffer.from(toBuffer(prefix, 'prefix'));
  for (let i = p.length - 1; i >= 0; i--) {
    if (p[i]! < 0xff) {
      p[i]!++;
      return p.subarray(0, i + 1);
    }
  }
  return null;
}

export function checkCount(n: unknown, what: string): number {
  if (n === undefined) return 0;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    throw new AxisError(ErrorCode.INVALID_ARGUMENT, `${what} must be a non-negative integer`);
  }
  return n;
}

/** A required integer: a safe integer, at least `min`. */
export function checkInteger(v: unknown, what: string, min = 0): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < min) {
    const kind = min === 0 ? 'a non-negative safe integer' : `a safe integer ≥ ${min}`;
    throw new AxisError(ErrorCode.INVALID_ARGUMENT, `${what} must be ${kind}, got ${String(v)}`);
  }
  return v;
}

export function checkBytes(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `${what} must be a Uint8Array`);
  return v;
}

export function checkRangeOptions(o: RangeOptions | undefined): void {
  if (o === undefined) return;
  if (typeof o !== 'object' || o === null) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'options must be an object');
  checkCount(o.revision, 'revision');
  checkCount(o.limit, 'limit');
  checkCount(o.minModRevision, 'minModRevision');
  checkCount(o.maxModRevision, 'maxModRevision');
  checkCount(o.minCreateRevision, 'minCreateRevision');
  checkCount(o.maxCreateRevision, 'maxCreateRevision');
  checkCount(o.maxBytes, 'maxBytes');
  if (o.sort !== undefined) {
    const { target = 'key', order = 'ascend' } = o.sort;
    if (!['key', 'version', 'createRevision', 'modRevision', 'value'].includes(target)) {
      throw new AxisError(ErrorCode.INVALID_ARGUMENT, `unknown sort target ${String(target)}`);
    }
    if (order !== 'ascend' && order !== 'descend') {
      throw new AxisError(ErrorCode.INVALID_ARGUMENT, `unknown sort order ${String(order)}`);
    }
  }
}

const COMPARE_TARGETS = new Set(['value', 'version', 'createRevision', 'modRevision', 'lease']);
const COMPARE_RESULTS = new Set(['=', '!=', '<', '>']);

function checkCompare(c: Compare): void {
  if (typeof c !== 'object' || c === null) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'compare must be an object');
  if (c.rangeEnd !== undefined) checkRange(c.key, c.rangeEnd);
  else checkKey(c.key);
  if (!COMPARE_TARGETS.has(c.target)) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `unknown compare target ${String(c.target)}`);
  if (!COMPARE_RESULTS.has(c.result)) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `unknown compare result ${String(c.result)}`);
  if (c.target === 'value') checkValue(c.value as Bytes);
  else checkCount(c.value, `compare value for ${c.target}`);
}

type Interval = [Buffer, Buffer | null | undefined];

function inRange(k: Buffer, [s, e]: Interval): boolean {
  if (e === undefined) return k.equals(s);
  return Buffer.compare(k, s) >= 0 && (e === null || Buffer.compare(k, e) < 0);
}

function checkOp(op: RequestOp): void {
  if (typeof op !== 'object' || op === null) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'txn op must be an object');
  if ('put' in op) {
    const p = op.put;
    checkKey(p.key);
    const v = checkValue(p.value);
    checkCount(p.lease, 'lease');
    if (p.ignoreValue && v.length > 0) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'ignoreValue is set but a value is given');
    if (p.ignoreLease && p.lease) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'ignoreLease is set but a lease is given');
  } else if ('deleteRange' in op) {
    if (op.deleteRange.rangeEnd === undefined) checkKey(op.deleteRange.key);
    else checkRange(op.deleteRange.key, op.deleteRange.rangeEnd);
  } else if ('range' in op) {
    if (op.range.rangeEnd === undefined) checkKey(op.range.key);
    else checkRange(op.range.key, op.range.rangeEnd);
    checkRangeOptions(op.range);
  } else if ('txn' in op) {
    checkTxnFields(op.txn);
  } else {
    throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'txn op must be one of put, deleteRange, range, txn');
  }
}

function checkTxnFields(t: TxnRequest): void {
  if (typeof t !== 'object' || t === null) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'txn must be an object');
  for (const [name, list] of [['compare', t.compare], ['success', t.success], ['failure', t.failure]] as const) {
    if (list !== undefined && !Array.isArray(list)) throw new AxisError(ErrorCode.INVALID_ARGUMENT, `txn ${name} must be an array`);
  }
  for (const c of t.compare ?? []) checkCompare(c);
  for (const op of t.success ?? []) checkOp(op);
  for (const op of t.failure ?? []) checkOp(op);
}

function duplicate(k: Buffer): AxisError {
  return new AxisError(ErrorCode.DUPLICATE_KEY, `key ${JSON.stringify(k.toString())} is written more than once in one txn`);
}

/**
 * etcd's checkIntervals, made whole: among the ops that can run together, no key is put twice or
 * both put and deleted (a key changes at most once per revision). Unlike etcd, a put is checked
 * against every delete at its level, also those in later sibling txns.
 */
function checkIntervals(ops: RequestOp[]): { puts: Map<string, Buffer>; dels: Interval[] } {
  const direct: Interval[] = [];
  for (const op of ops) {
    if ('deleteRange' in op) {
      const d = op.deleteRange;
      direct.push([toBuffer(d.key, 'key'), d.rangeEnd === undefined ? undefined : d.rangeEnd === null ? null : toBuffer(d.rangeEnd, 'range end')]);
    }
  }
  const nested = ops.flatMap((op) =>
    'txn' in op ? [{ then: checkIntervals(op.txn.success ?? []), otherwise: checkIntervals(op.txn.failure ?? []) }] : [],
  );
  const puts = new Map<string, Buffer>();
  const add = (k: Buffer, dels: Interval[], allowed?: Map<string, Buffer>): void => {
    const h = k.toString('latin1');
    if (puts.has(h) && !allowed?.has(h)) throw duplicate(k);
    if (dels.some((d) => inRange(k, d))) throw duplicate(k);
    puts.set(h, k);
  };
  nested.forEach((n, i) => {
    // A nested txn's puts meet this level's deletes and its siblings' (its own were checked inside).
    const dels = [...direct, ...nested.flatMap((m, j) => (j === i ? [] : [...m.then.dels, ...m.otherwise.dels]))];
    for (const k of n.then.puts.values()) add(k, dels);
    // then and else never both run: a key in both is fine.
    for (const k of n.otherwise.puts.values()) add(k, dels, n.then.puts);
  });
  const dels = [...direct, ...nested.flatMap((n) => [...n.then.dels, ...n.otherwise.dels])];
  for (const op of ops) if ('put' in op) add(toBuffer(op.put.key, 'key'), dels);
  return { puts, dels };
}

function checkOpCounts(t: TxnRequest): void {
  for (const [name, list] of [['compares', t.compare], ['success ops', t.success], ['failure ops', t.failure]] as const) {
    if (Array.isArray(list) && list.length > Limits.maxTxnOps) {
      throw new AxisError(ErrorCode.TOO_MANY_OPS, `txn has ${list.length} ${name}; the limit is ${Limits.maxTxnOps}`);
    }
  }
  for (const op of [...(Array.isArray(t.success) ? t.success : []), ...(Array.isArray(t.failure) ? t.failure : [])]) {
    if (typeof op === 'object' && op !== null && 'txn' in op && typeof op.txn === 'object' && op.txn !== null) checkOpCounts(op.txn);
  }
}

/** Validates a whole txn request (limits, ops, duplicate writes); throws before anything changes. */
export function checkTxn(t: TxnRequest): void {
  if (typeof t !== 'object' || t === null) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'txn must be an object');
  checkOpCounts(t);
  checkTxnFields(t);
  checkIntervals(t.success ?? []);
  checkIntervals(t.failure ?? []);
}

/** A lease id: a positive safe integer. */
export function checkLeaseId(id: unknown, what = 'lease id'): number {
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 1) {
    throw new AxisError(ErrorCode.INVALID_ARGUMENT, `${what} must be a positive safe integer, got ${String(id)}`);
  }
  return id;
}

/** A lease TTL in seconds: 1 to etcd's maximum. */
export function checkLeaseTtl(ttl: unknown): number {
  if (typeof ttl !== 'number' || !Number.isSafeInteger(ttl) || ttl < 1 || ttl > Limits.maxLeaseTtl) {
    throw new AxisError(ErrorCode.INVALID_ARGUMENT, `lease TTL must be an integer from 1 to ${Limits.maxLeaseTtl} seconds, got ${String(ttl)}`);
  }
  return ttl;
}

export function checkLeaseCheckpoints(list: unknown): LeaseCheckpoint[] {
  if (!Array.isArray(list)) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'lease checkpoints must be an array');
  return list.map((c: unknown) => {
    if (typeof c !== 'object' || c === null) throw new AxisError(ErrorCode.INVALID_ARGUMENT, 'a lease checkpoint must be an object');
    const { id, remainingMs } = c as Record<string, unknown>;
    return { id: checkLeaseId(id), remainingMs: checkInteger(remainingMs, 'remainingMs') };
  });
}
