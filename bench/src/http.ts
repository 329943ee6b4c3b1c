// A small keep-alive HTTP/1.1 client over node:http: less overhead per request than fetch, and each
// simulated server gets its own connection pool (a sending server holds its own connections).

import { Agent, request } from "node:http";

export interface HttpAnswer {
  status: number;
  body: Buffer;
  /** The hub's `Server-Timing: handler;dur=` (ms inside its Worker), when it sent one. */
  handlerMs?: number;
}

export interface HttpTarget {
  host: string;
  port: number;
}

export function target(url: string): HttpTarget {
  const u = new URL(url);
  return { host: u.hostname, port: Number(u.port) };
}

export function newAgent(maxSockets = 1): Agent {
  return new Agent({ keepAlive: true, maxSockets, keepAliveMsecs: 10_000 });
}

const shared = newAgent(64);

export function httpRequest(
  to: HttpTarget,
  method: string,
  path: string,
  opts: { headers?: Record<string, string>; body?: Buffer | string; agent?: Agent; timeoutMs?: number } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...(opts.headers ?? {}) };
    if (opts.body !== undefined) {
      headers["content-type"] ??= "application/json";
      headers["content-length"] = Buffer.byteLength(opts.body);
    }
    const req = request({ host: to.host, port: to.port, method, path, headers, agent: opts.agent ?? shared }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      const timing = /(?:^|,)\s*handler;dur=(\d+(?:\.\d+)?)/.exec(String(res.headers["server-timing"] ?? ""));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), ...(timing ? { handlerMs: Number(timing[1]) } : {}) }));
      res.on("error", reject);
    });
    req.setTimeout(opts.timeoutMs ?? 120_000, () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on("error", reject);
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** JSON request that must answer 200; returns the parsed body. */
export async function httpJson<T>(to: HttpTarget, method: string, path: string, opts: Parameters<typeof httpRequest>[3] = {}): Promise<T> {
  const res = await httpRequest(to, method, path, opts);
  const text = res.body.toString("utf8");
  if (res.status !== 200) throw new Error(`${method} ${path}: HTTP ${res.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}
