/**
 * A real cluster: three `axis serve` processes on 127.0.0.1 with durable writes. Writes through
 * one member are read linearizably through another; the leader is killed with SIGKILL under load
 * and no acknowledged write is lost or applied twice; the killed member restarts from its data
 * directory and catches up; SIGTERM hands leadership over and exits cleanly; leases expire (or,
 * renewed, live on) across leaders killed twice; clients contend for a lock while the leader is
 * killed, and tenures never overlap.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type Client } from '../ts/client/index.js';
import { tempDirs } from './support/fixtures.js';
import { freePorts } from './support/ports.js';

const mainJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'ts', 'cli', 'main.js');
const dir = tempDirs('process');

interface Proc {
  name: string;
  child: ChildProcess | undefined;
  log: string[];
  exited: Promise<number | string> | undefined;
}

class Cluster {
  procs: Proc[] = [];
  endpoints: string[] = [];
  private args: string[][] = [];
  private clients: Client[] = [];
  private env: Record<string, string> = {};

  static async start(n: number, env: Record<string, string> = {}): Promise<Cluster> {
    const c = new Cluster();
    c.env = env;
    const ports = await freePorts(2 * n);
    const names = Array.from({ length: n }, (_, i) => `p${i + 1}`);
    const initial = names.map((nm, i) => `${nm}=tcp://127.0.0.1:${ports[2 * i]}`).join(',');
    for (let i = 0; i < n; i++) {
      const data = await dir();
      c.endpoints.push(`tcp://127.0.0.1:${ports[2 * i + 1]}`);
      c.args.push([
        mainJs, 'serve', '--name', names[i]!, '--data-dir', data, '--peer-listen', `tcp://127.0.0.1:${ports[2 * i]}`,
        '--client-listen', c.endpoints[i]!, '--initial-cluster', initial, '--tick-ms', '20', '--election-ticks', '10',
      ]);
      c.procs.push({ name: names[i]!, child: undefined, log: [], exited: undefined });
      c.spawn(i);
    }
    return c;
  }

  spawn(i: number): void {
    const p = this.procs[i]!;
    const child = spawn(process.execPath, this.args[i]!, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...this.env } });
    p.child = child;
    child.stdout!.on('data', (d: Buffer) => p.log.push(d.toString()));
    child.stderr!.on('data', (d: Buffer) => p.log.push(d.toString()));
    p.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code ?? -1)));
  }

  async client(endpoints = this.endpoints): Promise<Client> {
    const c = await connect({ endpoints, timeoutMs: 20000, attemptTimeoutMs: 1000 });
    this.clients.push(c);
    return c;
  }

  /** The leader's index, once every reachable member agrees on one. */
  async leader(ms = 20000): Promise<number> {
    const probe = await this.client();
    const end = Date.now() + ms;
    for (;;) {
      const s = await probe.status();
      const alive = this.procs.filter((p) => p.child && p.child.exitCode === null && p.child.signalCode === null).length;
      const leaders = new Set(s.map((x) => x.leader));
      if (s.length === alive && leaders.size === 1 && !leaders.has(0)) {
        const id = [...leaders][0];
        const at = s.find((x) => x.member.id === id);
        if (at) return this.endpoints.indexOf(at.endpoint);
      }
      if (Date.now() > end) throw new Error(`no agreed leader in ${ms} ms: ${JSON.stringify(s.map((x) => [x.member.name, x.leader]))}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  async kill(i: number, signal: NodeJS.Signals): Promise<number | string> {
    const p = this.procs[i]!;
    p.child!.kill(signal);
    const timeout = setTimeout(() => p.child!.kill('SIGKILL'), 15000);
    const r = await p.exited!;
    clearTimeout(timeout);
    return r;
  }

  async close(): Promise<void> {
    for (const c of this.clients) await c.close();
    for (const [i, p] of this.procs.entries()) if (p.child && p.child.exitCode === null && p.child.signalCode === null) await this.kill(i, 'SIGKILL');
  }
}

let cluster: Cluster | undefined;
after(async () => {
  await cluster?.close();
});

describe('a cluster of axis serve processes', { timeout: 240_000 }, () => {
  it('starts, elects a leader, and serves writes through one member to linearizable reads through another', async () => {
    cluster = await Cluster.start(3);
    await cluster.leader();
    const via1 = await cluster.client([cluster.endpoints[0]!]);
    const via3 = await cluster.client([cluster.endpoints[2]!]);
    for (let i = 0; i < 20; i++) {
      const { revision } = await via1.put(`lin/${i}`, `${i}`);
      const kv = await via3.get(`lin/${i}`);
      assert.equal(kv?.value.toString(), `${i}`);
      assert.equal(kv?.modRevision, revision);
    }
    const status = await via1.status();
    assert.equal(status.length, 1);
    assert.equal(status[0]!.members.length, 3);
  });

  it('the leader killed with SIGKILL under load: a new one is elected, no acknowledged write is lost or applied twice', async () => {
    const c = cluster!;
    const leader = await c.leader();
    const writers = 4;
    const acked = new Map<string, string>();
    const failed: string[] = [];
    let stop = false;
    let killed = false;
    const clients = await Promise.all(Array.from({ length: writers }, () => c.client()));
    const loops = clients.map(async (cl, w) => {
      for (let i = 0; !stop && i < 5000; i++) {
        const key = `load/${w}/${i}`;
        try {
          await cl.put(key, `${w}:${i}`);
          acked.set(key, `${w}:${i}`);
        } catch (err) {
          failed.push(`${key}: ${(err as Error).message}`);
        }
      }
    });
    const end = Date.now() + 60000;
    while (acked.size < 200 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    const ackedBeforeKill = acked.size;
    assert.equal(await c.kill(leader, 'SIGKILL'), 'SIGKILL');
    killed = true;
    while (acked.size < ackedBeforeKill + 200 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    stop = true;
    await Promise.all(loops);
    assert.ok(killed);
    assert.ok(acked.size >= ackedBeforeKill + 200, `writes went on after the kill (${ackedBeforeKill} → ${acked.size}; failures: ${failed.slice(0, 3).join('; ')})`);
    const newLeader = await c.leader();
    assert.notEqual(newLeader, leader);

    const survivors = [0, 1, 2].filter((i) => i !== leader);
    const reader = await c.client(survivors.map((i) => c.endpoints[i]!));
    const all = await reader.prefix('load/');
    const have = new Map(all.kvs.map((kv) => [kv.key.toString(), kv]));
    for (const [key, value] of acked) {
      const kv = have.get(key);
      assert.ok(kv, `acknowledged write ${key} is there`);
      assert.equal(kv.value.toString(), value);
    }
    for (const kv of all.kvs) assert.equal(kv.version, 1, `${kv.key.toString()} applied once`);
    // One revision per key: 1 (empty) + 20 (the first test) + one per load key. A write applied
    // twice would have made another.
    assert.equal(all.revision, 1 + 20 + all.count);
  });

  it('the killed member restarts from its data directory and catches up', async () => {
    const c = cluster!;
    const down = c.procs.findIndex((p) => p.child?.signalCode === 'SIGKILL');
    assert.ok(down >= 0);
    const cl = await c.client(c.endpoints.filter((_, i) => i !== down));
    await cl.put('after/restart', 'yes');
    const want = await cl.prefix('', { countOnly: true });
    c.spawn(down);
    const local = await c.client([c.endpoints[down]!]);
    const end = Date.now() + 20000;
    for (;;) {
      const r = await local.prefix('', { serializable: true, countOnly: true }).catch(() => undefined);
      if (r && r.revision >= want.revision) {
        assert.equal(r.count, want.count);
        break;
      }
      if (Date.now() > end) throw new Error(`member ${down} did not catch up: ${c.procs[down]!.log.join('')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal((await local.get('after/restart', { serializable: true }))?.value.toString(), 'yes');
    await c.leader();
  });

  it('SIGTERM on the leader hands leadership over and exits cleanly; the member rejoins on restart', async () => {
    const c = cluster!;
    const leader = await c.leader();
    assert.equal(await c.kill(leader, 'SIGTERM'), 0, c.procs[leader]!.log.join(''));
    assert.ok(c.procs[leader]!.log.join('').includes('stopping (SIGTERM)'));
    const next = await c.leader();
    assert.notEqual(next, leader);
    const cl = await c.client();
    await cl.put('after/term', '1');
    c.spawn(leader);
    const local = await c.client([c.endpoints[leader]!]);
    assert.equal((await local.get('after/term'))?.value.toString(), '1');
  });

  it('leases across leaders killed with SIGKILL: an unrenewed one expires (not before its TTL), a renewed one lives on', async () => {
    const c = cluster!;
    await c.leader();
    const cl = await connect({ endpoints: c.endpoints, timeoutMs: 20000, attemptTimeoutMs: 300 });
    try {
      const granted = Date.now();
      const { id: doomed } = await cl.leaseGrant(3);
      const { id: kept } = await cl.leaseGrant(2);
      await cl.put('lease/doomed', 'x', { lease: doomed });
      await cl.put('lease/kept', 'x', { lease: kept });
      let lost: Error | undefined;
      const ka = cl.keepAlive(kept, { onLost: (e) => (lost = e) });
      for (let round = 0; round < 2; round++) {
        const leader = await c.leader();
        assert.equal(await c.kill(leader, 'SIGKILL'), 'SIGKILL');
        await c.leader();
        c.spawn(leader);
        await new Promise((r) => setTimeout(r, 700));
      }
      const end = Date.now() + 30000;
      while ((await cl.get('lease/doomed')) !== undefined) {
        if (Date.now() > end) throw new Error('the unrenewed lease never expired');
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(Date.now() - granted >= 3000, 'not before its TTL');
      await c.leader();
      assert.equal(lost, undefined);
      assert.ok(await cl.get('lease/kept'), 'the renewed lease outlived two leader kills');
      ka.stop();
      await cl.leaseRevoke(kept);
    } finally {
      await cl.close();
    }
  });

  it('clients contend for one lock while the leader is killed: tenures never overlap, fencing tokens strictly increase', async () => {
    const c = cluster!;
    await c.leader();
    const tenures: { revision: number; from: number; to: number }[] = [];
    let holder = -1;
    let killed = false;
    const clients = await Promise.all(Array.from({ length: 4 }, () => connect({ endpoints: c.endpoints, timeoutMs: 20000, attemptTimeoutMs: 300 })));
    try {
      await Promise.all(
        clients.map(async (cl, who) => {
          for (let i = 0; i < 5; i++) {
            const lock = await cl.lock('proc-lock', { ttl: 5 });
            const from = Date.now();
            assert.equal(holder, -1, `${who} acquired while ${holder} held the lock`);
            holder = who;
            if (!killed && tenures.length === 6) {
              killed = true;
              const leader = await c.leader();
              await c.kill(leader, 'SIGKILL');
              c.spawn(leader);
            }
            await new Promise((r) => setTimeout(r, 5));
            holder = -1;
            tenures.push({ revision: lock.revision, from, to: Date.now() });
            await lock.unlock();
          }
        }),
      );
    } finally {
      for (const cl of clients) await cl.close();
    }
    assert.ok(killed);
    const sorted = [...tenures].sort((a, b) => a.revision - b.revision);
    for (let i = 1; i < sorted.length; i++) {
      assert.ok(sorted[i]!.revision > sorted[i - 1]!.revision);
      assert.ok(sorted[i]!.from >= sorted[i - 1]!.to, 'tenures follow fencing order without overlap');
    }
    await c.leader();
  });
});

describe('a member on a slow disk', { timeout: 120_000 }, () => {
  it('stops cleanly on SIGTERM while a Ready takes longer than a second to write', async () => {
    // Every flush waits 700 ms (AXIS_FSYNC_DELAY_MS): one Ready's journal record and commit take
    // about 1.4 s. stop() used to close the store after waiting 1 s for the Ready in flight, and the
    // Ready loop then failed on a closed store ("member-failed").
    const c = await Cluster.start(1, { AXIS_FSYNC_DELAY_MS: '700' });
    try {
      await c.leader();
      const cl = await c.client();
      await cl.put('slow/0', 'v');
      const pending = Array.from({ length: 5 }, (_, i) => cl.put(`slow/${i + 1}`, 'v').catch(() => undefined));
      await new Promise((r) => setTimeout(r, 200)); // a Ready is being written
      const log = () => c.procs[0]!.log.join('');
      assert.equal(await c.kill(0, 'SIGTERM'), 0, log());
      assert.ok(!log().includes('member-failed'), log());
      await Promise.all(pending);
    } finally {
      await c.close();
    }
  });
});
