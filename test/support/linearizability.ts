/**
 * A linearizability checker for histories of single-key register operations (put / get / delete /
 * compare-and-set), in the style of Porcupine (Athalye), which implements Lowe's improvements
 * ("Testing for linearizability", 2017) to the Wing & Gong search.
 *
 * The history is partitioned by key (linearizability is compositional, and every operation here
 * touches one key), and each partition is checked on its own against a register model whose state
 * is "absent" or a string (each key starts absent; values are interned to small integers, so a
 * state is one number).
 *
 * The search, per partition (`search`):
 * - Every operation becomes a call entry and a return entry; the entries are sorted by time (a
 *   call sorts before a return at the same instant, so touching intervals count as concurrent)
 *   and threaded into a doubly linked list.
 * - Depth-first search from the head of the list: a call entry whose operation the model accepts
 *   in the current state is "linearized": pushed on a stack together with the state before it,
 *   then lifted out of the list (its call and return entries are unlinked, in O(1)), and the scan
 *   restarts at the head. Reaching a return entry means that operation, not linearized yet, must
 *   precede everything not yet called, and nothing before it fits: backtrack (pop, restore the
 *   state, relink the entries, continue after that call).
 * - A cache of visited (set of linearized operations, model state) nodes prunes the search. The
 *   set is a bitset, hashed incrementally (Zobrist: the XOR of one random word per operation).
 *
 * Operations whose outcome is unknown (output `{ unknown: true }`: a timeout, a crash; their return
 * time is Infinity) are handled the standard way: they may take effect at any point after their
 * call, or not at all, and their output matches whatever the model says. The search succeeds as
 * soon as every operation with a known outcome is linearized; an unknown-outcome operation left
 * over simply did not happen. An unknown-outcome get has no effect and is dropped up front. An
 * operation whose output is `{ unknown: true }` but whose return time is finite is treated as
 * pending all the same (the client gave up then, but the request may still land later). Many such
 * operations make the plain search exponential, so it is refined, keeping it exact:
 * - they sit in a list of their own and are tried at a node only after the known-outcome ones;
 * - the cache prunes by dominance: a node is covered by a visited one with the same state and the
 *   same known-outcome operations linearized, but a subset of the unknown-outcome ones;
 * - only canonical linearizations are searched, where an unknown-outcome operation is directly
 *   followed by one that observes the state (a get, delete or cas with a known outcome, or an
 *   unknown-outcome cas): one followed by a put or an unknown-outcome delete, which overwrite
 *   whatever was there, can be left out, which the search tries as well.
 *
 * Before searching, a cheap necessary condition (`unexplainedRead`) catches reads that no write
 * can explain (a value never written, written only later, or certainly overwritten before the
 * read; absence after a certain write), which the search could take exponential time to refute.
 *
 * Bounded: one deadline per `checkHistory` call (default 10 s); when it passes with a partition
 * undecided the answer is `{ ok: 'unknown' }` rather than a search that runs forever. (Shrinking
 * a failure found in time stays within the deadline; explaining it may take EXPLAIN_GRACE_MS more.)
 *
 * On failure the report is shrunk to something readable (`minimize`): the earliest time T at which
 * the history truncated there already fails, then, from the operations called by T, chunks left
 * out while the rest still fails at T and not before. The witness is that set of recorded
 * operations, itself unlinearizable; the reason lists it, why its failing read cannot be explained
 * (when that is the case), the longest linearizable prefix of it that the search found, and, for
 * each operation that could come next, why it cannot.
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
/** Explaining a failure may take this long past the deadline (the witness is usually tiny). */
const EXPLAIN_GRACE_MS = 250;
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
  | { kind: 'ok'; steps: number }
  | { kind: 'timeout' }
  /** `longest`: op indexes of the deepest partial linearization; `blocked`: the op whose return stopped it. */
  | { kind: 'fail'; longest: number[]; blocked: number; steps: number };

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

/** The cache holds at most this many nodes (bounding memory), and this many bitset words in all. */
const CACHE_MAX_NODES = 4_000_000;
const CACHE_MAX_WORDS = 32_000_000;

/**
 * The search's visited nodes: (linearized set, state, free) in a chained hash table over typed
 * arrays (a few dozen bytes a node, rather than a few hundred as objects). `add` records a node
 * unless a visited one dominates it: same state, same known-outcome operations linearized, a
 * subset of the optional ones (so at least every option this node has), and free if this one is
 * (see `restricted` in `search`). With no optional operations that is plain equality, as in
 * Porcupine. Nodes the new one dominates are dropped (it covers them) and their slots reused.
 * When full, new nodes are simply not recorded: the search stays exact, only less pruned.
 */
class NodeCache {
  private readonly maxNodes: number;
  private heads = new Int32Array(1024).fill(-1);
  private hash = new Int32Array(256);
  private link = new Int32Array(256);
  private state = new Int32Array(256);
  private free = new Uint8Array(256);
  private bits: Uint32Array;
  private used = 0; // slots handed out (live or on the free list)
  private live = 0;
  private spare: number[] = []; // freed slots

  constructor(
    private readonly words: number,
    private readonly mustMask: Uint32Array,
  ) {
    this.maxNodes = Math.max(1, Math.min(CACHE_MAX_NODES, Math.floor(CACHE_MAX_WORDS / Math.max(1, words))));
    this.bits = new Uint32Array(256 * words);
  }

  add(h: number, bits: Uint32Array, state: number, free: boolean): boolean {
    const { words, mustMask } = this;
    let prev = -1;
    for (let e = this.heads[h & (this.heads.length - 1)]!; e !== -1; ) {
      const after = this.link[e]!;
      if (this.hash[e] === h && this.state[e] === state) {
        const efree = this.free[e] === 1;
        let sub = efree || !free; // e ⊆ this node, differing only in optional operations
        let sup = free || !efree; // this node ⊆ e, likewise
        const base = e * words;
        for (let w = 0; w < words && (sub || sup); w++) {
          const a = this.bits[base + w]!;
          const b = bits[w]!;
          if ((a ^ b) & mustMask[w]!) {
            sub = sup = false;
            break;
          }
          if (a & ~b) sub = false;
          if (b & ~a) sup = false;
        }
        if (sub) return false;
        if (sup) {
          // Dominated by the node being added: unlink it, keep its slot for reuse.
          if (prev === -1) this.heads[h & (this.heads.length - 1)] = after;
          else this.link[prev] = after;
          this.spare.push(e);
          this.live--;
          e = after;
          continue;
        }
      }
      prev = e;
      e = after;
    }
    const slot = this.slot();
    if (slot === -1) return true; // full: go on without recording
    this.hash[slot] = h;
    this.state[slot] = state;
    this.free[slot] = free ? 1 : 0;
    this.bits.set(bits, slot * words);
    const bucket = h & (this.heads.length - 1);
    this.link[slot] = this.heads[bucket]!;
    this.heads[bucket] = slot;
    this.live++;
    if (this.live > this.heads.length) this.rehash();
    return true;
  }

  private slot(): number {
    const reused = this.spare.pop();
    if (reused !== undefined) return reused;
    if (this.used >= this.maxNodes) return -1;
    if (this.used === this.hash.length) {
      const cap = Math.min(this.maxNodes, this.hash.length * 2);
      const grow = <T extends Int32Array | Uint8Array | Uint32Array>(a: T, size: number): T => {
        const b = new (a.constructor as new (n: number) => T)(size);
        b.set(a);
        return b;
      };
      this.hash = grow(this.hash, cap);
      this.link = grow(this.link, cap);
      this.state = grow(this.state, cap);
      this.free = grow(this.free, cap);
      this.bits = grow(this.bits, cap * this.words);
    }
    return this.used++;
  }

  private rehash(): void {
    const heads = new Int32Array(this.heads.length * 2).fill(-1);
    const mask = heads.length - 1;
    for (let b = 0; b < this.heads.length; b++) {
      for (let e = this.heads[b]!; e !== -1; ) {
        const after = this.link[e]!;
        this.link[e] = heads[this.hash[e]! & mask]!;
        heads[this.hash[e]! & mask] = e;
        e = after;
      }
    }
    this.heads = heads;
  }
}

/**
 * Wing & Gong / Lowe depth-first search over one partition. Returns 'ok' when every operation with
 * a known outcome can be linearized (the others placed or left out), else the deepest partial
 * linearization it found.
 *
 * Operations with a known outcome live in the main list (call and return entries, by time; a call
 * sorts before a return at the same instant). Those with an unknown outcome never return, so they
 * have only a call entry, in a second list sorted by call time: at a node, once the main scan
 * reaches the first return entry R (an operation that must come before anything not yet called
 * by then), the unknown-outcome operations called by R's time are tried as well. Trying the
 * known-outcome ones first matters: a node reached without an optional operation dominates the
 * same node reached with it (see `cacheAdd`), and should be found first.
 *
 * Every loop is bounded: each step pushes a node never seen before (finitely many), pops one, or
 * advances along a finite list; and the deadline is polled.
 */
function search(p: Prepared, deadline: number, maxSteps = Infinity): SearchResult {
  const n = p.ops.length;
  let must = 0;
  for (let i = 0; i < n; i++) if (p.out[i] !== OUT_UNKNOWN) must++;
  if (must === 0) return { kind: 'ok', steps: 0 };
  const optional = (i: number): boolean => p.out[i] === OUT_UNKNOWN;

  // Entries: 2i = call of op i, 2i+1 = its return; HEAD and OHEAD head the two lists.
  const HEAD = 2 * n;
  const OHEAD = 2 * n + 1;
  const next = new Int32Array(2 * n + 2).fill(-1);
  const prev = new Int32Array(2 * n + 2).fill(-1);
  const time = (e: number): number => ((e & 1) === 0 ? p.call[e >> 1]! : p.ret[e >> 1]!);
  const thread = (head: number, entries: number[]): void => {
    let last = head;
    for (const e of entries) {
      next[last] = e;
      prev[e] = last;
      last = e;
    }
  };
  const mainEntries: number[] = [];
  const optEntries: number[] = [];
  for (let i = 0; i < n; i++) {
    if (optional(i)) optEntries.push(2 * i);
    else mainEntries.push(2 * i, 2 * i + 1);
  }
  mainEntries.sort((a, b) => time(a) - time(b) || (a & 1) - (b & 1) || a - b);
  optEntries.sort((a, b) => time(a) - time(b) || a - b);
  thread(HEAD, mainEntries);
  thread(OHEAD, optEntries);

  /** Unlinks a call entry (and, in the main list, its return entry). */
  const lift = (e: number): void => {
    next[prev[e]!] = next[e]!;
    if (next[e]! !== -1) prev[next[e]!] = prev[e]!;
    if (optional(e >> 1)) return;
    const m = e + 1;
    next[prev[m]!] = next[m]!;
    if (next[m]! !== -1) prev[next[m]!] = prev[m]!;
  };
  /** Relinks what `lift` unlinked (in reverse order, so the saved neighbours are right again). */
  const unlift = (e: number): void => {
    if (!optional(e >> 1)) {
      const m = e + 1;
      next[prev[m]!] = m;
      if (next[m]! !== -1) prev[next[m]!] = m;
    }
    next[prev[e]!] = e;
    if (next[e]! !== -1) prev[next[e]!] = e;
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
    if (optional(i)) continue;
    mustMask[i >>> 5]! |= 1 << (i & 31);
    z[i] = zw[i]!;
  }
  let zob = 0;
  const cache = new NodeCache(words, mustMask);
  const cacheAdd = (state: number, free: boolean): boolean => cache.add((zob ^ Math.imul(state + 1, 0x9e3779b1)) | 0, bits, state, free);
  /**
   * After an optional operation, only what observes the state may come next (a get, delete or cas
   * with a known outcome, or an optional cas): an optional write followed directly by a write that
   * sets the state whatever it was (a put, or an optional delete) might as well not have happened,
   * and the search also tries that. So only canonical linearizations are searched, where optional
   * operations are used only right before something that sees their effect.
   */
  const restricted = (i: number): boolean => {
    const k = p.kind[i]!;
    return k === PUT || (k === DELETE && optional(i));
  };

  const stackEntry: number[] = [];
  const stackState: number[] = [];
  /** For each stack frame: the parent node's optional-scan limit (used when the frame is optional). */
  const stackLimit: number[] = [];
  let longest: number[] = [];
  let blocked = -1;
  let state = 0;
  /** Scanning the optional list (else the main one). */
  let inOpt = false;
  /** In the optional scan: the time of the node's first main return entry, and that entry. */
  let limit = Infinity;
  let limitEntry = -1;
  let entry = next[HEAD]!;
  let steps = 0;
  /** Tries to linearize call entry e; true if it was (and the scan restarts at the new node). */
  const tryEntry = (e: number): boolean => {
    const i = e >> 1;
    const top = stackEntry[stackEntry.length - 1];
    if (top !== undefined && optional(top >> 1) && restricted(i)) return false;
    const ns = step(p, i, state);
    if (ns === REJECT) return false;
    bits[i >>> 5]! |= 1 << (i & 31);
    zob ^= z[i]!;
    if (!cacheAdd(ns, !optional(i))) {
      bits[i >>> 5]! &= ~(1 << (i & 31));
      zob ^= z[i]!;
      return false;
    }
    stackEntry.push(e);
    stackState.push(state);
    stackLimit.push(limit);
    state = ns;
    lift(e);
    if (!optional(i)) must--;
    return true;
  };
  for (;;) {
    if ((++steps & POLL_MASK) === 0 && (performance.now() > deadline || steps > maxSteps)) return { kind: 'timeout' };
    if (!inOpt) {
      if (entry !== -1 && (entry & 1) === 0) {
        if (tryEntry(entry)) {
          if (must === 0) return { kind: 'ok', steps };
          entry = next[HEAD]!;
        } else {
          entry = next[entry]!;
        }
        continue;
      }
      // The first return entry: that operation must come before anything not yet called. Now the
      // unknown-outcome operations called by then.
      limitEntry = entry;
      limit = entry === -1 ? Infinity : p.ret[entry >> 1]!;
      inOpt = true;
      entry = next[OHEAD]!;
      continue;
    }
    if (entry !== -1 && p.call[entry >> 1]! <= limit) {
      if (tryEntry(entry)) {
        inOpt = false;
        entry = next[HEAD]!;
      } else {
        entry = next[entry]!;
      }
      continue;
    }
    // Nothing more to try at this node: backtrack.
    if (stackEntry.length > longest.length || blocked === -1) {
      longest = stackEntry.map((e) => e >> 1);
      blocked = limitEntry === -1 ? -1 : limitEntry >> 1;
    }
    const top = stackEntry.pop();
    if (top === undefined) return { kind: 'fail', longest, blocked, steps };
    const i = top >> 1;
    state = stackState.pop()!;
    const parentLimit = stackLimit.pop()!;
    bits[i >>> 5]! &= ~(1 << (i & 31));
    zob ^= z[i]!;
    unlift(top);
    entry = next[top]!;
    if (optional(i)) {
      inOpt = true;
      limit = parentLimit;
    } else {
      must++;
      inOpt = false;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Per-partition check, and shrinking a failure
// ---------------------------------------------------------------------------------------------

type PartitionResult = 'ok' | 'timeout' | { ok: false; key: string; witness: Operation[]; reason: string };

function checkPartition(key: string, all: Operation[], deadline: number): PartitionResult {
  // An unknown-outcome get cannot affect anything.
  const ops = all.filter((o) => !(o.input.op === 'get' && isUnknown(o.output)));

  // A read no write can explain is decided without the search (which could take exponential time
  // to rule out every order first).
  let steps = 0;
  if (unexplainedRead(ops) === undefined) {
    const res = search(prepare(ops), deadline);
    if (res.kind === 'ok') return 'ok';
    if (res.kind === 'timeout') return 'timeout';
    steps = res.steps;
  }
  const budget = { deadline: Math.min(deadline, performance.now() + MINIMIZE_BUDGET_MS), steps: Math.max(MINIMIZE_STEPS, 2 * steps) };
  const witness = minimize(ops, budget);
  return explain(key, all.length, witness, deadline);
}

/** Limits for the searches made while shrinking a failure. */
interface Budget {
  deadline: number;
  /** Per search: one that needs more is not relied on. */
  steps: number;
}

/** Whether `ops` is known to be unlinearizable (within the budget). */
function fails(ops: Operation[], b: Budget): boolean {
  return unexplainedRead(ops) !== undefined || search(prepare(ops), b.deadline, b.steps).kind === 'fail';
}

/** Whether `ops` is known to be linearizable (within the budget). */
function passes(ops: Operation[], b: Budget): boolean {
  return unexplainedRead(ops) === undefined && search(prepare(ops), b.deadline, b.steps).kind === 'ok';
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
    if (t === undefined) deadlines.set(w, (t = overwrittenBy(v, w === null ? -Infinity : effectiveReturn(w))));
    return t >= r.call;
  };
  for (const r of ops) {
    const v = observed(r);
    if (v === undefined) continue;
    const ws = (writers.get(v) ?? []).filter((w) => w !== r);
    if (v === null && explains(null, null, r)) continue;
    if (!ws.some((w) => explains(w, v, r))) return r;
  }
  return undefined;
}

/** What an operation with a known outcome certainly leaves behind: a value, null (absent), or undefined (no certain effect). */
function sets(o: Operation): string | null | undefined {
  if (isUnknown(o.output)) return undefined;
  if (o.input.op === 'put') return o.input.value;
  if (o.input.op === 'delete') return null;
  if (o.input.op === 'cas' && (o.output as { succeeded: boolean }).succeeded) return o.input.value;
  return undefined;
}

/** The value (null: absence) an operation with a known outcome certainly observed, if any. */
function observed(o: Operation): string | null | undefined {
  if (isUnknown(o.output)) return undefined;
  const out = o.output as { value?: string | null; deleted?: boolean; succeeded?: boolean };
  if (o.input.op === 'get') return out.value ?? null;
  if (o.input.op === 'cas' && out.succeeded === true) return o.input.expect;
  if (o.input.op === 'delete' && out.deleted === false) return null;
  return undefined;
}

/** The return time, or Infinity for an unknown outcome (it may still take effect). */
function effectiveReturn(o: Operation): number {
  return isUnknown(o.output) ? Infinity : o.return;
}

/** For failure messages: why no write can explain what `r` observed (see `unexplainedRead`). */
function whyUnexplained(r: Operation, ops: readonly Operation[]): string[] {
  const v = observed(r);
  if (v === undefined) return [];
  const lines = [`${oneLine(r)} observed ${fmtValue(v)}, but no write of it can be the last before it:`];
  const overwrite = (after: number): Operation | undefined =>
    ops.find((x) => x.call > after && x.return < r.call && sets(x) !== undefined && sets(x) !== v);
  if (v === null) {
    const x = overwrite(-Infinity);
    if (x) lines.push(`  the initial absence: ended by ${oneLine(x)}, which returned before it was called`);
  }
  let any = false;
  for (const w of ops) {
    if (w === r || !(w.input.op === 'put' || w.input.op === 'cas' || w.input.op === 'delete')) continue;
    if ((w.input.op === 'delete' ? null : w.input.value) !== v || (w.input.op === 'cas' && (w.output as { succeeded?: boolean }).succeeded === false)) continue;
    any = true;
    if (w.call > r.return) lines.push(`  ${oneLine(w)}: called only after it returned`);
    else {
      const x = overwrite(effectiveReturn(w));
      if (x) lines.push(`  ${oneLine(w)}: overwritten by ${oneLine(x)}, called after it and returned before the observer was called`);
    }
  }
  if (!any && v !== null) lines.push(`  no operation on the key writes ${fmtValue(v)}`);
  return lines;
}

/**
 * Shrinks an unlinearizable partition to a small set of its own operations, as recorded, that is
 * unlinearizable on its own and tells the same story:
 * 1. Find the earliest time T at which the history, truncated there, already fails (binary search;
 *    see `truncateAt`): the operations returning at T are where it goes wrong.
 * 2. From the operations called by T, leave out chunks (halving, latest first; then single
 *    operations, again while that removes anything) as long as what remains still fails at T and
 *    not before (so that, say, a delete never shows up without the write that made the key
 *    present), and every value a remaining operation read is still written by a remaining one when
 *    the history has such a write. The operations returning at T stay.
 * Searches that cannot finish within the budget count as "no" (nothing is left out on their
 * word); past the deadline it stops and keeps what it has.
 */
function minimize(ops: Operation[], b: Budget): Operation[] {
  const times = returnTimes(ops);
  let lo = 0;
  let hi = times.length; // times.length stands for the whole history, which fails
  while (lo < hi && performance.now() < b.deadline) {
    const mid = (lo + hi) >>> 1;
    if (fails(truncateAt(ops, times[mid]!), b)) hi = mid;
    else lo = mid + 1;
  }
  const at = times[hi];
  if (at === undefined) return ops; // out of time before any truncation was shown to fail
  const orig = calledBy(ops, at); // fails: truncateAt(ops, at) does, with fewer constraints
  if (lo < hi) return orig; // out of time before the earliest such T was found

  const writers = new Set<string>();
  for (const o of orig) if (o.input.op === 'put' || o.input.op === 'cas') writers.add(o.input.value);
  const qualifies = (d: Operation[]): boolean => {
    const present = new Set<string>();
    for (const o of d) if (o.input.op === 'put' || o.input.op === 'cas') present.add(o.input.value);
    for (const o of d) {
      const v = reads(o);
      if (typeof v === 'string' && writers.has(v) && !present.has(v)) return false;
    }
    if (!fails(truncateAt(d, at), b)) return false;
    const before = returnTimes(d).filter((t) => t < at);
    const prev = before[before.length - 1];
    return prev === undefined || passes(truncateAt(d, prev), b);
  };
  let witness = orig;
  const candidates = (): Operation[] => witness.filter((o) => isUnknown(o.output) || o.return !== at).sort((x, y) => y.call - x.call);
  // Chunk sizes halve down to single operations; those passes repeat while they remove anything
  // (leaving out a read can free the write it saw): at most one pass per operation.
  for (let size = Math.max(1, candidates().length >> 1); ; size = Math.max(1, size >> 1)) {
    const list = candidates();
    const before = witness.length;
    for (let k = 0; k < list.length && performance.now() < b.deadline; k += size) {
      const chunk = new Set(list.slice(k, k + size));
      const without = witness.filter((o) => !chunk.has(o));
      if (qualifies(without)) witness = without;
    }
    if ((size === 1 && witness.length === before) || performance.now() >= b.deadline) break;
  }
  return witness;
}

/** A copy of `o` whose outcome is unknown (it may take effect any time after its call, or never). */
function relaxed(o: Operation): Operation {
  return { ...o, return: Infinity, output: { unknown: true } };
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
  const lines: string[] = [];
  const unexplained = unexplainedRead(sorted);
  if (unexplained !== undefined) lines.push(...whyUnexplained(unexplained, sorted));
  // A little grace past the deadline: the witness is small and known to fail; this only recovers
  // the partial linearization, for the message.
  const res = search(p, Math.max(deadline, performance.now() + EXPLAIN_GRACE_MS));
  if (res.kind !== 'fail') {
    if (lines.length === 0) lines.push('(the search for a partial linearization to show ran out of time)');
    return failure(key, total, sorted, lines.join('\n'));
  }
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
    `${witness.length === 1 ? 'This one of them already admits' : `These ${witness.length} of them already admit`} no linearization on their own:\n` +
    `${listed}${more}\n${detail}`;
  return { ok: false, key, witness, reason };
}
