// What a client of a MIMI follower does, for the MIMI federation tests: open the view of a room
// hosted on a MIMI hub, send MLS messages into it (the follower forwards them as submitMessage and
// update), read what the hub fanned out, claim another user's key material and fetch the room's
// GroupInfo through the hub.

import { decodeBase64, encodeBase64 } from "../../shared/base64.js";
import { encodeDeviceIdentity } from "../../shared/mls-identity.js";
import { userUriOf } from "../../shared/mimi-identifiers.js";
import { signContent } from "../../shared/mimi-sign.js";
import {
  decodeGroupInfoResponse,
  decodeKeyMaterialResponse,
  encodeGroupInfoRequest,
  encodeGroupInfoRequestTbs,
  encodeKeyMaterialRequest,
  encodeKeyMaterialRequestTbs,
  type GroupInfoRatchetTreeTbe,
  type GroupInfoRequestTbs,
  type KeyMaterialRequestTbs,
} from "../../shared/mimi/index.js";
import { openGroupInfoResponse } from "../../shared/mimi-group-info-seal.js";
import { getCiphersuiteFromName } from "ts-mls/crypto/ciphersuite.js";
import { getCiphersuiteImpl } from "ts-mls/crypto/getCiphersuiteImpl.js";
import { decodeMessage, type PendingCommit } from "../support/mls-client.js";
import { installHubAsExternalSender } from "../support/mimi-hub-install.js";
import { eventually } from "./client.js";
import type { TestServer } from "./harness.js";
import type { MlsMember } from "./mls-member.js";

export const MIMI_CLIENT = "/_matrix/client/unstable/org.switchboard.mimi";
export const FANOUT = "m.mimi.fanout";

async function post<T>(m: MlsMember, path: string, body: unknown): Promise<T> {
  const res = await m.client.server.fetch(`${MIMI_CLIENT}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${m.client.accessToken}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = (await res.json()) as T;
  if (res.status !== 200) throw new Error(`${path}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}

/** The hub's external sender record of `roomId`, read by `m`, a joined user of the hub. */
export async function hubExternalSender(m: MlsMember, roomId: string): Promise<{ external_sender: string; installed: boolean; pending_proposals: string[] }> {
  const res = await m.client.server.fetch(`${MIMI_CLIENT}/rooms/${encodeURIComponent(roomId)}/external_sender`, { headers: { authorization: `Bearer ${m.client.accessToken}` } });
  if (res.status !== 200) throw new Error(`external_sender: ${res.status} ${await res.text()}`);
  return (await res.json()) as { external_sender: string; installed: boolean; pending_proposals: string[] };
}

/**
 * `m` (a hub user whose device created the room's group, or is to send its first commit) installs the
 * hub as the group's external sender, which MIMI participants need; `m`'s next commit includes the
 * hub's participant-list proposal. Returns the install commit's event ID and that proposal.
 */
export async function installHub(m: MlsMember, roomId: string): Promise<{ commitEventId: string; proposals: string[] }> {
  return installHubAsExternalSender({ mls: m.mls, externalSender: () => hubExternalSender(m, roomId), sendCommit: (p) => m.sendCommit(roomId, p) });
}

/** A hub user adds a follower's user to the room's participant list (the hub must be installed). */
export async function addParticipant(adder: MlsMember, roomId: string, userId: string): Promise<string> {
  return (await post<{ event_id: string }>(adder, `/rooms/${encodeURIComponent(roomId)}/participants`, { user_id: userId })).event_id;
}

/**
 * `creator` makes the room's MLS group, installs the hub as its external sender and adds `follower`'s
 * user as a MIMI participant, taking every hub proposal so far, so its next commit includes them.
 * Returns the follower's view room and the install commit's event ID.
 */
export async function mimiGroupWithFollower(creator: MlsMember, follower: MlsMember, roomId: string): Promise<{ viewId: string; installCommit: string }> {
  await creator.mls.createGroup(roomId);
  const installed = await installHub(creator, roomId);
  await addParticipant(creator, roomId, follower.userId);
  const viewId = await openView(follower, roomId);
  for (const p of (await hubExternalSender(creator, roomId)).pending_proposals) if (!installed.proposals.includes(p)) await creator.mls.processProposal(p);
  return { viewId, installCommit: installed.commitEventId };
}

/** The follower's view room of `roomId`, joined by `m`. */
export async function openView(m: MlsMember, roomId: string): Promise<string> {
  return (await post<{ room_id: string }>(m, `/join/${encodeURIComponent(roomId)}`, {})).room_id;
}

/** The MLS messages (base64) fanned out into a view, oldest first, with their event IDs and senders. */
export async function fanouts(m: MlsMember, viewId: string): Promise<Array<{ eventId: string; sender: string; message: string }>> {
  return (await m.client.timeline(viewId)).filter((e) => e.type === FANOUT).map((e) => ({ eventId: e.event_id, sender: e.sender, message: e.content["message"] as string }));
}

/** Waits until `message` (base64) is in the view. */
export async function awaitFanout(m: MlsMember, viewId: string, message: string): Promise<void> {
  await eventually(async () => ((await fanouts(m, viewId)).some((f) => f.message === message) ? true : undefined), `fanout on ${m.client.server.name}`);
}

/** A commit sent through the view as MIMI update, with its Welcome and the next epoch's GroupInfo; adopted once accepted. */
export async function commitViaView(m: MlsMember, viewId: string, pending: PendingCommit): Promise<string> {
  const content: Record<string, unknown> = { message: pending.message, group_info: await m.mls.groupInfoAfter(pending) };
  if (pending.welcome) content["welcome"] = pending.welcome;
  const eventId = await m.send(viewId, "m.mls.commit", content);
  m.mls.confirm(pending);
  return eventId;
}

/** Applies, in order, the commits fanned out into the view that are for this device's current epoch. */
export async function catchUpView(m: MlsMember, viewId: string): Promise<void> {
  for (const f of await fanouts(m, viewId)) {
    const msg = decodeMessage(f.message);
    if (msg.wireformat !== "mls_public_message" || msg.publicMessage.content.contentType !== "commit") continue;
    if (Number(msg.publicMessage.content.epoch) === m.mls.epoch) await m.mls.processCommit(f.message);
  }
}

/** Claims one KeyPackage of each of `target`'s clients over MIMI keyMaterial, through `m`'s server. */
export async function claimOverMimi(m: MlsMember, roomId: string, target: string): Promise<string[]> {
  const answer = await keyMaterialOverMimi(m, roomId, target);
  if (answer.userStatus !== "success") throw new Error(`keyMaterial: ${JSON.stringify(answer)}`);
  return answer.packages;
}

/**
 * `m`'s keyMaterial request for `target` (for `roomId`, or for no room when it is ""), signed by `m`'s
 * client after `tweak` changed it, relayed by `m`'s server to the room's hub: the HTTP status, and
 * the user status and KeyPackages (base64) of a 200 answer.
 */
export async function keyMaterialOverMimi(
  m: MlsMember,
  roomId: string,
  target: string,
  tweak: (tbs: KeyMaterialRequestTbs) => KeyMaterialRequestTbs = (t) => t,
  relayVia = roomId,
): Promise<{ status: number; error?: string; userStatus?: string; packages: string[] }> {
  const tbs = tweak({
    protocol: "mls10",
    requestingUser: userUriOf(m.userId),
    targetUser: userUriOf(target),
    roomId,
    acceptableCiphersuites: [1],
    requiredCapabilities: { extensionTypes: [], proposalTypes: [], credentialTypes: [] },
    requesterSignatureKey: m.mls.signatureKey,
    requesterCredential: { credentialType: "basic", identity: encodeDeviceIdentity({ userId: m.userId, deviceId: m.deviceId, signatureKey: m.mls.signatureKey }) },
  });
  const signature = await m.signBytes(signContent("KeyMaterialRequestTBS", encodeKeyMaterialRequestTbs(tbs)));
  const res = await m.client.server.fetch(`${MIMI_CLIENT}/key_material`, {
    method: "POST",
    headers: { authorization: `Bearer ${m.client.accessToken}`, "content-type": "application/json" },
    body: JSON.stringify({ room_id: relayVia, request: encodeBase64(encodeKeyMaterialRequest({ ...tbs, signature })) }),
  });
  const json = (await res.json()) as { response?: string; error?: string };
  if (res.status !== 200 || json.response === undefined) return { status: res.status, error: json.error ?? "", packages: [] };
  const decoded = decodeKeyMaterialResponse(decodeBase64(json.response));
  if (!decoded.ok) throw new Error(`KeyMaterialResponse: ${decoded.error.detail}`);
  const packages = decoded.value.clients.flatMap((c) => (c.clientStatus === "success" ? [encodeBase64(c.keyPackage.bytes)] : []));
  return { status: 200, userStatus: decoded.value.userStatus, packages };
}

/**
 * `m` asks for the room's GroupInfo (MIMI groupInfo) with a request its client signed (or, with
 * `tamper`, signed over other bytes): through `m`'s server, or with `direct`, posted to the hub as
 * the provider its headers authenticate. The answer decoded and, on success, opened with the fresh
 * HPKE key pair made for the request.
 */
export async function groupInfoOverMimi(
  m: MlsMember,
  roomId: string,
  opts: { tamper?: boolean; direct?: { hub: TestServer; headers: Record<string, string> } } = {},
): Promise<{ status: string; tbe?: GroupInfoRatchetTreeTbe; hubSender?: Uint8Array }> {
  const impl = await getCiphersuiteImpl(getCiphersuiteFromName("MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"));
  const pair = await impl.hpke.generateKeyPair();
  const tbs: GroupInfoRequestTbs = {
    protocol: "mls10",
    cipherSuite: 1,
    requestingSignatureKey: m.mls.signatureKey,
    requestingCredential: { credentialType: "basic", identity: encodeDeviceIdentity({ userId: m.userId, deviceId: m.deviceId, signatureKey: m.mls.signatureKey }) },
    groupInfoPublicKey: await impl.hpke.exportPublicKey(pair.publicKey),
    joiningCode: new Uint8Array(),
  };
  const signature = await m.signBytes(signContent(opts.tamper ? "SomethingElseTBS" : "GroupInfoRequestTBS", encodeGroupInfoRequestTbs(tbs)));
  const body = encodeGroupInfoRequest({ ...tbs, signature });
  let bytes: Uint8Array;
  if (opts.direct) {
    const res = await opts.direct.hub.fetch(`/mimi/v1/groupInfo/${encodeURIComponent(roomId)}`, { method: "POST", headers: { "content-type": "application/octet-stream", ...opts.direct.headers }, body });
    if (res.status !== 200) throw new Error(`groupInfo: ${res.status} ${await res.text()}`);
    bytes = new Uint8Array(await res.arrayBuffer());
  } else {
    bytes = decodeBase64((await post<{ response: string }>(m, "/group_info", { room_id: roomId, request: encodeBase64(body) })).response);
  }
  const decoded = decodeGroupInfoResponse(bytes);
  if (!decoded.ok) throw new Error(`GroupInfoResponse: ${decoded.error.detail}`);
  if (decoded.value.roomId !== roomId) throw new Error("GroupInfoResponse names another room");
  if (decoded.value.status !== "success") return { status: decoded.value.status };
  const opened = await openGroupInfoResponse(decoded.value, await impl.hpke.exportPrivateKey(pair.privateKey), "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519");
  if (!opened.ok) throw new Error(`GroupInfoResponse: ${opened.reason}`);
  return { status: "success", tbe: opened.value, hubSender: decoded.value.hubSender.signaturePublicKey };
}
