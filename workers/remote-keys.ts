// Remote servers' signing keys, for checking their request and event signatures. Lookups go memory
// (per isolate) -> D1 -> GET /_matrix/key/v2/server on the origin. Anything wrong with the origin's
// answer (unreachable, slow, garbage, wrong server_name, bad self-signature) means "no key", so the
// caller answers 401 rather than 500. Notary fallback is not implemented: only the origin is asked.

import { encodeBase64, tryDecodeBase64 } from "../shared/base64.js";
import { canonicalJson } from "../shared/canonical-json.js";
import { checkKeyDocument, type ValidKeyDocument } from "../shared/server-key-document.js";
import { signatureKeyIds, verifyJsonSignature } from "../shared/signed-json.js";
import { parseStrictJsonBytes } from "../shared/strict-json.js";
import type { Config } from "./config.js";
import { fetchBounded } from "./remote-fetch.js";
import { resolveServerName } from "./resolve.js";
import { saveKeyDocument, selectKeyDocuments, selectRemoteKey, type StoredKey } from "./storage/remote-keys.js";

/** What signature checks need; federation-auth and event checks depend on this, not on the class. */
export interface VerifyKeyLookup {
  /**
   * The public key `keyId` of `serverName`, if usable. Without `atTs` (request authentication) only
   * a current verify key that has not passed its valid_until_ts counts. With `atTs` (an event's
   * origin_server_ts) a verify key valid until at least `atTs` counts, and so does an old key whose
   * expired_ts is after `atTs`.
   */
  getVerifyKey(serverName: string, keyId: string, atTs?: number): Promise<Uint8Array | undefined>;
}

export interface RemoteKeyStoreOptions {
  /** Deadline for each request a key fetch makes (the well-known lookup and the key request). */
  fetchTimeoutMs?: number;
  /** At most one fetch per server in this window, so unknown key IDs cannot make us flood a peer. */
  minRefetchIntervalMs?: number;
  /**
   * Servers to ask (POST /_matrix/key/v2/query) when the origin itself cannot be reached: the room's
   * hub for events it relays (it verified them, so it holds the keys), and any configured notaries.
   * A notary's answer counts only with the notary's own valid signature on it.
   */
  notaries?: readonly string[];
}

export const KEY_FETCH_TIMEOUT_MS = 10_000;
export const MIN_REFETCH_INTERVAL_MS = 30_000;
const MAX_KEY_DOCUMENT_BYTES = 64 * 1024;
const MEMORY_MAX_ENTRIES = 10_000;

interface CachedKey {
  publicKey: Uint8Array;
  validUntilTs: number;
  expiredTs: number | null;
}

// Isolate-level: shared by every request this isolate serves, keyed by (server name, key ID).
const memory = new Map<string, CachedKey>();
const lastFetch = new Map<string, number>();
const fetching = new Map<string, number>();
const MAX_CONCURRENT_FETCHES = 2;
const lastNotaryAsk = new Map<string, number>();
/** A notary that could not help is asked about the same server again only after this long. */
const NOTARY_RETRY_MS = 5_000;

/** Whether `server` signed `doc` under one of its current keys. */
async function signedByServer(doc: object, server: string, keys: VerifyKeyLookup): Promise<boolean> {
  for (const keyId of signatureKeyIds(doc, server)) {
    const key = await keys.getVerifyKey(server, keyId);
    if (key && (await verifyJsonSignature(doc, server, keyId, key))) return true;
  }
  return false;
}

const cacheKey = (serverName: string, keyId: string) => `${serverName}\u0000${keyId}`;

/** Forgets keys held in this isolate's memory (tests use it to prove the D1 layer). */
export function clearRemoteKeyMemory(): void {
  memory.clear();
  lastFetch.clear();
}

function remember(serverName: string, keyId: string, k: CachedKey): void {
  const id = cacheKey(serverName, keyId);
  memory.delete(id);
  if (memory.size >= MEMORY_MAX_ENTRIES) {
    const oldest = memory.keys().next();
    if (!oldest.done) memory.delete(oldest.value);
  }
  memory.set(id, k);
}

function usable(k: CachedKey, atTs: number | undefined, now: number): boolean {
  if (atTs === undefined) return k.expiredTs === null && k.validUntilTs > now;
  return k.expiredTs === null ? atTs <= k.validUntilTs : atTs < k.expiredTs;
}

export class RemoteKeyStore implements VerifyKeyLookup {
  private readonly fetchTimeoutMs: number;
  private readonly minRefetchIntervalMs: number;
  private readonly refreshing = new Map<string, Promise<boolean>>();
  private readonly notaries: readonly string[];

  constructor(
    private readonly db: D1Database,
    private readonly config: Pick<Config, "serverName" | "signingKey" | "hostMap">,
    opts: RemoteKeyStoreOptions = {},
  ) {
    this.fetchTimeoutMs = opts.fetchTimeoutMs ?? KEY_FETCH_TIMEOUT_MS;
    this.minRefetchIntervalMs = opts.minRefetchIntervalMs ?? MIN_REFETCH_INTERVAL_MS;
    this.notaries = (opts.notaries ?? []).filter((n) => n !== config.serverName);
  }

  async getVerifyKey(serverName: string, keyId: string, atTs?: number): Promise<Uint8Array | undefined> {
    if (serverName === this.config.serverName) {
      return keyId === this.config.signingKey.keyId ? this.config.signingKey.publicKey : undefined;
    }
    const now = Date.now();
    const inMemory = memory.get(cacheKey(serverName, keyId));
    if (inMemory && usable(inMemory, atTs, now)) return inMemory.publicKey;

    const stored = await this.loadFromD1(serverName, keyId);
    if (stored && usable(stored, atTs, now)) {
      remember(serverName, keyId, stored);
      return stored.publicKey;
    }

    // Memory is read even when this lookup did not fetch: a concurrent one may just have.
    await this.refreshShared(serverName);
    const fresh = memory.get(cacheKey(serverName, keyId));
    return fresh && usable(fresh, atTs, Date.now()) ? fresh.publicKey : undefined;
  }

  /**
   * Key documents of `serverName` as received (not yet signed by us), for the notary endpoints. Asks
   * the origin first when nothing cached meets the criteria or the newest copy is past half its life.
   * `criteria` maps key IDs to their minimum_valid_until_ts; empty means "any key, valid until `minimumValidUntilTs`".
   */
  async keyDocuments(serverName: string, minimumValidUntilTs: number, criteria: ReadonlyMap<string, number> = new Map()): Promise<Record<string, unknown>[]> {
    let docs = await this.loadDocuments(serverName);
    const now = Date.now();
    const newest = docs[0];
    const stale = !newest || now > newest.fetchedTs + (newest.validUntilTs - newest.fetchedTs) / 2;
    if (stale || !docs.some((d) => matches(d, minimumValidUntilTs, criteria))) {
      if (await this.refresh(serverName)) docs = await this.loadDocuments(serverName);
    }
    return docs.filter((d) => matches(d, minimumValidUntilTs, criteria)).map((d) => d.document);
  }

  /**
   * One refresh per server at a time within this store (that is, within one request): the PDUs of a
   * transaction or a send_join answer look keys up concurrently, and without this all but the first
   * MAX_CONCURRENT_FETCHES lookups of a server not yet known would find "no key" while the fetch that
   * brings it is still running. Only fetches in flight are shared, so sequential lookups are unchanged.
   */
  private refreshShared(serverName: string): Promise<boolean> {
    let running = this.refreshing.get(serverName);
    if (!running) {
      running = this.refresh(serverName)
        .then((ok) => ok || this.askNotaries(serverName))
        .finally(() => this.refreshing.delete(serverName));
      this.refreshing.set(serverName, running);
    }
    return running;
  }

  /**
   * Fetches the origin's key document now; true when a valid one was stored. Promises are not shared
   * between requests (workerd ties I/O to the request that started it), so concurrency is bounded
   * per server instead, and a finished fetch blocks the next one for minRefetchIntervalMs.
   */
  async refresh(serverName: string): Promise<boolean> {
    const last = lastFetch.get(serverName);
    if (last !== undefined && Date.now() - last < this.minRefetchIntervalMs) return false;
    const running = fetching.get(serverName) ?? 0;
    // Other requests are fetching this server's keys already. Their promises cannot be shared, but
    // their result lands in memory: wait for them to finish rather than answer "no key" meanwhile
    // (many first requests from a new server arrive at once, e.g. a crowd joining a room).
    if (running >= MAX_CONCURRENT_FETCHES) return this.awaitOtherFetches(serverName);
    fetching.set(serverName, running + 1);
    try {
      return await this.fetchAndStore(serverName);
    } catch (err) {
      console.warn(`key fetch for ${serverName} failed: ${err instanceof Error ? err.message : String(err)}`);
      return false;
    } finally {
      const n = (fetching.get(serverName) ?? 1) - 1;
      if (n <= 0) fetching.delete(serverName);
      else fetching.set(serverName, n);
      lastFetch.set(serverName, Date.now());
    }
  }

  /** Waits (bounded by the fetch timeout) until no fetch of `serverName` runs; true when one finished meanwhile. */
  private async awaitOtherFetches(serverName: string): Promise<boolean> {
    const started = Date.now();
    while ((fetching.get(serverName) ?? 0) > 0 && Date.now() - started < this.fetchTimeoutMs) {
      await new Promise((r) => setTimeout(r, 25));
    }
    return (lastFetch.get(serverName) ?? 0) >= started;
  }

  /** Asks each notary in turn for `serverName`'s keys; true when one answered with a valid document. */
  private async askNotaries(serverName: string): Promise<boolean> {
    for (const notary of this.notaries) {
      if (notary === serverName) continue;
      const last = lastNotaryAsk.get(`${notary}\u0000${serverName}`);
      if (last !== undefined && Date.now() - last < NOTARY_RETRY_MS) continue;
      lastNotaryAsk.set(`${notary}\u0000${serverName}`, Date.now());
      try {
        if (await this.fetchFromNotary(notary, serverName)) return true;
      } catch (err) {
        console.warn(`key query for ${serverName} at notary ${notary} failed: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return false;
  }

  private async fetchFromNotary(notary: string, serverName: string): Promise<boolean> {
    const target = await resolveServerName(notary, this.config.hostMap, { timeoutMs: this.fetchTimeoutMs });
    const res = await fetchBounded(
      `${target.baseUrl}/_matrix/key/v2/query`,
      { method: "POST", headers: { accept: "application/json", "content-type": "application/json" }, body: JSON.stringify({ server_keys: { [serverName]: {} } }), redirect: "manual" },
      this.fetchTimeoutMs,
      MAX_KEY_DOCUMENT_BYTES * 8,
    );
    if (res.status !== 200) return false;
    const docs = parseStrictJsonBytes(res.bytes)["server_keys"];
    if (!Array.isArray(docs)) return false;
    // The notary's own key comes from the notary directly (never from another notary).
    const notaryStore = new RemoteKeyStore(this.db, this.config, { fetchTimeoutMs: this.fetchTimeoutMs, minRefetchIntervalMs: this.minRefetchIntervalMs });
    let stored = false;
    for (const doc of docs) {
      if (typeof doc !== "object" || doc === null || Array.isArray(doc)) continue;
      if (!(await signedByServer(doc, notary, notaryStore))) continue;
      const now = Date.now();
      const check = await checkKeyDocument(doc, serverName, now);
      if (!check.ok) continue;
      // The notary's signature is not part of the server's own document.
      const { signatures, ...rest } = doc as Record<string, unknown>;
      const own = { ...rest, signatures: { [serverName]: (signatures as Record<string, unknown>)[serverName] } };
      await this.storeDocument(serverName, own, check.keys, now);
      stored = true;
    }
    return stored;
  }

  private async fetchAndStore(serverName: string): Promise<boolean> {
    const target = await resolveServerName(serverName, this.config.hostMap, { timeoutMs: this.fetchTimeoutMs });
    const headers = { accept: "application/json" }; // Host comes from the URL (see outbound.ts)
    const res = await fetchBounded(`${target.baseUrl}/_matrix/key/v2/server`, { method: "GET", headers, redirect: "manual" }, this.fetchTimeoutMs, MAX_KEY_DOCUMENT_BYTES);
    if (res.status !== 200) {
      console.warn(`key fetch for ${serverName}: HTTP ${res.status}`);
      return false;
    }
    const doc = parseStrictJsonBytes(res.bytes);
    const now = Date.now();
    const check = await checkKeyDocument(doc, serverName, now);
    if (!check.ok) {
      console.warn(`key fetch for ${serverName}: ${check.reason}`);
      return false;
    }
    await this.storeDocument(serverName, doc, check.keys, now);
    return true;
  }

  private async storeDocument(serverName: string, doc: Record<string, unknown>, keys: ValidKeyDocument, now: number): Promise<void> {
    for (const k of keys.verifyKeys) remember(serverName, k.keyId, { publicKey: k.publicKey, validUntilTs: keys.validUntilTs, expiredTs: null });
    for (const k of keys.oldVerifyKeys) remember(serverName, k.keyId, { publicKey: k.publicKey, validUntilTs: k.expiredTs, expiredTs: k.expiredTs });
    const rows = keyRows(keys, now);
    try {
      const keyIds = Object.keys(doc["verify_keys"] as object).sort().join(",");
      await saveKeyDocument(this.db, { serverName, keyIds, validUntilTs: keys.validUntilTs, document: canonicalJson(doc), fetchedTs: now }, rows);
    } catch (err) {
      // The keys are still good for this isolate; D1 only saves a refetch elsewhere.
      console.error(`storing keys of ${serverName} failed`, err);
    }
  }

  private async loadFromD1(serverName: string, keyId: string): Promise<CachedKey | undefined> {
    let row: StoredKey | undefined;
    try {
      row = await selectRemoteKey(this.db, serverName, keyId);
    } catch (err) {
      console.error("reading remote key from D1 failed", err);
      return undefined;
    }
    const publicKey = row && tryDecodeBase64(row.publicKey);
    if (!row || publicKey?.length !== 32) return undefined;
    return { publicKey, validUntilTs: row.validUntilTs, expiredTs: row.expiredTs };
  }

  private async loadDocuments(serverName: string): Promise<LoadedDocument[]> {
    try {
      const rows = await selectKeyDocuments(this.db, serverName);
      const out: LoadedDocument[] = [];
      for (const r of rows) {
        const document = JSON.parse(r.document) as Record<string, unknown>;
        out.push({ document, validUntilTs: r.validUntilTs, fetchedTs: r.fetchedTs, keyIds: documentKeyIds(document) });
      }
      return out;
    } catch (err) {
      console.error("reading key documents from D1 failed", err);
      return [];
    }
  }
}

interface LoadedDocument {
  document: Record<string, unknown>;
  validUntilTs: number;
  fetchedTs: number;
  keyIds: Set<string>;
}

function documentKeyIds(doc: Record<string, unknown>): Set<string> {
  const ids = new Set<string>();
  for (const field of ["verify_keys", "old_verify_keys"]) {
    const v = doc[field];
    if (typeof v === "object" && v !== null) for (const k of Object.keys(v)) ids.add(k);
  }
  return ids;
}

function matches(d: LoadedDocument, minimumValidUntilTs: number, criteria: ReadonlyMap<string, number>): boolean {
  if (criteria.size === 0) return d.validUntilTs >= minimumValidUntilTs;
  for (const [keyId, min] of criteria) if (d.keyIds.has(keyId) && d.validUntilTs >= min) return true;
  return false;
}

function keyRows(keys: ValidKeyDocument, now: number): StoredKey[] {
  const rows: StoredKey[] = keys.verifyKeys.map((k) => ({
    serverName: keys.serverName,
    keyId: k.keyId,
    publicKey: encodeBase64(k.publicKey),
    validUntilTs: keys.validUntilTs,
    expiredTs: null,
    fetchedTs: now,
  }));
  for (const k of keys.oldVerifyKeys) {
    rows.push({ serverName: keys.serverName, keyId: k.keyId, publicKey: encodeBase64(k.publicKey), validUntilTs: k.expiredTs, expiredTs: k.expiredTs, fetchedTs: now });
  }
  return rows;
}

/** The key store for a request, over the deployment's D1. */
export function remoteKeyStore(env: Env, config: Config, opts?: RemoteKeyStoreOptions): RemoteKeyStore {
  const configured = (env.KEY_NOTARIES ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  return new RemoteKeyStore(env.DB, config, { ...opts, notaries: [...configured, ...(opts?.notaries ?? [])] });
}
