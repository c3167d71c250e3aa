/**
 * Real `axis serve` processes on 127.0.0.1 for the robustness harness: each member's peer traffic
 * goes through the fault layer (its peer URL, as every member knows it, is its proxy's address),
 * clients talk to it directly. Members are killed, paused, restarted (with failpoints or a slow
 * disk through their environment), added and removed; every unexpected exit is noted.
 *
 * Ports: the proxies' are ephemeral and held for the whole run; a member binds ports below 32768
 * (outside Linux's ephemeral range, so no client socket's local port takes them while it is down),
 * picked at random and probed, so concurrent runs do not collide. A restart that finds its peer
 * port taken anyway moves to another (only the proxy needs to know); one that finds its client
 * port taken waits and tries again.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type Client, type ConnectOptions, type MemberStatusReport } from '../../ts/client/index.js';
import { memberId } from '../../ts/server/config.js';
import type { PeerFaults } from './peer-faults.js';

const mainJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'ts', 'cli', 'main.js');

export interface ClusterSettings {
  tickMs: number;
  electionTicks: number;
  snapshotCount: number;
  snapshotCatchupEntries: number;
}

export type MemberState = 'up' | 'paused' | 'down' | 'removed';

export interface Proc {
  name: string;
  id: number;
  dataDir: string;
  clientPort: number;
  peerPort: number;
  /** What clients use. */
  clientUrl: string;
  /** What members use: the proxy in front of it. */
  peerUrl: string;
  /** Joined a running cluster (restarts say so too). */
  joined: boolean;
  state: MemberState;
  /** The environment of the current process beyond the harness's own (failpoints, slow disk). */
  env: Record<string, string>;
  child?: ChildProcess;
  exited?: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Exits the harness asked for (or that an armed failpoint explains) are not surprises. */
  expectExit: boolean;
  spawns: number;
}

/** Something went wrong with a member that no fault explains. */
export interface Surprise {
  at: number;
  member: string;
  what: string;
}

const used = new Set<number>();
/** Every member process this process started and that may still run (for killAll). */
const children = new Set<ChildProcess>();

/** SIGKILLs every member process still running (the harness was interrupted). */
export function killAll(): void {
  for (const c of children) {
    c.kill('SIGKILL');
    c.kill('SIGCONT');
  }
}

/** A port below 32768 nobody listens on now (probed with an exclusive bind). */
export async function lowPort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = randomInt(10_000, 32_000);
    if (used.has(port)) continue;
    const free = await new Promise<boolean>((resolve) => {
      const probe = createServer();
      probe.once('error', () => resolve(false));
      probe.listen({ host: '127.0.0.1', port, exclusive: true }, () => probe.close(() => resolve(true)));
    });
    if (free) {
      used.add(port);
      return port;
    }
  }
  throw new Error('no free port below 32768');
}

export class ProcessCluster {
  readonly procs: Proc[] = [];
  readonly surprises: Surprise[] = [];
  clusterId = '';
  /** Bumped when the set of members changes: clients made before should be made again. */
  generation = 0;
  private readonly admin = new MemberClient(this, { timeoutMs: 30_000, attemptTimeoutMs: 1000 });
  private nextName = 1;
  private closed = false;

  constructor(
    private readonly dir: string,
    private readonly faults: PeerFaults,
    private readonly settings: ClusterSettings,
    private readonly note: (event: Record<string, unknown>) => void,
  ) {
    fs.mkdirSync(path.join(dir, 'data'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'logs'), { recursive: true });
  }

  /** Starts `n` members and waits for a leader. */
  async start(n: number): Promise<void> {
    for (let i = 0; i < n; i++) await this.newProc();
    const initial = this.initialCluster();
    await Promise.all(this.procs.map((p) => this.spawn(p, initial)));
    this.clusterId = (await (await this.admin.get()).memberList()).clusterId.toString(16);
    await this.leader(30_000);
  }

  private async newProc(): Promise<Proc> {
    const name = `m${this.nextName++}`;
    const id = memberId(name);
    const [clientPort, peerPort] = [await lowPort(), await lowPort()];
    const proxyPort = await this.faults.add(name, String(id), peerPort);
    const p: Proc = {
      name, id, dataDir: path.join(this.dir, 'data', name), clientPort, peerPort,
      clientUrl: `tcp://127.0.0.1:${clientPort}`, peerUrl: `tcp://127.0.0.1:${proxyPort}`,
      joined: false, state: 'down', env: {}, expectExit: false, spawns: 0,
    };
    this.procs.push(p);
    return p;
  }

  private initialCluster(): string {
    return this.procs.filter((p) => !p.joined).map((p) => `${p.name}=${p.peerUrl}`).join(',');
  }

  /** Members that are (or should be) part of the cluster. */
  members(): Proc[] {
    return this.procs.filter((p) => p.state !== 'removed');
  }

  up(): Proc[] {
    return this.procs.filter((p) => p.state === 'up');
  }

  endpoints(): string[] {
    return this.members().map((p) => p.clientUrl);
  }

  byName(name: string): Proc {
    const p = this.procs.find((x) => x.name === name);
    if (!p) throw new Error(`no member ${name}`);
    return p;
  }

  private log(p: Proc, line: string): void {
    fs.appendFileSync(path.join(this.dir, 'logs', `${p.name}.log`), line);
  }

  /**
   * Starts member `p`'s process on its data directory and resolves once it serves (true), or
   * false if it exited first (a failpoint armed in `env` may fire early).
   */
  private async spawn(p: Proc, initial = this.initialCluster(), env: Record<string, string> = {}): Promise<boolean> {
    for (let attempt = 0; ; attempt++) {
      const r = await this.spawnOnce(p, initial, env);
      if (r !== 'in-use' || attempt >= 20) {
        if (r === 'in-use') this.surprise(p, 'could not restart: its ports stayed in use');
        return r === 'up';
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  }

  private spawnOnce(p: Proc, initial: string, env: Record<string, string>): Promise<'up' | 'exited' | 'in-use'> {
    const args = [
      mainJs, 'serve', '--name', p.name, '--data-dir', p.dataDir,
      '--peer-listen', `tcp://127.0.0.1:${p.peerPort}`, '--client-listen', p.clientUrl,
      '--initial-cluster', initial,
      '--tick-ms', String(this.settings.tickMs), '--election-ticks', String(this.settings.electionTicks),
      '--snapshot-count', String(this.settings.snapshotCount), '--snapshot-catchup-entries', String(this.settings.snapshotCatchupEntries),
      ...(p.joined ? ['--initial-cluster-state', 'existing', '--cluster-id', this.clusterId] : []),
    ];
    p.env = env;
    p.expectExit = false;
    p.spawns++;
    this.log(p, `\n=== harness: spawn #${p.spawns} at ${new Date().toISOString()} env ${JSON.stringify(env)}\n`);
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    p.child = child;
    children.add(child);
    child.on('exit', () => children.delete(child));
    p.state = 'up';
    let out = '';
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
    p.exited = exited;
    return new Promise((resolve) => {
      let settled = false;
      const settle = (r: 'up' | 'exited' | 'in-use') => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(r);
      };
      const timer = setTimeout(() => {
        this.surprise(p, 'did not start serving within 60 s');
        settle('exited');
      }, 60_000);
      let partial = '';
      const onData = (d: Buffer) => {
        const s = d.toString();
        this.log(p, s);
        if (!settled) {
          out += s;
          if (/axis: member \S+ \(/.test(out)) settle('up');
        }
        const lines = (partial + s).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) this.scan(p, line);
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
      void exited.then(({ code, signal }) => {
        if (child !== p.child) return;
        if (p.state !== 'removed') p.state = 'down';
        const inUse = !settled && /address (already )?in use|EADDRINUSE/i.test(out);
        if (inUse && out.includes(`:${p.peerPort}`)) {
          // Only the proxy knows the peer port: move it.
          void lowPort().then((port) => {
            p.peerPort = port;
            this.faults.retarget(p.name, port);
            settle('in-use');
          });
          return;
        }
        if (inUse) return settle('in-use');
        const why = signal ?? `code ${code}`;
        this.note({ event: 'exit', member: p.name, why, expected: p.expectExit || p.env.AXIS_FAILPOINT !== undefined });
        if (!p.expectExit && !this.closed) {
          if (p.env.AXIS_FAILPOINT !== undefined && signal === 'SIGKILL') this.note({ event: 'failpoint-fired', member: p.name, failpoint: p.env.AXIS_FAILPOINT });
          else this.surprise(p, `exited unexpectedly (${why}): ${out.split('\n').filter((l) => /error|fatal|unrecoverable/i.test(l)).slice(-3).join(' | ').slice(0, 500)}`);
        }
        settle('exited');
      });
    });
  }

  /** A line logged at error level or above is a surprise, but for the member removed on purpose saying so. */
  private scan(p: Proc, line: string): void {
    if (!/^\{"level":(5|6)0,/.test(line)) return;
    if (p.expectExit && line.includes('was removed from the cluster')) return;
    this.surprise(p, `logged an error: ${line.slice(0, 600)}`);
  }

  private surprise(p: Proc, what: string): void {
    this.surprises.push({ at: performance.timeOrigin + performance.now(), member: p.name, what });
    this.note({ event: 'surprise', member: p.name, what });
  }

  /** SIGKILLs `p` and waits for it to be gone. */
  async kill(p: Proc): Promise<void> {
    if (!p.child || p.state === 'down' || p.state === 'removed') return;
    p.expectExit = true;
    const wasPaused = p.state === 'paused';
    p.child.kill('SIGKILL');
    if (wasPaused) p.child.kill('SIGCONT');
    await p.exited;
  }

  /** SIGTERM: a graceful stop (a leader hands over first); SIGKILL if it takes too long. */
  async stop(p: Proc): Promise<void> {
    if (!p.child || p.state !== 'up') return this.kill(p);
    p.expectExit = true;
    p.child.kill('SIGTERM');
    const timer = setTimeout(() => p.child?.kill('SIGKILL'), 15_000);
    await p.exited;
    clearTimeout(timer);
  }

  pause(p: Proc): void {
    if (p.state !== 'up' || !p.child) return;
    p.child.kill('SIGSTOP');
    p.state = 'paused';
  }

  resume(p: Proc): void {
    if (p.state !== 'paused' || !p.child) return;
    p.child.kill('SIGCONT');
    p.state = 'up';
  }

  /** Starts a stopped member again on its data directory; false if it exited before serving. */
  async restart(p: Proc, env: Record<string, string> = {}): Promise<boolean> {
    if (p.state !== 'down') throw new Error(`${p.name} is ${p.state}, not down`);
    return this.spawn(p, this.initialClusterOf(p), env);
  }

  /** An initial member restarts with the cluster's first membership (its data directory says the rest). */
  private initialClusterOf(p: Proc): string {
    return p.joined ? this.members().filter((x) => x.state === 'up' || x === p).map((x) => `${x.name}=${x.peerUrl}`).join(',') : this.initialCluster();
  }

  /** Every member's status that answers. */
  async status(): Promise<MemberStatusReport[]> {
    return (await this.admin.get()).status();
  }

  /** The member every serving member agrees leads, waiting up to `ms`; undefined if none by then. */
  async leader(ms = 10_000): Promise<Proc | undefined> {
    const end = Date.now() + ms;
    for (;;) {
      const up = this.up();
      const s = await this.status().catch(() => []);
      const leaders = new Set(s.map((x) => x.leader));
      if (s.length >= up.length && leaders.size === 1 && !leaders.has(0)) {
        const p = this.procs.find((x) => x.id === [...leaders][0]);
        if (p && p.state === 'up') return p;
      }
      if (Date.now() > end) return undefined;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Adds a member (a learner, by default) and starts it; false if it did not come up. */
  async add(learner = true): Promise<{ proc: Proc; started: boolean }> {
    const p = await this.newProc();
    p.joined = true;
    const admin = await this.admin.get();
    try {
      await admin.memberAdd({ name: p.name, peerUrl: p.peerUrl, clientUrl: p.clientUrl, learner });
    } catch (err) {
      p.state = 'removed';
      throw err;
    }
    this.generation++;
    const started = await this.spawn(p, this.members().filter((x) => x.state === 'up' || x === p).map((x) => `${x.name}=${x.peerUrl}`).join(','));
    return { proc: p, started };
  }

  /** Removes member `p` from the cluster; it stops by itself (exit code 1), or is stopped. */
  async remove(p: Proc): Promise<void> {
    const admin = await this.admin.get();
    p.expectExit = true;
    await admin.memberRemove(p.id);
    p.state = 'removed';
    this.generation++;
    const timer = setTimeout(() => p.child?.kill('SIGKILL'), 15_000);
    if (p.child && p.child.exitCode === null && p.child.signalCode === null) {
      if (p.child.signalCode === null) p.child.kill('SIGCONT');
      await p.exited;
    }
    clearTimeout(timer);
    fs.rmSync(p.dataDir, { recursive: true, force: true });
  }

  /** Kills every process this cluster started (paused ones are continued so they can die). */
  async close(): Promise<void> {
    this.closed = true;
    await this.admin.close();
    for (const p of this.procs) {
      if (!p.child || p.child.exitCode !== null || p.child.signalCode !== null) continue;
      p.expectExit = true;
      p.child.kill('SIGKILL');
      p.child.kill('SIGCONT');
    }
    await Promise.all(this.procs.map((p) => p.exited));
  }
}

/** How long a client stays open after a newer one replaced it: its calls in flight end first. */
const RETIRE_MS = 60_000;

/**
 * A client with every member's endpoint, made again when the membership changed (once, however
 * many ask at the same time). A replaced client is closed once it has been retired a minute and
 * `canClose` agrees (watches still read from it, say).
 */
export class MemberClient {
  private current: { client: Client; generation: number } | undefined;
  private making: { promise: Promise<Client>; generation: number } | undefined;
  private retired: { client: Client; at: number }[] = [];
  private closed = false;

  constructor(
    private readonly cluster: ProcessCluster,
    private readonly options: Omit<ConnectOptions, 'endpoints'>,
    private readonly canClose: (c: Client) => boolean = () => true,
  ) {}

  async get(): Promise<Client> {
    this.sweep();
    const generation = this.cluster.generation;
    if (this.current?.generation === generation) return this.current.client;
    if (this.making?.generation !== generation) {
      const promise = connect({ ...this.options, endpoints: this.cluster.endpoints() });
      this.making = { promise, generation };
      promise.then(
        (client) => {
          if (this.closed) return void client.close();
          if (this.current) this.retired.push({ client: this.current.client, at: Date.now() });
          this.current = { client, generation };
        },
        () => undefined,
      ).finally(() => {
        if (this.making?.promise === promise) this.making = undefined;
      });
    }
    try {
      return await this.making.promise;
    } catch (err) {
      if (this.current) return this.current.client; // the old one may still reach someone
      throw err;
    }
  }

  private sweep(): void {
    const now = Date.now();
    this.retired = this.retired.filter((r) => {
      if (now - r.at < RETIRE_MS || !this.canClose(r.client)) return true;
      void r.client.close();
      return false;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.making?.promise.catch(() => undefined);
    for (const c of [this.current?.client, ...this.retired.map((r) => r.client)]) await c?.close().catch(() => undefined);
    this.current = undefined;
    this.retired = [];
  }
}
