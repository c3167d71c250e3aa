/**
 * Who may connect to a CURVE server socket: a ZAP handler (ZeroMQ RFC 27), the one place libzmq
 * asks. zeromq.js has no ZAP API, so this is the standard one: a REP socket bound to
 * inproc://zeromq.zap.01 in the sockets' context, answering each handshake's request with 200 or
 * 400. One handler serves the whole process (libzmq allows one per context); each server socket
 * gets its own ZAP domain, mapped here to the keys it lets in, so members in one process (tests)
 * keep separate lists. Server sockets set zapEnforceDomain: if the handler is not there, libzmq
 * refuses the handshake rather than letting everyone in.
 */
import { Reply, type Dealer, type Router } from 'zeromq';
import { AxisError, ErrorCode } from '../errors/index.js';
import type { CurveKeys } from './keys.js';
import { z85Encode } from './z85.js';

const ZAP_ENDPOINT = 'inproc://zeromq.zap.01';

interface Domain {
  authorized: ReadonlySet<string>;
  /** The first handshake refused from `address` (wrong mechanism or a key not in the list). */
  onRefused: (address: string) => void;
  /** Addresses already reported: a refused peer retries every second, a client more often. */
  reported: Set<string>;
}

/** A server socket's admission: its options and the domain's lifetime. */
export interface CurveGate {
  /** Makes `socket` a CURVE server with these keys, admitting through this gate (before bind). */
  secure(socket: Router): void;
  /** Forgets the domain (after the socket is closed); the handler stops with the last one. */
  close(): void;
}

class ZapHandler {
  private readonly domains = new Map<string, Domain>();
  private socket: Reply | undefined;
  private bound: Promise<void> | undefined;
  private next = 0;

  async open(keys: CurveKeys, onRefused: (address: string) => void): Promise<CurveGate> {
    const domain = `axis.${process.pid}.${++this.next}`;
    this.domains.set(domain, { authorized: new Set(keys.authorized), onRefused, reported: new Set() });
    const close = () => {
      if (!this.domains.delete(domain) || this.domains.size > 0) return;
      this.socket?.close();
      this.socket = undefined;
      this.bound = undefined;
    };
    try {
      await this.start();
    } catch (err) {
      close();
      throw err;
    }
    return {
      secure(socket) {
        socket.curveServer = true;
        socket.curveSecretKey = keys.secretKey();
        socket.zapDomain = domain;
        socket.zapEnforceDomain = true;
      },
      close,
    };
  }

  private start(): Promise<void> {
    if (!this.bound) {
      const socket = new Reply({ linger: 0 });
      this.socket = socket;
      this.bound = socket.bind(ZAP_ENDPOINT).then(
        () => void this.serve(socket),
        (err: unknown) => {
          socket.close();
          if (this.socket === socket) {
            this.socket = undefined;
            this.bound = undefined;
          }
          throw new AxisError(ErrorCode.INVALID_ARGUMENT, `cannot authorise CURVE keys: ${ZAP_ENDPOINT} is taken (another ZAP handler in this process?): ${(err as Error).message}`);
        },
      );
    }
    return this.bound;
  }

  /** ZAP 1.0: version, request id, domain, address, identity, mechanism, credentials → version, request id, status, text, user id, metadata. */
  private async serve(socket: Reply): Promise<void> {
    while (!socket.closed) {
      try {
        const [version, requestId, domain, address, , mechanism, credential] = await socket.receive();
        const d = this.domains.get(domain?.toString() ?? '');
        let status = '200';
        let text = 'OK';
        if (version?.toString() !== '1.0' || requestId === undefined) {
          status = '500';
          text = 'unsupported ZAP request';
        } else if (!d || mechanism?.toString() !== 'CURVE' || credential?.length !== 32 || !d.authorized.has(z85Encode(credential))) {
          status = '400';
          text = 'key not authorised';
          const from = address?.toString() ?? '?';
          if (d && !d.reported.has(from) && d.reported.size < 10_000) {
            d.reported.add(from);
            d.onRefused(from);
          }
        }
        await socket.send(['1.0', requestId ?? '', status, text, status === '200' ? 'axis' : '', '']);
      } catch {
        // Closed (the last domain went): done. Anything else: a handshake that waited for this
        // answer fails on its own (libzmq's handshake timeout); keep answering the others.
        if (socket.closed) return;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
  }
}

const handler = new ZapHandler();

/**
 * Registers the keys a server socket admits; resolves once the ZAP handler is listening.
 * `onRefused` hears the first refused handshake from each address.
 */
export function openCurveGate(keys: CurveKeys, onRefused: (address: string) => void): Promise<CurveGate> {
  return handler.open(keys, onRefused);
}

/**
 * Makes `socket` a CURVE client with `keys` (before connect). `onRefused` hears when a server's
 * ZAP handler turns this key away (the server says so in the handshake).
 */
export function secureClient(socket: Dealer, keys: CurveKeys, onRefused?: (address: string) => void): void {
  socket.curveServerKey = keys.serverKey;
  socket.curvePublicKey = keys.publicKey;
  socket.curveSecretKey = keys.secretKey();
  if (!onRefused) return;
  void (async () => {
    try {
      for await (const event of socket.events) if (event.type === 'handshake:error:auth') onRefused(event.address);
    } catch {
      // the socket closed
    }
  })();
}
