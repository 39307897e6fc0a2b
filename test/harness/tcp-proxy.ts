/**
 * A TCP proxy in front of a redis-server that cuts a client off at an exact point of
 * what it sends: the first command carrying a marker (a task's error text, say) is
 * forwarded or dropped, and from then on nothing the client's connections send reaches
 * Redis. Killing the client process then is a crash at that point: "the worker died
 * right after (or right before) Redis got its failure".
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** `redis://127.0.0.1:<port>` of the proxy. */
  readonly url: string;
  /** Resolves once the marker was seen and the connections were cut. */
  readonly cut: Promise<void>;
  /** Closes the proxy and every connection through it. */
  close(): Promise<void>;
}

/**
 * Proxies to the redis-server on `port`. The first chunk a client sends that contains
 * `marker` is forwarded (`'after'`) or dropped (`'before'`); from then on nothing more is
 * forwarded to Redis on any connection, while Redis's answers still reach the clients.
 */
export async function startCuttingProxy(port: number, marker: string, at: 'before' | 'after'): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  const needle = Buffer.from(marker);
  let resolveCut: () => void = () => undefined;
  const cut = new Promise<void>((resolve) => {
    resolveCut = resolve;
  });
  let isCut = false;
  const server: Server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    sockets.add(client).add(upstream);
    // the end of what was seen, so that a marker split between two chunks is found too
    let tail = Buffer.alloc(0);
    client.on('data', (chunk: Buffer) => {
      if (isCut) return;
      const seen = Buffer.concat([tail, chunk]);
      if (seen.includes(needle)) {
        if (at === 'after') upstream.write(chunk);
        isCut = true;
        resolveCut();
        return;
      }
      tail = seen.subarray(Math.max(0, seen.length - needle.length + 1));
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    // an ended client ends its upstream gracefully: Redis still runs what it was sent
    client.on('close', () => upstream.end());
    upstream.on('close', () => client.destroy());
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const proxyPort = typeof address === 'object' && address !== null ? address.port : 0;
  return {
    url: `redis://127.0.0.1:${proxyPort}`,
    cut,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
