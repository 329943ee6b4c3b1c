// matrix-js-sdk with its Rust crypto (@matrix-org/matrix-sdk-crypto-wasm, through initRustCrypto)
// against two federating Switchboard servers: it bootstraps cross-signing (answering the server's
// m.login.password challenge when keys are replaced) and key backup, talks in an encrypted room whose
// session keys land in the backup, sends and reads a thread reply, and logs no push-rule warning.
// Every HTTP exchange is recorded, so the test also shows the SDK met no endpoint we lack.

import { ClientEvent, createClient, MatrixError, MsgType, type MatrixClient, type MatrixEvent, type Room } from "matrix-js-sdk";
import type { AuthDict } from "matrix-js-sdk/lib/interactive-auth.js";
import { logger as sdkLogger } from "matrix-js-sdk/lib/logger.js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startServers, stopServers, type TestServer } from "../federation/harness.js";

interface Exchange {
  method: string;
  path: string;
  status: number;
}

/** Requests the clients have in flight: teardown waits for them, so none fails against a stopped server. */
let inFlight = 0;
/**
 * Set at teardown. The Rust crypto backend keeps timers (backup uploads, outgoing requests) that can
 * fire after stopClient; their requests are left pending rather than failing against stopped servers
 * as unhandled rejections.
 */
let closing = false;

function recordingFetch(log: Exchange[]): typeof fetch {
  return async (input, init) => {
    if (closing) return new Promise<Response>(() => {});
    const req = new Request(input, init);
    inFlight++;
    try {
      const res = await fetch(req);
      log.push({ method: req.method, path: new URL(req.url).pathname, status: res.status });
      return res;
    } finally {
      inFlight--;
    }
  };
}

/** Resolves once `check` holds, polling; rejects with `what` after `ms`. */
async function until<T>(what: string, ms: number, check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

interface Account {
  userId: string;
  password: string;
  token: string;
  server: TestServer;
  client: MatrixClient;
  log: Exchange[];
  /** The UIA auth dicts the SDK sent while uploading cross-signing keys (null: the first, auth-less try). */
  uiaAttempts: Array<AuthDict | null>;
}

async function account(server: TestServer, username: string): Promise<Account> {
  const password = `${username}'s password`;
  const reg = await server.fetch("/_matrix/client/v3/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password, auth: { type: "m.login.dummy" } }),
  });
  expect(reg.status).toBe(200);
  const body = (await reg.json()) as { user_id: string; access_token: string; device_id: string };
  const log: Exchange[] = [];
  const client = createClient({ baseUrl: server.url, accessToken: body.access_token, userId: body.user_id, deviceId: body.device_id, fetchFn: recordingFetch(log) });
  return { userId: body.user_id, password, token: body.access_token, server, client, log, uiaAttempts: [] };
}

async function start(a: Account): Promise<void> {
  await a.client.initRustCrypto({ useIndexedDB: false });
  const prepared = new Promise<void>((resolve) => {
    const onSync = (state: string) => {
      if (state === "PREPARED") {
        a.client.off(ClientEvent.Sync, onSync);
        resolve();
      }
    };
    a.client.on(ClientEvent.Sync, onSync);
  });
  await a.client.startClient({ initialSyncLimit: 20, threadSupport: true });
  await prepared;
}

/** The SDK's UIA callback as an app writes it: try without auth, then answer the password challenge. */
async function bootstrapCrossSigning(a: Account, setupNewCrossSigning: boolean): Promise<void> {
  await a.client.getCrypto()!.bootstrapCrossSigning({
    setupNewCrossSigning,
    authUploadDeviceSigningKeys: async (makeRequest) => {
      a.uiaAttempts.push(null);
      try {
        await makeRequest(null);
        return;
      } catch (e) {
        if (!(e instanceof MatrixError) || e.httpStatus !== 401) throw e;
        const session = (e.data as { session?: string }).session;
        const auth = { type: "m.login.password", identifier: { type: "m.id.user", user: a.userId }, password: a.password, session } as AuthDict;
        a.uiaAttempts.push(auth);
        await makeRequest(auth);
      }
    },
  });
}

async function serverJson(a: Account, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await a.server.fetch(`/_matrix/client/v3${path}`, {
    method,
    headers: { authorization: `Bearer ${a.token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = (await res.json()) as Record<string, unknown>;
  expect(res.status, `${method} ${path}: ${JSON.stringify(json)}`).toBe(200);
  return json;
}

/** Resolves with the first decrypted timeline event in `roomId` that `match` accepts. */
function decrypted(client: MatrixClient, roomId: string, match: (e: MatrixEvent) => boolean, ms = 30_000): Promise<MatrixEvent> {
  return until("a decrypted event", ms, () => client.getRoom(roomId)?.getLiveTimeline().getEvents().find((e) => !e.isDecryptionFailure() && match(e)) ?? findInThreads(client.getRoom(roomId), match));
}

function findInThreads(room: Room | null, match: (e: MatrixEvent) => boolean): MatrixEvent | undefined {
  for (const thread of room?.getThreads() ?? []) {
    const found = thread.timeline.find((e) => !e.isDecryptionFailure() && match(e));
    if (found) return found;
  }
  return undefined;
}

describe("matrix-js-sdk with Rust crypto: cross-signing, key backup and threads", () => {
  let servers: TestServer[] = [];
  let alice: Account;
  let bob: Account;
  let roomId: string;
  const warnings: string[] = [];
  const originalWarn = console.warn;
  const previousLevel = sdkLogger.getLevel();

  beforeAll(async () => {
    sdkLogger.setLevel("warn");
    // The SDK's logger looks console.warn up at each call, so this sees every warning it logs.
    console.warn = (...args: unknown[]) => {
      warnings.push(args.map(String).join(" "));
      originalWarn(...args);
    };
    servers = await startServers(["one.test", "two.test"]);
    alice = await account(servers[0] as TestServer, "alice");
    bob = await account(servers[1] as TestServer, "bob");
    await Promise.all([start(alice), start(bob)]);
  });

  afterAll(async () => {
    closing = true;
    alice?.client.stopClient();
    bob?.client.stopClient();
    // The crypto backend may still be finishing a request (a key backup upload) when the clients stop.
    for (let waited = 0; inFlight > 0 && waited < 15_000; waited += 50) await new Promise((r) => setTimeout(r, 50));
    await stopServers(servers);
    console.warn = originalWarn;
    sdkLogger.setLevel(previousLevel);
  });

  it("bootstraps cross-signing: the first upload needs no auth, a reset answers the m.login.password challenge", async () => {
    await bootstrapCrossSigning(alice, false);
    expect(await alice.client.getCrypto()!.isCrossSigningReady()).toBe(true);
    expect(alice.uiaAttempts).toEqual([null]);
    const first = ((await serverJson(alice, "POST", "/keys/query", { device_keys: { [alice.userId]: [] } }))["master_keys"] as Record<string, unknown>)[alice.userId];
    expect(first).toBeDefined();

    // Replacing the keys is what the password protects.
    await bootstrapCrossSigning(alice, true);
    expect(alice.uiaAttempts.map((a) => (a as { type?: string } | null)?.type ?? null)).toEqual([null, null, "m.login.password"]);
    const query = await serverJson(alice, "POST", "/keys/query", { device_keys: { [alice.userId]: [] } });
    const master = (query["master_keys"] as Record<string, { keys: Record<string, string> }>)[alice.userId];
    expect(master).not.toEqual(first);
    expect(Object.values(master?.keys ?? {})[0]).toBe((await alice.client.getCrypto()!.getCrossSigningKeyId()) ?? "none");
    // The SDK signed its own device with the self-signing key, and the server serves that signature.
    const device = ((query["device_keys"] as Record<string, Record<string, { signatures: Record<string, Record<string, string>> }>>)[alice.userId] ?? {})[alice.client.getDeviceId() ?? ""];
    const ssk = Object.keys((query["self_signing_keys"] as Record<string, { keys: Record<string, string> }>)[alice.userId]?.keys ?? {})[0];
    expect(Object.keys(device?.signatures[alice.userId] ?? {})).toContain(ssk);
  });

  it("bootstraps key backup, and the session keys of an encrypted conversation reach the server's backup", async () => {
    await alice.client.getCrypto()!.resetKeyBackup();
    const version = await until("an active backup", 20_000, async () => (await alice.client.getCrypto()!.getActiveSessionBackupVersion()) ?? undefined);
    const info = await serverJson(alice, "GET", "/room_keys/version");
    expect(info).toMatchObject({ algorithm: "m.megolm_backup.v1.curve25519-aes-sha2", version });

    roomId = (await alice.client.createRoom({ name: "Secret", initial_state: [{ type: "m.room.encryption", state_key: "", content: { algorithm: "m.megolm.v1.aes-sha2" } }] })).room_id;
    await alice.client.invite(roomId, bob.userId);
    await until("bob's invite", 20_000, () => bob.client.getRoom(roomId)?.getMyMembership() === "invite");
    await bob.client.joinRoom(roomId);
    await until("bob's join at alice", 20_000, () => alice.client.getRoom(roomId)?.getMember(bob.userId)?.membership === "join");
    await alice.client.sendTextMessage(roomId, "the eagle has landed");
    const seen = await decrypted(bob.client, roomId, (e) => e.getContent()["body"] === "the eagle has landed");
    expect(seen.isEncrypted()).toBe(true);
    const backedUp = await until("a backed-up session key", 30_000, async () => {
      const keys = await serverJson(alice, "GET", `/room_keys/keys?version=${version}`);
      const sessions = (keys["rooms"] as Record<string, { sessions: Record<string, unknown> }>)[roomId]?.sessions;
      return sessions && Object.keys(sessions).length > 0 ? sessions : undefined;
    });
    const [one] = Object.values(backedUp) as Array<{ first_message_index: number; session_data: Record<string, unknown> }>;
    expect(one?.first_message_index).toBe(0);
    expect(Object.keys(one?.session_data ?? {}).sort()).toEqual(["ciphertext", "ephemeral", "mac"]);
  });

  it("shows alice's cross-signing identity to bob on the other server, over federation", async () => {
    // Bob's crypto tracks alice since they share an encrypted room (the test before this one).
    // signedByOwner holds only once bob's crypto has alice's master and self-signing keys, checked
    // the self-signing key's master signature and the device's self-signing signature.
    const status = await until("bob to see alice's device signed by her identity", 20_000, async () => {
      await bob.client.getCrypto()!.getUserDeviceInfo([alice.userId], true);
      const s = await bob.client.getCrypto()!.getDeviceVerificationStatus(alice.userId, alice.client.getDeviceId() ?? "");
      return s?.signedByOwner ? s : undefined;
    });
    expect(status.signedByOwner).toBe(true);
    const remote = await serverJson(bob, "POST", "/keys/query", { device_keys: { [alice.userId]: [] } });
    const master = (remote["master_keys"] as Record<string, { keys: Record<string, string> }>)[alice.userId];
    expect(Object.values(master?.keys ?? {})[0]).toBe(await alice.client.getCrypto()!.getCrossSigningKeyId());
  });

  it("sends a thread reply that the other side reads in the thread", async () => {
    const { event_id: rootId } = await alice.client.sendTextMessage(roomId, "thread root");
    await decrypted(bob.client, roomId, (e) => e.getId() === rootId);
    await bob.client.sendMessage(roomId, rootId, { msgtype: MsgType.Text, body: "a reply in the thread" });
    const reply = await decrypted(alice.client, roomId, (e) => e.getContent()["body"] === "a reply in the thread");
    expect(reply.threadRootId).toBe(rootId);
    const thread = await until("alice's thread", 20_000, () => alice.client.getRoom(roomId)?.getThread(rootId) ?? undefined);
    await until("the reply in alice's thread", 20_000, () => thread.timeline.some((e) => e.getId() === reply.getId()));
    expect(thread.id).toBe(rootId);
  });

  it("logged no push-rule warning and met no unrecognized endpoint or server error", async () => {
    alice.client.stopClient();
    bob.client.stopClient();
    expect(warnings.filter((w) => /push rule/i.test(w))).toEqual([]);
    // Expected answers: the UIA challenge, and 404 for "no backup yet" (the spec's way to say so).
    const expected = (x: Exchange) => (x.path.endsWith("/keys/device_signing/upload") && x.status === 401) || (x.path.endsWith("/room_keys/version") && x.status === 404);
    const failures = [...alice.log, ...bob.log].filter((x) => x.status >= 400 && !expected(x));
    expect(failures).toEqual([]);
  });
});
