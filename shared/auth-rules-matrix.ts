// Authorization rules of Matrix room versions 11 and 12 (spec "Room Version 11/12", "Authorization
// rules"; server-server "Auth events selection"). Event signatures are event-signatures.ts's job; the
// one exception is the third-party-invite `signed` block, whose keys live in room state, not key servers.

import * as ed from "@noble/ed25519";
import { sha256, sha512 } from "@noble/hashes/sha2.js";
import { encodeBase64Url, tryDecodeBase64 } from "./base64.js";
import { canonicalJsonBytes } from "./canonical-json.js";
import type { Pdu } from "./event.js";
import { isUserId } from "./ids.js";
import type { AuthInput, AuthResult } from "./room-version.js";
import { actionLevel, isPlainObject, userLevel } from "./power-levels.js";
import { signatureKeyIds, signingBytes } from "./signed-json.js";
import {
  ALLOW,
  KeyList,
  LM_ROOM_VERSIONS,
  RoomView,
  banRules,
  baseAuthEventKeys,
  checkAuthEventEntries,
  contentOf,
  domainOf,
  finalRules,
  guard,
  leaveRules,
  reject,
  roomAlreadyCreated,
} from "./auth-rules-common.js";

// The synchronous verify needs a synchronous SHA-512; the async API used elsewhere is unaffected.
if (!ed.hashes.sha512) ed.hashes.sha512 = sha512;

export type MatrixRulesVersion = "11" | "12";

/** "Recognised" in rule 1.3: the room versions Switchboard implements. */
export const RECOGNISED_ROOM_VERSIONS: ReadonlySet<string> = new Set(["11", "12", ...LM_ROOM_VERSIONS]);

/** Bounds the Ed25519 work a hostile third-party invite can cause (keys × signatures tried). */
const MAX_THIRD_PARTY_VERIFICATIONS = 32;

const CREATE = "m.room.create";
const MEMBER = "m.room.member";
const TPI = "m.room.third_party_invite";

// v11 redaction keeps these top-level keys and all of a create event's content.
const REDACTED_KEYS = ["type", "room_id", "sender", "state_key", "content", "hashes", "depth", "prev_events", "auth_events", "origin_server_ts"] as const;

/**
 * The create event's reference hash: its event ID after "$", and in v12 its room ID after "!".
 * Undefined when the event cannot be canonicalised.
 */
export function createEventReferenceHash(create: Pdu): string | undefined {
  const kept: Record<string, unknown> = {};
  for (const k of REDACTED_KEYS) if (create[k] !== undefined) kept[k] = create[k];
  try {
    return encodeBase64Url(sha256(canonicalJsonBytes(kept)));
  } catch {
    return undefined;
  }
}

export function authEventKeysMatrix(event: Pick<Pdu, "type" | "sender" | "state_key" | "content">, version: MatrixRulesVersion): Array<[string, string]> {
  const list = new KeyList();
  for (const [t, k] of baseAuthEventKeys(event)) if (!(version === "12" && t === CREATE)) list.add(t, k);
  if (event.type !== MEMBER) return list.keys;
  const c = contentOf(event);
  const tpi = c.third_party_invite;
  const token = isPlainObject(tpi) && isPlainObject(tpi.signed) ? tpi.signed.token : undefined;
  if (c.membership === "invite" && typeof token === "string") list.add(TPI, token);
  if (typeof c.join_authorised_via_users_server === "string") list.add(MEMBER, c.join_authorised_via_users_server);
  return list.keys;
}

/** Rule numbers differ between v11 and v12 only by v12's inserted rule 2 (and 10.4, see finalRules). */
const NUMBERS = {
  "11": { auth: "2", federate: "3", member: "4", joined: "5", tpi: "6", final: 7 },
  "12": { auth: "3", federate: "4", member: "5", joined: "6", tpi: "7", final: 8 },
} as const;

export function checkAuthMatrix(input: AuthInput, version: MatrixRulesVersion): AuthResult {
  return guard(() => matrixRules(input, version));
}

function matrixRules(input: AuthInput, v: MatrixRulesVersion): AuthResult {
  const { event, authEvents } = input;
  if (typeof event.sender !== "string" || typeof event.type !== "string") return reject("format", "sender or type is not a string");
  const c = contentOf(event);
  const N = NUMBERS[v];
  if (event.type === CREATE) return roomAlreadyCreated(input) ? reject("1.1", "the room already has a create event") : createRules(event, c, v);

  let create: Pdu | undefined;
  if (v === "12") {
    create = input.createEvent;
    const hash = create?.type === CREATE ? createEventReferenceHash(create) : undefined;
    if (hash === undefined || event.room_id !== `!${hash}`) return reject("2", "room_id is not derived from the room's create event");
  }

  const entries = checkAuthEventEntries(event, authEvents, authEventKeysMatrix(event, v), N.auth);
  if (entries) return entries;
  // Rejected auth events are not representable in a Pdu; callers leave them (and unfetchable ones) out.
  if (authEvents.length < new Set(Array.isArray(event.auth_events) ? event.auth_events : []).size) {
    return reject(`${N.auth}.3`, "an auth event is missing or was rejected");
  }
  if (v === "12") {
    if (authEvents.some((a) => a.room_id !== event.room_id)) return reject("3.4", "an auth event belongs to another room");
  } else {
    const createAuth = authEvents.find((a) => a.type === CREATE && a.state_key === "");
    if (!createAuth) return reject("2.4", "no m.room.create among the auth events");
    create = input.state.get(CREATE, "") ?? createAuth;
  }

  if (create && contentOf(create)["m.federate"] === false && domainOf(event.sender) !== domainOf(create.sender)) {
    return reject(N.federate, "room is not federated and the sender is on another server");
  }
  const room = new RoomView(input.state, create, v);
  if (event.type === MEMBER) return membershipRules(input, c, room, v);
  if (room.membership(event.sender) !== "join") return reject(N.joined, "sender is not joined");
  if (event.type === TPI) {
    const pw = room.power(`${N.tpi}.1`);
    if (userLevel(pw, event.sender) >= actionLevel(pw.levels, "invite")) return ALLOW;
    return reject(`${N.tpi}.1`, "sender lacks the invite level");
  }
  return finalRules(event, room, N.final);
}

function createRules(event: Pdu, c: Record<string, unknown>, v: MatrixRulesVersion): AuthResult {
  if (!Array.isArray(event.prev_events) || event.prev_events.length > 0) return reject("1.1", "create event has prev_events");
  if (v === "12") {
    if (event.room_id !== undefined) return reject("1.2", "a v12 create event carries no room_id");
  } else {
    const roomDomain = domainOf(event.room_id);
    if (roomDomain === undefined || roomDomain !== domainOf(event.sender)) return reject("1.2", "room_id domain differs from the sender's");
  }
  if ("room_version" in c && (typeof c.room_version !== "string" || !RECOGNISED_ROOM_VERSIONS.has(c.room_version))) {
    return reject("1.3", `room_version ${JSON.stringify(c.room_version).slice(0, 80)} is not recognised`);
  }
  if (v === "11") return ALLOW;
  const extra = c.additional_creators;
  if (extra !== undefined && !(Array.isArray(extra) && extra.every(isUserId))) {
    return reject("1.4", "additional_creators is not an array of user IDs");
  }
  return ALLOW;
}

function membershipRules(input: AuthInput, c: Record<string, unknown>, room: RoomView, v: MatrixRulesVersion): AuthResult {
  const { event } = input;
  const m = NUMBERS[v].member;
  const target = event.state_key;
  const membership = c.membership;
  if (typeof target !== "string" || typeof membership !== "string") return reject(`${m}.1`, "member event lacks state_key or membership");
  const sender = event.sender;

  // The cryptographic check is event-signatures.ts's; here the authorising server's signature must at least be present.
  const via = c.join_authorised_via_users_server;
  if (via !== undefined) {
    const server = isUserId(via) ? domainOf(via) : undefined;
    if (server === undefined || signatureKeyIds(event, server).length === 0) {
      return reject(`${m}.2.1`, "not signed by the server of join_authorised_via_users_server");
    }
  }

  switch (membership) {
    case "join": {
      if (target === room.create?.sender && isFirstJoin(input, room)) return ALLOW;
      if (sender !== target) return reject(`${m}.3.2`, "cannot join on behalf of another user");
      const cur = room.membership(sender);
      if (cur === "ban") return reject(`${m}.3.3`, "sender is banned");
      const rule = room.joinRule();
      if (rule === "invite" || rule === "knock") {
        return cur === "invite" || cur === "join" ? ALLOW : reject(`${m}.3.4`, `join_rule is ${rule} and sender is not invited`);
      }
      if (rule === "restricted" || rule === "knock_restricted") {
        if (cur === "join" || cur === "invite") return ALLOW;
        const reason = authoriserProblem(via, room, `${m}.3.5.2`);
        return reason === undefined ? ALLOW : reject(`${m}.3.5.2`, reason);
      }
      if (rule === "public") return ALLOW;
      return reject(`${m}.3.7`, `join_rule ${JSON.stringify(rule).slice(0, 80)} does not admit joins`);
    }
    case "invite": {
      if ("third_party_invite" in c) return thirdPartyInviteRules(input, c, target, room, `${m}.4.1`);
      if (room.membership(sender) !== "join") return reject(`${m}.4.2`, "sender is not joined");
      const cur = room.membership(target);
      if (cur === "join" || cur === "ban") return reject(`${m}.4.3`, `target is already ${cur}`);
      if (room.level(sender, `${m}.4.4`) >= actionLevel(room.power(`${m}.4.4`).levels, "invite")) return ALLOW;
      return reject(`${m}.4.5`, "sender lacks the invite level");
    }
    case "leave":
      return leaveRules(event, target, room, `${m}.5`);
    case "ban":
      return banRules(event, target, room, `${m}.6`);
    case "knock": {
      const rule = room.joinRule();
      if (rule !== "knock" && rule !== "knock_restricted") return reject(`${m}.7.1`, "join_rule does not admit knocks");
      if (sender !== target) return reject(`${m}.7.2`, "cannot knock on behalf of another user");
      const cur = room.membership(sender);
      if (cur !== "ban" && cur !== "invite" && cur !== "join") return ALLOW;
      return reject(`${m}.7.4`, `cannot knock while ${cur}`);
    }
    default:
      return reject(`${m}.8`, `unknown membership ${JSON.stringify(membership).slice(0, 80)}`);
  }
}

/** "Sufficient permission to invite" includes the invite rule's "sender is joined". */
function authoriserProblem(via: unknown, room: RoomView, rule: string): string | undefined {
  if (typeof via !== "string") return "no join_authorised_via_users_server";
  if (room.membership(via) !== "join") return "authorising user is not joined";
  if (room.level(via, rule) < actionLevel(room.power(rule).levels, "invite")) return "authorising user lacks the invite level";
  return undefined;
}

/** "The only previous event is an m.room.create": by the caller's prevEvent, else by its reference hash. */
function isFirstJoin({ event, prevEvent }: AuthInput, room: RoomView): boolean {
  const prev = event.prev_events;
  if (!Array.isArray(prev) || prev.length !== 1 || room.create === undefined) return false;
  if (prevEvent !== undefined) return prevEvent.type === CREATE;
  const hash = createEventReferenceHash(room.create);
  return hash !== undefined && prev[0] === `$${hash}`;
}

function thirdPartyInviteRules(input: AuthInput, c: Record<string, unknown>, target: string, room: RoomView, p: string): AuthResult {
  if (room.membership(target) === "ban") return reject(`${p}.1`, "target is banned");
  const tpi = c.third_party_invite;
  const signed = isPlainObject(tpi) ? tpi.signed : undefined;
  if (!isPlainObject(signed)) return reject(`${p}.2`, "third_party_invite has no signed object");
  if (typeof signed.mxid !== "string" || typeof signed.token !== "string") return reject(`${p}.3`, "signed lacks mxid or token");
  if (signed.mxid !== target) return reject(`${p}.4`, "signed.mxid does not match state_key");
  const invite = room.state.get(TPI, signed.token);
  if (!invite) return reject(`${p}.5`, "no m.room.third_party_invite for the token");
  if (invite.sender !== input.event.sender) return reject(`${p}.6`, "sender did not send the third-party invite");
  if (signedByAnyKey(signed, contentOf(invite))) return ALLOW;
  return reject(`${p}.8`, "no signature in signed matches the invite's public keys");
}

function decodeKey(s: unknown): Uint8Array | undefined {
  if (typeof s !== "string") return undefined;
  // Identity servers publish unpadded base64; some use the URL-safe alphabet.
  return tryDecodeBase64(s) ?? tryDecodeBase64(s.replace(/-/g, "+").replace(/_/g, "/"));
}

function signedByAnyKey(signed: Record<string, unknown>, inviteContent: Record<string, unknown>): boolean {
  const listed = Array.isArray(inviteContent.public_keys) ? inviteContent.public_keys : [];
  const keys = [inviteContent.public_key, ...listed.map((k) => (isPlainObject(k) ? k.public_key : undefined))]
    .map(decodeKey)
    .filter((k): k is Uint8Array => k?.length === 32);
  const sigs = isPlainObject(signed.signatures) ? Object.values(signed.signatures) : [];
  let message: Uint8Array;
  try {
    message = signingBytes(signed);
  } catch {
    return false;
  }
  let budget = MAX_THIRD_PARTY_VERIFICATIONS;
  for (const byKeyId of sigs) {
    if (!isPlainObject(byKeyId)) continue;
    for (const [keyId, sig] of Object.entries(byKeyId)) {
      const raw = keyId.startsWith("ed25519:") ? decodeKey(sig) : undefined;
      if (raw?.length !== 64) continue;
      for (const key of keys) {
        if (budget-- <= 0) return false;
        if (verifyQuietly(raw, message, key)) return true;
      }
    }
  }
  return false;
}

function verifyQuietly(sig: Uint8Array, message: Uint8Array, key: Uint8Array): boolean {
  try {
    return ed.verify(sig, message, key, { zip215: false });
  } catch {
    return false;
  }
}
