/**
 * Membership with real `axis serve` processes on 127.0.0.1 (durable writes, logs compacted every
 * few hundred entries), under a steady write load from three clients whose history is checked for
 * linearizability: the cluster grows from 3 to 5 members (learners, promoted once caught up),
 * shrinks back to 3 (the leader among those removed), and a member whose data directory was
 * deleted is replaced by a new one that catches up from a snapshot. Removed members stop by
 * themselves. Every member left holds the same key space.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { connect, type Client } from '../ts/client/index.js';
import { ErrorCode, isAxisError } from '../ts/errors/index.js';
import { memberId } from '../ts/server/config.js';
import { mulberry32, tempDirs, until } from './support/fixtures.js';
import { freePorts } from './support/ports.js';
import { checkHistory, describeHistory } from './support/linearizability.js';
import { runKvWorkload } from './support/kv-workload.js';

const mainJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'ts', 'cli', 'main.js');
const dir = tempDirs('mprocess');

interface Proc {
  name: string;
  peerUrl: string;
  clientUrl: string;
  dataDir: string;
  child?: ChildProcess;
  exited?: Promise<number | string>;
  log: string[];
}

const procs: Proc[] = [];
const clients: Client[] = [];
let clusterId = '';

function spawnMember(p: Proc, initial: Proc[], state: 'new' | 'existing'): void {
  const args = [
    mainJs, 'serve', '--name', p.name, '--data-dir', p.dataDir, '--peer-listen', p.peerUrl, '--client-listen', p.clientUrl,
    '--initial-cluster', initial.map((x) => `${x.name}=${x.peerUrl}`).join(','), '--tick-ms', '20', '--election-ticks', '10',
    '--snapshot-count', '300', '--snapshot-catchup-entries', '50',
    ...(state === 'existing' ? ['--initial-cluster-state', 'existing', '--cluster-id', clusterId] : []),
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  p.child = child;
  child.stdout!.on('data', (d: Buffer) => p.log.push(d.toString()));
  child.stderr!.on('data', (d: Buffer) => p.log.push(d.toString()));
  p.exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code ?? -1)));
}

function alive(p: Proc): boolean {
  return !!p.child && p.child.exitCode === null && p.child.signalCode === null;
}


after(async () => {
  for (const c of clients) await c.close();
  for (const p of procs) if (alive(p)) p.child!.kill('SIGKILL');
  await Promise.all(procs.map((p) => p.exited));
});

describe('membership changes across real processes under load', { timeout: 300_000 }, () => {
  it('grows 3 → 5, shrinks 5 → 3 and replaces a lost member; the history stays linearizable', async () => {
    const ports = await freePorts(12);
    for (let i = 0; i < 6; i++) {
      procs.push({ name: `q${i + 1}`, peerUrl: `tcp://127.0.0.1:${ports[2 * i]}`, clientUrl: `tcp://127.0.0.1:${ports[2 * i + 1]}`, dataDir: await dir(), log: [] });
    }
    const initial = procs.slice(0, 3);
    for (const p of initial) spawnMember(p, initial, 'new');
    const admin = await connect({ endpoints: procs.map((p) => p.clientUrl), timeoutMs: 30_000, attemptTimeoutMs: 500 });
    clients.push(admin);
    clusterId = (await admin.memberList()).clusterId.toString(16);
    const load = await Promise.all([0, 1, 2].map(() => connect({ endpoints: procs.map((p) => p.clientUrl), timeoutMs: 5000, attemptTimeoutMs: 500 })));
    clients.push(...load);
    const work = runKvWorkload(load, mulberry32(7));
    const members = async () => (await admin.memberList()).members;
    const t0 = Date.now();
    const phase = (what: string) => {
      if (process.env.AXIS_TEST_VERBOSE) process.stderr.write(`${Date.now() - t0} ms: ${what} (${work.ops.length} operations)\n`);
    };

    try {
      // Enough history first that the logs were compacted: joiners can only catch up from a snapshot.
      await until('some load', 60_000, async () => (work.ops.length >= 600 ? true : undefined));
      phase('loaded');
      // Grow: two learners, each promoted once it has caught up.
      for (const p of procs.slice(3, 5)) {
        await admin.memberAdd({ name: p.name, peerUrl: p.peerUrl, clientUrl: p.clientUrl, learner: true });
        spawnMember(p, procs.slice(0, procs.indexOf(p) + 1), 'existing');
        await until(`${p.name} to be promoted`, 60_000, async () => {
          try {
            return (await admin.memberPromote(memberId(p.name))).members.find((m) => m.name === p.name && !m.learner);
          } catch (err) {
            if (isAxisError(err, ErrorCode.LEARNER_NOT_READY)) return undefined;
            throw err;
          }
        });
      }
      assert.deepEqual((await members()).map((m) => [m.name, m.learner]), ['q1', 'q2', 'q3', 'q4', 'q5'].map((n) => [n, false]));
      phase('grown to 5');

      // Shrink: the leader first (it hands over), then another of the first three.
      const status = await admin.status();
      const leaderId = status[0]!.leader;
      const leader = procs.find((p) => memberId(p.name) === leaderId)!;
      const second = initial.find((p) => p !== leader)!;
      for (const p of [leader, second]) {
        await admin.memberRemove(memberId(p.name));
        assert.equal(await p.exited, 1, `${p.name} stops once removed`);
      }
      assert.equal((await members()).length, 3);
      phase('shrunk to 3');

      // Replace a member whose data directory is lost.
      const lost = procs.slice(0, 5).find((p) => alive(p))!;
      lost.child!.kill('SIGKILL');
      await lost.exited;
      await fs.rm(lost.dataDir, { recursive: true, force: true });
      await admin.memberRemove(memberId(lost.name));
      const fresh = procs[5]!;
      await admin.memberAdd({ name: fresh.name, peerUrl: fresh.peerUrl, clientUrl: fresh.clientUrl });
      spawnMember(fresh, procs.filter((p) => alive(p) || p === fresh), 'existing');
      await until(`${fresh.name} to catch up`, 60_000, async () => {
        const st = await admin.status();
        const f = st.find((s) => s.member.name === fresh.name);
        const lead = st.find((s) => s.role === 'leader');
        return f && lead && f.appliedIndex >= lead.commitIndex - 5 ? true : undefined;
      });
      phase('replaced a lost member');
      await new Promise((r) => setTimeout(r, 1000)); // a little more load on the final membership
    } catch (err) {
      for (const p of procs) process.stderr.write(`--- ${p.name}\n${p.log.join('').split('\n').slice(-15).join('\n')}\n`);
      process.stderr.write(`operations: ${work.ops.length}; status: ${JSON.stringify((await admin.status().catch(() => [])).map((s) => [s.member.name, s.role, s.appliedIndex, s.commitIndex]))}\n`);
      throw err;
    } finally {
      await work.stop();
    }

    const final = procs.filter((p) => alive(p));
    assert.deepEqual((await members()).map((m) => m.name).sort(), final.map((p) => p.name).sort());
    assert.equal(final.length, 3);
    // Every member left holds the same key space at the same revision.
    await until('the members to agree', 20_000, async () => {
      const views = await Promise.all(final.map(async (p) => {
        const c = await connect({ endpoints: [p.clientUrl], timeoutMs: 5000 });
        try {
          return JSON.stringify(await c.prefix('k'));
        } finally {
          await c.close();
        }
      }));
      return views.every((v) => v === views[0]) ? true : undefined;
    });
    // A last linearizable read of every key joins the history: an acknowledged write that was lost
    // would make it impossible to linearize.
    const ops = work.ops;
    for (const key of ['k0', 'k1', 'k2']) {
      const call = performance.now();
      const kv = await admin.get(key);
      ops.push({ clientId: 99, call, return: performance.now(), input: { op: 'get', key }, output: { value: kv ? kv.value.toString() : null } });
    }
    const known = ops.filter((o) => !('unknown' in o.output)).length;
    assert.ok(known >= 100, `enough operations completed (${known} of ${ops.length})`);
    const result = checkHistory(ops, { timeoutMs: 60_000 });
    if (result.ok === false) assert.fail(`not linearizable on ${result.key}: ${result.reason}\n${describeHistory(result.witness)}`);
    assert.equal(result.ok, true, `the check finished (${JSON.stringify(result)})`);
  });
});
