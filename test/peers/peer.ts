// The two sides of a peer test: the Synapse that scripts/test-synapse.sh started (its name and port
// come in SYNAPSE_NAME and SYNAPSE_PORT) and a Switchboard server started here over HTTPS, named
// after its port as Synapse requires. Both are driven through their client APIs as real clients would.

import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort, startServers, type TestServer } from "../federation/harness.js";

export interface Homeserver {
  readonly name: string;
  readonly url: string;
  fetch(path: string, init?: RequestInit): Promise<Response>;
}

export function synapse(): Homeserver {
  const name = process.env["SYNAPSE_NAME"];
  const port = process.env["SYNAPSE_PORT"];
  if (!name || !port) throw new Error("SYNAPSE_NAME and SYNAPSE_PORT are unset: run these tests with `npm run test:synapse`");
  const url = `http://127.0.0.1:${port}`;
  return { name, url, fetch: (path, init) => fetch(`${url}${path}`, init) };
}

/**
 * Restarts the Synapse that scripts/test-synapse.sh started, keeping its database: what it held only
 * in memory (its queue of PDUs for an unreachable server) is lost, so it catches that server up.
 */
export function restartSynapse(peer: Homeserver): void {
  const port = new URL(peer.url).port;
  const script = join(import.meta.dirname, "..", "..", "scripts", "synapse.sh");
  execFileSync("bash", [script, "stop", peer.name], { stdio: "ignore" });
  execFileSync("bash", [script, "start", peer.name, port], { stdio: "ignore" });
}

/** A self-signed certificate for 127.0.0.1, made with openssl in a fresh directory. */
function certificate(): { keyPath: string; certPath: string } {
  const dir = mkdtempSync(join(tmpdir(), "sb-peer-tls-"));
  const keyPath = join(dir, "tls.key");
  const certPath = join(dir, "tls.crt");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", keyPath, "-out", certPath], { stdio: "ignore" });
  return { keyPath, certPath };
}

/**
 * One Switchboard server on HTTPS that reaches the Synapse through its host map. Each test file runs
 * its own server (fresh key and state) under its own name: `slot` keeps the names apart when
 * SWITCHBOARD_PORT fixes the ports (SWITCHBOARD_PORT + slot), since Synapse remembers a name's
 * transactions, keys and devices.
 */
export async function startSwitchboard(peer: Homeserver, slot: number): Promise<TestServer> {
  const [server] = await startSwitchboards(peer, [slot]);
  return server as TestServer;
}

/** Several Switchboard servers (one per slot) that know each other and the Synapse, e.g. a hub and its LM participant. */
export async function startSwitchboards(peer: Homeserver, slots: readonly number[]): Promise<TestServer[]> {
  const base = process.env["SWITCHBOARD_PORT"];
  const ports = await Promise.all(slots.map((slot) => (base ? Number(base) + slot : freePort())));
  return startServers(ports.map((port) => `127.0.0.1:${port}`), {
    ports,
    tls: certificate(),
    extraHosts: { [peer.name]: peer.url },
    // A restarted or slow peer is retried within the test's patience.
    bindings: { FEDERATION_RETRY_BASE_MS: "200", FEDERATION_RETRY_MAX_MS: "2000" },
  });
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
    what: string,
  ) {
    super(`${what}: ${status} ${JSON.stringify(body).slice(0, 500)}`);
  }
}

/** A logged-in user on either homeserver. */
export class User {
  private txn = 0;
  constructor(
    readonly server: Homeserver,
    readonly userId: string,
    readonly deviceId: string,
    readonly accessToken: string,
  ) {}

  static async register(server: Homeserver, username: string, deviceId?: string): Promise<User> {
    const res = await server.fetch("/_matrix/client/v3/register", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username, password: "peer test password", ...(deviceId ? { device_id: deviceId } : {}), auth: { type: "m.login.dummy" } }),
    });
    const body = (await res.json()) as Record<string, unknown>;
    if (res.status !== 200) throw new ApiError(res.status, body, `register ${username} on ${server.name}`);
    return new User(server, body["user_id"] as string, body["device_id"] as string, body["access_token"] as string);
  }

  /** A client-API request with a raw JSON body string; any non-200 answer throws. */
  async raw(method: string, path: string, body?: string): Promise<string> {
    const res = await this.server.fetch(`/_matrix/client/v3${path}`, {
      method,
      headers: { authorization: `Bearer ${this.accessToken}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
      body,
    });
    const text = await res.text();
    if (res.status !== 200) throw new ApiError(res.status, safeJson(text), `${method} ${path} on ${this.server.name}`);
    return text;
  }

  async request<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
    return JSON.parse(await this.raw(method, path, body === undefined ? undefined : JSON.stringify(body))) as T;
  }

  nextTxn(): string {
    return `peer-${Date.now()}-${this.txn++}`;
  }
}

function safeJson(text: string): Record<string, unknown> {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === "object" && v !== null ? (v as Record<string, unknown>) : { text };
  } catch {
    return { text: text.slice(0, 300) };
  }
}

/** Polls `check` until it returns something defined, or throws after `ms`. */
export async function eventually<T>(what: string, check: () => Promise<T | undefined>, ms = 20_000, everyMs = 250): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ""}`);
}

/** The usual two sides of a peer test: the Synapse under test, a fresh Switchboard in `slot`, and one user on each. */
export interface PeerPair {
  syn: Homeserver;
  sb: TestServer;
  /** On Synapse. */
  alice: User;
  /** On Switchboard. */
  bob: User;
}

/** Starts a PeerPair; `label` keeps user names apart across test files (Synapse keeps its users). */
export async function startPeerPair(slot: number, label: string): Promise<PeerPair> {
  const syn = synapse();
  const sb = await startSwitchboard(syn, slot);
  const tag = Date.now().toString(36);
  const [alice, bob] = await Promise.all([User.register(syn, `alice-${label}-${tag}`), User.register(sb, `bob-${label}-${tag}`)]);
  return { syn, sb, alice, bob };
}
