/**
 * Security: CURVE key files, who may connect (peers and clients, over real ZeroMQ on 127.0.0.1),
 * the loopback-only default without keys, and that no secret key is ever printed. Every wait is
 * bounded; nothing asserts on timing.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { inspect, promisify } from 'node:util';
import { Dealer } from 'zeromq';
import { connect } from '../ts/client/index.js';
import { ErrorCode, isAxisError } from '../ts/errors/index.js';
import { API_VERSION, encodeRequest, joinFrame, putToPb } from '../ts/proto/api.js';
import { MessageType, message, type Message, type NodeId } from '../ts/raft/types.js';
import {
  CurveKeys, curveKeys, generateKeyPair, plaintextListenWarnings, readKeyFile, writeKeyFile,
} from '../ts/security/index.js';
import { readConfigFile, resolveConfig } from '../ts/server/config.js';
import { ZmqTransport } from '../ts/transport/index.js';
import { startCluster } from './support/cluster.js';
import { tempDirs } from './support/fixtures.js';
import { freePorts } from './support/ports.js';

const run = promisify(execFile);
const mainJs = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'ts', 'cli', 'main.js');
const dir = tempDirs('security');

async function waitFor(what: string, cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const code = (c: string) => (e: unknown) => isAxisError(e) && e.code === c;

/** Key pairs for one test cluster: the shared peer pair, the client endpoint's, a client's, a stranger's. */
function clusterKeys() {
  const peer = generateKeyPair();
  const server = generateKeyPair();
  const client = generateKeyPair();
  const stranger = generateKeyPair();
  return {
    peer, server, client, stranger,
    secrets: [peer, server, client, stranger].map((p) => p.secretKey),
    peerKeys: curveKeys(peer, 'peer', 'test'),
    clientKeys: curveKeys({ ...server, authorized: [client.publicKey] }, 'member', 'test'),
    clientCurve: { ...client, serverKey: server.publicKey },
    strangerCurve: { ...stranger, serverKey: server.publicKey },
  };
}

function assertNoSecret(text: string, secrets: string[], where: string): void {
  for (const s of secrets) assert.ok(!text.includes(s), `a secret key appears in ${where}`);
}

/** Everything this process writes to stderr meanwhile (members log there). */
function captureStderr(): { text(): string; stop(): void } {
  const chunks: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  process.stderr.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    chunks.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString());
    return (write as (...a: unknown[]) => boolean)(chunk, ...rest);
  }) as typeof process.stderr.write;
  return { text: () => chunks.join(''), stop: () => void (process.stderr.write = write) };
}

describe('key files', () => {
  it('are written 0600, never overwritten, and read back with every check', async () => {
    const d = await dir();
    const pair = generateKeyPair();
    const file = path.join(d, 'member.keys');
    writeKeyFile(file, { ...pair, authorized: [] }, { create: true });
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.throws(() => writeKeyFile(file, { ...generateKeyPair() }, { create: true }), code(ErrorCode.INVALID_ARGUMENT));
    assert.equal(JSON.parse(fs.readFileSync(file, 'utf8')).secretKey, pair.secretKey, 'the refused write changed nothing');
    const peer = readKeyFile(file, 'peer');
    assert.equal(peer.publicKey, pair.publicKey);
    assert.equal(peer.secretKey(), pair.secretKey);
    assert.deepEqual(peer.authorized, [pair.publicKey], 'a peer file admits its own key');
    // A member's client keys must let someone in.
    assert.throws(() => readKeyFile(file, 'member'), (e) => code(ErrorCode.INVALID_ARGUMENT)(e) && /no client key is authorized/.test((e as Error).message));
    // A client file must name the members' key.
    assert.throws(() => readKeyFile(file, 'client'), (e) => code(ErrorCode.INVALID_ARGUMENT)(e) && /needs serverKey/.test((e as Error).message));
  });

  it('refuse bad files with AXIS_INVALID_ARGUMENT, never quoting a key', async () => {
    const d = await dir();
    const pair = generateKeyPair();
    const other = generateKeyPair();
    const cases: [string, string | object, RegExp, number?][] = [
      ['not json', `{"publicKey": "${pair.publicKey}", "secretKey": "${pair.secretKey}"`, /is not valid JSON/],
      ['readable by others', { ...pair }, /can be read by other users.*chmod 600/, 0o644],
      ['secret of another key', { publicKey: pair.publicKey, secretKey: other.secretKey }, /secretKey is not the secret of publicKey/],
      ['short key', { publicKey: pair.publicKey.slice(1), secretKey: pair.secretKey }, /publicKey must be a 40-character Z85 key/],
      ['not Z85', { publicKey: pair.publicKey, secretKey: `${pair.secretKey.slice(0, 39)}"` }, /secretKey must be a 40-character Z85 key/],
      ['a typo', { ...pair, authorised: [] }, /unknown field "authorised"/],
      ['a secret listed', { ...pair, authorized: [pair.secretKey] }, /authorized\[0\] is the secret key/],
      ['bad list', { ...pair, authorized: 'everyone' }, /authorized must be a list/],
    ];
    for (const [what, content, message, mode] of cases) {
      const file = path.join(d, what.replace(/ /g, '-'));
      fs.writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content), { mode: mode ?? 0o600 });
      fs.chmodSync(file, mode ?? 0o600);
      assert.throws(() => readKeyFile(file, 'peer'), (e: unknown) => {
        assert.ok(isAxisError(e, ErrorCode.INVALID_ARGUMENT), what);
        assert.match((e as Error).message, message, what);
        assertNoSecret((e as Error).message, [pair.secretKey, other.secretKey], `the error for ${what}`);
        return true;
      });
    }
    assert.throws(() => readKeyFile(path.join(d, 'missing'), 'peer'), (e) => code(ErrorCode.INVALID_ARGUMENT)(e) && /cannot read key file/.test((e as Error).message));
  });

  it('are what a config file and connect() take; bad ones are refused before anything starts', async () => {
    const d = await dir();
    const k = clusterKeys();
    writeKeyFile(path.join(d, 'peer.keys'), k.peer, { create: true });
    writeKeyFile(path.join(d, 'server.keys'), { ...k.server, authorized: [k.client.publicKey] }, { create: true });
    const file = path.join(d, 'member.json');
    fs.writeFileSync(file, JSON.stringify({ name: 'n1', dataDir: d, peerKeys: path.join(d, 'peer.keys'), clientKeys: path.join(d, 'server.keys') }));
    const config = resolveConfig(readConfigFile(file));
    assert.equal(config.peerKeys?.publicKey, k.peer.publicKey);
    // The members' own key too: they read each other's client port (snapshots, hash checks).
    assert.deepEqual(config.clientKeys?.authorized, [k.server.publicKey, k.client.publicKey]);
    // connect() checks its keys before it opens a socket.
    for (const curve of [{ ...k.client }, { ...k.client, serverKey: 'x' }, { ...k.client, secretKey: k.stranger.secretKey, serverKey: k.server.publicKey }]) {
      await assert.rejects(connect({ endpoints: ['tcp://127.0.0.1:1'], curve: curve as never }), (e: unknown) => {
        assert.ok(isAxisError(e, ErrorCode.INVALID_ARGUMENT));
        assertNoSecret((e as Error).message, k.secrets, 'a connect() error');
        return true;
      });
    }
  });

  it('keep the secret out of JSON, inspect and config dumps', () => {
    const k = clusterKeys();
    const config = resolveConfig({
      name: 'n1', dataDir: '/tmp/x', peerListen: 'tcp://127.0.0.1:2380', clientListen: 'tcp://127.0.0.1:2379',
      peerKeys: k.peerKeys, clientKeys: k.clientKeys,
    });
    assert.ok(config.peerKeys instanceof CurveKeys && config.clientKeys instanceof CurveKeys);
    for (const [what, text] of [['JSON', JSON.stringify(config)], ['inspect', inspect(config, { depth: 10, showHidden: true })], ['String', `${String(config.peerKeys)}`]] as const) {
      assertNoSecret(text, k.secrets, what);
      assert.ok(text.includes(k.peer.publicKey) || what === 'String', `${what} shows the public key`);
    }
  });
});

describe('without keys, loopback only', () => {
  const base = { name: 'n1', dataDir: '/tmp/x', peerListen: 'tcp://127.0.0.1:2380', clientListen: 'tcp://127.0.0.1:2379' };

  it('listens on loopback by default and refuses other addresses with AXIS_INSECURE_LISTEN', () => {
    const c = resolveConfig({ name: 'n1', dataDir: '/tmp/x' });
    assert.equal(c.peerListen, 'tcp://127.0.0.1:2380');
    assert.equal(c.clientListen, 'tcp://127.0.0.1:2379');
    assert.deepEqual(plaintextListenWarnings(c), []);
    for (const ok of ['tcp://localhost:2379', 'tcp://127.0.0.2:2379', 'tcp://[::1]:2379']) {
      assert.doesNotThrow(() => resolveConfig({ ...base, clientListen: ok }), ok);
    }
    // Configuration only: nothing is bound here.
    for (const [field, flag] of [['peerListen', '--peer-keys'], ['clientListen', '--client-keys']] as const) {
      for (const address of ['tcp://0.0.0.0:2390', 'tcp://10.1.2.3:2390', 'tcp://db.example:2390']) {
        assert.throws(() => resolveConfig({ ...base, [field]: address }), (e: unknown) => {
          assert.ok(isAxisError(e, ErrorCode.INSECURE_LISTEN), `${field} ${address}`);
          assert.match((e as Error).message, new RegExp(`${address.replace(/\./g, '\\.')} is not a loopback address and ${flag} is not set`));
          return true;
        });
      }
    }
  });

  it('--insecure-listen accepts it with a warning; keys make it unnecessary', () => {
    const open = { ...base, peerListen: 'tcp://0.0.0.0:2390', clientListen: 'tcp://0.0.0.0:2391' };
    const warned = resolveConfig({ ...open, insecureListen: true });
    const warnings = plaintextListenWarnings(warned);
    assert.equal(warnings.length, 2);
    for (const w of warnings) assert.match(w, /^AXIS_INSECURE_LISTEN: warning: .* is not a loopback address/);
    const k = clusterKeys();
    const secured = resolveConfig({ ...open, peerKeys: k.peerKeys, clientKeys: k.clientKeys });
    assert.deepEqual(plaintextListenWarnings(secured), []);
    // Keys for one side only: the other side is still refused.
    assert.throws(() => resolveConfig({ ...open, peerKeys: k.peerKeys }), code(ErrorCode.INSECURE_LISTEN));
  });

  it('a bad key file in the configuration is AXIS_INVALID_ARGUMENT', async () => {
    const d = await dir();
    const file = path.join(d, 'keys.json');
    fs.writeFileSync(file, '{}', { mode: 0o600 });
    assert.throws(() => resolveConfig({ ...base, peerKeys: file }), code(ErrorCode.INVALID_ARGUMENT));
    assert.throws(() => resolveConfig({ ...base, clientKeys: path.join(d, 'none.json') }), code(ErrorCode.INVALID_ARGUMENT));
  });
});

describe('peers over CURVE', { timeout: 60_000 }, () => {
  const CLUSTER = 77;
  const open: ZmqTransport[] = [];
  after(async () => {
    await Promise.all(open.map((t) => t.close()));
  });

  function transport(id: NodeId, listen: string, peers: [NodeId, string][], curve: CurveKeys | undefined) {
    const got: Message[] = [];
    const unreachable: NodeId[] = [];
    const logs: string[] = [];
    const t = new ZmqTransport({
      id, clusterId: CLUSTER, listen, peers: new Map(peers), sendTimeout: 300,
      onMessages: (ms) => got.push(...ms), onUnreachable: (p) => unreachable.push(p), log: (l) => logs.push(l),
      ...(curve ? { curve } : {}),
    });
    open.push(t);
    return { t, got, unreachable, logs };
  }

  it('members with the peer keys talk; a peer with other keys, or none, gets nothing in', async () => {
    const k = clusterKeys();
    const [p1, p2, p3, p4] = (await freePorts(4)).map((p) => `tcp://127.0.0.1:${p}`);
    const a = transport(1, p1!, [[2, p2!]], k.peerKeys);
    const b = transport(2, p2!, [[1, p1!]], k.peerKeys);
    // Impostors claim member 2's id and know member 1's address and public key, not the secret.
    const rogue = transport(2, p3!, [[1, p1!]], new CurveKeys('peer', k.stranger.publicKey, k.stranger.secretKey, k.peer.publicKey, [k.stranger.publicKey]));
    const plain = transport(2, p4!, [[1, p1!]], undefined);
    await Promise.all([a.t.start(), b.t.start(), rogue.t.start(), plain.t.start()]);

    const vote = (from: NodeId, term: number) => message({ type: MessageType.Vote, from, to: 1, term });
    rogue.t.send([vote(2, 1000)]);
    plain.t.send([vote(2, 2000)]);
    await waitFor('the impostors to find member 1 unreachable', () => rogue.unreachable.includes(1) && plain.unreachable.includes(1));
    await waitFor('member 1 to log the refused key', () => a.logs.some((l) => l.includes('AXIS_UNAUTHENTICATED') && l.includes('is not authorised')));
    await waitFor('the impostor to hear its key was refused', () => rogue.logs.some((l) => l.includes('AXIS_UNAUTHENTICATED') && l.includes("refused this member's key")));

    // The real member 2 gets through both ways, after the impostors tried.
    b.t.send([vote(2, 3)]);
    a.t.send([message({ type: MessageType.VoteResp, from: 1, to: 2, term: 3 })]);
    await waitFor('member 1 to hear member 2', () => a.got.length > 0);
    await waitFor('member 2 to hear member 1', () => b.got.length > 0);
    rogue.t.send([vote(2, 1001)]);
    plain.t.send([vote(2, 2001)]);
    await waitFor('the impostors to fail again', () => rogue.unreachable.filter((p) => p === 1).length >= 2 && plain.unreachable.filter((p) => p === 1).length >= 2);
    assert.deepEqual(a.got.map((m) => m.term), [3], 'only the real member 2 was heard');
    assert.equal(a.t.stats.receivedBatches, 1);
    for (const x of [a, b, rogue, plain]) assertNoSecret(x.logs.join('\n'), k.secrets, 'the transport logs');
  });
});

describe('clients over CURVE', { timeout: 90_000 }, () => {
  it('an authorised client works; others are refused and nothing they send is applied', async () => {
    const k = clusterKeys();
    const stderr = captureStderr();
    const c = await startCluster(3, dir, { peerKeys: k.peerKeys, clientKeys: k.clientKeys, clientCurve: k.clientCurve });
    try {
      await c.leader();
      const kv = await c.client();
      const put = await kv.put('guarded', 'v1');
      assert.equal((await kv.get('guarded'))?.value.toString(), 'v1');

      // A key the members do not list: refused in the handshake, reported as such.
      await assert.rejects(connect({ endpoints: c.endpoints, timeoutMs: 5000, curve: k.strangerCurve }), code(ErrorCode.UNAUTHENTICATED));
      // No CURVE at all: never answered.
      await assert.rejects(connect({ endpoints: [c.endpoints[0]!], timeoutMs: 1500, attemptTimeoutMs: 500 }), code(ErrorCode.UNAVAILABLE));
      // The right client key but the wrong server key: never answered either.
      await assert.rejects(
        connect({ endpoints: [c.endpoints[0]!], timeoutMs: 1500, attemptTimeoutMs: 500, curve: { ...k.client, serverKey: k.peer.publicKey } }),
        code(ErrorCode.UNAVAILABLE),
      );

      // Raw writes from a stranger's and a plaintext socket, straight at every member.
      const request = (seq: number) => joinFrame([encodeRequest({ version: API_VERSION, id: seq, put: putToPb('guarded', 'stolen', undefined), client: 99, seq, acked: seq })]);
      const sockets: Dealer[] = [];
      for (const endpoint of c.endpoints) {
        const stranger = new Dealer({ linger: 0, curveServerKey: k.server.publicKey, curvePublicKey: k.stranger.publicKey, curveSecretKey: k.stranger.secretKey });
        const plain = new Dealer({ linger: 0 });
        for (const s of [stranger, plain]) {
          s.connect(endpoint);
          sockets.push(s);
          // Not immediate: the frame is queued and would go out the moment a handshake succeeded.
          await s.send(request(sockets.length));
        }
      }
      await waitFor('every member to log the refused stranger', () => c.endpoints.length <= (stderr.text().match(/AXIS_UNAUTHENTICATED: a client at .* is not authorised/g) ?? []).length);
      // Give the plaintext frames the same chance, then check through the authorised client.
      await new Promise((r) => setTimeout(r, 300));
      for (const s of sockets) s.close();
      const now = await kv.get('guarded');
      assert.equal(now?.value.toString(), 'v1');
      assert.equal(now?.modRevision, put.revision, 'no write from an unauthorised socket was applied');
      const status = await kv.status();
      assert.equal(status.length, 3);
      assertNoSecret(JSON.stringify(status), k.secrets, 'status output');
      assert.equal(Math.max(...status.map((s) => s.revision)), put.revision);
    } finally {
      await c.close();
      stderr.stop();
    }
    assertNoSecret(stderr.text(), k.secrets, 'the members\' logs');
  });
});

describe('axis keys and axis serve with keys', { timeout: 120_000 }, () => {
  it('generates, authorises and shows keys; a member serves only the authorised client; no secret is printed', async () => {
    const d = await dir();
    const f = (n: string) => path.join(d, n);
    const out: string[] = [];
    const axis = async (...args: string[]) => {
      const r = await run(process.execPath, [mainJs, ...args], { timeout: 30_000 });
      out.push(r.stdout, r.stderr);
      return r.stdout;
    };
    const fails = async (args: string[], pattern: RegExp) => {
      await assert.rejects(run(process.execPath, [mainJs, ...args], { timeout: 30_000 }), (e: { code: number; stdout: string; stderr: string }) => {
        out.push(e.stdout, e.stderr);
        assert.equal(e.code, 1, args.join(' '));
        assert.match(e.stderr, pattern, args.join(' '));
        return true;
      });
    };
    assert.match(await axis('keys', 'generate', '--out', f('peer.keys')), /public key: \S{40}/);
    await axis('keys', 'generate', '--out', f('server.keys'));
    await axis('keys', 'generate', '--out', f('alice.keys'), '--server', f('server.keys'));
    await axis('keys', 'generate', '--out', f('mallory.keys'), '--server', f('server.keys'));
    await fails(['keys', 'generate', '--out', f('alice.keys')], /AXIS_INVALID_ARGUMENT: .*alice\.keys exists/);
    await fails(['keys', 'authorize', f('alice.keys'), f('mallory.keys')], /AXIS_INVALID_ARGUMENT: .*is a client key file/);
    const aliceKey = JSON.parse(fs.readFileSync(f('alice.keys'), 'utf8')) as { publicKey: string };
    assert.match(await axis('keys', 'authorize', f('server.keys'), aliceKey.publicKey), /authorizes 1 key/);
    assert.match(await axis('keys', 'authorize', f('server.keys'), f('alice.keys')), /authorizes 1 key/, 'a key file works too, once');
    for (const n of ['peer.keys', 'server.keys', 'alice.keys', 'mallory.keys']) assert.equal(fs.statSync(f(n)).mode & 0o777, 0o600, n);
    const shown = JSON.parse(await axis('keys', 'show', f('server.keys'), '-w', 'json')) as { authorized: string[] };
    assert.deepEqual(shown.authorized, [aliceKey.publicKey]);
    const secrets = ['peer.keys', 'server.keys', 'alice.keys', 'mallory.keys'].map((n) => (JSON.parse(fs.readFileSync(f(n), 'utf8')) as { secretKey: string }).secretKey);

    const [peerPort, clientPort, otherPort] = await freePorts(3);
    const endpoint = `tcp://127.0.0.1:${clientPort}`;
    const member = ['serve', '--name', 'n1', '--data-dir', f('n1'), '--peer-listen', `tcp://127.0.0.1:${peerPort}`, '--client-listen', endpoint];
    // Refused before anything starts: keys that do not fit, and a non-loopback address without keys (nothing is bound).
    fs.chmodSync(f('peer.keys'), 0o644);
    await fails([...member, '--peer-keys', f('peer.keys')], /AXIS_INVALID_ARGUMENT: key file .* can be read by other users/);
    fs.chmodSync(f('peer.keys'), 0o600);
    await fails([...member, '--peer-keys', f('peer.keys'), '--client-keys', f('alice.keys')], /AXIS_INVALID_ARGUMENT: .*no client key is authorized/);
    await fails(['serve', '--name', 'n1', '--data-dir', f('n1'), '--peer-listen', `tcp://0.0.0.0:${otherPort}`, '--client-listen', endpoint], /AXIS_INSECURE_LISTEN: --peer-listen tcp:\/\/0\.0\.0\.0:\d+ is not a loopback address/);
    assert.ok(!fs.existsSync(f('n1')), 'a refused configuration created nothing');

    const child = spawn(process.execPath, [mainJs, ...member, '--peer-keys', f('peer.keys'), '--client-keys', f('server.keys')], { stdio: ['ignore', 'pipe', 'pipe'] });
    let logs = '';
    child.stdout.on('data', (b: Buffer) => (logs += b.toString()));
    child.stderr.on('data', (b: Buffer) => (logs += b.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await waitFor('the member to start', () => logs.includes('(CURVE)'), 30_000);
      assert.match(await axis('put', 'k', 'v', '--endpoints', endpoint, '--key-file', f('alice.keys')), /OK/);
      assert.equal((await axis('get', 'k', '--endpoints', endpoint, '--key-file', f('alice.keys'))).trim(), 'k\nv');
      await fails(['put', 'k', 'stolen', '--endpoints', endpoint, '--key-file', f('mallory.keys')], /AXIS_UNAUTHENTICATED/);
      await fails(['put', 'k', 'stolen', '--endpoints', endpoint, '--client-keys', f('server.keys')], /AXIS_INVALID_ARGUMENT: --client-keys is for axis serve/);
      const status = await axis('status', '--endpoints', endpoint, '--key-file', f('alice.keys'), '-w', 'json');
      assert.equal((JSON.parse(status) as { revision: number }[])[0]!.revision, 2, 'only alice\'s put was applied');
      await waitFor('the member to log the refused key', () => /AXIS_UNAUTHENTICATED: a client at 127\.0\.0\.1 is not authorised/.test(logs));
    } finally {
      child.kill('SIGTERM');
      await exited;
    }
    assertNoSecret(out.join('\n'), secrets, 'CLI output');
    assertNoSecret(logs, secrets, 'the member\'s logs');
  });
});
