// Plays remote servers inside the workerd test isolate: real Ed25519 keys, signed key documents and
// a stubbed global fetch that records every request the code under test makes.

import { vi } from "vitest";
import type { ServerName } from "../../shared/ids.js";
import { signJson } from "../../shared/signed-json.js";
import { signingKeyFromSeed, type SigningKey } from "../../shared/signing-key.js";
import { signRequest } from "../../shared/x-matrix.js";

export const HOUR = 60 * 60 * 1000;

export interface FakeServer {
  name: ServerName;
  key: SigningKey;
  /** A key document signed by `key` (and by `extraKeys`, which are listed too). */
  keyDocument(opts?: KeyDocOptions): Promise<Record<string, unknown>>;
  /** An Authorization header value for a request from this server. */
  sign(destination: string, method: string, uri: string, content?: unknown, key?: SigningKey): Promise<string>;
}

export interface KeyDocOptions {
  validUntilTs?: number;
  serverName?: string;
  extraKeys?: SigningKey[];
  oldKeys?: Array<{ key: SigningKey; expiredTs: number }>;
  /** Keys listed under verify_keys that do not sign the document. */
  unsignedKeys?: SigningKey[];
}

let seedCounter = 0;

export async function newKey(version = "k1"): Promise<SigningKey> {
  seedCounter++;
  const seed = new Uint8Array(32);
  crypto.getRandomValues(seed);
  seed[0] = seedCounter & 0xff;
  return signingKeyFromSeed(seed, version);
}

export async function fakeServer(name: string, version = "k1"): Promise<FakeServer> {
  const key = await newKey(version);
  return {
    name: name as ServerName,
    key,
    async keyDocument(opts: KeyDocOptions = {}) {
      const listed = [key, ...(opts.extraKeys ?? []), ...(opts.unsignedKeys ?? [])];
      let doc: Record<string, unknown> = {
        server_name: opts.serverName ?? name,
        valid_until_ts: opts.validUntilTs ?? Date.now() + 12 * HOUR,
        "m.linearized": true,
        verify_keys: Object.fromEntries(listed.map((k) => [k.keyId, { key: k.publicKeyBase64 }])),
        old_verify_keys: Object.fromEntries((opts.oldKeys ?? []).map((o) => [o.key.keyId, { key: o.key.publicKeyBase64, expired_ts: o.expiredTs }])),
      };
      for (const k of [key, ...(opts.extraKeys ?? [])]) doc = await signJson(doc, opts.serverName ?? name, k);
      return doc;
    },
    sign(destination, method, uri, content, signWith = key) {
      return signRequest(signWith, name as ServerName, destination as ServerName, method, uri, content);
    },
  };
}

export type Route = (req: Request) => Response | undefined | Promise<Response | undefined>;

/**
 * Replaces global fetch: each request goes to the first route that answers; unanswered requests get
 * a network error, like an unreachable host. `requests` lists every URL asked for, in order.
 */
export function stubFetch(...routes: Route[]): { requests: Request[]; urls: () => string[] } {
  const requests: Request[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const req = new Request(input, init);
    requests.push(req);
    for (const route of routes) {
      const res = await route(req);
      if (res) return res;
    }
    throw new TypeError(`Network connection lost (no route for ${req.url})`);
  });
  return { requests, urls: () => requests.map((r) => r.url) };
}

/** Answers GET <url> with a JSON body. */
export function serve(url: string, body: unknown | (() => unknown | Promise<unknown>), status = 200, headers: Record<string, string> = {}): Route {
  return async (req) => {
    if (req.url !== url) return undefined;
    const value = typeof body === "function" ? await (body as () => unknown)() : body;
    return new Response(typeof value === "string" ? value : JSON.stringify(value), {
      status,
      headers: { "content-type": "application/json", ...headers },
    });
  };
}

/** A well-known lookup that finds nothing (so resolution falls back to port 8448). */
export const noWellKnown: Route = (req) => (req.url.endsWith("/.well-known/matrix/server") ? new Response("not found", { status: 404 }) : undefined);

/** Serves `server`'s key document at https://<name>:8448 after a failed well-known lookup. */
export function serveKeys(server: FakeServer, doc: () => Promise<unknown> | unknown): Route {
  return serve(`https://${server.name}:8448/_matrix/key/v2/server`, doc);
}

/** A fetch that never answers until aborted. */
export function hang(url: string): Route {
  return (req) => {
    if (req.url !== url) return undefined;
    return new Promise<Response>((_, reject) => req.signal.addEventListener("abort", () => reject(new Error("aborted"))));
  };
}
