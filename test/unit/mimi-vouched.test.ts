// Events a MIMI hub writes for a follower's user carry the hub's signature only, with the provider
// named in the content (shared/mimi-vouched.ts). Receivers accept them exactly when that provider is
// the sender's server and the receiver is not that server; everything else still needs the sender
// server's signature. Also the mapping between MIMI user/client URIs and Matrix IDs.

import { beforeAll, describe, expect, it } from "vitest";
import { verifyEventSignatures, type KeyLookup } from "../../shared/event-signatures.js";
import { buildVouchedPdu } from "../../shared/lpdu.js";
import { clientOfUri, clientUriOf, userIdOfUri, userUriOf } from "../../shared/mimi-identifiers.js";
import { MIMI_PROVIDER_KEY, mayLackSenderSignature, mimiProviderOf, takesPartOverLm, vouchedForLmServer } from "../../shared/mimi-vouched.js";
import { RoomState } from "../../shared/room-state.js";
import { LM_ROOM_VERSION } from "../../shared/room-versions.js";
import { signingKeyFromSeed, type SigningKey } from "../../shared/signing-key.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import type { Pdu } from "../../shared/event.js";

let hubKey: SigningKey;
const keys: KeyLookup = async (server, keyId) => (server === "hub.test" && keyId === hubKey.keyId ? hubKey.publicKey : undefined);

async function vouched(content: JsonObject, sender = "@bob:f1.test"): Promise<Pdu> {
  const fields = { room_id: "!r:hub.test", type: "m.room.encrypted", sender, origin_server_ts: 1, content };
  return (await buildVouchedPdu(fields, { authEvents: ["$a"], prevEvents: ["$p"] }, "hub.test", hubKey, LM_ROOM_VERSION)).pdu;
}

beforeAll(async () => {
  hubKey = await signingKeyFromSeed(new Uint8Array(32).fill(7), "hub1");
});

describe("events a MIMI hub vouches for", () => {
  it("are accepted with the hub's signature alone by a server that is not the provider", async () => {
    const pdu = await vouched({ ciphertext: "x", [MIMI_PROVIDER_KEY]: "f1.test" });
    expect(Object.keys(pdu.signatures)).toEqual(["hub.test"]);
    expect(await verifyEventSignatures(pdu, LM_ROOM_VERSION, keys, "p1.test")).toEqual({ ok: true });
  });

  it("are refused by the provider's own server, which knows its users are not MIMI users", async () => {
    const pdu = await vouched({ ciphertext: "x", [MIMI_PROVIDER_KEY]: "f1.test" });
    expect(await verifyEventSignatures(pdu, LM_ROOM_VERSION, keys, "f1.test")).toMatchObject({ ok: false, check: "sender-lpdu" });
  });

  it("are refused when the content names no provider, another one than the sender's server, or no checking server is given", async () => {
    for (const content of [{ ciphertext: "x" }, { ciphertext: "x", [MIMI_PROVIDER_KEY]: "other.test" }, { ciphertext: "x", [MIMI_PROVIDER_KEY]: 5 }] as JsonObject[]) {
      expect(await verifyEventSignatures(await vouched(content), LM_ROOM_VERSION, keys, "p1.test"), JSON.stringify(content)).toMatchObject({ ok: false, check: "sender-lpdu" });
    }
    const pdu = await vouched({ ciphertext: "x", [MIMI_PROVIDER_KEY]: "f1.test" });
    expect(await verifyEventSignatures(pdu, LM_ROOM_VERSION, keys)).toMatchObject({ ok: false, check: "sender-lpdu" });
  });

  it("still need the hub's signature", async () => {
    const pdu = await vouched({ ciphertext: "x", [MIMI_PROVIDER_KEY]: "f1.test" });
    const unsigned = { ...pdu, signatures: {} };
    expect(await verifyEventSignatures(unsigned, LM_ROOM_VERSION, keys, "p1.test")).toMatchObject({ ok: false, check: "hub-pdu" });
  });

  it("read the provider from the content only when it is a server name", () => {
    expect(mimiProviderOf({ [MIMI_PROVIDER_KEY]: "f1.test" })).toBe("f1.test");
    expect(mimiProviderOf({ [MIMI_PROVIDER_KEY]: "not a server" })).toBeUndefined();
    expect(mimiProviderOf(null)).toBeUndefined();
    expect(mayLackSenderSignature({ [MIMI_PROVIDER_KEY]: "f1.test" }, "f1.test", undefined)).toBe(true);
    expect(mayLackSenderSignature({ [MIMI_PROVIDER_KEY]: "f1.test" }, "f1.test", "f1.test")).toBe(false);
  });
});

describe("vouched events for a server that takes part over LM", () => {
  const member = (sender: string, target: string, content: JsonObject): Pdu => ({ type: "m.room.member", sender, state_key: target, content }) as unknown as Pdu;
  function stateOf(...events: Pdu[]): RoomState {
    const state = new RoomState();
    events.forEach((e, i) => state.apply(`$m${i}`, e));
    return state;
  }

  it("a server takes part over LM once a user of it made its own membership event without a provider", () => {
    const lm = stateOf(member("@carol:p2.test", "@carol:p2.test", { membership: "join" }));
    expect(takesPartOverLm("p2.test", lm)).toBe(true);
    expect(takesPartOverLm("f1.test", lm)).toBe(false);
    // A vouched join and someone else's invite do not make f1 an LM server.
    const mimi = stateOf(member("@alice:hub.test", "@bob:f1.test", { membership: "invite" }), member("@bob:f1.test", "@bob:f1.test", { membership: "join", [MIMI_PROVIDER_KEY]: "f1.test" }));
    expect(takesPartOverLm("f1.test", mimi)).toBe(false);
  });

  it("refuses an event naming its sender's server as provider when that server takes part over LM, and only then", () => {
    const state = stateOf(member("@carol:p2.test", "@carol:p2.test", { membership: "join" }), member("@bob:f1.test", "@bob:f1.test", { membership: "join", [MIMI_PROVIDER_KEY]: "f1.test" }));
    expect(vouchedForLmServer({ sender: "@carol:p2.test", content: { [MIMI_PROVIDER_KEY]: "p2.test" } }, state)).toMatch(/p2\.test takes part in this room over LM/);
    expect(vouchedForLmServer({ sender: "@eve:p2.test", content: { [MIMI_PROVIDER_KEY]: "p2.test" } }, state)).toBeDefined();
    expect(vouchedForLmServer({ sender: "@bob:f1.test", content: { [MIMI_PROVIDER_KEY]: "f1.test" } }, state)).toBeUndefined();
    // Not a vouched event at all: the sender's own signature is required anyway.
    expect(vouchedForLmServer({ sender: "@carol:p2.test", content: { body: "hi" } }, state)).toBeUndefined();
    expect(vouchedForLmServer({ sender: "@carol:p2.test", content: { [MIMI_PROVIDER_KEY]: "f1.test" } }, state)).toBeUndefined();
  });
});

describe("MIMI identifier URIs", () => {
  it("map users and clients to Matrix IDs and back", () => {
    expect(userUriOf("@bob:f1.test")).toBe("mimi://f1.test/u/bob");
    expect(userIdOfUri("mimi://f1.test/u/bob")).toBe("@bob:f1.test");
    expect(userIdOfUri(userUriOf("@a.b_c=d:example.org:8448"))).toBe("@a.b_c=d:example.org:8448");
    expect(clientOfUri(clientUriOf("@bob:f1.test", "DEV/1"))).toEqual({ userId: "@bob:f1.test", deviceId: "DEV/1" });
  });

  it("refuse URIs of other shapes", () => {
    for (const uri of ["https://f1.test/u/bob", "mimi://f1.test/r/room", "mimi://f1.test/u/", "mimi://f1.test/u/a/b", "mimi://f1.test/u/%E0%A4%A"]) expect(userIdOfUri(uri), uri).toBeUndefined();
    expect(clientOfUri("mimi://f1.test/u/bob")).toBeUndefined();
  });
});
