/** A running member: Raft driver, store and client endpoint together (what `axis serve` starts). */
import { ZmqTransport } from '../transport/index.js';
import { ClientListener } from './listener.js';
import { Member, type TransportFactory } from './member.js';
import { ApiService } from './service.js';
import type { MemberConfig } from './config.js';

export * from './config.js';
export { Member, type MemberStatus, type TransportFactory } from './member.js';
export { ApiService, MAX_REQUEST_BYTES } from './service.js';

export interface Server {
  member: Member;
  service: ApiService;
  /** Transfers leadership away if leading, then closes the endpoints and the store. */
  stop(): Promise<void>;
}

export interface ServeOptions {
  /** Peer transport (default: ZeroMQ). Tests pass an in-memory network's. */
  transport?: TransportFactory;
  /** Serve clients over ZeroMQ at config.clientListen (default true). */
  listen?: boolean;
  /** The member hit an unrecoverable error (a bug or a broken disk): it has stopped serving. */
  onFatal?: (err: Error) => void;
}

export async function serve(config: MemberConfig, options: ServeOptions = {}): Promise<Server> {
  const peerKeys = config.peerKeys;
  const member = await Member.start(config, options.transport ?? ((o) => new ZmqTransport({ ...o, ...(peerKeys ? { curve: peerKeys } : {}) })), options.onFatal);
  const service = new ApiService(member);
  let listener: ClientListener | undefined;
  if (options.listen !== false) {
    listener = new ClientListener(service, config.clientListen, config.clientKeys);
    try {
      await listener.start();
    } catch (err) {
      await member.stop({ transfer: false });
      throw err;
    }
  }
  let stopping: Promise<void> | undefined;
  return {
    member,
    service,
    stop() {
      stopping ??= (async () => {
        // Watches first: their clients move to another member while this one hands over.
        service.close();
        await member.stop();
        await listener?.close();
      })();
      return stopping;
    },
  };
}
