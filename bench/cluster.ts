/**
 * The cluster figures: a real 3-member cluster — three `axis serve` child processes on 127.0.0.1,
 * durable writes (the default durability 'sync'), default ticks — driven by one client in the bench
 * process over ZeroMQ (`connect({endpoints})`, all three endpoints).
 *
 *   7  sequential put latency (p50, p99, mean), 8-byte keys, 256-byte values; baseline: one
 *      durable put into an embedded store in the bench process (the cost of one local commit)
 *   8  put throughput with a fixed window of puts in flight (distinct keys)
 *   9  linearizable get throughput (the default read), a fixed window in flight
 *  10  serializable get throughput, likewise
 * (8–10: the median of a few timed rounds.)
 *
 * Around every figure the bench records what the cluster did: each member's role, term and applied
 * index before and after (a leader change is flagged), which member the client sent each request
 * to (and so whether writes went to the leader), the CPU each member spent per thread (JS, the
 * store's writer, ZeroMQ's I/O thread, V8/libuv) from /proc, the CPU other processes on the machine
 * took meanwhile, and — when `perf` can count tracepoints — the syscalls each member made
 * (fdatasync, sendto, context switches...) per operation.
 *
 * After figure 7's timed run, when `perf trace` works, a few hundred more sequential puts are
 * traced (fdatasync, sendto, recvfrom of the members and of the bench) and cut into stages: request
 * in, leader log fsync, appends out, follower fsync, ack, apply fsync, reply out.
 *
 * `--profile` also starts every member with `--cpu-prof`; each profile is cut to each figure's time
 * window (V8's profile clock is the monotonic clock process.hrtime reads) and summarized: CPU per
 * area of the code (protobufjs, zeromq, the Raft core, the store...) and the top functions.
 *
 * Every child (members, perf) is registered so that any exit path — a failure, SIGINT, the
 * watchdog — SIGKILLs what is still running; the normal stop is SIGTERM, bounded, then SIGKILL.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type Client, type MemberStatusReport } from '../ts/client/index.js';
import { open as openAxis } from '../ts/index.js';
import { exited, keepTail, stopAll, track, waitExit } from './children.js';
import { Histogram } from './histogram.js';
import { drive, type LoadResult } from './loadgen.js';
import { row, type Row } from './report.js';
import {
  type ClusterConfig, type LatencySummary, type Scratch, freePorts, key, now, rng, secondsSince, sleep, summarize, value,
} from './util.js';

export const CLUSTER_FIGURES = ['put-latency', 'put-throughput', 'get-linearizable', 'get-serializable'] as const;
export type ClusterFigure = (typeof CLUSTER_FIGURES)[number];
/** Figure numbers carry on after the embedded section's 1–6. */
export const CLUSTER_FIRST_NUMBER = 7;

/** The targets from the issue (this 2-core machine). */
export const TARGETS = {
  putP50Ms: 1,
  putThroughput: 10_000,
  linearizableGets: 20_000,
};

const here = path.dirname(fileURLToPath(import.meta.url));
const mainJs = path.resolve(here, '..', 'ts', 'cli', 'main.js');
export const CLK_TCK = 100; // Linux USER_HZ (getconf CLK_TCK)

// ---- /proc: CPU per process and per thread, machine CPU -------------------------------------

export interface ThreadCpu {
  tid: number;
  name: string;
  /** user + system */
  ticks: number;
  sys: number;
}

export function readThreads(pid: number): ThreadCpu[] {
  const out: ThreadCpu[] = [];
  let tids: string[];
  try {
    tids = fs.readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tids) {
    try {
      const s = fs.readFileSync(`/proc/${pid}/task/${t}/stat`, 'utf8');
      const open = s.indexOf('(');
      const close = s.lastIndexOf(')');
      const name = s.slice(open + 1, close);
      const f = s.slice(close + 2).split(' ');
      // f[0] is field 3 (state); utime and stime are fields 14 and 15.
      out.push({ tid: Number(t), name, ticks: Number(f[11]) + Number(f[12]), sys: Number(f[12]) });
    } catch {
      // the thread ended
    }
  }
  return out;
}

/** Busy and total jiffies of the whole machine (all cores), from /proc/stat. */
export function machineTicks(): { busy: number; total: number } {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((a, b) => a + b, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return { busy: NaN, total: NaN };
  }
}

/**
 * A thread's kind: the main (JS) thread; ZeroMQ's by name; the one that calls fdatasync (per perf)
 * is the store's native writer; the other unnamed ones ("node") are V8's platform workers (GC,
 * compilers) and libuv's pool.
 */
function threadKind(pid: number, t: ThreadCpu, writerTid: number | undefined): string {
  if (t.tid === pid) return 'main (JS)';
  if (t.tid === writerTid) return 'writer (LMDB commits)';
  if (t.name === 'node') return writerTid === undefined ? 'other node threads (writer, V8, libuv)' : 'other node threads (V8, libuv)';
  return t.name;
}

// ---- perf: syscall counts per member (optional) -------------------------------------------

const PERF_EVENTS = [
  'syscalls:sys_enter_fdatasync',
  'syscalls:sys_enter_fsync',
  'syscalls:sys_enter_msync',
  'syscalls:sys_enter_pwrite64',
  'syscalls:sys_enter_write',
  'syscalls:sys_enter_sendto',
  'syscalls:sys_enter_recvfrom',
  'syscalls:sys_enter_epoll_wait',
  'syscalls:sys_enter_futex',
  'context-switches',
];

let perfChecked: boolean | undefined;

function perfUsable(): boolean {
  if (perfChecked !== undefined) return perfChecked;
  try {
    const r = spawnSync('perf', ['stat', '-x,', '-e', PERF_EVENTS.join(','), '--', 'true'], { timeout: 10_000, encoding: 'utf8' });
    perfChecked = r.status === 0 && !/not supported|unknown|invalid|Permission/i.test(r.stderr ?? '') && /sys_enter_fdatasync/.test(r.stderr ?? '');
  } catch {
    perfChecked = false;
  }
  return perfChecked;
}

/** What perf counted for one process: totals, and per thread (tid). */
interface PerfCounts {
  total: Record<string, number>;
  byTid: Map<number, Record<string, number>>;
}

/** `perf stat --per-thread` counting the syscalls of one process's threads until stopped. */
class PerfCount {
  private readonly child: ChildProcess;
  private err = '';

  constructor(pid: number) {
    this.child = track(spawn('perf', ['stat', '--per-thread', '-x,', '-e', PERF_EVENTS.join(','), '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] }));
    this.child.stderr!.on('data', (d: Buffer) => {
      this.err += d.toString();
    });
  }

  /** Stops counting; the counts by short name (fdatasync, sendto, context-switches...). */
  async stop(): Promise<PerfCounts> {
    if (!exited(this.child)) this.child.kill('SIGINT');
    if (!(await waitExit(this.child, 5000))) {
      this.child.kill('SIGKILL');
      await waitExit(this.child, 2000);
    }
    const total: Record<string, number> = {};
    const byTid = new Map<number, Record<string, number>>();
    for (const line of this.err.split('\n')) {
      // comm-tid,count,,event,...
      const f = line.split(',');
      if (f.length < 4) continue;
      const tid = Number(/-(\d+)$/.exec(f[0]!)?.[1]);
      const n = Number(f[1]);
      const name = f[3]!.replace('syscalls:sys_enter_', '');
      if (!Number.isFinite(tid) || !Number.isFinite(n) || !PERF_EVENTS.some((e) => e.endsWith(name))) continue;
      total[name] = (total[name] ?? 0) + n;
      const t = byTid.get(tid) ?? {};
      t[name] = (t[name] ?? 0) + n;
      byTid.set(tid, t);
    }
    for (const e of PERF_EVENTS) total[e.replace('syscalls:sys_enter_', '')] ??= 0;
    return { total, byTid };
  }
}

// ---- per-stage timings of sequential puts, from a syscall trace ---------------------------

let traceChecked: boolean | undefined;

function traceUsable(): boolean {
  if (traceChecked !== undefined) return traceChecked;
  try {
    const r = spawnSync('perf', ['trace', '-e', 'fdatasync', '--', 'true'], { timeout: 10_000, encoding: 'utf8' });
    traceChecked = r.status === 0;
  } catch {
    traceChecked = false;
  }
  return traceChecked;
}

/** Each member's fd of its Raft journal (raft.wal), from /proc; -1 if not found. */
function journalFds(members: { name: string; pid: number }[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of members) {
    let fd = -1;
    try {
      for (const f of fs.readdirSync(`/proc/${m.pid}/fd`)) {
        try {
          if (fs.readlinkSync(`/proc/${m.pid}/fd/${f}`).endsWith('/raft.wal')) fd = Number(f);
        } catch {
          // closed meanwhile
        }
      }
    } catch {
      // not on Linux, or gone
    }
    out.set(m.name, fd);
  }
  return out;
}

interface Sys {
  /** Start and duration, ms (perf trace's clock, shared by every traced process). */
  t: number;
  dur: number;
  tid: number;
  sys: string;
  fd: number;
  ret: number;
}

/** Parses `perf trace` output: complete lines, and entry lines (…) joined with their "[continued]" ends. */
export function parsePerfTrace(text: string): Sys[] {
  const out: Sys[] = [];
  const pending = new Map<number, { t: number; sys: string; fd: number }>();
  const lineRe = /^\s*([\d.]+) \(\s*(?:([\d.]+) ms)?\s*\): (.+)\/(\d+)\s+(\.\.\. \[continued\]: )?(\w+)\((.*?)\)\)?\s*(?:= (-?\d+))?\s*(\.\.\.)?\s*$/;
  for (const line of text.split('\n')) {
    const m = lineRe.exec(line);
    if (!m) continue;
    const t = Number(m[1]);
    const tid = Number(m[4]);
    const sys = m[6]!;
    const fdm = /fd: (\d+)/.exec(m[7] ?? '');
    if (m[9] === '...' || m[2] === undefined) {
      // entry only: the end comes later as "[continued]"
      pending.set(tid, { t, sys, fd: fdm ? Number(fdm[1]) : -1 });
      continue;
    }
    const ret = Number(m[8] ?? NaN);
    let fd = fdm ? Number(fdm[1]) : -1;
    if (m[5]) {
      const p = pending.get(tid);
      if (p && p.sys === sys) fd = p.fd;
      pending.delete(tid);
    }
    out.push({ t, dur: Number(m[2]), tid, sys, fd, ret });
  }
  return out.sort((a, b) => a.t - b.t);
}

/** Where one sequential put's time goes, µs from the client's send (medians over the traced puts). */
export interface StageReport {
  traced: number;
  parsed: number;
  /** Median latency of the traced puts (tracing slows them; compare with the untraced p50). */
  tracedP50Us: number;
  /** fdatasync calls per put, per member (median). */
  fsyncsPerPut: Record<string, number>;
  /** Share of puts whose appends left the leader before its own log fsync ended. */
  appendsBeforeLeaderFsyncEnd: number;
  stages: { stage: string; medianUs: number; p90Us: number }[];
}

const STAGES = [
  'client send → leader receives request',
  'leader receives → its journal fdatasync starts',
  'leader journal fdatasync',
  'leader receives → appends leave for followers',
  'appends leave → (quickest) follower receives',
  'follower receives → its journal fdatasync starts',
  'follower journal fdatasync',
  'follower fdatasync ends → its ack leaves',
  'ack leaves → leader receives it',
  'leader receives ack → reply leaves (applied, visible; flushed after)',
  'reply leaves → client receives',
  'total (client send → client receive)',
];

/**
 * Cuts sequential puts into STAGES. `journalFd`: each member's fd of its Raft journal (raft.wal),
 * whose fdatasync makes appends durable; the store's own flushes (other fds) follow the replies and
 * are counted, not staged.
 */
export function analyzeTrace(events: Sys[], who: Map<number, string>, leader: string, followers: string[], journalFd: Map<string, number>): Omit<StageReport, 'traced' | 'tracedP50Us'> {
  const byWho = (w: string, sys: string) => events.filter((e) => who.get(e.tid) === w && e.sys === sys);
  const journalSyncs = (w: string) => byWho(w, 'fdatasync').filter((e) => e.fd === journalFd.get(w));
  const clientSends = byWho('client', 'sendto').filter((e) => e.ret >= 256);
  const clientRecvs = byWho('client', 'recvfrom').filter((e) => e.ret > 0);
  const lRecv = byWho(leader, 'recvfrom').filter((e) => e.ret > 0);
  const lSend = byWho(leader, 'sendto').filter((e) => e.ret > 0);
  const lSync = journalSyncs(leader);
  const f = followers.map((n) => ({ n, recv: byWho(n, 'recvfrom').filter((e) => e.ret > 0), send: byWho(n, 'sendto').filter((e) => e.ret > 0), sync: journalSyncs(n) }));
  const first = <T extends Sys>(xs: T[], pred: (e: T) => boolean): T | undefined => xs.find(pred);
  const samples: number[][] = STAGES.map(() => []);
  const fsyncs: Record<string, number[]> = {};
  let parsed = 0;
  let early = 0;
  for (let i = 0; i < clientSends.length; i++) {
    const req = clientSends[i]!;
    const t0 = req.t;
    const resp = first(clientRecvs, (e) => e.t > t0);
    if (!resp || (clientSends[i + 1] && clientSends[i + 1]!.t < resp.t)) continue;
    const t1 = resp.t + resp.dur;
    const inWin = (e: Sys) => e.t >= t0 && e.t <= t1;
    const reqIn = first(lRecv, (e) => e.t >= t0 && e.ret >= 256);
    if (!reqIn) continue;
    const clientFd = reqIn.fd;
    const appOut = first(lSend, (e) => e.t >= reqIn.t && e.ret >= 256 && e.fd !== clientFd);
    const l1 = first(lSync, (e) => e.t >= reqIn.t);
    if (!appOut || !l1) continue;
    // Followers: receive the append, fsync, ack; the quickest ack is the one that makes a quorum.
    let best: { recv: Sys; sync: Sys; ack: Sys } | undefined;
    for (const x of f) {
      const recv = first(x.recv, (e) => e.t >= appOut.t && e.ret >= 256);
      if (!recv) continue;
      const sync = first(x.sync, (e) => e.t >= recv.t);
      if (!sync) continue;
      const ack = first(x.send, (e) => e.t >= sync.t + sync.dur);
      if (!ack || ack.t > t1) continue;
      if (!best || ack.t < best.ack.t) best = { recv, sync, ack };
    }
    if (!best) continue;
    const ackIn = first(lRecv, (e) => e.t >= best!.ack.t && e.fd !== clientFd);
    if (!ackIn) continue;
    const reply = first(lSend, (e) => e.t >= ackIn.t && e.fd === clientFd && e.t <= t1);
    if (!reply) continue;
    parsed++;
    if (appOut.t < l1.t + l1.dur) early++;
    const us = (ms: number) => ms * 1000;
    const v = [
      reqIn.t - t0,
      l1.t - reqIn.t,
      l1.dur,
      appOut.t - reqIn.t,
      best.recv.t - appOut.t,
      best.sync.t - best.recv.t,
      best.sync.dur,
      best.ack.t - (best.sync.t + best.sync.dur),
      ackIn.t - best.ack.t,
      reply.t - ackIn.t,
      resp.t - reply.t,
      t1 - t0,
    ];
    v.forEach((x, k) => samples[k]!.push(us(x)));
    for (const n of [leader, ...followers]) {
      const mine = events.filter((e) => who.get(e.tid) === n && e.sys === 'fdatasync' && inWin(e));
      (fsyncs[`${n} journal`] ??= []).push(mine.filter((e) => e.fd === journalFd.get(n)).length);
      (fsyncs[`${n} store`] ??= []).push(mine.filter((e) => e.fd !== journalFd.get(n)).length);
    }
  }
  const med = (xs: number[]) => summarize(xs).p50;
  return {
    parsed,
    fsyncsPerPut: Object.fromEntries(Object.entries(fsyncs).map(([n, xs]) => [n, med(xs)])),
    appendsBeforeLeaderFsyncEnd: parsed ? early / parsed : NaN,
    stages: STAGES.map((stage, k) => ({ stage, medianUs: med(samples[k]!), p90Us: summarize(samples[k]!).p90 })),
  };
}

// ---- the cluster ----------------------------------------------------------------------------

interface MemberProc {
  name: string;
  peer: number;
  client: number;
  endpoint: string;
  dir: string;
  child: ChildProcess;
  pid: number;
  /** The last lines it printed (stdout and stderr), for failure reports. */
  tail: string[];
}

export class LocalCluster {
  readonly members: MemberProc[] = [];

  constructor(
    private readonly scratch: Scratch,
    private readonly log: (line: string) => void,
    readonly size = 3,
  ) {}

  get endpoints(): string[] {
    return this.members.map((m) => m.endpoint);
  }

  /** Spawns the members (each `axis serve`, extra node flags first). */
  async start(nodeFlags: string[]): Promise<void> {
    const ports = await freePorts(2 * this.size);
    const names = Array.from({ length: this.size }, (_, i) => `n${i + 1}`);
    const initial = names.map((n, i) => `${n}=tcp://127.0.0.1:${ports[2 * i]}`).join(',');
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!;
      const dir = this.scratch.dir(`cluster-${name}`);
      const peer = ports[2 * i]!;
      const client = ports[2 * i + 1]!;
      const args = [
        ...nodeFlags, mainJs, 'serve', '--name', name, '--data-dir', dir,
        '--peer-listen', `tcp://127.0.0.1:${peer}`, '--client-listen', `tcp://127.0.0.1:${client}`,
        '--initial-cluster', initial,
      ];
      const child = track(spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
      const m: MemberProc = { name, peer, client, endpoint: `tcp://127.0.0.1:${client}`, dir, child, pid: child.pid ?? -1, tail: [] };
      keepTail(child, m.tail);
      child.on('exit', (code, signal) => {
        if (!this.stopping) this.log(`  member ${name} exited unexpectedly (${signal ?? `code ${code}`}); last output:\n    ${m.tail.join('\n    ')}`);
      });
      this.members.push(m);
    }
  }

  private stopping = false;

  /** Any member that has died. */
  dead(): MemberProc[] {
    return this.members.filter((m) => exited(m.child));
  }

  /** SIGTERM all, wait up to `boundSec`, SIGKILL what is left; never throws. */
  stop(boundSec: number): ReturnType<typeof stopAll> {
    this.stopping = true;
    return stopAll(this.members, boundSec);
  }
}

/** A cluster that is up: its processes, a client with every endpoint, the leader all members agree on. */
export interface StartedCluster {
  cluster: LocalCluster;
  client: Client;
  leader: string;
  term: number;
  seconds: number;
}

/**
 * Starts `size` members, connects a client to all of them, waits until every member reports the
 * same leader, and puts one key through (so the leader's first entry of its term is applied
 * everywhere before anything is timed). `onCluster` gets the processes as soon as they are
 * spawned, so a caller can stop them even if start-up fails.
 */
export async function startCluster(
  size: number,
  scratch: Scratch,
  log: (line: string) => void,
  o: { nodeFlags?: string[]; startSec: number; onCluster?: (c: LocalCluster) => void },
): Promise<StartedCluster> {
  const t0 = now();
  const c = new LocalCluster(scratch, log, size);
  o.onCluster?.(c);
  await c.start(o.nodeFlags ?? []);
  const deadline = Date.now() + o.startSec * 1000;
  const client = await connect({ endpoints: c.endpoints, timeoutMs: o.startSec * 1000 });
  try {
    let s: MemberStatusReport[] = [];
    for (;;) {
      const dead = c.dead();
      if (dead.length > 0) throw new Error(`member(s) ${dead.map((m) => m.name).join(', ')} exited during start-up:\n${dead.map((m) => m.tail.join('\n')).join('\n')}`);
      s = await client.status();
      // `leader` may be missing rather than 0 when none is known (status() spreads the decoded
      // message, which drops protobufjs's prototype defaults): treat anything falsy as "none".
      const leaders = new Set(s.map((x) => Number(x.leader || 0)));
      if (s.length === size && leaders.size === 1 && !leaders.has(0)) break;
      if (Date.now() > deadline) throw new Error(`no leader agreed by all ${size} members within ${o.startSec}s (answers: ${JSON.stringify(s.map((x) => ({ n: x.member.name, l: x.leader, role: x.role })))})`);
      await sleep(50);
    }
    const seconds = secondsSince(t0);
    const leader = s.find((x) => Number(x.member.id) === Number(s[0]!.leader));
    if (!leader) throw new Error(`the agreed leader ${s[0]!.leader} is none of the members ${s.map((x) => x.member.id).join(', ')}`);
    await client.put(key('z', 0), value(1));
    log(`  ${size}-member cluster up in ${seconds.toFixed(1)}s: leader ${leader.member.name} (term ${leader.raftTerm}); members ${c.members.map((m) => `${m.name}@${m.client}`).join(', ')}`);
    return { cluster: c, client, leader: leader.member.name, term: Number(leader.raftTerm || 0), seconds };
  } catch (err) {
    await client.close().catch(() => undefined);
    throw err;
  }
}

// ---- what one phase did ---------------------------------------------------------------------

interface RequestCounts {
  [endpoint: string]: { put: number; get: number; sget: number; other: number };
}

interface Observation {
  t: bigint;
  status: MemberStatusReport[];
  threads: Map<string, ThreadCpu[]>;
  machine: { busy: number; total: number };
  client: NodeJS.CpuUsage;
  clientThreads: ThreadCpu[];
  requests: RequestCounts;
}

export interface PhaseReport {
  seconds: number;
  ops: number;
  /** Name, role, term, applied index (before → after) of each member. */
  members: { name: string; endpoint: string; role: string; termBefore: number; termAfter: number; appliedDelta: number }[];
  leader: string;
  leaderChanged: boolean;
  /** Requests the client sent, per member (name) and kind. */
  requests: Record<string, { put: number; get: number; sget: number; other: number }>;
  /** Share of the client's puts sent to the leader (1 = all). */
  writesToLeader: number | null;
  /** CPU seconds per member over the phase, total and per kind of thread, and CPU µs per operation. */
  cpu: Record<string, { role: string; seconds: number; systemSeconds: number; usPerOp: number; threads: Record<string, number>; threadsSystem: Record<string, number> }>;
  /** The bench process (the client) over the phase, and per kind of thread (its JS thread is the client library's). */
  clientCpu: { seconds: number; usPerOp: number; threads: Record<string, number> };
  /** The whole machine's busy share over the phase, all cores (1 = every core busy). */
  machineBusy: number;
  /** CPU seconds other processes (not the members, not the bench) used during the phase: other load on the machine. */
  otherCpuSeconds: number;
  /**
   * CPU µs per operation of the members and the client together, and the rate the machine's cores
   * could sustain at that cost if nothing else ran (an upper bound that other load does not move much).
   */
  cpuPerOpUs: number;
  cpuCeilingOpsPerSec: number;
  /** 1-minute load average at the end of the phase. */
  loadAverage: number;
  /** perf syscall counts per member and per operation (when perf works). */
  syscalls?: Record<string, { counts: Record<string, number>; perOp: Record<string, number>; byThread: Record<string, Record<string, number>> }>;
  /** Profile window, µs on the monotonic clock. */
  window: { fromUs: number; toUs: number };
}

// ---- the bench ------------------------------------------------------------------------------

export interface ClusterOptions {
  /** Start members with --cpu-prof into this directory. */
  profileDir?: string;
  /** Count the members' syscalls with `perf stat` when it works (default true). */
  perf?: boolean;
}

export class ClusterBench {
  private readonly val = value(1);
  private cluster?: LocalCluster;
  private client?: Client;
  private requests: RequestCounts = {};
  private patched = false;
  /** Keys known to be in the cluster (for the gets). */
  private readKeys: Buffer[] = [];
  private readonly phases: { figure: string; report: PhaseReport }[] = [];
  private startInfo: Record<string, unknown> = {};
  private stopInfo: Record<string, unknown> | undefined;
  private pids: { name: string; pid: number }[] = [];
  /** Each member's writer thread, once perf has seen it fdatasync. */
  private readonly writers = new Map<string, number>();

  constructor(
    private readonly cfg: ClusterConfig,
    private readonly scratch: Scratch,
    private readonly log: (line: string) => void,
    private readonly options: ClusterOptions = {},
  ) {}

  /** Start-up, stop and per-phase details for the JSON file. */
  info(): Record<string, unknown> {
    return { ...this.startInfo, stop: this.stopInfo ?? null, perfSyscallCounts: this.options.perf !== false && (perfChecked ?? false) };
  }

  /** The members' names and pids (for their profiles). */
  memberPids(): { name: string; pid: number }[] {
    return this.pids;
  }

  phaseReports(): { figure: string; report: PhaseReport }[] {
    return this.phases;
  }

  /** Brings the cluster up and waits until every member reports the same leader. */
  async start(): Promise<void> {
    if (this.cluster) return;
    const flags = this.options.profileDir
      ? [`--cpu-prof`, `--cpu-prof-dir=${this.options.profileDir}`, `--cpu-prof-interval=500`]
      : [];
    const up = await startCluster(3, this.scratch, this.log, { nodeFlags: flags, startSec: this.cfg.startSec, onCluster: (c) => (this.cluster = c) });
    const c = up.cluster;
    this.pids = c.members.map((m) => ({ name: m.name, pid: m.pid }));
    this.client = up.client;
    this.patchClient(up.client);
    this.startInfo = {
      startSeconds: up.seconds,
      members: c.members.map((m) => ({ name: m.name, pid: m.pid, peer: `tcp://127.0.0.1:${m.peer}`, client: m.endpoint })),
      leaderAtStart: up.leader,
      termAtStart: up.term,
      serveArgs: 'node [--cpu-prof ...] dist/ts/cli/main.js serve --name nX --data-dir <tmp> --peer-listen tcp://127.0.0.1:P --client-listen tcp://127.0.0.1:C --initial-cluster n1=...,n2=...,n3=... (durability sync, tick 100 ms, election 10 ticks: the defaults)',
      profiling: this.options.profileDir ?? null,
    };
  }
  /** Counts the requests the client sends, per endpoint and kind (bench-only instrumentation of a private field). */
  private patchClient(client: Client): void {
    const conns = (client as unknown as { conns?: { endpoint: string; request: (req: Record<string, unknown>, t: number) => Promise<unknown> }[] }).conns;
    if (!Array.isArray(conns)) return;
    for (const conn of conns) {
      if (typeof conn.request !== 'function' || typeof conn.endpoint !== 'string') return;
      const orig = conn.request.bind(conn);
      const counts = (this.requests[conn.endpoint] ??= { put: 0, get: 0, sget: 0, other: 0 });
      conn.request = (req, t) => {
        if (req.put) counts.put++;
        else if (req.get) (req.get as { serializable?: boolean }).serializable ? counts.sget++ : counts.get++;
        else counts.other++;
        return orig(req, t);
      };
    }
    this.patched = true;
  }

  async run(fig: ClusterFigure): Promise<Row[]> {
    await this.start();
    const dead = this.cluster!.dead();
    if (dead.length > 0) throw new Error(`member(s) ${dead.map((m) => m.name).join(', ')} are down`);
    switch (fig) {
      case 'put-latency': return this.putLatency();
      case 'put-throughput': return this.putThroughput();
      case 'get-linearizable': return this.gets(false);
      case 'get-serializable': return this.gets(true);
    }
  }

  /** Stops the cluster (SIGTERM, bounded, then SIGKILL) and closes the client; never throws. */
  async close(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    await client?.close().catch(() => undefined);
    const c = this.cluster;
    this.cluster = undefined;
    if (!c) return;
    const r = await c.stop(this.cfg.stopSec);
    this.stopInfo = r;
    this.log(`  cluster stopped: ${r.clean.length} member(s) exited on SIGTERM${r.killed.length ? `, SIGKILLed ${r.killed.join(', ')}` : ''}`);
    for (const m of c.members) this.scratch.remove(m.dir);
  }

  // ---- observation ----------------------------------------------------------------------------

  private snapshotRequests(): RequestCounts {
    const out: RequestCounts = {};
    for (const [e, v] of Object.entries(this.requests)) out[e] = { ...v };
    return out;
  }

  private async observe(): Promise<Observation> {
    const status = await this.client!.status();
    const threads = new Map<string, ThreadCpu[]>();
    for (const m of this.cluster!.members) threads.set(m.name, readThreads(m.pid));
    return { t: now(), status, threads, machine: machineTicks(), client: process.cpuUsage(), clientThreads: readThreads(process.pid), requests: this.snapshotRequests() };
  }

  /** Runs `work` between two observations (and perf counters), and reports what the cluster did. */
  private async phase<T extends { ops: number }>(figure: string, work: () => Promise<T>): Promise<{ result: T; report: PhaseReport }> {
    const c = this.cluster!;
    const perf = this.options.perf !== false && perfUsable() ? c.members.map((m) => new PerfCount(m.pid)) : undefined;
    if (perf) await sleep(300); // perf attaches to the running threads
    const a = await this.observe();
    const fromUs = Number(a.t / 1000n);
    const result = await work();
    const b = await this.observe();
    const toUs = Number(b.t / 1000n);
    const counts = perf ? await Promise.all(perf.map((p) => p.stop())) : undefined;
    const seconds = Number(b.t - a.t) / 1e9;
    const ops = result.ops;
    const nameOf = new Map<string, string>(); // endpoint -> name
    const roleOf = new Map<string, string>(); // name -> role
    for (const s of b.status) {
      nameOf.set(s.endpoint, s.member.name);
      roleOf.set(s.member.name, s.role);
    }
    const leaderId = Number(b.status[0]?.leader || 0);
    const leaderName = b.status.find((s) => Number(s.member.id) === leaderId)?.member.name ?? '?';
    const leaderBefore = Number(a.status[0]?.leader || 0);
    const termsBefore = new Map(a.status.map((s) => [s.member.name, s]));
    const members = b.status.map((s) => ({
      name: s.member.name,
      endpoint: s.endpoint,
      role: s.role,
      termBefore: Number(termsBefore.get(s.member.name)?.raftTerm || 0),
      termAfter: Number(s.raftTerm || 0),
      appliedDelta: Number(s.appliedIndex || 0) - Number(termsBefore.get(s.member.name)?.appliedIndex || 0),
    }));
    const leaderChanged = leaderId === 0 || leaderId !== leaderBefore || members.some((m) => m.termBefore !== m.termAfter) || b.status.length !== c.size;
    const requests: PhaseReport['requests'] = {};
    let puts = 0;
    let putsToLeader = 0;
    for (const [e, v] of Object.entries(b.requests)) {
      const before = a.requests[e] ?? { put: 0, get: 0, sget: 0, other: 0 };
      const d = { put: v.put - before.put, get: v.get - before.get, sget: v.sget - before.sget, other: v.other - before.other };
      const name = nameOf.get(e) ?? e;
      requests[name] = d;
      puts += d.put;
      if (name === leaderName) putsToLeader += d.put;
    }
    const writerTid = new Map<string, number>();
    if (counts) {
      c.members.forEach((m, i) => {
        let best = 0;
        for (const [tid, v] of counts[i]!.byTid) {
          if (tid !== m.pid && (v.fdatasync ?? 0) + (v.fsync ?? 0) > best) {
            best = (v.fdatasync ?? 0) + (v.fsync ?? 0);
            writerTid.set(m.name, tid);
          }
        }
      });
    }
    const cpu: PhaseReport['cpu'] = {};
    for (const m of c.members) {
      const before = new Map((a.threads.get(m.name) ?? []).map((t) => [t.tid, t]));
      const threads: Record<string, number> = {};
      const threadsSystem: Record<string, number> = {};
      let total = 0;
      let system = 0;
      for (const t of b.threads.get(m.name) ?? []) {
        const d = (t.ticks - (before.get(t.tid)?.ticks ?? 0)) / CLK_TCK;
        const ds = (t.sys - (before.get(t.tid)?.sys ?? 0)) / CLK_TCK;
        if (d <= 0) continue;
        const k = threadKind(m.pid, t, writerTid.get(m.name) ?? this.writers.get(m.name));
        threads[k] = (threads[k] ?? 0) + d;
        threadsSystem[k] = (threadsSystem[k] ?? 0) + ds;
        total += d;
        system += ds;
      }
      cpu[m.name] = { role: roleOf.get(m.name) ?? '?', seconds: total, systemSeconds: system, usPerOp: ops > 0 ? (total * 1e6) / ops : NaN, threads, threadsSystem };
    }
    const cu = (b.client.user - a.client.user + b.client.system - a.client.system) / 1e6;
    const clientThreads: Record<string, number> = {};
    {
      const before = new Map(a.clientThreads.map((t) => [t.tid, t.ticks]));
      for (const t of b.clientThreads) {
        const d = (t.ticks - (before.get(t.tid) ?? 0)) / CLK_TCK;
        if (d <= 0) continue;
        const k = t.tid === process.pid ? 'main (JS)' : t.name === 'node' ? 'other node threads (V8, libuv, embedded writer)' : t.name;
        clientThreads[k] = (clientThreads[k] ?? 0) + d;
      }
    }
    const machineBusy = (b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total);
    const membersCpu = Object.values(cpu).reduce((x, y) => x + y.seconds, 0);
    const otherCpuSeconds = Math.max(0, (b.machine.busy - a.machine.busy) / CLK_TCK - membersCpu - cu);
    const cpuPerOpUs = ops > 0 ? ((membersCpu + cu) * 1e6) / ops : NaN;
    const cpuCeilingOpsPerSec = (os.cpus().length * 1e6) / cpuPerOpUs;
    let syscalls: PhaseReport['syscalls'];
    if (counts) {
      syscalls = {};
      c.members.forEach((m, i) => {
        const cs = counts[i]!.total;
        const perOp: Record<string, number> = {};
        for (const [k, v] of Object.entries(cs)) perOp[k] = ops > 0 ? v / ops : NaN;
        const names = new Map((b.threads.get(m.name) ?? []).map((t) => [t.tid, t]));
        const byThread: Record<string, Record<string, number>> = {};
        for (const [tid, v] of counts[i]!.byTid) {
          if (!Object.values(v).some((x) => x > 0)) continue;
          const t = names.get(tid) ?? { tid, name: '?', ticks: 0, sys: 0 };
          byThread[`${threadKind(m.pid, t, writerTid.get(m.name) ?? this.writers.get(m.name))} [${tid}]`] = v;
        }
        syscalls![m.name] = { counts: cs, perOp, byThread };
      });
    }
    for (const [n, t] of writerTid) this.writers.set(n, t);
    const report: PhaseReport = {
      seconds, ops, members, leader: leaderName, leaderChanged, requests,
      writesToLeader: this.patched && puts > 0 ? putsToLeader / puts : null,
      cpu, clientCpu: { seconds: cu, usPerOp: ops > 0 ? (cu * 1e6) / ops : NaN, threads: clientThreads }, machineBusy, otherCpuSeconds, cpuPerOpUs, cpuCeilingOpsPerSec, loadAverage: os.loadavg()[0]!, syscalls,
      window: { fromUs, toUs },
    };
    this.phases.push({ figure, report });
    this.log('  ' + describePhase(report).join('\n  '));
    return { result, report };
  }

  // ---- workloads --------------------------------------------------------------------------

  /** Runs `op(i)` for i = 0, 1, ... with `window` in flight until `maxOps` are done or `maxSec` passed. */
  private windowed(window: number, maxOps: number, maxSec: number, op: (i: number) => Promise<unknown>): Promise<LoadResult> {
    return drive(op, { inFlight: window, maxOps, maxSec });
  }

  /** `rounds` timed windowed runs; op(i) gets indices unique across rounds. The median round's rate is the figure. */
  private async rounds(window: number, maxOps: number, maxSec: number, op: (i: number) => Promise<unknown>): Promise<{ ops: number; seconds: number; rate: number; rates: number[]; hist: Histogram; errors: number; firstError?: string }> {
    const runs: LoadResult[] = [];
    for (let r = 0; r < this.cfg.rounds; r++) runs.push(await this.windowed(window, maxOps, maxSec, (i) => op(r * maxOps + i)));
    const rates = runs.map((x) => x.throughput);
    const sorted = [...rates].sort((a, b) => a - b);
    const hist = new Histogram();
    for (const x of runs) hist.add(x.hist);
    return {
      ops: runs.reduce((n, x) => n + x.ops, 0),
      seconds: runs.reduce((n, x) => n + x.seconds, 0),
      rate: sorted[(sorted.length - 1) >> 1]!,
      rates,
      hist,
      errors: runs.reduce((n, x) => n + x.errors, 0),
      firstError: runs.find((x) => x.firstError)?.firstError,
    };
  }

  /** Sequential durable puts into an embedded store in this process: one local durable commit, for comparison. */
  private async embeddedBaseline(): Promise<LatencySummary> {
    const dir = this.scratch.dir('cluster-embedded-baseline');
    const store = await openAxis(dir);
    try {
      for (let i = 0; i < 50; i++) await store.put(key('w', i), this.val);
      const r = await drive((i) => store.put(key('e', i), this.val), { inFlight: 1, maxOps: this.cfg.embeddedPuts, maxSec: 60 });
      return r.hist.summary();
    } finally {
      await store.close();
      this.scratch.remove(dir);
    }
  }

  /**
   * Sequential puts under `perf trace` (fdatasync, sendto, recvfrom of the members and of this
   * process), cut into stages. Runs after the timed phase: tracing slows every syscall it sees.
   */
  private async traceStages(n: number): Promise<StageReport | { skipped: string }> {
    if (this.options.perf === false) return { skipped: '--no-perf' };
    if (!traceUsable()) return { skipped: 'perf trace is not usable here' };
    const c = this.cluster!;
    const st = await this.client!.status();
    const leaderId = Number(st[0]?.leader || 0);
    const leader = st.find((x) => Number(x.member.id) === leaderId)?.member.name;
    if (!leader) return { skipped: 'no leader' };
    const who = new Map<number, string>();
    for (const m of c.members) for (const t of readThreads(m.pid)) who.set(t.tid, m.name);
    for (const t of readThreads(process.pid)) who.set(t.tid, 'client');
    const file = path.join(this.scratch.root, 'put-trace.txt');
    const pids = [...c.members.map((m) => m.pid), process.pid].join(',');
    const perf = track(spawn('perf', ['trace', '-p', pids, '-e', 'fdatasync,sendto,recvfrom', '-o', file], { stdio: 'ignore' }));
    try {
      await sleep(1000); // attach
      const lat: number[] = [];
      for (let i = 0; i < n; i++) {
        const t = now();
        await this.client!.put(key('r', i), this.val);
        lat.push(Number(now() - t) / 1000);
        await sleep(2); // keep the puts apart in the trace
      }
      await sleep(200);
      perf.kill('SIGINT');
      if (!(await waitExit(perf, 10_000))) {
        perf.kill('SIGKILL');
        await waitExit(perf, 2000);
      }
      const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
      const events = parsePerfTrace(text);
      const followers = c.members.map((m) => m.name).filter((x) => x !== leader);
      const r = analyzeTrace(events, who, leader, followers, journalFds(c.members));
      return { traced: n, tracedP50Us: summarize(lat).p50, ...r };
    } finally {
      if (!exited(perf)) perf.kill('SIGKILL');
      fs.rmSync(file, { force: true });
    }
  }

  /** 7. Sequential put latency. */
  private async putLatency(): Promise<Row[]> {
    const client = this.client!;
    const base = await this.embeddedBaseline();
    for (let i = 0; i < this.cfg.warmPuts; i++) await client.put(key('w', i), this.val);
    const n = this.cfg.seqPuts;
    const { result, report } = await this.phase('put-latency', async () => {
      const r = await drive((i) => client.put(key('a', i), this.val), { inFlight: 1, maxOps: n, maxSec: 600 });
      if (r.errors > 0) throw new Error(`${r.errors} sequential put(s) failed: ${r.firstError}`);
      return { ops: r.ops, seconds: r.seconds, lat: r.hist.summary() };
    });
    this.readKeys = Array.from({ length: Math.min(n, 1000) }, (_, i) => key('a', i));
    const stages = await this.traceStages(this.cfg.tracePuts);
    if ('stages' in stages) {
      this.log(`  stages of a sequential put (perf trace of ${stages.parsed}/${stages.traced} puts; traced p50 ${(stages.tracedP50Us / 1000).toFixed(2)} ms vs ${(result.lat.p50 / 1000).toFixed(2)} ms untraced), median µs:`);
      for (const x of stages.stages) this.log(`    ${x.medianUs.toFixed(0).padStart(6)}  ${x.stage}`);
      this.log(`    fdatasync per put: ${Object.entries(stages.fsyncsPerPut).map(([k, v]) => `${k} ${v}`).join(', ')}; appends left before the leader's own fsync ended in ${(stages.appendsBeforeLeaderFsyncEnd * 100).toFixed(0)}% of puts`);
    } else {
      this.log(`  (no per-stage trace: ${stages.skipped})`);
    }
    const l = result.lat;
    const how = `${n.toLocaleString('en-US')} awaited client.put() one after another (after ${this.cfg.warmPuts} warm-up puts), new 8-byte keys, 256-byte values; ` +
      `client in the bench process with all 3 endpoints; ${fmtShare(report.writesToLeader)} of puts sent to the leader (${report.leader}); ${report.otherCpuSeconds.toFixed(1)} CPU-s taken by other processes meanwhile` +
      `${report.leaderChanged ? '; LEADER CHANGED during the run' : ''}; baseline: ${this.cfg.embeddedPuts} awaited put() into an embedded store in the bench process (one local durable commit)`;
    const ms = (us: number): number => us / 1000;
    return [
      row({
        id: '7', figure: 'put-latency', unit: 'ms', title: 'cluster: sequential durable put, p50 latency',
        axis: ms(l.p50), baseline: ms(base.p50), baselineLabel: 'embedded Axis await put(), p50 (one local durable commit)',
        target: { cmp: '<=', value: TARGETS.putP50Ms, of: 'value' },
        method: how,
        data: { cluster: l, embedded: base, unit: 'µs', seconds: result.seconds, opsPerSec: n / result.seconds, phase: report, stages },
      }),
      row({
        id: '7b', figure: 'put-latency', unit: 'ms', title: '  p99 latency',
        axis: ms(l.p99), baseline: ms(base.p99), baselineLabel: 'embedded Axis await put(), p99',
        method: `same run; p90 ${ms(l.p90).toFixed(3)} ms, p99.9 ${ms(l.p999).toFixed(3)} ms, max ${ms(l.max).toFixed(3)} ms`,
      }),
      row({
        id: '7c', figure: 'put-latency', unit: 'ms', title: '  mean latency',
        axis: ms(l.mean), baseline: ms(base.mean), baselineLabel: 'embedded Axis await put(), mean',
        method: `same run; ${Math.round(n / result.seconds).toLocaleString('en-US')} puts/s one at a time`,
      }),
    ];
  }

  /** 8. Put throughput with a fixed window in flight, distinct keys. */
  private async putThroughput(): Promise<Row[]> {
    const client = this.client!;
    const w = this.cfg.putWindow;
    // Warm the path at this concurrency (connections, JIT, the leader's batching) without timing it.
    await this.windowed(w, Math.min(2000, this.cfg.putOps), 2, (i) => client.put(key('u', i), this.val));
    const { result, report } = await this.phase('put-throughput', () =>
      this.rounds(w, this.cfg.putOps, this.cfg.putSec, (i) => client.put(key('t', i), this.val)),
    );
    if (result.ops === 0) throw new Error(`no put succeeded: ${result.firstError}`);
    if (this.readKeys.length === 0) this.readKeys = Array.from({ length: Math.min(result.ops, 1000) }, (_, i) => key('t', i));
    const rate = result.rate;
    const l = result.hist.summary();
    const how = `median of ${this.cfg.rounds} round(s) (${result.rates.map((x) => Math.round(x).toLocaleString('en-US')).join(', ')} puts/s), each a fixed window of ${w} outstanding client.put() (a new one as each resolves), distinct new keys, until ${this.cfg.putOps.toLocaleString('en-US')} puts or ${this.cfg.putSec}s: ` +
      `${result.ops.toLocaleString('en-US')} puts in ${result.seconds.toFixed(2)}s in all${result.errors ? `, ${result.errors} ERRORS (first: ${result.firstError})` : ''}; ` +
      `${fmtShare(report.writesToLeader)} sent to the leader (${report.leader})${report.leaderChanged ? '; LEADER CHANGED' : ''}; machine CPU ${(report.machineBusy * 100).toFixed(0)}% busy, ${report.otherCpuSeconds.toFixed(1)} CPU-s taken by other processes; ${report.cpuPerOpUs.toFixed(0)} CPU-µs per put (members + client) → CPU-bound ceiling ${Math.round(report.cpuCeilingOpsPerSec).toLocaleString('en-US')} puts/s`;
    return [
      row({
        id: '8', figure: 'put-throughput', unit: 'ops/s', title: `cluster: durable puts, ${w} in flight`,
        axis: rate, target: { cmp: '>=', value: TARGETS.putThroughput, of: 'value' },
        method: how,
        data: { ops: result.ops, seconds: result.seconds, rates: result.rates, errors: result.errors, firstError: result.firstError ?? null, window: w, latencyUs: l, phase: report },
      }),
      row({
        id: '8b', figure: 'put-throughput', unit: 'ms', title: `  put latency at ${w} in flight, p50 (p99 in notes)`,
        axis: l.p50 / 1000,
        method: `same run; p90 ${(l.p90 / 1000).toFixed(2)} ms, p99 ${(l.p99 / 1000).toFixed(2)} ms, max ${(l.max / 1000).toFixed(2)} ms`,
      }),
    ];
  }

  /** Keys for the gets: those figure 7 or 8 wrote, or a fresh set when run alone. */
  private async ensureReadKeys(): Promise<Buffer[]> {
    if (this.readKeys.length > 0) return this.readKeys;
    const ks = Array.from({ length: 1000 }, (_, i) => key('g', i));
    await this.windowed(64, ks.length, 60, (i) => this.client!.put(ks[i]!, this.val));
    this.readKeys = ks;
    return ks;
  }

  /** 9 / 10. Get throughput, linearizable (default) or serializable, a fixed window in flight. */
  private async gets(serializable: boolean): Promise<Row[]> {
    const client = this.client!;
    const ks = await this.ensureReadKeys();
    const r = rng(serializable ? 10 : 9);
    const idx = Uint32Array.from({ length: 1 << 16 }, () => Math.floor(r() * ks.length));
    const opts = serializable ? { serializable: true } : undefined;
    let misses = 0;
    const get = (i: number): Promise<unknown> =>
      client.get(ks[idx[i & 0xffff]!]!, opts).then((kv) => {
        if (!kv || kv.value.length !== this.val.length) misses++;
      });
    const w = this.cfg.getWindow;
    const fig = serializable ? 'get-serializable' : 'get-linearizable';
    await this.windowed(w, Math.min(5000, this.cfg.getOps), 2, get); // warm-up
    const { result, report } = await this.phase(fig, () => this.rounds(w, this.cfg.getOps, this.cfg.getSec, get));
    if (result.ops === 0) throw new Error(`no get succeeded: ${result.firstError}`);
    if (misses > 0) throw new Error(`${misses} get(s) did not find a key that was written`);
    // Other windows, for the JSON (not the table).
    const sweep: { window: number; opsPerSec: number; p50Us: number; p99Us: number }[] = [];
    for (const sw of this.cfg.getWindowSweep) {
      const s = await this.windowed(sw, this.cfg.getOps, this.cfg.sweepSec, get);
      const sl = s.hist.summary();
      sweep.push({ window: sw, opsPerSec: s.ops / s.seconds, p50Us: sl.p50, p99Us: sl.p99 });
    }
    if (sweep.length) this.log(`  other windows: ${sweep.map((s) => `${s.window} in flight ${Math.round(s.opsPerSec).toLocaleString('en-US')}/s`).join(', ')}`);
    const rate = result.rate;
    const l = result.hist.summary();
    const spread = Object.entries(report.requests).map(([n, v]) => `${n}${n === report.leader ? ' (leader)' : ''} ${serializable ? v.sget : v.get}`).join(', ');
    const how = `median of ${this.cfg.rounds} round(s) (${result.rates.map((x) => Math.round(x).toLocaleString('en-US')).join(', ')} gets/s), each a fixed window of ${w} outstanding client.get(k${serializable ? ', {serializable: true}' : ''}) on random keys of ${ks.length} written ones, until ${this.cfg.getOps.toLocaleString('en-US')} gets or ${this.cfg.getSec}s: ` +
      `${result.ops.toLocaleString('en-US')} gets in ${result.seconds.toFixed(2)}s in all${result.errors ? `, ${result.errors} ERRORS (first: ${result.firstError})` : ''}; ` +
      `requests per member: ${spread}; machine CPU ${(report.machineBusy * 100).toFixed(0)}% busy, ${report.otherCpuSeconds.toFixed(1)} CPU-s taken by other processes; ${report.cpuPerOpUs.toFixed(0)} CPU-µs per get (members + client) → CPU-bound ceiling ${Math.round(report.cpuCeilingOpsPerSec).toLocaleString('en-US')} gets/s` +
      (sweep.length ? `; other windows: ${sweep.map((s) => `${s.window}→${Math.round(s.opsPerSec).toLocaleString('en-US')}/s`).join(', ')}` : '');
    const id = serializable ? '10' : '9';
    return [
      row({
        id, figure: fig, unit: 'ops/s',
        title: serializable ? `cluster: serializable gets, ${w} in flight` : `cluster: linearizable gets (the default), ${w} in flight`,
        axis: rate,
        ...(serializable ? {} : { target: { cmp: '>=' as const, value: TARGETS.linearizableGets, of: 'value' as const } }),
        method: how,
        data: { ops: result.ops, seconds: result.seconds, rates: result.rates, errors: result.errors, window: w, latencyUs: l, sweep, phase: report },
      }),
      row({
        id: `${id}b`, figure: fig, unit: 'ms', title: `  get latency at ${w} in flight, p50`,
        axis: l.p50 / 1000,
        method: `same run; p90 ${(l.p90 / 1000).toFixed(2)} ms, p99 ${(l.p99 / 1000).toFixed(2)} ms, max ${(l.max / 1000).toFixed(2)} ms`,
      }),
    ];
  }
}

function fmtShare(x: number | null): string {
  return x === null ? '?' : `${(x * 100).toFixed(0)}%`;
}

/** A few lines on what the cluster did during a phase. */
export function describePhase(r: PhaseReport): string[] {
  const lines: string[] = [];
  lines.push(`leader ${r.leader}${r.leaderChanged ? ' (CHANGED during the phase)' : ''}; ${r.seconds.toFixed(2)}s; ${r.cpuPerOpUs.toFixed(1)} CPU-µs per op (members + client): at most ${Math.round(r.cpuCeilingOpsPerSec).toLocaleString('en-US')} ops/s on ${os.cpus().length} idle cores; machine CPU ${(r.machineBusy * 100).toFixed(0)}% busy, other processes ${r.otherCpuSeconds.toFixed(2)} CPU-s; client CPU ${r.clientCpu.seconds.toFixed(2)}s (${r.clientCpu.usPerOp.toFixed(1)} µs/op) [${Object.entries(r.clientCpu.threads).sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${v.toFixed(2)}s`).join(', ')}]`);
  for (const [name, c] of Object.entries(r.cpu)) {
    const th = Object.entries(c.threads).sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v.toFixed(2)}s (sys ${(c.threadsSystem[k] ?? 0).toFixed(2)})`).join(', ');
    const req = r.requests[name];
    const sc = r.syscalls?.[name];
    const scs = sc ? `; per op: ${['fdatasync', 'fsync', 'msync', 'pwrite64', 'write', 'sendto', 'recvfrom', 'epoll_wait', 'futex', 'context-switches'].filter((k) => (sc.perOp[k] ?? 0) > 0.005).map((k) => `${k} ${sc.perOp[k]!.toFixed(2)}`).join(', ')}` : '';
    lines.push(`  ${name} ${c.role}: CPU ${c.seconds.toFixed(2)}s = ${c.usPerOp.toFixed(1)} µs/op [${th}]; client sent it ${req ? `${req.put} puts, ${req.get} gets, ${req.sget} serializable gets` : 'nothing'}${scs}`);
  }
  return lines;
}

// ---- CPU profiles -----------------------------------------------------------------------------

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; parent?: number; children?: number[] }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface ProfileSummary {
  member: string;
  role: string;
  figure: string;
  /** Milliseconds sampled in the window: busy (not idle) and idle. */
  busyMs: number;
  idleMs: number;
  /** Busy time by area of the code, self time (ms and share of busy). */
  areas: { area: string; ms: number; share: number }[];
  /** Top functions by self time. */
  topSelf: { fn: string; ms: number; share: number }[];
  /** Top Axis functions by inclusive time (time with them on the stack). */
  topInclusive: { fn: string; ms: number; share: number }[];
}

function areaOf(url: string, fn: string): string {
  if (fn === '(garbage collector)') return 'GC';
  if (fn === '(program)') return '(program): native, not attributed to JS';
  if (fn === '(idle)') return 'idle';
  if (url === '') return `native/builtin`;
  const dist = /\/dist\/(ts|bindings)\/(?:([a-z-]+)\/)?/.exec(url);
  if (dist) return dist[1] === 'bindings' ? 'axis bindings' : `axis ${dist[2] ?? 'root'}`;
  const nm = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (nm) return nm[1]!;
  if (url.startsWith('node:')) return 'node internals';
  return url;
}

function shortUrl(url: string): string {
  const i = url.indexOf('/dist/');
  if (i >= 0) return url.slice(i + 6);
  const j = url.lastIndexOf('/node_modules/');
  if (j >= 0) return url.slice(j + 14);
  return url;
}

/** Summarizes one profile's samples within [fromUs, toUs]. */
export function summarizeProfile(p: CpuProfile, fromUs: number, toUs: number, labels: { member: string; role: string; figure: string }): ProfileSummary {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const incl = new Map<string, number>();
  const areas = new Map<string, number>();
  let busy = 0;
  let idle = 0;
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (t < fromUs || t > toUs) continue;
    // The sample stands for the time until the next one.
    const w = (p.timeDeltas[i + 1] ?? 500) / 1000;
    const n = byId.get(p.samples[i]!);
    if (!n) continue;
    const fn = n.callFrame.functionName || '(anonymous)';
    const area = areaOf(n.callFrame.url, fn);
    if (area === 'idle') {
      idle += w;
      continue;
    }
    busy += w;
    areas.set(area, (areas.get(area) ?? 0) + w);
    const label = n.callFrame.url ? `${fn} ${shortUrl(n.callFrame.url)}:${n.callFrame.lineNumber + 1}` : fn;
    self.set(label, (self.get(label) ?? 0) + w);
    const seen = new Set<string>();
    for (let id: number | undefined = n.id; id !== undefined; id = parent.get(id)) {
      const f = byId.get(id)!;
      if (!/\/dist\/(ts|bindings)\//.test(f.callFrame.url)) continue;
      const l = `${f.callFrame.functionName || '(anonymous)'} ${shortUrl(f.callFrame.url)}:${f.callFrame.lineNumber + 1}`;
      if (seen.has(l)) continue;
      seen.add(l);
      incl.set(l, (incl.get(l) ?? 0) + w);
    }
  }
  const top = (m: Map<string, number>, k: number, key: 'area' | 'fn') =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, ms]) => ({ [key]: name, ms, share: busy > 0 ? ms / busy : 0 }));
  return {
    ...labels,
    busyMs: busy,
    idleMs: idle,
    areas: top(areas, 20, 'area') as ProfileSummary['areas'],
    topSelf: top(self, 20, 'fn') as ProfileSummary['topSelf'],
    topInclusive: top(incl, 25, 'fn') as ProfileSummary['topInclusive'],
  };
}

/** Reads the members' profiles from `dir` (one per pid) and summarizes each figure's window. */
export function summarizeProfiles(dir: string, members: { name: string; pid: number }[], phases: { figure: string; report: PhaseReport }[]): ProfileSummary[] {
  const out: ProfileSummary[] = [];
  let files: string[] = [];
  try {
    files = fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return out;
  }
  for (const m of members) {
    const f = files.find((x) => x.split('.').includes(String(m.pid)));
    if (!f) continue;
    const p = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8')) as CpuProfile;
    for (const ph of phases) {
      const role = ph.report.cpu[m.name]?.role ?? '?';
      out.push(summarizeProfile(p, ph.report.window.fromUs, ph.report.window.toUs, { member: m.name, role, figure: ph.figure }));
    }
  }
  return out;
}

export function describeProfile(s: ProfileSummary, k = 12): string[] {
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`;
  const lines = [`${s.figure} / ${s.member} (${s.role}): ${s.busyMs.toFixed(0)} ms busy on the JS thread, ${s.idleMs.toFixed(0)} ms idle`];
  lines.push(`  by area (self): ${s.areas.slice(0, 10).map((a) => `${a.area} ${pct(a.share)}`).join(', ')}`);
  lines.push('  top self:');
  for (const f of s.topSelf.slice(0, k)) lines.push(`    ${pct(f.share).padStart(6)}  ${f.fn}`);
  lines.push('  top Axis inclusive:');
  for (const f of s.topInclusive.slice(0, k)) lines.push(`    ${pct(f.share).padStart(6)}  ${f.fn}`);
  return lines;
}

/** A fresh directory for profiles, kept after the run (outside the scratch root). */
export function profileDirectory(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'axis-bench-profiles-'));
}

