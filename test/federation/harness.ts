// Several Switchboard servers, each its own workerd (Miniflare) on its own loopback port with its own
// server name, signing key, D1 and Durable Objects. Federation between them is real HTTP.

import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Miniflare } from "miniflare";
import { unstable_splitSqlQuery } from "wrangler";
import { BUNDLE_DIR } from "./global-setup.js";
import { freePort } from "../support/ports.js";
import { workerOptionsWithoutLocalSecrets } from "../support/worker-options.js";
import { canonicalJson } from "../../shared/canonical-json.js";
import type { ServerName } from "../../shared/ids.js";
import { parseSigningKeySecret } from "../../shared/signing-key.js";
import { signRequest } from "../../shared/x-matrix.js";

export { freePort };

const ROOT = join(import.meta.dirname, "..", "..");

export interface TestServer {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  /** Fetch a path on this server. */
  fetch(path: string, init?: RequestInit): Promise<Response>;
  /** Stop the server, keeping its persisted state (a crash or a deploy). */
  stop(): Promise<void>;
  /** Start it again on the same port with the same state. */
  start(): Promise<void>;
  readonly running: boolean;
  miniflare(): Miniflare;
  /** Where its D1 and Durable Object state is persisted (removed by stopServers). */
  readonly stateDir: string;
  /** This server's signing key secret, so tests can act as this server (or forge as it). */
  readonly signingKeySecret: string;
  /** Sends a request signed as this server to `to` (a real X-Matrix signature with this server's key). */
  federation(to: TestServer, method: string, path: string, body?: unknown, opts?: FederationOptions): Promise<Response>;
}

export interface FederationOptions {
  /** Sign with this key secret instead (forgery tests). */
  signingKeySecret?: string;
  /** Claim this destination in the signature and header. */
  destination?: string;
  /** Replace the Authorization header entirely. */
  authorization?: string;
}

export interface ServerOptions {
  /** Extra bindings (test knobs such as shorter retry backoff). */
  bindings?: Record<string, string>;
  /** Extra host-map entries, for servers a test plays itself (server name -> base URL). */
  extraHosts?: Record<string, string>;
  /** Listen on these ports (one per name) rather than free ones, for names that contain their port. */
  ports?: number[];
  /** Serve HTTPS with this certificate (peers that federate only over HTTPS, such as Synapse). */
  tls?: { keyPath: string; certPath: string };
}

function migrationStatements(): string[] {
  const dir = join(ROOT, "migrations");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()
    .flatMap((f) => unstable_splitSqlQuery(readFileSync(join(dir, f), "utf8")));
}

function workerOptions() {
  return workerOptionsWithoutLocalSecrets();
}

/** Starts one server per name; all share a host map pointing each name at its loopback port. */
export async function startServers(names: string[], opts: ServerOptions = {}): Promise<TestServer[]> {
  const ports = opts.ports ?? (await Promise.all(names.map(() => freePort())));
  const scheme = opts.tls ? "https" : "http";
  const hostMap = { ...Object.fromEntries(names.map((n, i) => [n, `${scheme}://127.0.0.1:${ports[i]}`])), ...opts.extraHosts };
  const base = workerOptions();
  const statements = migrationStatements();
  const servers = names.map((name, i) => makeServer(name, ports[i] as number, hostMap, base, statements, opts));
  const started = await Promise.allSettled(servers.map((s) => s.start()));
  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    // The caller never gets the servers to stop: stop the ones that came up and remove every state directory.
    await stopServers(servers);
    throw failed.reason;
  }
  return servers;
}

function makeServer(
  name: string,
  port: number,
  hostMap: Record<string, string>,
  base: ReturnType<typeof workerOptions>,
  statements: string[],
  opts: ServerOptions,
): TestServer {
  const dir = mkdtempSync(join(tmpdir(), `sb-${name.replace(/[^a-z0-9]/gi, "_")}-`));
  const seed = randomBytes(32).toString("base64").replace(/=+$/, "");
  const keyVersion = `t_${randomBytes(3).toString("hex")}`;
  let mf: Miniflare | undefined;
  let migrated = false;
  const url = `${opts.tls ? "https" : "http"}://127.0.0.1:${port}`;

  const signingKeySecret = `ed25519:${keyVersion}:${seed}`;
  const server: TestServer = {
    name,
    port,
    url,
    stateDir: dir,
    signingKeySecret,
    async federation(to, method, path, body, opts = {}) {
      const key = await parseSigningKeySecret(opts.signingKeySecret ?? signingKeySecret);
      const destination = opts.destination ?? to.name;
      const auth = opts.authorization ?? (await signRequest(key, name as ServerName, destination as ServerName, method, path, body));
      return fetch(`${to.url}${path}`, {
        method,
        headers: { authorization: auth, ...(body === undefined ? {} : { "content-type": "application/json" }) },
        body: body === undefined ? undefined : canonicalJson(body),
      });
    },
    get running() {
      return mf !== undefined;
    },
    miniflare() {
      if (!mf) throw new Error(`${name} is not running`);
      return mf;
    },
    fetch(path, init) {
      return fetch(`${url}${path}`, init);
    },
    async start() {
      if (mf) return;
      mf = new Miniflare({
        name: "switchboard",
        modulesRoot: BUNDLE_DIR,
        modules: [{ type: "ESModule", path: join(BUNDLE_DIR, "index.js") }],
        compatibilityDate: base.compatibilityDate,
        compatibilityFlags: base.compatibilityFlags,
        durableObjects: base.durableObjects,
        serviceBindings: base.serviceBindings,
        d1Databases: { DB: "db" },
        d1Persist: join(dir, "d1"),
        durableObjectsPersist: join(dir, "do"),
        r2Buckets: { MEDIA: "media" },
        r2Persist: join(dir, "r2"),
        bindings: {
          SERVER_NAME: name,
          SIGNING_KEY: signingKeySecret,
          FEDERATION_HOST_MAP: JSON.stringify(hostMap),
          ADMIN_TOKEN: "test-admin-token",
          ...opts.bindings,
        },
        host: "127.0.0.1",
        port,
        ...(opts.tls ? { https: true, httpsKeyPath: opts.tls.keyPath, httpsCertPath: opts.tls.certPath, outboundService: trustingOwnCertificate(opts.tls.certPath) } : {}),
        cf: false,
      });
      await mf.ready;
      if (!migrated) {
        const db = await mf.getD1Database("DB");
        for (const sql of statements) await db.prepare(sql).run();
        migrated = true;
      }
    },
    async stop() {
      const m = mf;
      mf = undefined;
      await m?.dispose();
    },
  };
  (server as { cleanup?: () => void }).cleanup = () => rmSync(dir, { recursive: true, force: true });
  return server;
}

/** Outbound fetch that trusts the servers' own self-signed certificate, so HTTPS servers can federate with each other. */
function trustingOwnCertificate(certPath: string) {
  return { network: { allow: ["public", "private", "local"], tlsOptions: { trustBrowserCas: true, trustedCertificates: [readFileSync(certPath, "utf8")] } } };
}

export async function stopServers(servers: TestServer[]): Promise<void> {
  await Promise.all(servers.map((s) => s.stop()));
  for (const s of servers) (s as { cleanup?: () => void }).cleanup?.();
}
