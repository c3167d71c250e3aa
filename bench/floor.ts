/**
 * The physical floor, measured in the same run: one fdatasync on the disk the data lives on, and
 * one round trip over ZeroMQ on loopback (DEALER → ROUTER → DEALER, 256-byte messages), within one
 * process and between two. No durable write can be faster than the first, no cluster request faster
 * than a round trip between processes; a put on a 3-member cluster makes two (client ↔ leader,
 * leader ↔ a follower) around one fdatasync.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Dealer, Router } from 'zeromq';
import { Histogram, type HistogramSummary } from './histogram.js';
import { drive } from './loadgen.js';
import { VALUE_BYTES, freePorts, type Scratch } from './util.js';

export interface FloorConfig {
  fsyncs: number;
  roundTrips: number;
}

export interface FloorMeasure {
  what: string;
  latency: HistogramSummary;
  curve: [number, number][];
}

export interface FloorReport {
  fdatasync: FloorMeasure;
  zmqRoundTrip: FloorMeasure;
  /** Absent from results written before it was measured. */
  zmqProcessRoundTrip?: FloorMeasure;
}

const BLOCK = 4096;
const FILE_BYTES = 16 * 1024 * 1024;

/** 4 KiB overwrites in a preallocated file, each followed by a timed fdatasync (only the sync is timed). */
function fdatasyncLatency(dir: string, n: number): FloorMeasure {
  const file = path.join(dir, 'fsync-probe');
  const fd = fs.openSync(file, 'w+');
  const hist = new Histogram();
  try {
    const zero = Buffer.alloc(1024 * 1024);
    for (let off = 0; off < FILE_BYTES; off += zero.length) fs.writeSync(fd, zero, 0, zero.length, off);
    fs.fsyncSync(fd);
    const block = Buffer.alloc(BLOCK, 7);
    for (let i = 0; i < n; i++) {
      block.writeUInt32LE(i, 0);
      fs.writeSync(fd, block, 0, BLOCK, (i * BLOCK) % FILE_BYTES);
      const t = process.hrtime.bigint();
      fs.fdatasyncSync(fd);
      hist.recordSince(t);
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  return {
    what: `${n} fdatasync() calls, each after a 4 KiB overwrite in a preallocated 16 MiB file under ${dir} (the bench's data directory's file system)`,
    latency: hist.summary(),
    curve: hist.percentileCurve(),
  };
}

/** What the echoing ROUTER runs: its endpoint is argv[1], the zeromq module's URL argv[2]. */
const ECHO_SOURCE = `
const { Router } = await import(process.argv[2]);
const router = new Router({ linger: 0 });
await router.bind(process.argv[1]);
process.stdout.write('ready\\n');
process.stdin.on('end', () => process.exit(0)).resume();
for await (const [id, msg] of router) await router.send([id, msg]);
`;

/** A ROUTER echoing on `endpoint` in a child process; resolves once it is bound. */
async function echoProcess(endpoint: string): Promise<{ stop: () => Promise<void> }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', ECHO_SOURCE, endpoint, import.meta.resolve('zeromq')], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the echo process did not start within 10 s')), 10_000);
      child.stdout!.once('data', () => { clearTimeout(timer); resolve(); });
      child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the echo process exited (${code})`)); });
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return {
    stop: async () => {
      child.stdin!.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/**
 * Sequential echo round trips over tcp://127.0.0.1 between a DEALER here and a ROUTER in this
 * process, or (`otherProcess`) in a child process: then each side's event loop sleeps between
 * messages and is woken, as a member's is.
 */
async function zmqRoundTrip(n: number, otherProcess = false): Promise<FloorMeasure> {
  const [port] = await freePorts(1);
  const endpoint = `tcp://127.0.0.1:${port}`;
  const remote = otherProcess ? await echoProcess(endpoint) : undefined;
  const router = otherProcess ? undefined : new Router({ linger: 0 });
  const dealer = new Dealer({ linger: 0 });
  await router?.bind(endpoint);
  dealer.connect(endpoint);
  let echoing = true;
  const echo = (async () => {
    if (!router) return;
    try {
      for await (const [id, msg] of router) {
        if (!echoing) break;
        await router.send([id!, msg!]);
      }
    } catch {
      // closed
    }
  })();
  try {
    const msg = Buffer.alloc(VALUE_BYTES, 1);
    const once = async (): Promise<void> => {
      await dealer.send(msg);
      await dealer.receive();
    };
    for (let i = 0; i < 200; i++) await once(); // connect, warm up
    const r = await drive(once, { inFlight: 1, maxOps: n, maxSec: 60 });
    return {
      what: `${r.ops} sequential round trips of a ${VALUE_BYTES}-byte message, DEALER → ROUTER → DEALER over ${endpoint}, ${otherProcess ? 'the ROUTER in a child process' : 'both in the bench process'} (zeromq.js)`,
      latency: r.hist.summary(),
      curve: r.hist.percentileCurve(),
    };
  } finally {
    echoing = false;
    dealer.close();
    router?.close();
    await echo;
    await remote?.stop();
  }
}

/** The floor of a put on 3 members, µs: two round trips between processes (client ↔ leader, leader ↔ a follower) around one fdatasync. */
export function threeMemberPutFloor(f: FloorReport): number | undefined {
  const rt = f.zmqProcessRoundTrip?.latency.p50;
  return rt === undefined ? undefined : 2 * rt + f.fdatasync.latency.p50;
}

export async function measureFloor(cfg: FloorConfig, scratch: Scratch): Promise<FloorReport> {
  const dir = scratch.dir('floor');
  try {
    return {
      fdatasync: fdatasyncLatency(dir, cfg.fsyncs),
      zmqRoundTrip: await zmqRoundTrip(cfg.roundTrips),
      zmqProcessRoundTrip: await zmqRoundTrip(cfg.roundTrips, true),
    };
  } finally {
    scratch.remove(dir);
  }
}
