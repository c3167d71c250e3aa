/**
 * The fault layer between members: one TCP proxy in front of each member's peer port. Members'
 * `--initial-cluster` (and `member add`) name the proxies' addresses, so every member reaches every
 * other through them, while the members themselves bind ports of their own.
 *
 * A member sends Raft traffic through one ZeroMQ DEALER per peer (routing id = its member id), so
 * each connection a proxy accepts is one directed link, from the member named in the ZMTP READY
 * command (its `Identity` property) to the member behind the proxy. The proxy reads the ZMTP 3
 * stream from the sender (greeting, then frames: flags | size | body) and, per message, applies the
 * link's rule: forward, drop with a probability (1: a blackhole), or delay (order kept). Commands
 * (the handshake, heartbeats) always pass, so a blackholed link keeps its connection and silently
 * loses messages, as a lossy network does; a `sever`ed link instead has its connections closed as
 * soon as the sender names itself, so the sender sees an unreachable peer. The other direction of a
 * connection carries only the receiver's commands and is passed through untouched.
 */
import { type Server, type Socket, createConnection, createServer } from 'node:net';

export interface LinkRule {
  /** Probability that a message is dropped (1: every message; a blackhole). */
  drop: number;
  /** Milliseconds every message is held before it is forwarded (order is kept). */
  delayMs: number;
  /** Close the link's connections (and every new one) instead of carrying them. */
  sever: boolean;
}

export const PASS: LinkRule = { drop: 0, delayMs: 0, sever: false };

export interface LinkStats {
  forwarded: number;
  dropped: number;
  delayed: number;
  severed: number;
  /** Connections whose sender named no member this layer knows (its rules cannot apply to them). */
  unidentified: number;
}

const GREETING_BYTES = 64;
const FLAG_MORE = 0x01;
const FLAG_LONG = 0x02;
const FLAG_COMMAND = 0x04;

/** The `Identity` property of a ZMTP READY command body, if it is one. */
export function readyIdentity(body: Buffer): string | undefined {
  if (body.length < 6 || body[0] !== 5 || body.toString('latin1', 1, 6) !== 'READY') return undefined;
  let at = 6;
  while (at < body.length) {
    const nameLen = body[at]!;
    const name = body.toString('latin1', at + 1, at + 1 + nameLen);
    at += 1 + nameLen;
    if (at + 4 > body.length) return undefined;
    const valueLen = body.readUInt32BE(at);
    at += 4;
    if (name.toLowerCase() === 'identity') return body.toString('latin1', at, at + valueLen);
    at += valueLen;
  }
  return undefined;
}

/** Splits a ZMTP 3 byte stream (after its greeting) into frames. */
export class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private greetingLeft = GREETING_BYTES;

  /** Feeds bytes; returns the greeting bytes seen (to pass on at once) and the complete frames. */
  push(chunk: Buffer): { greeting: Buffer | undefined; frames: { flags: number; raw: Buffer; body: Buffer }[] } {
    let greeting: Buffer | undefined;
    if (this.greetingLeft > 0) {
      const n = Math.min(this.greetingLeft, chunk.length);
      greeting = chunk.subarray(0, n);
      this.greetingLeft -= n;
      chunk = chunk.subarray(n);
    }
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: { flags: number; raw: Buffer; body: Buffer }[] = [];
    for (;;) {
      if (this.buf.length < 2) break;
      const flags = this.buf[0]!;
      const head = flags & FLAG_LONG ? 9 : 2;
      if (this.buf.length < head) break;
      const size = flags & FLAG_LONG ? Number(this.buf.readBigUInt64BE(1)) : this.buf[1]!;
      if (this.buf.length < head + size) break;
      const raw = this.buf.subarray(0, head + size);
      frames.push({ flags, raw, body: raw.subarray(head) });
      this.buf = this.buf.subarray(head + size);
    }
    return { greeting, frames };
  }
}

interface Link {
  from: string | undefined;
  down: Socket;
  up: Socket;
}

/** The proxies of one cluster, and the rule of every directed link between its members. */
export class PeerFaults {
  private readonly proxies = new Map<string, { server: Server; port: number; target: number }>();
  private readonly rules = new Map<string, LinkRule>();
  private readonly links = new Set<Link>();
  private readonly names = new Map<string, string>();
  readonly stats: LinkStats = { forwarded: 0, dropped: 0, delayed: 0, severed: 0, unidentified: 0 };

  /** `rand`: the run's seeded PRNG (which messages a lossy link drops). */
  constructor(private readonly rand: () => number) {}

  /** Starts the proxy in front of member `name` (routing id `routingId`), forwarding to 127.0.0.1:`target`; its port. */
  async add(name: string, routingId: string, target: number): Promise<number> {
    this.names.set(routingId, name);
    const server = createServer((down) => this.accept(name, down));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('the proxy has no port');
    this.proxies.set(name, { server, port: address.port, target });
    return address.port;
  }

  /** Where member `name` listens now (a restart may move it). */
  retarget(name: string, target: number): void {
    const p = this.proxies.get(name);
    if (p) p.target = target;
  }

  port(name: string): number {
    const p = this.proxies.get(name);
    if (!p) throw new Error(`no proxy for ${name}`);
    return p.port;
  }

  rule(from: string, to: string): LinkRule {
    return this.rules.get(`${from}>${to}`) ?? PASS;
  }

  /** Sets the rule of every link from a member of `from` to a member of `to` (other than itself). */
  set(from: string[], to: string[], rule: Partial<LinkRule>): void {
    for (const f of from) {
      for (const t of to) {
        if (f === t) continue;
        this.rules.set(`${f}>${t}`, { ...PASS, ...rule });
      }
    }
    for (const l of this.links) if (l.from !== undefined && this.rule(l.from, this.toOf(l)).sever) this.cut(l);
  }

  /** Every link back to PASS. */
  heal(): void {
    this.rules.clear();
  }

  /** Every rule in force, for the run's log: the links each rule holds for ("m1>m2 m1>m3": "drop 1"). */
  describe(): Record<string, string> {
    const byRule = new Map<string, string[]>();
    for (const [link, r] of this.rules) {
      const text = [r.sever ? 'sever' : '', r.drop > 0 ? `drop ${r.drop.toFixed(2)}` : '', r.delayMs > 0 ? `delay ${r.delayMs} ms` : ''].filter(Boolean).join(', ');
      if (text) byRule.set(text, [...(byRule.get(text) ?? []), link]);
    }
    return Object.fromEntries([...byRule].map(([text, links]) => [links.join(' '), text]));
  }

  async close(): Promise<void> {
    for (const l of this.links) this.cut(l, false);
    await Promise.all([...this.proxies.values()].map((p) => new Promise<void>((resolve) => p.server.close(() => resolve()))));
    this.proxies.clear();
  }

  private readonly targets = new WeakMap<Link, string>();

  private toOf(l: Link): string {
    return this.targets.get(l)!;
  }

  private cut(l: Link, count = true): void {
    if (count) this.stats.severed++;
    l.down.destroy();
    l.up.destroy();
    this.links.delete(l);
  }

  private accept(to: string, down: Socket): void {
    const proxy = this.proxies.get(to);
    if (!proxy) return void down.destroy();
    down.setNoDelay(true);
    const up = createConnection({ host: '127.0.0.1', port: proxy.target });
    up.setNoDelay(true);
    const link: Link = { from: undefined, down, up };
    this.targets.set(link, to);
    this.links.add(link);
    const close = () => {
      if (!this.links.has(link)) return;
      this.links.delete(link);
      down.destroy();
      up.destroy();
    };
    down.on('error', close).on('close', close);
    up.on('error', close).on('close', close);
    // The receiver's side (its greeting and commands) goes back untouched.
    up.on('data', (d: Buffer) => {
      if (!down.write(d)) {
        up.pause();
        down.once('drain', () => up.resume());
      }
    });
    const reader = new FrameReader();
    let dropping = false;
    let inMessage = false;
    let releaseAt = 0;
    const queue: { at: number; raw: Buffer }[] = [];
    let timer: NodeJS.Timeout | undefined;
    const flush = () => {
      timer = undefined;
      const now = performance.now();
      while (queue.length > 0 && queue[0]!.at <= now) up.write(queue.shift()!.raw);
      if (queue.length > 0) timer = setTimeout(flush, Math.max(1, queue[0]!.at - now));
    };
    const forward = (raw: Buffer, delayMs: number) => {
      if (delayMs <= 0 && queue.length === 0) return void up.write(raw);
      releaseAt = Math.max(releaseAt, performance.now() + delayMs);
      queue.push({ at: releaseAt, raw });
      timer ??= setTimeout(flush, Math.max(1, releaseAt - performance.now()));
    };
    down.on('data', (chunk: Buffer) => {
      const { greeting, frames } = reader.push(chunk);
      if (greeting && greeting.length > 0) up.write(greeting);
      for (const f of frames) {
        if (f.flags & FLAG_COMMAND) {
          if (link.from === undefined) {
            const id = readyIdentity(f.body);
            if (id !== undefined) {
              link.from = this.names.get(id) ?? `?${id}`;
              if (!this.names.has(id)) this.stats.unidentified++;
              if (this.rule(link.from, to).sever) return this.cut(link);
            }
          }
          up.write(f.raw);
          continue;
        }
        if (link.from === undefined) {
          link.from = '?';
          this.stats.unidentified++;
        }
        const rule = this.rule(link.from, to);
        // One decision per message (a message may span frames).
        if (!inMessage) {
          dropping = rule.drop > 0 && this.rand() < rule.drop;
          if (dropping) this.stats.dropped++;
          else if (rule.delayMs > 0) this.stats.delayed++;
          else this.stats.forwarded++;
        }
        inMessage = (f.flags & FLAG_MORE) !== 0;
        if (!dropping) forward(f.raw, rule.delayMs);
      }
      if (up.writableLength > 4 * 1024 * 1024) {
        down.pause();
        up.once('drain', () => down.resume());
      }
    });
    down.on('close', () => clearTimeout(timer));
  }
}
