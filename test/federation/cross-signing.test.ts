// Cross-signing between two real servers: a user's master and self-signing keys reach the other
// server's clients through /keys/query over federation (the user-signing key never leaves home),
// and new keys reach them as an m.signing_key_update EDU that puts the user in their /sync
// device_lists.changed.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JsonObject } from "../../shared/canonical-json.js";
import { generateSeed, signingKeyFromSeed } from "../../shared/signing-key.js";
import { signAs } from "../support/e2ee-keys.js";
import { eventually, TestClient } from "./client.js";
import { startServers, stopServers, type TestServer } from "./harness.js";

interface CrossKey {
  keyId: string;
  publicKeyBase64: string;
  sign(bytes: Uint8Array): Promise<Uint8Array>;
}

async function crossKey(): Promise<CrossKey> {
  const key = await signingKeyFromSeed(generateSeed(), "x");
  return { keyId: `ed25519:${key.publicKeyBase64}`, publicKeyBase64: key.publicKeyBase64, sign: (b) => key.sign(b) };
}

const keyObject = (userId: string, usage: string, k: CrossKey): JsonObject => ({ user_id: userId, usage: [usage], keys: { [k.keyId]: k.publicKeyBase64 } });

async function identity(userId: string) {
  const [master, ssk, usk] = [await crossKey(), await crossKey(), await crossKey()];
  return {
    master_key: keyObject(userId, "master", master),
    self_signing_key: await signAs(keyObject(userId, "self_signing", ssk), userId, [master]),
    user_signing_key: await signAs(keyObject(userId, "user_signing", usk), userId, [master]),
  };
}

async function client(server: TestServer, name: string): Promise<TestClient & { password: string }> {
  const res = await server.fetch("/_matrix/client/v3/register", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: name, password: "pw", auth: { type: "m.login.dummy" } }),
  });
  const body = (await res.json()) as { user_id: string; access_token: string };
  return Object.assign(new TestClient(server, body.user_id, body.access_token), { password: "pw" });
}

type Sync = { next_batch: string; device_lists: { changed: string[] } };
type Query = { master_keys: Record<string, JsonObject>; self_signing_keys: Record<string, JsonObject>; user_signing_keys: Record<string, JsonObject>; failures: Record<string, unknown> };

describe("cross-signing across servers", () => {
  let servers: TestServer[] = [];
  let alice: TestClient & { password: string };
  let bob: TestClient & { password: string };

  beforeAll(async () => {
    servers = await startServers(["hub.test", "p1.test"]);
    alice = await client(servers[0] as TestServer, "alice");
    bob = await client(servers[1] as TestServer, "bob");
  });
  afterAll(() => stopServers(servers));

  it("shows a remote user's master and self-signing keys, never the user-signing key, and announces new keys with m.signing_key_update", async () => {
    const { room_id: roomId } = await alice.createRoom({ preset: "public_chat" });
    await bob.join(roomId, "hub.test");
    const since = (await bob.request<Sync>("GET", "/sync?timeout=0")).next_batch;

    const first = await identity(alice.userId);
    await alice.request("POST", "/keys/device_signing/upload", first);
    const heard = await eventually(async () => {
      const s = await bob.request<Sync>("GET", `/sync?timeout=2000&since=${since}`);
      return s.device_lists.changed.includes(alice.userId) ? s : undefined;
    }, "alice in bob's device_lists.changed after her first keys");
    const q = await bob.request<Query>("POST", "/keys/query", { device_keys: { [alice.userId]: [] } });
    expect(q.failures).toEqual({});
    expect(q.master_keys[alice.userId]).toEqual(first.master_key);
    expect(q.self_signing_keys[alice.userId]).toEqual(first.self_signing_key);
    expect(q.user_signing_keys).toEqual({});

    // Replacing the keys (behind the password) is news again, and the new keys are what bob sees.
    const next = await identity(alice.userId);
    await alice.request("POST", "/keys/device_signing/upload", { ...next, auth: { type: "m.login.password", identifier: { type: "m.id.user", user: alice.userId }, password: alice.password } });
    await eventually(async () => {
      const s = await bob.request<Sync>("GET", `/sync?timeout=2000&since=${heard.next_batch}`);
      return s.device_lists.changed.includes(alice.userId) ? s : undefined;
    }, "alice in bob's device_lists.changed after her new keys");
    const again = await bob.request<Query>("POST", "/keys/query", { device_keys: { [alice.userId]: [] } });
    expect(again.master_keys[alice.userId]).toEqual(next.master_key);
  });
});
