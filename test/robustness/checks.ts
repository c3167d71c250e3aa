/**
 * What a run is checked for, epoch by epoch and at its end:
 * - linearizability: the epoch's operations (ranges and two-key transactions projected onto each
 *   key, the closing read of every key included, so a lost acknowledged write cannot linearize)
 *   through the project's checker, and the revisions replies carry in real-time order;
 * - lost writes: every acknowledged write is in the change log, at the revision it was answered with;
 * - watch: every watch stream is exactly the change log (validator), prevKv is the previous
 *   version, and the change log holds only writes a client asked for, each applied once;
 * - lease: nothing revoked before its TTL ran out after the last successful keep-alive, no renewal
 *   of a revoked lease, a revoked lease's key gone, every abandoned lease expired;
 * - hash: every member holds the same key space at the same revision.
 */
import { Worker } from 'node:worker_threads';
import type { Client } from '../../ts/client/index.js';
import type { Event } from '../../ts/storage/types.js';
import type { Operation, CheckResult } from '../support/linearizability.js';
import { validateWatch } from '../support/watch-validator.js';
import type { Epoch, LeaseRec, Probe, Recorded, WatchLog } from './workload.js';

/** What fails a run. `crashes`: a member died, or logged an error, that no fault explains; `harness`: the run could not check (or inject) what it meant to. */
export const CORRECTNESS = ['linearizability', 'lostWrites', 'watch', 'lease', 'hash', 'crashes', 'harness'] as const;
export const TIMING = ['availability'] as const;
export type Category = (typeof CORRECTNESS)[number] | (typeof TIMING)[number];

export interface Violation {
  category: Category;
  epoch?: number;
  message: string;
}

/** The closing read's client id in checked histories. */
export const CLOSING_CLIENT = 99;

/** An epoch's operations as the checker's single-key operations. */
export function checkerOps(e: Epoch): Operation[] {
  const out: Operation[] = [];
  for (const o of e.ops) {
    const base = { clientId: o.client, call: o.call, return: o.ret };
    const unknown = { unknown: true as const };
    switch (o.kind) {
      case 'get':
        if (o.ok) out.push({ ...base, input: { op: 'get', key: o.key }, output: { value: o.value ?? null } });
        break;
      case 'put':
        out.push({ ...base, input: { op: 'put', key: o.key, value: o.value }, output: o.ok ? { ok: true } : unknown });
        break;
      case 'cas':
        out.push({ ...base, input: { op: 'cas', key: o.key, expect: o.expect, value: o.value }, output: o.ok ? { succeeded: o.succeeded! } : unknown });
        break;
      case 'delete':
        out.push({ ...base, input: { op: 'delete', key: o.key }, output: o.ok ? { deleted: o.deleted! } : unknown });
        break;
      case 'range': {
        if (!o.ok) break;
        const got = new Map(o.kvs);
        for (const key of e.keys) out.push({ ...base, input: { op: 'get', key }, output: { value: got.get(key) ?? null } });
        break;
      }
      case 'txn':
        for (const [key, value] of o.puts) out.push({ ...base, input: { op: 'put', key, value }, output: o.ok ? { ok: true } : unknown });
    }
  }
  return out;
}

function makesRevision(o: Recorded): boolean {
  return o.kind === 'put' || o.kind === 'txn' || (o.kind === 'cas' && o.succeeded === true) || (o.kind === 'delete' && o.deleted === true);
}

function describe(o: Recorded): string {
  const { epoch: _e, client, call, ret, ok: _ok, ...rest } = o;
  return `client ${client} [${call.toFixed(1)}, ${ret.toFixed(1)}] ${JSON.stringify(rest)}`;
}

/**
 * Revisions follow real time: a write answered before another is called has a lower revision; a
 * read (a range, a failed compare, a delete of nothing) sees at least every write answered before
 * it was called, and none called after it returned.
 */
export function revisionOrder(ops: Recorded[]): string[] {
  const points = ops.filter((o) => o.ok && o.rev !== undefined);
  const byRet = [...points].sort((a, b) => a.ret - b.ret);
  const byCall = [...points].sort((a, b) => a.call - b.call);
  const out: string[] = [];
  let j = 0;
  let maxW: Recorded | undefined;
  let maxR: Recorded | undefined;
  for (const p of byCall) {
    while (j < byRet.length && byRet[j]!.ret < p.call) {
      const q = byRet[j++]!;
      if (makesRevision(q)) {
        if (!maxW || q.rev! > maxW.rev!) maxW = q;
      } else if (!maxR || q.rev! > maxR.rev!) maxR = q;
    }
    const write = makesRevision(p);
    for (const before of [maxW, maxR]) {
      if (!before) continue;
      const bad = write ? before.rev! >= p.rev! : before.rev! > p.rev!;
      if (bad && out.length < 5) out.push(`revision ${p.rev} of ${describe(p)} is not after revision ${before.rev} of ${describe(before)}, which returned before it was called`);
    }
  }
  return out;
}

/**
 * The epoch's change log (events under its prefix, from its start revision to the closing read)
 * against what clients asked for: every acknowledged write there at its revision (lost writes
 * otherwise); every event a write some client asked for, applied once (watch/events otherwise).
 */
export function changeLogCheck(e: Epoch, events: Event[], leases: LeaseRec[]): { lost: string[]; events: string[] } {
  const lost: string[] = [];
  const bad: string[] = [];
  const at = new Map<number, Event[]>();
  for (const ev of events) {
    const list = at.get(ev.kv.modRevision) ?? [];
    list.push(ev);
    at.set(ev.kv.modRevision, list);
  }
  const has = (rev: number, type: string, key: string, value?: string) =>
    (at.get(rev) ?? []).some((ev) => ev.type === type && ev.kv.key.toString() === key && (value === undefined || ev.kv.value.toString() === value));
  const attempted = new Map<string, Recorded>();
  const deletes = new Map<string, (Recorded & { kind: 'delete' })[]>();
  for (const o of e.ops) {
    const puts: [string, string][] = o.kind === 'put' || o.kind === 'cas' ? [[o.key, o.value]] : o.kind === 'txn' ? o.puts : [];
    for (const [k, v] of puts) attempted.set(`${k}=${v}`, o);
    if (o.kind === 'delete') deletes.set(o.key, [...(deletes.get(o.key) ?? []), o]);
    if (!o.ok || !makesRevision(o) || lost.length >= 5) continue;
    const missing = o.kind === 'delete' ? (has(o.rev!, 'delete', o.key) ? [] : [`delete ${o.key}`]) : puts.filter(([k, v]) => !has(o.rev!, 'put', k, v)).map(([k, v]) => `put ${k}=${v}`);
    if (missing.length > 0) {
      const found = (at.get(o.rev!) ?? []).map((ev) => `${ev.type} ${ev.kv.key.toString()}=${ev.kv.value.toString()}`);
      lost.push(`acknowledged ${describe(o)}: ${missing.join(', ')} is not in the change log at revision ${o.rev} (there: ${found.join(', ') || 'nothing'})`);
    }
  }
  const leaseValue = new Map(leases.filter((l) => l.epoch === e.n).map((l) => [l.key, `L${l.id.toString(16)}`]));
  const seenPut = new Set<string>();
  for (const ev of events) {
    if (bad.length >= 5) break;
    const key = ev.kv.key.toString();
    const value = ev.kv.value.toString();
    if (ev.type === 'put') {
      const id = `${key}=${value}`;
      if (seenPut.has(id)) bad.push(`the change log applies ${id} twice (again at revision ${ev.kv.modRevision})`);
      seenPut.add(id);
      const known = e.keys.includes(key) ? attempted.has(id) : leaseValue.get(key) === value;
      if (!known) bad.push(`the change log has put ${id} at revision ${ev.kv.modRevision}, which no client asked for`);
    } else if (e.keys.includes(key)) {
      const ds = deletes.get(key) ?? [];
      if (!ds.some((d) => !d.ok || (d.deleted && d.rev === ev.kv.modRevision))) bad.push(`the change log deletes ${key} at revision ${ev.kv.modRevision}, and no client's delete explains it`);
    } else if (!leaseValue.has(key)) {
      bad.push(`the change log deletes ${key} at revision ${ev.kv.modRevision}, a key nobody wrote`);
    }
  }
  return { lost, events: bad };
}

/** One watch stream against the epoch's change log (`events`, up to `closingRev`). */
export function watchCheck(log: WatchLog, e: Epoch, events: Event[], closingRev: number): string[] {
  const out: string[] = [];
  const name = `watch ${log.watcher} of epoch ${e.n}`;
  if (log.error) out.push(`${name} ended with ${log.error}`);
  if (log.responses.some((r) => r.canceled)) out.push(`${name} was cancelled: ${JSON.stringify(log.responses.find((r) => r.canceled))}`);
  const promised = log.responses.at(-1)?.revision ?? 0;
  if (promised < closingRev) out.push(`${name} promised revision ${promised}, not the closing read's ${closingRev}`);
  try {
    validateWatch(log.responses.filter((r) => !r.canceled), e.startRev, (k) => k.startsWith(e.prefix), (from, to) => events.filter((ev) => ev.kv.modRevision >= from && ev.kv.modRevision <= to));
  } catch (err) {
    out.push(`${name}: ${(err as Error).message.split('\n').slice(0, 12).join('\n')}`);
  }
  if (log.prevKv) {
    const last = new Map<string, string>();
    const prev = new Map<string, string | undefined>();
    for (const ev of events) {
      const key = ev.kv.key.toString();
      prev.set(`${ev.kv.modRevision}:${key}`, last.get(key));
      if (ev.type === 'put') last.set(key, ev.kv.value.toString());
      else last.delete(key);
    }
    for (const r of log.responses) {
      for (const ev of r.events) {
        const key = ev.kv.key.toString();
        const want = prev.get(`${ev.kv.modRevision}:${key}`);
        const got = ev.prevKv?.value.toString();
        if (want !== got && out.length < 5) out.push(`${name}: the event at ${ev.kv.modRevision} on ${key} has prevKv ${JSON.stringify(got)}, the change log says ${JSON.stringify(want)}`);
      }
    }
  }
  return out;
}

/** The lease guarantees on one lease's record (after the run looked for abandoned leases one last time). */
export function leaseCheck(l: LeaseRec): string[] {
  const out: string[] = [];
  const name = `lease ${l.id.toString(16)} (TTL ${l.ttlMs} ms, key ${l.key})`;
  const ok = l.renewals.filter((r) => r.result === 'ok');
  const keyed = l.put?.ok === true;
  const absences = l.seen.filter((s) => !s.present && (s.how.startsWith('keep-alive') || (keyed && s.at > l.put!.ret)));
  const revokeCall = l.revoke?.call ?? Infinity;
  for (const a of absences) {
    if (a.at >= revokeCall) continue;
    const last = ok.filter((r) => r.call < a.at).at(-1);
    if (last && a.at < last.call + l.ttlMs) {
      out.push(`${name} was gone (${a.how}) at ${a.at.toFixed(0)}, ${(last.call + l.ttlMs - a.at).toFixed(0)} ms before its TTL ran out after the keep-alive called at ${last.call.toFixed(0)}`);
      break;
    }
  }
  const firstGone = absences[0]?.at;
  const late = firstGone === undefined ? undefined : ok.find((r) => r.call > firstGone);
  if (late) out.push(`${name} was renewed (keep-alive called at ${late.call.toFixed(0)}) after it was seen gone at ${firstGone!.toFixed(0)}`);
  if (l.revoke?.ok) {
    const present = l.seen.find((s) => s.present && s.at > l.revoke!.ret);
    if (present) out.push(`${name}: its key was read (${present.how}) at ${present.at.toFixed(0)}, after the revoke returned at ${l.revoke.ret.toFixed(0)}`);
  } else if (keyed && firstGone === undefined) {
    out.push(`${name} never expired: ${l.abandonedAt === undefined ? 'its holder stopped at the end of the run' : `abandoned at ${l.abandonedAt.toFixed(0)}`}, last renewed at ${ok.at(-1)?.ret.toFixed(0)}, last read ${JSON.stringify(l.seen.at(-1))}`);
  }
  return out;
}

/**
 * How late an abandoned lease went: from its last renewal's return plus its TTL until its key's
 * deletion was applied (the first prober write with a higher revision returned by then; else when
 * its holder saw it gone), less the time meanwhile that the prober's writes failed (no leader:
 * nobody could renew, and a new leader gives every lease an election timeout). Undefined when it
 * does not apply.
 */
export function leaseLateness(l: LeaseRec, probes: Probe[]): number | undefined {
  if (l.revoke !== undefined || l.put?.ok !== true) return undefined;
  // Only while its holder was looking (the run's final look comes late, and says only that it went).
  const seen = l.seen.find((s) => !s.present && s.how === LOOKING)?.at;
  const last = l.renewals.filter((r) => r.result === 'ok').at(-1);
  if (seen === undefined || !last) return undefined;
  const after = l.goneRev === undefined ? undefined : probes.find((p) => p.rev !== undefined && p.rev > l.goneRev! && p.ret > last.ret);
  const gone = Math.min(seen, after?.ret ?? Infinity);
  const due = last.ret + l.ttlMs;
  let down = 0;
  for (const p of probes) if (!p.ok && p.ret > last.ret && p.call < gone) down += Math.min(p.ret, gone) - Math.max(p.call, last.ret);
  return gone - due - down;
}

/** How a lease's holder looks for it to go once it abandoned it. */
export const LOOKING = 'poll after abandoning';

/** Reads the change log from `from` to `to` (every page). */
export async function changeLog(cl: Client, from: number, to: number): Promise<Event[]> {
  const out: Event[] = [];
  let next = from;
  for (let pages = 0; pages < 10_000; pages++) {
    const r = await cl.changes(next, { to, limit: 5000 });
    out.push(...r.events);
    if (!r.more) return out;
    next = r.next;
  }
  throw new Error('the change log did not end');
}

/** The checker on a worker thread: one search at a time, in order. */
export class LinearizabilityChecker {
  private readonly worker: Worker;
  private seq = 0;
  private readonly waiting = new Map<number, (r: { result: CheckResult; witness?: string }) => void>();

  constructor() {
    this.worker = new Worker(new URL('./check-worker.js', import.meta.url));
    this.worker.on('message', (m: { id: number; result: CheckResult; witness?: string }) => {
      this.waiting.get(m.id)?.(m);
      this.waiting.delete(m.id);
    });
  }

  check(ops: Operation[], timeoutMs: number): Promise<{ result: CheckResult; witness?: string }> {
    const id = ++this.seq;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      this.worker.postMessage({ id, ops, timeoutMs });
    });
  }

  async close(): Promise<void> {
    await this.worker.terminate();
  }
}
