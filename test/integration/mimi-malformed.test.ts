// Malformed MIMI bodies (TLS presentation language) on every MIMI endpoint of one server in workerd:
// truncated, an overlong length prefix, an enum value -06 does not define, trailing bytes, and random
// bytes. Each gets 400 with a JSON Matrix error naming the field, from an authenticated provider, and
// nothing stored changes: D1 row counts and the target room's events stay as they were.

import { createExecutionContext, waitOnExecutionContext } from "cloudflare:test";
import { env } from "cloudflare:workers";
import fc from "fast-check";
import { beforeAll, describe, expect, it } from "vitest";
import type { MLSMessage } from "ts-mls/message.js";
import { encodeDeviceIdentity } from "../../shared/mls-identity.js";
import {
  decodeGroupInfoResponse,
  decodeUpdateRoomResponse,
  encodeGroupInfoRequest,
  encodeKeyMaterialRequest,
  encodeNotifyBody,
  encodeSubmitMessageRequest,
  encodeUpdateRequest,
  mlsMessageField,
  MIMI_PATH_PREFIX,
} from "../../shared/mimi/index.js";
import { MIMI_STAND_IN_HEADER } from "../../shared/mimi/peer-credential.js";
import worker from "../../workers/index.js";
import { C, call as callJson, enc, register } from "./client-helpers.js";

const PROVIDER = "mimi.remote.example";
const PEER_FP = "d".repeat(64);
/** The loopback stand-in for mutual TLS, on for these requests only (SECURITY.md). */
const withStandIn = { ...env, MIMI_LOCAL_STAND_IN_FINGERPRINT: "a".repeat(64), ADMIN_TOKEN: "test-admin-token" } as Env;
const URI = `mimi://${PROVIDER}/u/someone`;

// A PrivateMessage's framing needs no keys: enough for bodies that must fail before any MLS check.
const privateMessage: MLSMessage = {
  version: "mls10",
  wireformat: "mls_private_message",
  privateMessage: { groupId: new Uint8Array([1, 2, 3]), epoch: 1n, contentType: "application", authenticatedData: new Uint8Array(), encryptedSenderData: new Uint8Array(12), ciphertext: new Uint8Array(40) },
};
const appMessage = mlsMessageField(privateMessage);

interface Target {
  path: (roomId: string) => string;
  body: Uint8Array;
  /** Offset of one length prefix of at most 63 (a one-octet varint), which the overlong case raises. */
  lengthAt: number;
  /** Offset of an enum octet, which the wrong-enum case sets to an undefined value. */
  enumAt: number;
}

function targets(): Record<string, Target> {
  const submit = encodeSubmitMessageRequest({ protocol: "mls10", appMessage, sendingUri: URI });
  const keyMaterial = encodeKeyMaterialRequest({
    protocol: "mls10",
    requestingUser: URI,
    targetUser: "mimi://hub.test/u/nobody",
    roomId: "",
    acceptableCiphersuites: [1],
    requiredCapabilities: { extensionTypes: [], proposalTypes: [], credentialTypes: [] },
    requesterSignatureKey: new Uint8Array(32),
    requesterCredential: { credentialType: "basic", identity: encodeDeviceIdentity({ userId: "@someone:mimi.remote.example", deviceId: "D", signatureKey: new Uint8Array(32) }) },
    signature: new Uint8Array(64),
  });
  const notify = encodeNotifyBody([{ kind: "application", timestamp: 1_700_000_000_000n, message: appMessage }]);
  const groupInfo = encodeGroupInfoRequest({
    protocol: "mls10",
    cipherSuite: 1,
    requestingSignatureKey: new Uint8Array(32),
    requestingCredential: { credentialType: "basic", identity: encodeDeviceIdentity({ userId: "@someone:mimi.remote.example", deviceId: "D", signatureKey: new Uint8Array(32) }) },
    groupInfoPublicKey: new Uint8Array(32),
    joiningCode: new Uint8Array(),
    signature: new Uint8Array(64),
  });
  const update = encodeUpdateRequest({ kind: "proposal", proposalOrCommit: appMessage, moreProposals: [] });
  return {
    submitMessage: { path: (r) => `${MIMI_PATH_PREFIX}/submitMessage/${enc(r)}`, body: submit, lengthAt: submit.length - URI.length - 1, enumAt: 0 },
    keyMaterial: { path: () => `${MIMI_PATH_PREFIX}/keyMaterial/${enc("mimi://hub.test/u/nobody")}`, body: keyMaterial, lengthAt: 1, enumAt: 0 },
    notify: { path: () => `${MIMI_PATH_PREFIX}/notify/${enc(`!room:${PROVIDER}`)}`, body: notify, lengthAt: 8 + 4, enumAt: 8 + 3 },
    // The valid form of this one is already refused (an application message is no proposal): the
    // mutations must fail earlier, on the framing.
    update: { path: (r) => `${MIMI_PATH_PREFIX}/update/${enc(r)}`, body: update, lengthAt: 4, enumAt: 3 },
    // protocol, cipher_suite, then requestingSignatureKey's one-octet length prefix.
    groupInfo: { path: (r) => `${MIMI_PATH_PREFIX}/groupInfo/${enc(r)}`, body: groupInfo, lengthAt: 3, enumAt: 0 },
  };
}

function mutations(t: Target): Array<[string, Uint8Array]> {
  const out: Array<[string, Uint8Array]> = [];
  for (const cut of [1, 2, Math.floor(t.body.length / 2), t.body.length - 1]) out.push([`truncated to ${cut}`, t.body.slice(0, cut)]);
  const overlong = t.body.slice();
  overlong[t.lengthAt] = 0x3f;
  out.push(["overlong length prefix", overlong]);
  const badEnum = t.body.slice();
  badEnum[t.enumAt] = 0xee;
  out.push(["undefined enum value", badEnum]);
  out.push(["trailing bytes", new Uint8Array([...t.body, 0, 1])]);
  for (const [i, b] of fc.sample(fc.uint8Array({ minLength: 1, maxLength: 60 }), 4).entries()) out.push([`random bytes ${i}`, b]);
  return out;
}

async function viaWorker(req: Request): Promise<Response> {
  const ctx = createExecutionContext();
  const res = await worker.fetch(req as never, withStandIn, ctx);
  await waitOnExecutionContext(ctx);
  return res;
}

async function post(path: string, body: Uint8Array, headers: Record<string, string> = { [MIMI_STAND_IN_HEADER]: PEER_FP }): Promise<Response> {
  return viaWorker(new Request(`http://127.0.0.1${path}`, { method: "POST", headers: { "content-type": "application/octet-stream", ...headers }, body }));
}

async function d1Counts(): Promise<Record<string, number>> {
  const tables = await env.DB.prepare(`SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE '_cf_%' AND name NOT LIKE 'sqlite_%' AND name != 'event_rooms'`).all<{ name: string }>();
  const out: Record<string, number> = {};
  for (const { name } of tables.results) out[name] = (await env.DB.prepare(`SELECT COUNT(*) AS n FROM "${name}"`).first<{ n: number }>())?.n ?? -1;
  return out;
}

describe("malformed MIMI bodies", () => {
  let roomId: string;

  beforeAll(async () => {
    const { token } = await register("mimifuzz");
    roomId = (await callJson("POST", `${C}/createRoom`, token, {})).json["room_id"] as string;
    const peer = await viaWorker(
      new Request(`https://hub.test/_switchboard/admin/v1/mimi/peers/${PEER_FP}`, { method: "PUT", headers: { authorization: "Bearer test-admin-token", "content-type": "application/json" }, body: JSON.stringify({ domain: PROVIDER }) }),
    );
    expect(peer.status).toBe(200);
  });

  it("the unmutated bodies decode: each endpoint gets past the codec (no 400)", async () => {
    for (const [name, t] of Object.entries(targets())) {
      if (name === "update" || name === "notify") continue; // refused after decoding, or it would store
      const res = await post(t.path(roomId), t.body);
      expect(res.status, name).not.toBe(400);
      expect(res.status, name).toBeLessThan(500);
    }
  });

  it("answers every malformed body with 400 naming the field, and stores nothing", async () => {
    const before = await d1Counts();
    const events = async () => (await env.ROOM.get(env.ROOM.idFromName(roomId)).timeline({ from: 0, dir: "f", limit: 100 })).map((e) => e.eventId);
    const eventsBefore = await events();
    const problems: string[] = [];
    for (const [name, t] of Object.entries(targets())) {
      for (const [what, body] of mutations(t)) {
        const res = await post(t.path(roomId), body);
        const json = (await res.json()) as { errcode?: string; error?: string; mimi_reason?: string };
        if (res.status !== 400 || json.errcode !== "M_BAD_JSON" || typeof json.mimi_reason !== "string") problems.push(`${name} ${what}: ${res.status} ${JSON.stringify(json)}`);
      }
    }
    expect(problems).toEqual([]);
    expect(await d1Counts()).toEqual(before);
    expect(await events()).toEqual(eventsBefore);
  });

  it("answers a standalone proposal, or a batch of them, with notAllowed where the room has no MLS group with the hub as external sender", async () => {
    const proposal: MLSMessage = {
      version: "mls10",
      wireformat: "mls_public_message",
      publicMessage: {
        content: { groupId: new TextEncoder().encode(roomId), epoch: 1n, sender: { senderType: "member", leafIndex: 0 }, authenticatedData: new Uint8Array(), contentType: "proposal", proposal: { proposalType: "remove", remove: { removed: 1 } } },
        auth: { contentType: "proposal", signature: new Uint8Array(64) },
        senderType: "member",
        membershipTag: new Uint8Array(32),
      },
    };
    const res = await post(`${MIMI_PATH_PREFIX}/update/${enc(roomId)}`, encodeUpdateRequest({ kind: "proposal", proposalOrCommit: mlsMessageField(proposal), moreProposals: [] }));
    expect(res.status).toBe(200);
    const answer = decodeUpdateRoomResponse(new Uint8Array(await res.arrayBuffer()));
    expect(answer.ok && answer.value.responseCode).toBe("notAllowed");

    // Hostile batches (moreProposals): too many, or a repeat, are refused whole; a non-handshake
    // message among them fails the codec. Nothing is stored.
    const before = await d1Counts();
    const field = mlsMessageField(proposal);
    for (const moreProposals of [Array.from({ length: 40 }, () => field), [field, field]]) {
      const r = await post(`${MIMI_PATH_PREFIX}/update/${enc(roomId)}`, encodeUpdateRequest({ kind: "proposal", proposalOrCommit: field, moreProposals }));
      expect(r.status).toBe(200);
      const a = decodeUpdateRoomResponse(new Uint8Array(await r.arrayBuffer()));
      expect(a.ok && a.value.responseCode).toBe("notAllowed");
    }
    const app = await post(`${MIMI_PATH_PREFIX}/update/${enc(roomId)}`, encodeUpdateRequest({ kind: "proposal", proposalOrCommit: field, moreProposals: [appMessage] }));
    expect(app.status).toBe(400);
    expect(((await app.json()) as { errcode?: string }).errcode).toBe("M_BAD_JSON");
    expect(await d1Counts()).toEqual(before);
  });

  it("answers groupInfo with notAuthorized for a request whose signature does not verify, whether or not the room exists here", async () => {
    const t = targets()["groupInfo"] as Target;
    for (const [room, status] of [[roomId, "notAuthorized"], ["!elsewhere:other.example", "notAuthorized"]] as const) {
      const res = await post(t.path(room), t.body);
      expect(res.status).toBe(200);
      const answer = decodeGroupInfoResponse(new Uint8Array(await res.arrayBuffer()));
      expect(answer.ok && answer.value).toMatchObject({ roomId: room, status });
    }
  });

  it("refuses a MIMI request without an authenticated provider before reading it", async () => {
    const t = targets()["submitMessage"] as Target;
    const res = await post(t.path(roomId), t.body, {});
    expect(res.status).toBe(401);
    expect(((await res.json()) as { errcode: string }).errcode).toBe("M_UNAUTHORIZED");
  });
});
