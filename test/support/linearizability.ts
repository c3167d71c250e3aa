/**
 * A linearizability checker for histories of single-key register operations (put / get / delete /
 * compare-and-set), in the style of Porcupine (Athalye), which implements Lowe's improvements
 * ("Testing for linearizability", 2017) to the Wing & Gong search.
 *
 * The history is partitioned by key (linearizability is compositional, and every operation here
 * touches one key), and each partition is checked on its own against a register model whose state
 * is "absent" or a string (each key starts absent).
 *
 * The search, per partition:
 * - Every operation becomes a call entry and a return entry; all entries are sorted by time (a
 *   call sorts before a return at the same instant, so touching intervals count as concurrent)
 *   and threaded into a doubly linked list.
 * - Depth-first search from the head of the list: a call entry whose operation the model accepts
 *   in the current state is "linearized": pushed on a stack together with the state before it,
 *   then lifted out of the list (its call and return entries are unlinked, in O(1)), and the scan
 *   restarts at the head. Reaching a return entry means that operation, which has not been
 *   linearized, must precede everything after it, but no operation still in the list can be placed
 *   before it: backtrack (pop, restore the state, relink the entries, continue after that call).
 * - A cache of (set of linearized operations, model state) pairs prunes the search: reaching the
 *   same pair a second time can only repeat work already done. The set is a bitset, hashed
 *   incrementally (Zobrist: the XOR of one random word per operation), with the state mixed in;
 *   values are interned to small integers so a state is one number.
 *
 * Operations whose outcome is unknown (output `{ unknown: true }` — a timeout, a crash — which also
 * means a return time of Infinity) are handled the standard way: they may take effect at any point
 * after their call, or not at all. Their return entry sorts after every finite one; the search
 * succeeds as soon as every operation with a known outcome is linearized, so an unknown-outcome
 * operation that never got linearized simply did not happen. Their output matches whatever the
 * model says. An unknown-outcome get has no effect, so it is dropped up front. An operation whose
 * output is `{ unknown: true }` but whose return time is finite is treated as pending too (the
 * client gave up at that time, but the request may still land later).
 *
 * Bounded: one deadline per `checkHistory` call (default 10 s); when it passes the answer is
 * `{ ok: 'unknown' }` rather than a search that runs forever.
 *
 * On failure the report is shrunk to something readable, by steps that keep it sound:
 * - the shortest time prefix that is already not linearizable (binary search: truncating at time T
 *   keeps the operations called by T, with those still running at T turned into unknown-outcome
 *   ones; if a truncation fails so does every later one and the full history);
 * - then, one operation at a time, relax it if the history still fails: a pure observation (a get,
 *   a delete that deleted nothing, a cas that failed) is dropped, a write is turned into an
 *   unknown-outcome one. Each step only removes constraints, so the original fails too.
 * The witness is the operations that could not be relaxed, as they were recorded; the relaxed ones
 * cannot help (even allowed to take effect at any time, or not at all), and dropping them from an
 * unlinearizable history keeps it unlinearizable. The reason lists the witness, the longest
 * linearizable prefix of it that the search found, and for each operation that could come next,
 * why it cannot.
 */

export type KvInput =
  | { op: 'put'; key: string; value: string }
  | { op: 'get'; key: string }
  | { op: 'delete'; key: string }
  | { op: 'cas'; key: string; expect: string | null; value: string };

export type KvOutput = { ok: true } | { value: string | null } | { deleted: boolean } | { succeeded: boolean } | { unknown: true };

export interface Operation {
  clientId: number;
  /** When the client sent the request. */
  call: number;
  /** When the client saw the answer; Infinity when it never did (the outcome is unknown). */
  return: number;
  input: KvInput;
  output: KvOutput;
}

export type CheckResult =
  | { ok: true }
  | { ok: false; key: string; witness: Operation[]; reason: string }
  | { ok: 'unknown'; key: string; reason: 'timeout' };

export interface CheckOptions {
  /** The whole check's time limit; past it the answer is `{ ok: 'unknown' }`. Default 10 000 ms. */
  timeoutMs?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;
/** Shrinking a failure gets at most this long (and never past the deadline). */
const MINIMIZE_BUDGET_MS = 2_000;
/** Each search while shrinking a failure gets at most this many steps (a check that needs more is not relied on). */
const MINIMIZE_STEPS = 50_000;
/** The deadline is polled once every this many search steps (a power of two, minus one). */
const POLL_MASK = 1023;
/** Witness listings longer than this are cut in the reason text. */
const MAX_LISTED = 80;

// ---------------------------------------------------------------------------------------------
// Public entry points
// ---------------------------------------------------------------------------------------------

/** Checks `ops` for linearizability, key by key; see the file comment. Throws on malformed input. */
export function checkHistory(ops: Operation[], opts: CheckOptions = {}): CheckResult {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs >= 0)) throw new RangeError(`timeoutMs must be a non-negative number, got ${String(timeoutMs)}`);
  const deadline = performance.now() + timeoutMs;
  ops.forEach(validate);

  const byKey = new Map<string, Operation[]>();
  for (const op of ops) {
    let list = byKey.get(op.input.key);
    if (list === undefined) byKey.set(op.input.key, (list = []));
    list.push(op);
  }
  // Smaller partitions first: under a deadline, the most keys get a definite answer.
  const keys = [...byKey.keys()].sort((a, b) => byKey.get(a)!.length - byKey.get(b)!.length || (a < b ? -1 : a > b ? 1 : 0));

  let timedOut: string | undefined;
  for (const key of keys) {
    const partition = byKey.get(key)!;
    const res = checkPartition(key, partition, deadline);
    if (res === 'ok') continue;
    if (res === 'timeout') {
      timedOut ??= key;
      continue; // a later partition might still fail definitely (if time remains)
    }
    return res;
  }
  return timedOut === undefined ? { ok: true } : { ok: 'unknown', key: timedOut, reason: 'timeout' };
}

/** Renders operations as text, one line per operation, in call order: for failure messages. */
export function describeHistory(ops: readonly Operation[]): string {
  const sorted = [...ops].sort((a, b) => a.call - b.call || a.return - b.return || a.clientId - b.clientId);
  const width = Math.max(1, ...sorted.map((o) => String(o.clientId).length));
  return sorted.map((o) => `client ${String(o.clientId).padStart(width)}  ${fmtInterval(o)}  ${describeOp(o)}`).join('\n');
}

// ---------------------------------------------------------------------------------------------
// Validation and rendering
// ---------------------------------------------------------------------------------------------

function validate(op: Operation, index: number): void {
  const bad = (why: string): never => {
    throw new TypeError(`checkHistory: operation #${index} ${why}: ${safeJson(op)}`);
  };
  if (typeof op !== 'object' || op === null) bad('is not an object');
  if (typeof op.call !== 'number' || !Number.isFinite(op.call)) bad('has no finite call time');
  if (typeof op.return !== 'number' || Number.isNaN(op.return) || op.return < op.call) bad('has a return time before its call time (or none)');
  const input = op.input as Partial<Record<string, unknown>> | undefined;
  if (typeof input !== 'object' || input === null || typeof input.key !== 'string') bad('has no input key');
  const out = op.output as Partial<Record<string, unknown>> | undefined;
  if (typeof out !== 'object' || out === null) bad('has no output');
  if (out!.unknown === true) return;
  if (op.return === Infinity) bad('never returned, so its output must be { unknown: true }');
  switch (input!.op) {
    case 'put':
      if (typeof input!.value !== 'string') bad('is a put without a string value');
      if (out!.ok !== true) bad('is a put whose output is not { ok: true } or { unknown: true }');
      return;
    case 'get':
      if (!('value' in out!) || (typeof out!.value !== 'string' && out!.value !== null)) bad('is a get whose output is not { value: string | null }');
      return;
    case 'delete':
      if (typeof out!.deleted !== 'boolean') bad('is a delete whose output is not { deleted: boolean }');
      return;
    case 'cas':
      if (typeof input!.value !== 'string' || (typeof input!.expect !== 'string' && input!.expect !== null)) bad('is a cas without a string value and a string | null expect');
      if (typeof out!.succeeded !== 'boolean') bad('is a cas whose output is not { succeeded: boolean }');
      return;
    default:
      bad(`has an unknown input op ${safeJson(input!.op)}`);
  }
}

function safeJson(x: unknown): string {
  try {
    return JSON.stringify(x, (_k, v: unknown) => (v === Infinity ? 'Infinity' : v)) ?? String(x);
  } catch {
    return String(x);
  }
}

function fmtTime(t: number): string {
  if (t === Infinity) return '∞';
  return Number.isInteger(t) ? String(t) : t.toFixed(3).replace(/\.?0+$/, '');
}

function fmtInterval(o: Operation): string {
  return o.return === Infinity ? `[${fmtTime(o.call)}, ∞)` : `[${fmtTime(o.call)}, ${fmtTime(o.return)}]`;
}

function fmtValue(v: string | null): string {
  return v === null ? 'absent' : JSON.stringify(v);
}

function isUnknown(out: KvOutput): out is { unknown: true } {
  return (out as { unknown?: unknown }).unknown === true;
}

function describeOp(o: Operation): string {
  const i = o.input;
  const unknown = isUnknown(o.output);
  const out = o.output as { value?: string | null; deleted?: boolean; succeeded?: boolean };
  const k = JSON.stringify(i.key);
  switch (i.op) {
    case 'put':
      return `put ${k} = ${JSON.stringify(i.value)} → ${unknown ? '? (unknown outcome)' : 'ok'}`;
    case 'get':
      return `get ${k} → ${unknown ? '? (unknown outcome)' : fmtValue(out.value ?? null)}`;
    case 'delete':
      return `delete ${k} → ${unknown ? '? (unknown outcome)' : `deleted: ${String(out.deleted)}`}`;
    case 'cas':
      return `cas ${k} if ${fmtValue(i.expect)} then ${JSON.stringify(i.value)} → ${unknown ? '? (unknown outcome)' : `succeeded: ${String(out.succeeded)}`}`;
  }
}

// ---------------------------------------------------------------------------------------------
// The model, over interned values: state 0 is "absent", value ids start at 1.
// ---------------------------------------------------------------------------------------------

const PUT = 0;
const GET = 1;
const DELETE = 2;
const CAS = 3;
/** A `Prepared.out` entry for an unknown outcome. */
const OUT_UNKNOWN = -1;
/** `step` returns this when the model rejects the operation. */
const REJECT = -1;

/** A partition in the form the search works on; index i is the i-th operation of `ops`. */
interface Prepared {
  ops: Operation[];
  /** PUT / GET / DELETE / CAS. */
  kind: Uint8Array;
  /** put / cas: the value id written. */
  arg: Int32Array;
  /** cas: the expected value id (0 = absent). */
  expect: Int32Array;
  /** get: the value id read (0 = absent); delete: 1 if deleted; cas: 1 if it succeeded; put: 0; or OUT_UNKNOWN. */
  out: Int32Array;
  call: Float64Array;
  /** Infinity for unknown outcomes. */
  ret: Float64Array;
  /** Interned values: id → string (index 0 unused: absent). */
  values: (string | null)[];
}

function step(p: Prepared, i: number, state: number): number {
  const out = p.out[i]!;
  switch (p.kind[i]!) {
    case PUT:
      return p.arg[i]!;
    case GET:
      return out === OUT_UNKNOWN || out === state ? state : REJECT;
    case DELETE:
      return out === OUT_UNKNOWN || out === (state !== 0 ? 1 : 0) ? 0 : REJECT;
    default: {
      const hit = state === p.expect[i]!;
      if (out !== OUT_UNKNOWN && out !== (hit ? 1 : 0)) return REJECT;
      return hit ? p.arg[i]! : state;
    }
  }
}

/** Readable explanation of why `op` cannot come next in `state` (or that it could). */
function whyNot(p: Prepared, i: number, state: number): string {
  const cur = fmtValue(p.values[state] ?? null);
  if (step(p, i, state) !== REJECT) return `it fits the state (${cur}), but every continuation from there fails`;
  switch (p.kind[i]!) {
    case GET:
      return `the value is ${cur} at that point`;
    case DELETE:
      return `the key is ${state === 0 ? 'absent' : 'present'} (${cur}), so deleted would be ${String(state !== 0)}`;
    case CAS:
      return `the value is ${cur}, so the cas would ${state === p.expect[i]! ? 'succeed' : 'fail'}`;
    default:
      return 'rejected'; // puts are never rejected
  }
}

function prepare(ops: Operation[]): Prepared {
  const n = ops.length;
  const p: Prepared = {
    ops,
    kind: new Uint8Array(n),
    arg: new Int32Array(n),
    expect: new Int32Array(n),
    out: new Int32Array(n),
    call: new Float64Array(n),
    ret: new Float64Array(n),
    values: [null],
  };
  const ids = new Map<string, number>();
  const intern = (v: string | null): number => {
    if (v === null) return 0;
    let id = ids.get(v);
    if (id === undefined) {
      id = p.values.length;
      p.values.push(v);
      ids.set(v, id);
    }
    return id;
  };
  ops.forEach((o, i) => {
    const unknown = isUnknown(o.output);
    const out = o.output as { value?: string | null; deleted?: boolean; succeeded?: boolean };
    p.call[i] = o.call;
    p.ret[i] = unknown ? Infinity : o.return;
    const inp = o.input;
    switch (inp.op) {
      case 'put':
        p.kind[i] = PUT;
        p.arg[i] = intern(inp.value);
        p.out[i] = unknown ? OUT_UNKNOWN : 0;
        break;
      case 'get':
        p.kind[i] = GET;
        p.out[i] = unknown ? OUT_UNKNOWN : intern(out.value ?? null);
        break;
      case 'delete':
        p.kind[i] = DELETE;
        p.out[i] = unknown ? OUT_UNKNOWN : out.deleted ? 1 : 0;
        break;
      case 'cas':
        p.kind[i] = CAS;
        p.arg[i] = intern(inp.value);
        p.expect[i] = intern(inp.expect);
        p.out[i] = unknown ? OUT_UNKNOWN : out.succeeded ? 1 : 0;
        break;
    }
  });
  return p;
}

// ---------------------------------------------------------------------------------------------
// The search
// ---------------------------------------------------------------------------------------------

type SearchResult =
  | { kind: 'ok' }
  | { kind: 'timeout' }
  /** `longest`: op indexes of the deepest partial linearization; `blocked`: the op whose return stopped it. */
  | { kind: 'fail'; longest: number[]; blocked: number };

/** Fixed per-index random words for the Zobrist hash of the linearized set (deterministic). */
let zobrist = new Int32Array(0);
function zobristWords(n: number): Int32Array {
  if (zobrist.length < n) {
    const z = new Int32Array(Math.max(n, zobrist.length * 2, 64));
    let s = 0x2545f491;
    for (let i = 0; i < z.length; i++) {
      // splitmix32-ish
      s = (s + 0x9e3779b9) | 0;
      let t = s;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
      z[i] = t ^ (t >>> 16);
    }
    zobrist = z;
  }
  return zobrist;
}

/**
 * Wing & Gong / Lowe depth-first search over one partition. Returns 'ok' when every operation with
 * a known outcome can be linearized (the others placed or left out), else the deepest partial
 * linearization it found. Every loop is bounded: each step either pushes a (set, state) pair that
 * was never seen before (finitely many), pops one, or advances along the finite list; and the
 * deadline is polled.
 */
function search(p: Prepared, deadline: number, maxSteps = Infinity): SearchResult {
  const n = p.ops.length;
  let must = 0;
  for (let i = 0; i < n; i++) if (p.out[i] !== OUT_UNKNOWN) must++;
  if (must === 0) return { kind: 'ok' };

  // Entries: 2i = call of op i, 2i+1 = its return. Sort by time, calls before returns at equal times.
  const order = new Int32Array(2 * n);
  for (let e = 0; e < 2 * n; e++) order[e] = e;
  const time = (e: number): number => ((e & 1) === 0 ? p.call[e >> 1]! : p.ret[e >> 1]!);
  order.sort((a, b) => time(a) - time(b) || (a & 1) - (b & 1) || a - b);
  const HEAD = 2 * n;
  const next = new Int32Array(2 * n + 1).fill(-1);
  const prev = new Int32Array(2 * n + 1).fill(-1);
  let last = HEAD;
  for (let k = 0; k < 2 * n; k++) {
    const e = order[k]!;
    next[last] = e;
    prev[e] = last;
    last = e;
  }

  const lift = (e: number): void => {
    const m = e + 1;
    next[prev[e]!] = next[e]!;
    prev[next[e]!] = prev[e]!; // a call is always followed by at least its own return
    next[prev[m]!] = next[m]!;
    if (next[m]! !== -1) prev[next[m]!] = prev[m]!;
  };
  const unlift = (e: number): void => {
    const m = e + 1;
    next[prev[m]!] = m;
    if (next[m]! !== -1) prev[next[m]!] = m;
    next[prev[e]!] = e;
    prev[next[e]!] = e;
  };

  const words = (n + 31) >>> 5;
  /** The linearized set, over all operations. */
  const bits = new Uint32Array(words);
  /** The operations with a known outcome (the others are optional). */
  const mustMask = new Uint32Array(words);
  /** Zobrist words, zero for optional operations: the hash covers the known-outcome part only. */
  const z = new Int32Array(n);
  const zw = zobristWords(n);
  for (let i = 0; i < n; i++) {
    if (p.out[i] === OUT_UNKNOWN) continue;
    mustMask[i >>> 5]! |= 1 << (i & 31);
    z[i] = zw[i]!;
  }
  let zob = 0;
  const cache = new Map<number, { bits: Uint32Array; state: number }[]>();
  /**
   * Records (bits, state) as visited; false if a visited node dominates it: same state, same
   * known-outcome operations linearized, and a subset of the optional ones (so at least every
   * option this node has). With no optional operations this is plain equality, as in Porcupine.
   * Nodes the new one dominates are forgotten (it covers them).
   */
  const cacheAdd = (state: number): boolean => {
    const h = (zob ^ Math.imul(state + 1, 0x9e3779b1)) | 0;
    let bucket = cache.get(h);
    if (bucket === undefined) cache.set(h, (bucket = []));
    let covered = 0;
    outer: for (const c of bucket) {
      if (c.state !== state) continue;
      let sub = true; // c ⊆ bits, differing only in optional operations
      let sup = true; // bits ⊆ c, likewise
      for (let w = 0; w < words; w++) {
        const a = c.bits[w]!;
        const b = bits[w]!;
        if ((a ^ b) & mustMask[w]!) continue outer;
        if (a & ~b) sub = false;
        if (b & ~a) sup = false;
      }
      if (sub) return false;
      if (sup) {
        c.state = -1; // dominated by the node being added
        covered++;
      }
    }
    if (covered > 0) bucket = bucket.filter((c) => c.state !== -1);
    bucket.push({ bits: bits.slice(), state });
    cache.set(h, bucket);
    return true;
  };

  const stackEntry: number[] = [];
  const stackState: number[] = [];
  let longest: number[] = [];
  let blocked = -1;
  let state = 0;
  let entry = next[HEAD]!;
  let steps = 0;
  for (;;) {
    if ((++steps & POLL_MASK) === 0 && (performance.now() > deadline || steps > maxSteps)) return { kind: 'timeout' };
    if (entry !== -1 && (entry & 1) === 0) {
      const i = entry >> 1;
      const ns = step(p, i, state);
      if (ns !== REJECT) {
        bits[i >>> 5]! |= 1 << (i & 31);
        zob ^= z[i]!;
        if (cacheAdd(ns)) {
          stackEntry.push(entry);
          stackState.push(state);
          state = ns;
          lift(entry);
          if (p.out[i] !== OUT_UNKNOWN && --must === 0) return { kind: 'ok' };
          entry = next[HEAD]!;
          continue;
        }
        bits[i >>> 5]! &= ~(1 << (i & 31));
        zob ^= z[i]!;
      }
      entry = next[entry]!;
    } else {
      // A return entry (or, defensively, the end of the list): the op it belongs to cannot be
      // linearized before everything after it. Backtrack.
      if (stackEntry.length > longest.length || blocked === -1) {
        longest = stackEntry.map((e) => e >> 1);
        blocked = entry === -1 ? -1 : entry >> 1;
      }
      const top = stackEntry.pop();
      if (top === undefined) return { kind: 'fail', longest, blocked };
      const i = top >> 1;
      state = stackState.pop()!;
      bits[i >>> 5]! &= ~(1 << (i & 31));
      zob ^= z[i]!;
      if (p.out[i] !== OUT_UNKNOWN) must++;
      unlift(top);
      entry = next[top]!;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Per-partition check, and shrinking a failure
// ---------------------------------------------------------------------------------------------

type PartitionResult = 'ok' | 'timeout' | { ok: false; key: string; witness: Operation[]; reason: string };

/** A copy of `o` whose outcome is unknown (it may take effect any time after its call, or never). */
function relaxed(o: Operation): Operation {
  return { ...o, return: Infinity, output: { unknown: true } };
}

/** True for operations that, as reported, left the state unchanged: dropping them only removes constraints. */
function isObservation(o: Operation): boolean {
  const out = o.output as { deleted?: boolean; succeeded?: boolean };
  switch (o.input.op) {
    case 'get':
      return true;
    case 'delete':
      return out.deleted === false;
    case 'cas':
      return out.succeeded === false;
    default:
      return false;
  }
}

function checkPartition(key: string, all: Operation[], deadline: number): PartitionResult {
  // An unknown-outcome get cannot affect anything.
  const ops = all.filter((o) => !(o.input.op === 'get' && isUnknown(o.output)));

  // A read no write can explain is decided without the search (which could take exponential time
  // to rule out every order first).
  if (unexplainedRead(ops) === undefined) {
    const res = search(prepare(ops), deadline);
    if (res.kind === 'ok') return 'ok';
    if (res.kind === 'timeout') return 'timeout';
  }
  const witness = minimize(ops, Math.min(deadline, performance.now() + MINIMIZE_BUDGET_MS));
  return explain(key, all.length, witness, deadline);
}

/** Whether `ops` is (known to be) unlinearizable within the deadline and `MINIMIZE_STEPS`. */
function fails(ops: Operation[], deadline: number): boolean {
  return unexplainedRead(ops) !== undefined || search(prepare(ops), deadline, MINIMIZE_STEPS).kind === 'fail';
}

/**
 * A necessary condition, checked in O(writes · (writes + reads)): an operation that observed a
 * value v (a get returning v, a cas that succeeded expecting v, a delete reporting deleted: false,
 * which observed absence) comes after the last write before it, which wrote v (for absence: a
 * delete, or the initial state). So some write w of v must have been called by the time the
 * observer returned, and must not be certainly overwritten before the observer was called: by an
 * operation with a known outcome that sets another value (a put, a delete, a successful cas),
 * called after w returned and returning before the observer was called. Returns an observer for
 * which no write qualifies (then no linearization exists), else undefined.
 */
function unexplainedRead(ops: readonly Operation[]): Operation | undefined {
  /** What an operation with a known outcome certainly leaves behind: a value, null (absent), or undefined (no certain effect). */
  const sets = (o: Operation): string | null | undefined => {
    if (isUnknown(o.output)) return undefined;
    if (o.input.op === 'put') return o.input.value;
    if (o.input.op === 'delete') return null;
    if (o.input.op === 'cas' && (o.output as { succeeded: boolean }).succeeded) return o.input.value;
    return undefined;
  };
  const setters = ops.filter((o) => sets(o) !== undefined);
  /** The writes of each value (including unknown-outcome ones, and failed cas excluded); null: the deletes. */
  const writers = new Map<string | null, Operation[]>();
  for (const o of ops) {
    const v = o.input.op === 'put' || o.input.op === 'cas' ? o.input.value : o.input.op === 'delete' ? null : undefined;
    if (v === undefined || (o.input.op === 'cas' && (o.output as { succeeded?: boolean }).succeeded === false)) continue;
    let list = writers.get(v);
    if (list === undefined) writers.set(v, (list = []));
    list.push(o);
  }
  /** For a write of v returning at `ret`: the earliest return of a certain overwrite called after it. */
  const overwrittenBy = (v: string | null, ret: number): number => {
    let t = Infinity;
    for (const x of setters) if (x.call > ret && x.return < t && sets(x) !== v) t = x.return;
    return t;
  };
  const deadlines = new Map<Operation | null, number>(); // null: the initial (absent) state
  const explains = (w: Operation | null, v: string | null, r: Operation): boolean => {
    if (w !== null && w.call > r.return) return false;
    let t = deadlines.get(w);
    if (t === undefined) deadlines.set(w, (t = overwrittenBy(v, w === null ? -Infinity : w.return)));
    return t >= r.call;
  };
  for (const r of ops) {
    if (isUnknown(r.output)) continue;
    const out = r.output as { value?: string | null; deleted?: boolean; succeeded?: boolean };
    let v: string | null;
    if (r.input.op === 'get') v = out.value ?? null;
    else if (r.input.op === 'cas' && out.succeeded === true) v = r.input.expect;
    else if (r.input.op === 'delete' && out.deleted === false) v = null;
    else continue;
    const ws = (writers.get(v) ?? []).filter((w) => w !== r);
    if (v === null && explains(null, null, r)) continue;
    if (!ws.some((w) => explains(w, v, r))) return r;
  }
  return undefined;
}

/**
 * Whether the unknown-outcome operation `w` can be removed from the history `h` without making an
 * unlinearizable history out of a linearizable one. Take a linearization L of h that contains w;
 * from w's effect up to the next operation that overwrites the key, removing w changes the state
 * the operations see from w's result to the state before w. Nothing in that window notices when:
 * - w writes a value u (put, or a cas that fired): no get returns u, no cas expects u, and there is
 *   no delete reporting deleted: true nor a cas reporting succeeded: false (those might flip);
 * - w is a delete: no get returns absent, no cas expects absent, and there is no delete reporting
 *   deleted: false nor a cas reporting succeeded: false.
 * Unknown-outcome operations in that window that did not fire in L are simply left out as well.
 * Operations that returned before w was called precede it in every linearization, so they do not count.
 */
function irrelevant(w: Operation, h: readonly Operation[]): boolean {
  const written = w.input.op === 'put' || w.input.op === 'cas' ? w.input.value : null; // null: a delete
  for (const o of h) {
    // An operation that returned before w was called comes before w in every linearization.
    if (o === w || o.return < w.call) continue;
    if (o.input.op === 'cas' && o.input.expect === written) return false;
    if (isUnknown(o.output)) continue;
    const out = o.output as { value?: string | null; deleted?: boolean; succeeded?: boolean };
    if (o.input.op === 'get' && out.value === written) return false;
    if (o.input.op === 'cas' && out.succeeded === false) return false;
    if (o.input.op === 'delete' && out.deleted === (written !== null)) return false;
  }
  return true;
}

/**
 * Shrinks an unlinearizable partition to a small unlinearizable set of its own operations (see the
 * file comment). Every step keeps "if the shrunk history fails, so does the original"; a step whose
 * check cannot finish within its step budget is not taken. Stops early, keeping what it has, when
 * the deadline passes.
 */
function minimize(ops: Operation[], deadline: number): Operation[] {
  // 1. The earliest return time T such that the history truncated at T already fails.
  const times = returnTimes(ops);
  let lo = 0;
  let hi = times.length; // times.length stands for the whole history, which fails
  while (lo < hi && performance.now() < deadline) {
    const mid = (lo + hi) >>> 1;
    if (fails(truncateAt(ops, times[mid]!), deadline)) hi = mid;
    else lo = mid + 1;
  }
  /** `orig[i]` is the recorded operation behind `h[i]`. */
  const orig = hi < times.length ? calledBy(ops, times[hi]!) : ops.slice();
  const h = hi < times.length ? truncateAt(ops, times[hi]!) : ops.slice();
  /** The history as shrunk so far: original operations, relaxed copies, or null (dropped). */
  const cur: (Operation | null)[] = h.slice();
  const live = (): Operation[] => cur.filter((x): x is Operation => x !== null);
  // Latest first: after the truncation the violation is at the end, so the latest writes are the
  // first to become irrelevant once relaxed; relaxing early writes first would leave them floating
  // (unknown-outcome, placeable anywhere later) across the whole history, which is costly to search.
  const order = h.map((_o, i) => i).sort((a, b) => h[b]!.call - h[a]!.call || b - a);
  /** Drops unknown-outcome operations that cannot matter, until none is left to drop. */
  const dropIrrelevant = (): void => {
    for (let changed = true; changed; ) {
      changed = false;
      for (const i of order) {
        const o = cur[i];
        if (o && isUnknown(o.output) && irrelevant(o, live())) {
          cur[i] = null;
          changed = true;
        }
      }
    }
  };

  // 2. Drop the observations that are not needed.
  for (const i of order) {
    if (performance.now() >= deadline) break;
    const o = cur[i]!;
    if (isUnknown(o.output) || !isObservation(o)) continue;
    cur[i] = null;
    if (!fails(live(), deadline)) cur[i] = o;
  }
  // 3. Turn the writes that are not needed as recorded into unknown-outcome ones, and drop the
  //    unknown-outcome operations that cannot matter.
  dropIrrelevant();
  for (const i of order) {
    if (performance.now() >= deadline) break;
    const o = cur[i];
    if (!o || isUnknown(o.output)) continue;
    const r = relaxed(o);
    cur[i] = r;
    // If the relaxed write could not matter, it goes at once (cheaper to check: no unknown outcome added).
    if (irrelevant(r, live())) cur[i] = null;
    if (!fails(live(), deadline)) cur[i] = o;
    else dropIrrelevant();
  }

  // 4. The witness, for people: recorded operations only (a subset of `orig`) that fail on their
  //    own, at the same point T as the history and not earlier, so that the story reads right
  //    (say, no delete shows up without the write that made the key present), and with every read
  //    value's writer when the history has one. It must contain the operations kept as recorded
  //    above; the rest is shrunk away in halving chunks, latest first. The starting point is what
  //    is still in play above, as recorded, if that qualifies; else everything called by T.
  const at = hi < times.length ? times[hi]! : undefined;
  if (at === undefined) return orig.filter((_o, i) => cur[i] !== null); // ran out of time early
  const writers = new Set<string>();
  for (const o of orig) if (o.input.op === 'put' || o.input.op === 'cas') writers.add(o.input.value);
  const qualifies = (d: Operation[]): boolean => {
    const present = new Set<string>();
    for (const o of d) if (o.input.op === 'put' || o.input.op === 'cas') present.add(o.input.value);
    for (const o of d) {
      const v = reads(o);
      if (typeof v === 'string' && writers.has(v) && !present.has(v)) return false;
    }
    if (!fails(truncateAt(d, at), deadline)) return false;
    const before = returnTimes(d).filter((t) => t < at);
    const prev = before[before.length - 1];
    return prev === undefined || search(prepare(truncateAt(d, prev)), deadline, MINIMIZE_STEPS).kind === 'ok';
  };
  const essential = new Set(orig.filter((_o, i) => cur[i] !== null && !isUnknown(cur[i]!.output)));
  const inPlay = orig.filter((_o, i) => cur[i] !== null);
  let witness = qualifies(inPlay) ? inPlay : orig.slice();
  const latestFirst = (d: Operation[]): Operation[] => d.filter((o) => !essential.has(o)).sort((x, y) => y.call - x.call);
  for (let size = Math.max(1, latestFirst(witness).length >> 1); ; size >>= 1) {
    const candidates = latestFirst(witness);
    for (let k = 0; k < candidates.length && performance.now() < deadline; k += size) {
      const chunk = new Set(candidates.slice(k, k + size));
      const without = witness.filter((o) => !chunk.has(o));
      if (qualifies(without)) witness = without;
    }
    if (size <= 1 || performance.now() >= deadline) break;
  }
  return witness;
}

/** The value a get saw or a cas compared against (undefined for the others). */
function reads(o: Operation): string | null | undefined {
  if (o.input.op === 'cas') return o.input.expect;
  if (o.input.op === 'get' && !isUnknown(o.output)) return (o.output as { value: string | null }).value;
  return undefined;
}

/** The distinct return times of the operations with a known outcome, ascending. */
function returnTimes(ops: readonly Operation[]): number[] {
  return [...new Set(ops.filter((o) => !isUnknown(o.output)).map((o) => o.return))].sort((a, b) => a - b);
}

/** The operations called by t, less the gets still running then (they would constrain nothing). */
function calledBy(ops: readonly Operation[], t: number): Operation[] {
  return ops.filter((o) => o.call <= t && (o.return <= t || o.input.op !== 'get'));
}

/**
 * The history as it stood at time t: the operations called by t, those still running made
 * unknown-outcome. If it is unlinearizable, so is the whole history (and its truncation at any later
 * time): a linearization of the whole, cut after its last operation that returned by t, is one of it.
 */
function truncateAt(ops: readonly Operation[], t: number): Operation[] {
  return calledBy(ops, t).map((o) => (o.return <= t ? o : relaxed(o)));
}

function explain(key: string, total: number, witness: Operation[], deadline: number): PartitionResult {
  const sorted = [...witness].sort((a, b) => a.call - b.call || a.return - b.return || a.clientId - b.clientId);
  const p = prepare(sorted);
  // Generous deadline: the witness is small and known to fail; this only recovers the partial linearization.
  const res = search(p, Math.max(deadline, performance.now() + 1_000));
  if (res.kind !== 'fail') {
    return failure(key, total, sorted, 'no linearization exists (the search for a readable explanation ran out of time)');
  }
  const lines: string[] = [];
  let state = 0;
  if (res.longest.length === 0) lines.push('No operation can even be placed first (the key starts absent).');
  else lines.push(`Longest linearizable prefix found (${res.longest.length} op${res.longest.length === 1 ? '' : 's'}), with the value after each:`);
  const placed = new Set<number>();
  for (const i of res.longest.slice(0, MAX_LISTED)) {
    state = step(p, i, state);
    placed.add(i);
    lines.push(`  ${oneLine(sorted[i]!)}   ⇒ ${fmtValue(p.values[state] ?? null)}`);
  }
  if (res.longest.length > MAX_LISTED) {
    for (const i of res.longest.slice(MAX_LISTED)) {
      state = step(p, i, state);
      placed.add(i);
    }
    lines.push(`  … ${res.longest.length - MAX_LISTED} more, ending at ${fmtValue(p.values[state] ?? null)}`);
  }
  const limit = res.blocked >= 0 ? p.ret[res.blocked]! : Infinity;
  const candidates: number[] = [];
  for (let i = 0; i < sorted.length; i++) if (!placed.has(i) && p.call[i]! <= limit) candidates.push(i);
  lines.push(`Then nothing can come next${res.blocked >= 0 ? ` before ${oneLine(sorted[res.blocked]!)} returns` : ''}:`);
  for (const i of candidates.slice(0, MAX_LISTED)) lines.push(`  ${oneLine(sorted[i]!)}: ${whyNot(p, i, state)}`);
  if (candidates.length > MAX_LISTED) lines.push(`  … ${candidates.length - MAX_LISTED} more`);
  return failure(key, total, sorted, lines.join('\n'));
}

function oneLine(o: Operation): string {
  return `client ${o.clientId} ${fmtInterval(o)} ${describeOp(o)}`;
}

function failure(key: string, total: number, witness: Operation[], detail: string): PartitionResult {
  const listed = describeHistory(witness.slice(0, MAX_LISTED));
  const more = witness.length > MAX_LISTED ? `\n… ${witness.length - MAX_LISTED} more` : '';
  const reason =
    `key ${JSON.stringify(key)} is not linearizable: no order of its ${total} operations fits. ` +
    `These ${witness.length} of them already admit no linearization on their own:\n` +
    `${listed}${more}\n${detail}`;
  return { ok: false, key, witness, reason };
}
