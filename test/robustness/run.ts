/**
 * One run of one fault family: a cluster of real members behind the fault layer, the recorded
 * workload, the family's fault injected again and again until the time is up, then everything
 * healed and checked (see checks.ts). Epochs are checked while the run goes on (a closing read of
 * their keys, their change log, their watches, the checker on a worker thread), so a long run
 * holds only the last few epochs in memory.
 */
import fs from 'node:fs';
import path from 'node:path';
import { type Client, connect } from '../../ts/client/index.js';
import { isAxisError } from '../../ts/errors/index.js';
import { mulberry32 } from '../support/fixtures.js';
import {
  CLOSING_CLIENT, CORRECTNESS, type Category, LinearizabilityChecker, type Violation,
  changeLog, changeLogCheck, checkerOps, leaseCheck, leaseLateness, revisionOrder, watchCheck,
} from './checks.js';
import { type FaultContext, family as familyNamed } from './families.js';
import { Recorder, now } from './history.js';
import { type ClusterSettings, MemberClient, ProcessCluster } from './members.js';
import { PeerFaults } from './peer-faults.js';
import { type Epoch, Workload, type WorkloadOptions } from './workload.js';

export interface RunOptions {
  family: string;
  seed: number;
  durationMs: number;
  /** Where run directories go. */
  root: string;
  members?: number;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
  /** Keep the members' data directories even when nothing was found. */
  keepData?: boolean;
}

export interface RecoveryStats {
  count: number;
  maxMs: number;
  medianMs: number;
  /** Heals after which writes took longer than the bound (or never came back). */
  over: number;
  boundMs: number;
}

export interface FamilyReport {
  family: string;
  seed: number;
  members: number;
  runDir: string;
  ms: number;
  ops: number;
  okOps: number;
  unknownOps: number;
  leases: number;
  watchResponses: number;
  faults: number;
  faultKinds: Record<string, number>;
  epochsChecked: number;
  /** Epochs whose linearizability check ran out of time, or that could not be closed. */
  epochsUnchecked: number;
  counts: Record<Category, number>;
  violations: Violation[];
  recovery: RecoveryStats;
  leaseLateMaxMs: number | undefined;
  /** Correctness violations (not availability): the run failed. */
  failed: boolean;
}

/** The CI profile's time with faults per family (the whole profile takes about 6 minutes here); AXIS_ROBUSTNESS_MS changes it. */
export const CI_MS = Number(process.env.AXIS_ROBUSTNESS_MS ?? 45_000);

const SETTINGS: ClusterSettings = { tickMs: 100, electionTicks: 10, snapshotCount: 500, snapshotCatchupEntries: 100 };
const WORKLOAD: Omit<WorkloadOptions, 'seed'> = { kvWorkers: 4, leaseWorkers: 3, watchers: 2, epochMs: 5000, keysPerEpoch: 5, leaseTtl: [3, 6] };
/** An epoch is closed this long after it ended (its operations are over by then: the clients' deadline is 5 s). */
const CLOSE_AFTER_MS = 7000;
const MAX_VIOLATIONS_KEPT = 20;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function runFamily(options: RunOptions): Promise<FamilyReport> {
  return new Run(options).execute();
}

class Run {
  private readonly fam;
  private readonly runDir: string;
  private readonly recorder: Recorder;
  private readonly faults: PeerFaults;
  private readonly cluster: ProcessCluster;
  private readonly workload: Workload;
  private readonly checker = new LinearizabilityChecker();
  private readonly violations: Violation[] = [];
  private readonly counts = Object.fromEntries([...CORRECTNESS, 'availability'].map((c) => [c, 0])) as Record<Category, number>;
  private readonly faultKinds: Record<string, number> = {};
  private readonly recoveries: number[] = [];
  private recoveryOver = 0;
  private epochsChecked = 0;
  private epochsUnchecked = 0;
  private faultCount = 0;
  private closing = false;
  private readonly checkClient: MemberClient;
  private readonly log: (line: string) => void;
  private readonly electionMs = SETTINGS.tickMs * SETTINGS.electionTicks;

  constructor(private readonly options: RunOptions) {
    this.fam = familyNamed(options.family);
    this.log = options.log ?? (() => {});
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    this.runDir = path.join(options.root, `${options.family}-seed${options.seed}-${stamp}`);
    fs.mkdirSync(this.runDir, { recursive: true });
    this.recorder = new Recorder(path.join(this.runDir, 'history.jsonl.gz'), {
      family: options.family, seed: options.seed, durationMs: options.durationMs, settings: SETTINGS, workload: WORKLOAD,
    });
    this.faults = new PeerFaults(mulberry32(options.seed * 31 + 7));
    this.cluster = new ProcessCluster(this.runDir, this.faults, SETTINGS, (e) => this.recorder.write({ t: 'member', at: now(), ...e }));
    this.workload = new Workload(this.cluster, this.recorder, { ...WORKLOAD, seed: options.seed });
    this.checkClient = new MemberClient(this.cluster, { timeoutMs: 10_000, attemptTimeoutMs: 1000 });
  }

  private violation(category: Category, message: string, epoch?: number): void {
    this.counts[category]++;
    const v: Violation = { category, message, ...(epoch === undefined ? {} : { epoch }) };
    this.recorder.write({ t: 'violation', at: now(), ...v });
    if (this.violations.filter((x) => x.category === category).length < MAX_VIOLATIONS_KEPT) this.violations.push(v);
    this.log(`VIOLATION ${category}${epoch === undefined ? '' : ` (epoch ${epoch})`}: ${message.split('\n')[0]}`);
  }

  private client(): Promise<Client> {
    return this.checkClient.get();
  }

  /** Retries `f` (a call that needs the cluster) until it succeeds or `ms` pass. */
  private async patiently<T>(what: string, ms: number, f: (cl: Client) => Promise<T>): Promise<T> {
    const end = now() + ms;
    for (;;) {
      try {
        return await f(await this.client());
      } catch (err) {
        if (now() > end) throw new Error(`${what}: ${(err as Error).message}`);
        await sleep(500);
      }
    }
  }

  async execute(): Promise<FamilyReport> {
    const started = now();
    const size = this.options.members ?? this.fam.members;
    this.log(`${this.fam.name}: seed ${this.options.seed}, ${size} members, ${Math.round(this.options.durationMs / 1000)} s; run directory ${this.runDir}`);
    let closer: Promise<void> = Promise.resolve();
    try {
      await this.cluster.start(size);
      await this.workload.start();
      closer = this.closeEpochs();
      await this.inject(started + this.options.durationMs);
      await this.healAll();
      await this.workload.stop();
      this.closing = true;
      await closer;
      await this.finalChecks();
    } catch (err) {
      this.violation('harness', `the harness could not go on: ${(err as Error).stack ?? String(err)}`);
      this.closing = true;
      await this.workload.stop().catch(() => undefined);
      await closer.catch(() => undefined);
    } finally {
      await this.workload.close();
      await this.checkClient.close();
      await this.cluster.close();
      await this.faults.close();
      await this.checker.close();
    }
    for (const s of this.cluster.surprises) this.violation('crashes', `${s.member} ${s.what}`);
    // The fault layer tells links apart by the routing id members send with (their member id).
    if (this.faults.stats.unidentified > 0) this.violation('harness', `the fault layer could not tell who sent on ${this.faults.stats.unidentified} peer connections: its rules missed them`);
    const report = this.report(now() - started);
    this.recorder.write({ t: 'report', ...report });
    await this.recorder.close();
    fs.writeFileSync(path.join(this.runDir, 'report.json'), JSON.stringify(report, null, 2));
    if (!report.failed && !this.options.keepData) fs.rmSync(path.join(this.runDir, 'data'), { recursive: true, force: true });
    return report;
  }

  // ---- faults ----------------------------------------------------------------------------------

  private context(): FaultContext {
    return {
      cluster: this.cluster,
      faults: this.faults,
      rand: mulberry32(this.options.seed),
      electionMs: this.electionMs,
      admin: () => this.client(),
      inject: (kind, detail = {}) => {
        this.faultCount++;
        this.faultKinds[kind] = (this.faultKinds[kind] ?? 0) + 1;
        this.recorder.write({ t: 'fault', at: now(), kind, ...detail });
        this.log(`fault ${this.faultCount}: ${kind} ${JSON.stringify(detail)}`);
      },
      note: (e) => this.recorder.write({ t: 'note', at: now(), ...e }),
      compact: () => this.compact(),
      sleep,
    };
  }

  private async inject(until: number): Promise<void> {
    const ctx = this.context();
    let lastHash = now();
    while (now() < until) {
      try {
        await this.fam.cycle(ctx);
      } catch (err) {
        // The cluster refused or timed out a call the fault needed (a member change under load):
        // noted, and the run goes on. Anything else is the harness's own failure.
        if (!isAxisError(err)) throw err;
        ctx.note({ event: 'fault-call-failed', error: `${err.code}: ${err.message}` });
        this.log(`a call the fault needed failed: ${err.code}: ${err.message}`);
      }
      await this.measureRecovery('after the fault healed');
      // Quiet time: the workload runs without faults for a moment.
      await sleep(1000 + ctx.rand() * 2000);
      if (now() - lastHash > 60_000 && this.cluster.up().length === this.cluster.members().length) {
        lastHash = now();
        await this.hashCheck();
        const t = this.workload.totals;
        const found = CORRECTNESS.filter((c) => this.counts[c] > 0).map((c) => `${c} ${this.counts[c]}`);
        this.log(`${t.ops} operations (${t.unknown} unknown), ${this.faultCount} faults, ${this.epochsChecked} epochs checked; ${found.length > 0 ? `VIOLATIONS: ${found.join(', ')}` : 'no violation'}`);
      }
    }
  }

  /** Writes must be served within two election timeouts of `now` (reported, never asserted in tests). */
  private async measureRecovery(what: string): Promise<void> {
    const healed = now();
    const bound = 2 * this.electionMs;
    const back = await this.workload.recovered(healed, 60_000);
    const ms = back === undefined ? Infinity : back - healed;
    this.recorder.write({ t: 'recovery', at: healed, ms: back === undefined ? null : ms, what });
    if (back !== undefined) this.recoveries.push(ms);
    if (ms > bound) {
      this.recoveryOver++;
      this.violation('availability', `writes were served again ${back === undefined ? 'not within 60 s' : `${ms.toFixed(0)} ms`} ${what} (bound ${bound} ms)`);
    }
  }

  /** Every link passes, every paused member continues, every stopped member starts again. */
  private async healAll(): Promise<void> {
    this.faults.heal();
    for (const p of this.cluster.members()) this.cluster.resume(p);
    for (const p of this.cluster.members()) if (p.state === 'down') await this.cluster.restart(p);
    await this.measureRecovery('after the final heal');
  }

  /** Compacts to the oldest open epoch's start: every check still to come reads above it. */
  private async compact(): Promise<void> {
    const floor = Math.min(...this.workload.epochs.map((e) => e.startRev), this.workload.maxRev);
    if (floor <= 1) return;
    await (await this.client()).compact(floor);
    this.recorder.write({ t: 'compact', at: now(), revision: floor });
  }

  // ---- epochs ----------------------------------------------------------------------------------

  private async closeEpochs(): Promise<void> {
    let closed = 0;
    for (;;) {
      const e = this.workload.epochs[0];
      const ready = e && e !== this.workload.epoch && e.endedAt !== undefined && (this.closing || now() > e.endedAt + CLOSE_AFTER_MS);
      if (e && (ready || (this.closing && e.endedAt !== undefined))) {
        await this.closeEpoch(e);
        this.workload.epochs.shift();
        if (++closed % 4 === 0) await this.compact().catch((err: unknown) => this.recorder.write({ t: 'note', at: now(), event: 'compact-failed', error: String(err) }));
        continue;
      }
      if (this.closing && this.workload.epochs.length === 0) return;
      await sleep(200);
    }
  }

  private async closeEpoch(e: Epoch): Promise<void> {
    const end = now() + 30_000;
    while (e.inflight > 0 && now() < end) await sleep(50);
    try {
      // The closing read: every key of the epoch, linearizably; it joins the checked history.
      const read = await this.patiently(`the closing read of epoch ${e.n}`, 180_000, async (cl) => {
        const call = now();
        const r = await cl.prefix(e.prefix);
        return { call, ret: now(), r };
      });
      const kvs: [string, string][] = read.r.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]);
      e.ops.push({ kind: 'range', prefix: e.prefix, kvs, rev: read.r.revision, epoch: e.n, client: CLOSING_CLIENT, call: read.call, ret: read.ret, ok: true });
      this.recorder.write({ t: 'closing-read', epoch: e.n, call: read.call, ret: read.ret, revision: read.r.revision, kvs });
      const present = new Set(kvs.map(([k]) => k));
      for (const l of this.workload.leases) {
        if (l.epoch !== e.n || !l.put?.ok || l.put.ret > read.call) continue;
        l.seen.push(present.has(l.key) ? { at: read.call, present: true, how: 'closing read' } : { at: read.ret, present: false, how: 'closing read' });
      }
      // The watches may have gone past the closing read: the change log is read as far as they went.
      await this.finishWatches(e, read.r.revision);
      const to = Math.max(read.r.revision, ...e.watches.map((w) => w.responses.at(-1)?.revision ?? 0));
      const events = (await this.patiently(`the change log of epoch ${e.n}`, 180_000, (cl) => changeLog(cl, e.startRev, to)))
        .filter((ev) => ev.kv.key.toString().startsWith(e.prefix));
      const { lost, events: bad } = changeLogCheck(e, events, this.workload.leases);
      for (const m of lost) this.violation('lostWrites', m, e.n);
      for (const m of bad) this.violation('watch', m, e.n);
      for (const m of revisionOrder(e.ops)) this.violation('linearizability', m, e.n);
      for (const w of e.watches) for (const m of watchCheck(w, e, events, read.r.revision)) this.violation('watch', m, e.n);
      const ops = checkerOps(e);
      const { result, witness } = await this.checker.check(ops, 60_000);
      if (result.ok === false) {
        const file = path.join(this.runDir, `epoch-${e.n}-not-linearizable.txt`);
        fs.writeFileSync(file, `${result.reason}\n\nwitness:\n${witness}\n\nall operations on ${result.key}:\n${JSON.stringify(ops.filter((o) => o.input.key === result.key))}\n`);
        this.violation('linearizability', `epoch ${e.n}, key ${result.key}: ${result.reason.split('\n')[0]} (see ${file})`, e.n);
      }
      if (result.ok === 'unknown') {
        this.epochsUnchecked++;
        this.recorder.write({ t: 'note', at: now(), event: 'check-timed-out', epoch: e.n, key: result.key, ops: ops.length });
      } else this.epochsChecked++;
      this.recorder.write({ t: 'epoch-checked', at: now(), epoch: e.n, ops: e.ops.length, events: events.length, linearizable: result.ok });
    } catch (err) {
      this.epochsUnchecked++;
      this.recorder.write({ t: 'note', at: now(), event: 'epoch-not-closed', epoch: e.n, error: String(err) });
      this.log(`epoch ${e.n} could not be closed: ${(err as Error).message}`);
    } finally {
      e.closed = true;
      for (const w of e.watches) w.watch.cancel();
    }
  }

  /** Waits (bounded) until each of the epoch's watches has promised `rev`, asking for progress. */
  private async finishWatches(e: Epoch, rev: number): Promise<void> {
    const end = now() + 30_000;
    for (const w of e.watches) {
      while ((w.responses.at(-1)?.revision ?? 0) < rev && !w.error && now() < end) {
        w.watch.requestProgress();
        await sleep(250);
      }
      w.watch.cancel();
      await Promise.race([w.reading, sleep(2000)]);
    }
  }

  // ---- the end ---------------------------------------------------------------------------------

  private async finalChecks(): Promise<void> {
    // Abandoned leases (and those whose holder stopped with the run) must expire: look until they did.
    const cl = await this.client();
    const leases = this.workload.leases.filter((l) => l.put?.ok && !l.revoke?.ok);
    const end = now() + Math.max(0, ...leases.map((l) => l.ttlMs)) + 5 * this.electionMs + 10_000;
    for (const l of leases) {
      while (l.seen.at(-1)?.present !== false && now() < end) {
        if ((await this.workload.observe(cl, l, 'final look')) === false) break;
        await sleep(250);
      }
    }
    let lateMax: number | undefined;
    for (const l of this.workload.leases) {
      this.recorder.write({ t: 'lease-final', ...l });
      for (const m of leaseCheck(l)) this.violation('lease', m);
      const late = leaseLateness(l, this.workload.probes);
      if (late !== undefined) lateMax = Math.max(lateMax ?? -Infinity, late);
    }
    this.leaseLateMaxMs = lateMax;
    await this.hashCheck();
    const alarms = await this.patiently('the alarm list', 30_000, (c) => c.alarmList()).catch(() => []);
    for (const a of alarms) this.violation(a.type === 'CORRUPT' ? 'hash' : 'crashes', `alarm ${a.type} is raised for member ${a.member.toString(16)}`);
  }

  private leaseLateMaxMs: number | undefined;

  /** Every serving member's hash of the key space at one revision (each waits until it has applied that far). */
  private async hashCheck(): Promise<void> {
    try {
      const rev = await this.patiently('a revision to hash at', 60_000, async (cl) => (await cl.prefix('probe', { countOnly: true })).revision);
      await this.caughtUp();
      const hashes = await Promise.all(this.cluster.up().map(async (p) => {
        const c = await connect({ endpoints: [p.clientUrl], timeoutMs: 30_000, attemptTimeoutMs: 5000 });
        try {
          const h = await c.hashKv(rev);
          return `${p.name}=${h.hash}@${h.revision}(floor ${h.compactRevision})`;
        } finally {
          await c.close();
        }
      }));
      this.recorder.write({ t: 'hash', at: now(), revision: rev, hashes });
      const distinct = new Set(hashes.map((h) => h.replace(/^[^=]*=/, '')));
      if (distinct.size > 1) this.violation('hash', `members differ at revision ${rev}: ${hashes.join(', ')}`);
    } catch (err) {
      this.violation('hash', `could not compare the members' hashes: ${(err as Error).message}`);
    }
  }

  /** Every serving member applies what the leader has committed, within a minute (else: a hash violation, they cannot converge). */
  private async caughtUp(): Promise<void> {
    const st = await this.cluster.status();
    const commit = Math.max(...st.map((s) => s.commitIndex));
    const end = now() + 60_000;
    for (;;) {
      const current = await this.cluster.status();
      const behind = current.filter((s) => s.appliedIndex < commit);
      const missing = this.cluster.up().filter((p) => !current.some((s) => s.member.name === p.name));
      if (behind.length === 0 && missing.length === 0) return;
      if (now() > end) {
        throw new Error(`members did not catch up within 60 s: ${[...behind.map((s) => `${s.member.name} applied ${s.appliedIndex} of ${commit}`), ...missing.map((p) => `${p.name} did not answer`)].join(', ')}`);
      }
      await sleep(250);
    }
  }

  private report(ms: number): FamilyReport {
    const sorted = [...this.recoveries].sort((a, b) => a - b);
    const t = this.workload.totals;
    return {
      family: this.fam.name, seed: this.options.seed, members: this.options.members ?? this.fam.members, runDir: this.runDir, ms: Math.round(ms),
      ops: t.ops, okOps: t.ok, unknownOps: t.unknown, leases: t.leases, watchResponses: t.watchResponses,
      faults: this.faultCount, faultKinds: this.faultKinds, epochsChecked: this.epochsChecked, epochsUnchecked: this.epochsUnchecked,
      counts: this.counts, violations: this.violations,
      recovery: {
        count: sorted.length, maxMs: Math.round(sorted.at(-1) ?? 0), medianMs: Math.round(sorted[Math.floor(sorted.length / 2)] ?? 0),
        over: this.recoveryOver, boundMs: 2 * this.electionMs,
      },
      leaseLateMaxMs: this.leaseLateMaxMs === undefined ? undefined : Math.round(this.leaseLateMaxMs),
      failed: CORRECTNESS.some((c) => this.counts[c] > 0),
    };
  }
}
