import { createServer, connect, type Server, type Socket } from 'node:net';

/**
 * `reset`: open connections are closed and new ones reset at once (a stopped server).
 * `hang`: nothing goes through any more, on open connections or new ones, and nothing is closed (a network partition).
 */
export type CutMode = 'reset' | 'hang';

/**
 * A TCP proxy between an app and a database server, so a test can take "the
 * database" away from one app without stopping the shared server that other
 * test files use in parallel. `cut()` drops every open connection; `restore()`
 * forwards again.
 */
export class TcpProxy {
  private readonly open = new Set<Socket>();
  private readonly pairs = new Set<[Socket, Socket]>();
  private mode: CutMode | null = null;
  /** Armed by dropReply: what the request and then its reply must contain. */
  private dropping: { request: string; reply: string } | undefined;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    let proxy!: TcpProxy;
    const server = createServer((client) => proxy.accept(client, targetHost, targetPort));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('proxy has no TCP address');
    proxy = new TcpProxy(server, address.port);
    return proxy;
  }

  get isCut(): boolean {
    return this.mode !== null;
  }

  cut(mode: CutMode = 'reset'): void {
    this.mode = mode;
    if (mode === 'reset') {
      this.dropAll();
      return;
    }
    for (const [client, upstream] of this.pairs) {
      client.unpipe(upstream).pause();
      upstream.unpipe(client).pause();
    }
  }

  /**
   * Loses one reply with its connection: once a client sends a chunk holding `request`, the first chunk the server
   * sends back on that connection holding `reply` is not forwarded, and both sides are closed. The server has run
   * the command; the client never hears of it (a server restart or a network fault at the worst moment).
   */
  dropReply(request: string, reply: string): void {
    this.dropping = { request, reply };
  }

  /** Forwards new connections again; connections a `hang` cut stalled are dropped, so their clients notice. */
  restore(): void {
    this.mode = null;
    this.dropAll();
  }

  async close(): Promise<void> {
    this.dropAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private accept(client: Socket, host: string, port: number): void {
    client.on('error', () => client.destroy());
    if (this.mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    this.track(client);
    if (this.mode === 'hang') return;
    const upstream = connect(port, host);
    this.track(upstream);
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    const pair: [Socket, Socket] = [client, upstream];
    this.pairs.add(pair);
    client.on('close', () => this.pairs.delete(pair));
    // before the pipes: these listeners see each chunk first, so a reply can be stopped before it is forwarded
    let awaitingReply: string | undefined;
    client.on('data', (chunk: Buffer) => {
      if (this.dropping && chunk.includes(this.dropping.request)) {
        awaitingReply = this.dropping.reply;
        this.dropping = undefined;
      }
    });
    upstream.on('data', (chunk: Buffer) => {
      if (awaitingReply === undefined || !chunk.includes(awaitingReply)) return;
      awaitingReply = undefined;
      upstream.unpipe(client);
      client.destroy();
      upstream.destroy();
    });
    client.pipe(upstream);
    upstream.pipe(client);
  }

  private track(socket: Socket): void {
    this.open.add(socket);
    socket.on('close', () => this.open.delete(socket));
  }

  private dropAll(): void {
    for (const socket of this.open) socket.destroy();
    this.open.clear();
    this.pairs.clear();
  }
}

/** The proxy and the app behind it of the running test (see useProxiedApp). */
export interface ProxiedApp {
  /** Starts this test's proxy in front of `host:port`. */
  start(host: string, port: number): Promise<TcpProxy>;
  readonly proxy: TcpProxy;
  app: { close(): Promise<void> } | undefined;
}

/**
 * A proxy per test and the app a test boots behind it, torn down after each: the proxy restored first
 * (a query hung in a partition would hold the data source's destroy), then the app closed, then the proxy.
 */
export function useProxiedApp(): ProxiedApp {
  let proxy: TcpProxy | undefined;
  const state: ProxiedApp = {
    async start(host, port) {
      proxy = await TcpProxy.start(host, port);
      return proxy;
    },
    get proxy() {
      if (!proxy) throw new Error('start() the proxy first');
      return proxy;
    },
    app: undefined,
  };
  afterEach(async () => {
    proxy?.restore();
    await state.app?.close();
    state.app = undefined;
    await proxy?.close();
    proxy = undefined;
  });
  return state;
}
