// End-to-end encryption across Switchboard and a real Synapse, without a shared room: two vodozemac
// OlmMachines, alice on Synapse and bob on Switchboard, find each other's devices through
// /keys/query (federation user/keys/query), open Olm sessions through /keys/claim (federation
// user/keys/claim) and exchange to-device messages (m.direct_to_device EDUs in Matrix form, each
// way). Neither server ever holds the plaintext: no file of either server's state contains it.

import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { execFileSync } from "node:child_process";
import { DecryptedToDeviceEvent, DeviceId, initAsync, KeysClaimRequest, UserId } from "@matrix-org/matrix-sdk-crypto-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canonicalJson, type JsonObject } from "../../shared/canonical-json.js";
import { stopServers, type TestServer } from "../federation/harness.js";
import { CryptoDevice, type SyncResult } from "./crypto-device.js";
import { synapse, startSwitchboard, type Homeserver } from "./peer.js";

const OLM = "m.olm.v1.curve25519-aes-sha2";

/** Every file under `dir` (recursively) whose bytes contain `needle`. */
function filesContaining(dir: string, needle: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    const st = statSync(path);
    if (st.isDirectory()) out.push(...filesContaining(path, needle));
    else if (st.isFile() && readFileSync(path).includes(needle)) out.push(path);
  }
  return out;
}

function synapseDataDir(name: string): string {
  return dirname(execFileSync("scripts/synapse.sh", ["log", name], { encoding: "utf8" }).trim());
}

/** Sends `secret` Olm-encrypted from one machine to the other's device and returns what arrived. */
async function olmToDevice(from: CryptoDevice, to: CryptoDevice, secret: Record<string, unknown>) {
  const device = await from.machine.getDevice(new UserId(to.userId), new DeviceId(to.deviceId));
  if (!device) throw new Error(`${from.userId} does not know ${to.deviceId}`);
  const encrypted = await device.encryptToDeviceEvent("org.example.private_note", secret);
  device.free();
  const sent = JSON.parse(encrypted) as JsonObject;
  await from.sendToDevice("m.room.encrypted", to.userId, to.deviceId, encrypted);
  const received = await to.syncUntil(`the encrypted to-device message from ${from.userId}`, (r: SyncResult) => {
    const raw = (r.body.to_device?.events ?? []).find((e) => e.type === "m.room.encrypted" && e.sender === from.userId);
    const decrypted = r.toDevice.find(
      (e): e is DecryptedToDeviceEvent => e instanceof DecryptedToDeviceEvent && (JSON.parse(e.rawEvent) as { type?: string }).type === "org.example.private_note",
    );
    return raw && decrypted ? { raw, decrypted } : undefined;
  });
  return { sent, ...received };
}

describe("Olm across Switchboard and Synapse: device keys, one-time key claims and to-device messages over federation", () => {
  let syn: Homeserver;
  let sb: TestServer;
  let alice: CryptoDevice; // on Synapse
  let bob: CryptoDevice; // on Switchboard
  const secrets: string[] = [];

  beforeAll(async () => {
    await initAsync();
    syn = synapse();
    sb = await startSwitchboard(syn, 1);
    const tag = Date.now().toString(36);
    alice = await CryptoDevice.create(syn, `alice-e2ee-${tag}`, "ALICEPHONE");
    bob = await CryptoDevice.create(sb, `bob-e2ee-${tag}`, "BOBLAPTOP");
  });

  afterAll(async () => {
    alice?.close();
    bob?.close();
    if (sb) await stopServers([sb]);
  });

  it("has each machine upload its device keys, one-time keys and fallback key to its own server", async () => {
    for (const d of [alice, bob]) {
      await d.flush();
      await d.sync();
      await d.sync();
      expect(d.lastCounts["signed_curve25519"], d.userId).toBeGreaterThan(0);
      expect(await d.machine.outgoingRequests()).toEqual([]);
    }
  });

  it("shows each user the other's device keys through /keys/query, answered over federation by the other server", async () => {
    for (const [me, them] of [
      [alice, bob],
      [bob, alice],
    ] as const) {
      await me.machine.updateTrackedUsers([new UserId(them.userId)]);
      await me.flush();
      const device = await me.machine.getDevice(new UserId(them.userId), new DeviceId(them.deviceId));
      expect(device, `${me.userId} knows ${them.deviceId}`).toBeDefined();
      expect(device?.curve25519Key?.toBase64()).toBe(them.machine.identityKeys.curve25519.toBase64());
      expect(device?.ed25519Key?.toBase64()).toBe(them.machine.identityKeys.ed25519.toBase64());
      device?.free();
      expect(me.calls).toContain("/keys/query");
    }
  });

  it("lets alice on Synapse claim one of bob's one-time keys from Switchboard and send him an Olm message he decrypts", async () => {
    const before = bob.lastCounts["signed_curve25519"] as number;
    const claim = await alice.machine.getMissingSessions([new UserId(bob.userId)]);
    expect(claim).not.toBeNull();
    await alice.send(claim as KeysClaimRequest);
    expect(await alice.machine.getMissingSessions([new UserId(bob.userId)])).toBeNull();
    // Switchboard handed out exactly one of bob's keys.
    expect((await bob.sync()).body.device_one_time_keys_count?.["signed_curve25519"]).toBe(before - 1);

    const secret = { note: `synapse-to-switchboard plaintext ${Date.now()}` };
    secrets.push(secret.note);
    const got = await olmToDevice(alice, bob, secret);
    expect(got.sent["algorithm"]).toBe(OLM);
    // Carried through Synapse and Switchboard exactly as alice's machine made it ...
    expect(canonicalJson(got.raw.content as JsonObject)).toBe(canonicalJson(got.sent));
    // ... and decrypted by bob's machine alone.
    const plain = JSON.parse(got.decrypted.rawEvent) as { sender: string; content: Record<string, unknown> };
    expect(plain.sender).toBe(alice.userId);
    expect(plain.content).toEqual(secret);
  });

  it("lets bob on Switchboard claim one of alice's one-time keys from Synapse and send her an Olm message she decrypts", async () => {
    const before = alice.lastCounts["signed_curve25519"] as number;
    // bob opens his own outbound session (a fresh claim), rather than answering on alice's.
    const claimReq = new KeysClaimRequest(`claim-${Date.now()}`, JSON.stringify({ one_time_keys: { [alice.userId]: { [alice.deviceId]: "signed_curve25519" } } }));
    const res = JSON.parse(await bob.user.raw("POST", "/keys/claim", claimReq.body)) as { one_time_keys: Record<string, Record<string, Record<string, unknown>>>; failures: Record<string, unknown> };
    expect(res.failures).toEqual({});
    const keys = Object.keys(res.one_time_keys[alice.userId]?.[alice.deviceId] ?? {});
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(/^signed_curve25519:/);
    await alice.syncUntil("alice's one-time key count going down", (r) => ((r.body.device_one_time_keys_count?.["signed_curve25519"] ?? before) < before ? true : undefined));

    const secret = { note: `switchboard-to-synapse plaintext ${Date.now()}` };
    secrets.push(secret.note);
    const got = await olmToDevice(bob, alice, secret);
    expect(canonicalJson(got.raw.content as JsonObject)).toBe(canonicalJson(got.sent));
    const plain = JSON.parse(got.decrypted.rawEvent) as { sender: string; content: Record<string, unknown> };
    expect(plain.sender).toBe(bob.userId);
    expect(plain.content).toEqual(secret);
  });

  it("leaves no plaintext in either server's stored state", () => {
    expect(secrets).toHaveLength(2);
    for (const secret of secrets) {
      expect(filesContaining(sb.stateDir, secret), `Switchboard state containing "${secret}"`).toEqual([]);
      expect(filesContaining(synapseDataDir(syn.name), secret), `Synapse state containing "${secret}"`).toEqual([]);
    }
  });
});
