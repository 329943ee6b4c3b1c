import { createServer } from "node:net";

// Ports below the kernel's ephemeral range (32768+ on Linux): a port the kernel handed out for
// port 0 is free again once probed and can be taken as the local end of any outbound connection
// (other test files' workerd fetches run in parallel) before Miniflare binds it — EADDRINUSE in CI.
// Ports here are never handed out that way; random choice keeps parallel allocators apart.
const PORT_RANGE = { low: 20_000, high: 32_000 } as const;
const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

/** A loopback port nothing listens on, outside the ephemeral range; never the same twice per process. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = PORT_RANGE.low + Math.floor(Math.random() * (PORT_RANGE.high - PORT_RANGE.low));
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free loopback port in ${PORT_RANGE.low}-${PORT_RANGE.high}`);
}
