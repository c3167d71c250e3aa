/** The CLI's parsing (etcdctl's txn syntax, member configuration) and its errors. */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ErrorCode, isAxisError } from '../ts/errors/index.js';
import { parseCompare, parseOp, parseTxn, words } from '../ts/cli/txn.js';
import { clusterIdOf, memberId, parseInitialCluster, resolveConfig } from '../ts/server/config.js';
import { tempDirs } from './support/fixtures.js';

const mainJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'ts', 'cli', 'main.js');
const run = promisify(execFile);
const dir = tempDirs('cli');
const invalid = (e: unknown) => isAxisError(e, ErrorCode.INVALID_ARGUMENT);

describe('axis txn syntax', () => {
  it('splits words, with quotes and escapes', () => {
    assert.deepEqual(words('put k "a b \\"c\\""'), ['put', 'k', 'a b "c"']);
    assert.throws(() => words('put k "open'), invalid);
  });

  it('parses compares on every target', () => {
    assert.deepEqual(parseCompare('value("k") = "v"'), { key: 'k', target: 'value', result: '=', value: 'v' });
    assert.deepEqual(parseCompare('mod("k") > "3"'), { key: 'k', target: 'modRevision', result: '>', value: 3 });
    assert.deepEqual(parseCompare('create(k) != 0'), { key: 'k', target: 'createRevision', result: '!=', value: 0 });
    assert.deepEqual(parseCompare('version("a b") < "2"'), { key: 'a b', target: 'version', result: '<', value: 2 });
    assert.deepEqual(parseCompare('lease("k") = "0"'), { key: 'k', target: 'lease', result: '=', value: 0 });
    assert.throws(() => parseCompare('size("k") = 1'), invalid);
    assert.throws(() => parseCompare('mod("k") > "x"'), invalid);
    assert.throws(() => parseCompare('value("k") ~ "v"'), invalid);
  });

  it('parses ops and the three blocks', () => {
    assert.deepEqual(parseOp('put k "v 1"'), { put: { key: 'k', value: 'v 1' } });
    assert.deepEqual(parseOp('get a z'), { range: { key: 'a', rangeEnd: 'z' } });
    assert.deepEqual(parseOp('del k'), { deleteRange: { key: 'k' } });
    assert.throws(() => parseOp('put k'), invalid);
    assert.throws(() => parseOp('watch k'), invalid);
    assert.deepEqual(parseTxn(['value("k") = "v"', '', 'put k w', '', 'get k']), {
      compare: [{ key: 'k', target: 'value', result: '=', value: 'v' }],
      success: [{ put: { key: 'k', value: 'w' } }],
      failure: [{ range: { key: 'k' } }],
    });
    assert.deepEqual(parseTxn(['', '', 'del k']), { compare: [], success: [], failure: [{ deleteRange: { key: 'k' } }] });
  });
});

describe('member configuration', () => {
  const base = { name: 'n1', dataDir: '/tmp/x', peerListen: 'tcp://127.0.0.1:2380', clientListen: 'tcp://127.0.0.1:2379' };

  it('fills defaults and derives the same ids on every member', () => {
    const c = resolveConfig({ ...base, initialCluster: 'n1=tcp://127.0.0.1:2380,n2=tcp://127.0.0.1:22380' });
    assert.equal(c.tickMs, 100);
    assert.equal(c.electionTicks, 10);
    assert.equal(c.durability, 'sync');
    assert.equal(c.initialCluster.size, 2);
    // The order members are listed in does not change the cluster id.
    const other = parseInitialCluster('n2=tcp://127.0.0.1:22380,n1=tcp://127.0.0.1:2380');
    assert.equal(clusterIdOf(c.initialCluster), clusterIdOf(other));
    assert.notEqual(memberId('n1'), memberId('n2'));
    assert.ok(Number.isSafeInteger(memberId('n1')) && memberId('n1') > 0);
  });

  it('refuses what cannot work, with AXIS_INVALID_ARGUMENT', () => {
    assert.throws(() => resolveConfig({ ...base, name: '' }), invalid);
    assert.throws(() => resolveConfig({ ...base, peerListen: '127.0.0.1:2380' }), invalid);
    assert.throws(() => resolveConfig({ ...base, clientListen: 'tcp://127.0.0.1:99999' }), invalid);
    assert.throws(() => resolveConfig({ ...base, initialCluster: 'n2=tcp://127.0.0.1:22380' }), invalid, 'must include itself');
    assert.throws(() => resolveConfig({ ...base, initialCluster: 'n1=tcp://127.0.0.1:2380,n1=tcp://127.0.0.1:2381' }), invalid);
    assert.throws(() => resolveConfig({ ...base, initialCluster: 'n1' }), invalid);
    assert.throws(() => resolveConfig({ ...base, electionTicks: 1, heartbeatTicks: 1 }), invalid);
    assert.throws(() => resolveConfig({ ...base, tickMs: -5 }), invalid);
  });

  it('axis serve reports a bad configuration and exits 1 without starting', async () => {
    const d = await dir();
    const file = path.join(d, 'bad.json');
    fs.writeFileSync(file, '{"name": "n1", "dataDir": 3');
    await assert.rejects(run(process.execPath, [mainJs, 'serve', '--config', file], { timeout: 20_000 }), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 1);
      assert.match(e.stderr, /AXIS_INVALID_ARGUMENT: config file .* is not valid/);
      return true;
    });
    await assert.rejects(run(process.execPath, [mainJs, 'serve', '--name', 'n1'], { timeout: 20_000 }), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 1);
      assert.match(e.stderr, /--data-dir is required/);
      return true;
    });
  });

  it('a config file works like flags, and flags override it', async () => {
    const d = await dir();
    const file = path.join(d, 'member.json');
    fs.writeFileSync(file, JSON.stringify({ ...base, name: 'zz', dataDir: d, initialCluster: { n1: 'tcp://127.0.0.1:2380' } }));
    await assert.rejects(run(process.execPath, [mainJs, 'serve', '--config', file], { timeout: 20_000 }), (e: { stderr: string }) => {
      assert.match(e.stderr, /does not include this member \(zz\)/);
      return true;
    });
    // --name fixes the file's name; the next check it reaches is the flag's election ticks.
    await assert.rejects(run(process.execPath, [mainJs, 'serve', '--config', file, '--name', 'n1', '--election-ticks', '1'], { timeout: 20_000 }), (e: { stderr: string }) => {
      assert.match(e.stderr, /election ticks must be more than heartbeat ticks/);
      return true;
    });
  });
});

describe('axis watch', { timeout: 60_000 }, () => {
  it('prints each change as it comes, from a revision, with previous values', async () => {
    const { startCluster } = await import('./support/cluster.js');
    const { spawn } = await import('node:child_process');
    const c = await startCluster(1, dir);
    try {
      const cl = await c.client();
      const { revision } = await cl.put('w', '1');
      const child = spawn(process.execPath, [mainJs, 'watch', 'w', '--rev', String(revision), '--prev-kv', '--endpoints', c.endpoints[0]!, '-w', 'json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      const lines = async (n: number) => {
        const end = Date.now() + 20_000;
        while (out.split('\n').filter(Boolean).length < n) {
          if (Date.now() > end) throw new Error(`watch printed: ${out}`);
          await new Promise((r) => setTimeout(r, 20));
        }
        return out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { events: { type: string; kv: { value: string }; prevKv?: { value: string } }[] });
      };
      assert.deepEqual((await lines(1))[0]!.events.map((e) => [e.type, e.kv.value]), [['put', '1']]);
      await cl.put('w', '2');
      await cl.delete('w');
      const events = (await lines(3)).flatMap((r) => r.events);
      assert.deepEqual(events.map((e) => [e.type, e.kv.value, e.prevKv?.value]), [['put', '1', undefined], ['put', '2', '1'], ['delete', '', '2']]);
      child.kill('SIGINT');
      const code = await new Promise((r) => child.on('exit', r));
      assert.equal(code, 0);
    } finally {
      await c.close();
    }
  });
});

describe('axis lease', { timeout: 120_000 }, () => {
  type Failed = { code: number; stdout: string; stderr: string };
  const axis = (...args: string[]) => run(process.execPath, [mainJs, ...args], { timeout: 20_000, encoding: 'utf8' });
  const fails = async (args: string[], code: RegExp) => {
    await assert.rejects(axis(...args), (e: Failed) => {
      assert.equal(e.code, 1, `${args.join(' ')}: ${e.stderr}`);
      assert.match(e.stderr, code, args.join(' '));
      return true;
    });
  };

  it('grants, attaches with put --lease, shows, lists, keeps alive and revokes against a cluster', async () => {
    const { startCluster } = await import('./support/cluster.js');
    const c = await startCluster(1, dir);
    try {
      const ep = ['--endpoints', c.endpoints[0]!];
      const cl = await c.client();
      const granted = (await axis('lease', 'grant', '60', ...ep)).stdout.trim();
      const m = /^lease ([0-9a-f]{16}) granted with TTL\(60s\)$/.exec(granted);
      assert.ok(m, granted);
      const hex = m[1]!;
      const id = parseInt(hex, 16);
      assert.match((await axis('put', 'lk', 'v', '--lease', hex, ...ep)).stdout, /^OK \(revision \d+\)/);
      assert.equal((await cl.get('lk'))?.lease, id);

      const ttl = (await axis('lease', 'timetolive', hex, '--keys', ...ep)).stdout.trim();
      assert.match(ttl, new RegExp(`^lease ${hex} granted with TTL\\(60s\\), remaining\\(\\d+s\\), attached keys\\(\\[lk\\]\\)$`));
      assert.match((await axis('lease', 'timetolive', hex, ...ep)).stdout.trim(), new RegExp(`^lease ${hex} granted with TTL\\(60s\\), remaining\\(\\d+s\\)$`));
      const ttlJson = JSON.parse((await axis('lease', 'timetolive', hex, '--keys', ...ep, '-w', 'json')).stdout) as { id: number; ttl: number; remaining: number; keys: string[] };
      assert.equal(ttlJson.id, id);
      assert.equal(ttlJson.ttl, 60);
      assert.equal(typeof ttlJson.remaining, 'number');
      assert.deepEqual(ttlJson.keys, ['lk']);

      assert.deepEqual((await axis('lease', 'list', ...ep)).stdout.trim().split('\n'), ['found 1 leases', hex]);
      assert.deepEqual(JSON.parse((await axis('lease', 'list', ...ep, '-w', 'json')).stdout), { leases: [id] });
      assert.equal((await axis('lease', 'keep-alive', hex, '--once', ...ep)).stdout.trim(), `lease ${hex} keepalived with TTL(60)`);

      assert.equal((await axis('lease', 'revoke', hex, ...ep)).stdout.trim(), `lease ${hex} revoked`);
      assert.equal(await cl.get('lk'), undefined);
      assert.deepEqual(await cl.leases(), []);
      await fails(['lease', 'keep-alive', hex, '--once', ...ep], /AXIS_LEASE_NOT_FOUND: lease [0-9a-f]{16} expired or revoked/);
      await fails(['lease', 'revoke', hex, ...ep], /AXIS_LEASE_NOT_FOUND/);
      await fails(['lease', 'timetolive', hex, ...ep], /AXIS_LEASE_NOT_FOUND/);
      await fails(['put', 'lk', 'v', '--lease', hex, ...ep], /AXIS_LEASE_NOT_FOUND/);
      assert.equal(await cl.get('lk'), undefined);

      const g = JSON.parse((await axis('lease', 'grant', '30', ...ep, '-w', 'json')).stdout) as { id: number; ttl: number };
      assert.equal(g.ttl, 30);
      assert.ok(Number.isSafeInteger(g.id) && g.id > 0);
      await cl.put('lk2', 'v', { lease: g.id });
      const revoked = JSON.parse((await axis('lease', 'revoke', g.id.toString(16), ...ep, '-w', 'json')).stdout) as { revision: number; deleted: number };
      assert.equal(revoked.deleted, 1);
      assert.equal(revoked.revision, (await cl.range('lk2')).revision);
      assert.equal(await cl.get('lk2'), undefined);
    } finally {
      await c.close();
    }
  });

  it('keep-alive renews until SIGINT (exit 0), and exits 1 when its lease is revoked', async () => {
    const { startCluster } = await import('./support/cluster.js');
    const { spawn } = await import('node:child_process');
    const c = await startCluster(1, dir);
    try {
      const cl = await c.client();
      const keepAlive = (id: number) => {
        const child = spawn(process.execPath, [mainJs, 'lease', 'keep-alive', id.toString(16), '--endpoints', c.endpoints[0]!], { stdio: ['ignore', 'pipe', 'pipe'] });
        const io = { out: '', err: '' };
        child.stdout.on('data', (d: Buffer) => (io.out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (io.err += d.toString()));
        const exit = new Promise<number | null>((r) => child.on('exit', r));
        const renewals = async (n: number) => {
          const end = Date.now() + 20_000;
          while (io.out.split('\n').filter(Boolean).length < n) {
            if (Date.now() > end) throw new Error(`keep-alive printed: ${io.out} ${io.err}`);
            await new Promise((r) => setTimeout(r, 20));
          }
        };
        const exited = () => Promise.race([exit, new Promise<never>((_, rej) => setTimeout(() => rej(new Error(`keep-alive did not exit: ${io.out} ${io.err}`)), 20_000).unref())]);
        return { child, io, renewals, exited };
      };

      // Renewed every third of its TTL: a second renewal shows it keeps going.
      const a = await cl.leaseGrant(5);
      const k1 = keepAlive(a.id);
      await k1.renewals(2);
      assert.match(k1.io.out.split('\n')[0]!, new RegExp(`^lease ${a.id.toString(16).padStart(16, '0')} keepalived with TTL\\(\\d+\\)$`));
      k1.child.kill('SIGINT');
      assert.equal(await k1.exited(), 0);

      const b = await cl.leaseGrant(5);
      const k2 = keepAlive(b.id);
      await k2.renewals(1);
      await cl.leaseRevoke(b.id);
      assert.equal(await k2.exited(), 1);
      assert.match(k2.io.err, /AXIS_LEASE_NOT_FOUND: lease [0-9a-f]{16} expired or revoked/);
      await cl.leaseRevoke(a.id).catch(() => undefined);
    } finally {
      await c.close();
    }
  });

  it('refuses bad input with AXIS_INVALID_ARGUMENT, changing nothing', async () => {
    const { startCluster } = await import('./support/cluster.js');
    const c = await startCluster(1, dir);
    try {
      const ep = ['--endpoints', c.endpoints[0]!];
      const cl = await c.client();
      const { id } = await cl.leaseGrant(60);
      const hex = id.toString(16);
      const cases = [
        ['lease'], ['lease', 'frob'], ['lease', 'grant'], ['lease', 'grant', '5', '6'], ['lease', 'grant', '0'], ['lease', 'grant', '1.5'],
        ['lease', 'grant', 'ten'], ['lease', 'grant', '1e3'], ['lease', 'revoke'], ['lease', 'revoke', hex, hex], ['lease', 'revoke', 'xyz'],
        ['lease', 'revoke', `0x${hex}`], ['lease', 'revoke', '0'], ['lease', 'revoke', 'ffffffffffffffff'], ['lease', 'timetolive'],
        ['lease', 'timetolive', 'g1'], ['lease', 'list', 'extra'], ['lease', 'keep-alive'], ['lease', 'keep-alive', 'nope', '--once'],
        ['lease', 'grant', '5', '--keys'], ['lease', 'list', '--once'], ['put', 'bk', 'v', '--lease', 'nothex'], ['put', 'bk', 'v', '--lease=-1'], ['put', 'bk', 'v', '--lease=12.5'],
      ];
      for (const args of cases) await fails([...args, ...ep], /^axis: AXIS_INVALID_ARGUMENT: /);
      assert.deepEqual(await cl.leases(), [{ id }]);
      assert.equal(await cl.get('bk'), undefined);
    } finally {
      await c.close();
    }
  });

  it('works on an embedded store with --data-dir', async () => {
    const dd = ['--data-dir', path.join(await dir(), 'store')];
    const m = /^lease ([0-9a-f]{16}) granted with TTL\(30s\)$/.exec((await axis('lease', 'grant', '30', ...dd)).stdout.trim());
    assert.ok(m);
    const hex = m[1]!;
    await axis('put', 'dk', 'v', '--lease', hex, ...dd);
    assert.match((await axis('lease', 'timetolive', hex, '--keys', ...dd)).stdout, new RegExp(`^lease ${hex} granted with TTL\\(30s\\), remaining\\(\\d+s\\), attached keys\\(\\[dk\\]\\)`));
    assert.deepEqual((await axis('lease', 'list', ...dd)).stdout.trim().split('\n'), ['found 1 leases', hex]);
    assert.equal((await axis('lease', 'keep-alive', hex, '--once', ...dd)).stdout.trim(), `lease ${hex} keepalived with TTL(30)`);
    assert.equal((await axis('lease', 'revoke', hex, ...dd)).stdout.trim(), `lease ${hex} revoked`);
    assert.deepEqual(JSON.parse((await axis('get', 'dk', ...dd, '-w', 'json')).stdout).kvs, []);
    await fails(['lease', 'keep-alive', hex, '--once', ...dd], /AXIS_LEASE_NOT_FOUND/);
  });
});

describe('axis lock and axis elect', { timeout: 60_000 }, () => {
  it('lock runs a command holding the lock, with its fencing revision; elect campaigns and observes', async () => {
    const { startCluster } = await import('./support/cluster.js');
    const { spawn } = await import('node:child_process');
    const c = await startCluster(1, dir);
    const ep = c.endpoints[0]!;
    const run = (args: string[]) => {
      const child = spawn(process.execPath, [mainJs, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      const exited = new Promise<number>((r) => child.on('exit', (code) => r(code ?? -1)));
      return { child, exited, out: () => out };
    };
    const waitFor = async (what: () => boolean, label: string) => {
      const end = Date.now() + 20_000;
      while (!what()) {
        if (Date.now() > end) throw new Error(`timed out: ${label}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    try {
      const cl = await c.client();
      // Held by someone else: the command waits, then runs once the lock is released.
      const held = await cl.lock('L', { ttl: 10 });
      const cmd = run(['lock', 'L', '--endpoints', ep, '--', process.execPath, '-e', 'console.log("rev=" + process.env.AXIS_LOCK_REVISION); process.exit(3)']);
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(cmd.out().includes('rev='), false, 'waits while the lock is held');
      await held.unlock();
      assert.equal(await cmd.exited, 3, 'exits with the command\'s code');
      const rev = Number(/rev=(\d+)/.exec(cmd.out())?.[1]);
      assert.ok(rev > held.revision, `fencing revision ${rev} after ${held.revision}`);
      assert.equal((await cl.prefix('L/')).count, 0, 'released after the command');

      const leader = run(['elect', 'E', 'one', '--endpoints', ep]);
      await waitFor(() => leader.out().includes('revision'), 'elected');
      const watcher = run(['elect', 'E', '--endpoints', ep]);
      await waitFor(() => watcher.out().includes('one'), 'observed');
      leader.child.kill('SIGINT');
      assert.equal(await leader.exited, 0);
      await waitFor(() => watcher.out().includes('(no leader)'), 'resignation observed');
      watcher.child.kill('SIGINT');
      assert.equal(await watcher.exited, 0);
      const bad = run(['lock', '--endpoints', ep]);
      assert.equal(await bad.exited, 1);
      assert.match(bad.out(), /AXIS_INVALID_ARGUMENT/);
    } finally {
      await c.close();
    }
  });
});

describe('axis member, move-leader, snapshot, alarm, hashkv, status', { timeout: 120_000 }, () => {
  type Failed = { code: number; stdout: string; stderr: string };
  const axis = (...args: string[]) => run(process.execPath, [mainJs, ...args], { timeout: 30_000, encoding: 'utf8' });

  it('operate a running cluster from the command line', async () => {
    const { startCluster } = await import('./support/cluster.js');
    const c = await startCluster(3, dir);
    try {
      const ep = ['--endpoints', c.endpoints.join(',')];
      const cl = await c.client();
      await cl.put('a', '1');
      const list = (await axis('member', 'list', ...ep)).stdout.trim().split('\n');
      assert.equal(list[0], 'ID\tNAME\tPEER URL\tCLIENT URL\tLEARNER');
      assert.deepEqual(list.slice(1).map((l) => l.split('\t')[1]).sort(), ['m1', 'm2', 'm3']);
      const ids = list.slice(1).map((l) => l.split('\t')[0]!);
      // Adding prints how to start the member; a bad request changes nothing.
      const added = (await axis('member', 'add', 'm4', '--peer-urls', 'tcp://127.0.0.1:1', '--learner', ...ep)).stdout;
      assert.match(added, /Member [0-9a-f]+ added to cluster [0-9a-f]+ as a learner/);
      assert.match(added, /--initial-cluster-state existing --cluster-id [0-9a-f]+/);
      await assert.rejects(axis('member', 'promote', /Member ([0-9a-f]+)/.exec(added)![1]!, ...ep), (e: Failed) => e.code === 1 && /AXIS_LEARNER_NOT_READY/.test(e.stderr));
      await assert.rejects(axis('member', 'add', 'm5', ...ep), (e: Failed) => e.code === 1 && /needs --peer-urls/.test(e.stderr));
      await axis('member', 'remove', /Member ([0-9a-f]+)/.exec(added)![1]!, ...ep);
      assert.equal((await cl.memberList()).members.length, 3);
      // Leadership moves on request.
      const leaderId = c.servers[await c.leader()]!.member.id;
      const target = ids.find((id) => parseInt(id, 16) !== leaderId)!;
      assert.equal((await axis('move-leader', target, ...ep)).stdout.trim(), `Leadership moved to ${target}`);
      // Status shows version, raft index, learner flag and alarms.
      const st = (await axis('status', ...ep)).stdout.trim().split('\n');
      assert.match(st[0]!, /VERSION.*RAFT INDEX.*IN USE\tALARMS/);
      assert.equal(st.length, 4);
      // Hashes agree; no alarms.
      const hashes = (await axis('hashkv', ...ep)).stdout.trim().split('\n').map((l) => l.split('\t')[1]);
      assert.equal(new Set(hashes).size, 1, hashes.join(' '));
      assert.equal((await axis('alarm', 'list', ...ep)).stdout.trim(), '');
      // A snapshot saved from one member restores into a new member's data directory.
      const file = path.join(await dir(), 'backup.db');
      assert.match((await axis('snapshot', 'save', file, '--endpoints', c.endpoints[0]!)).stdout, /Snapshot saved to .*: \d+ bytes, revision \d+/);
      await assert.rejects(axis('snapshot', 'save', file, ...ep), (e: Failed) => e.code === 1 && /exactly one/.test(e.stderr));
      const restored = await dir();
      assert.match((await axis('snapshot', 'restore', file, '--data-dir', restored, '--name', 'solo', '--initial-cluster', 'solo=tcp://127.0.0.1:2')).stdout, /Restored/);
      await assert.rejects(axis('snapshot', 'restore', file, '--data-dir', restored, '--name', 'solo', '--initial-cluster', 'solo=tcp://127.0.0.1:2'), (e: Failed) => e.code === 1 && /holds a store already/.test(e.stderr));
    } finally {
      await c.close();
    }
  });
});
