// Acting as a server from a test: building LPDUs and PDUs the way a participant or a hub would (or
// forging them), sending signed federation requests, and reading what a server stored.

import { randomBytes } from "node:crypto";
import { authEventKeysLm } from "../../shared/auth-rules-lm.js";
import { encodeBase64 } from "../../shared/base64.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import type { Lpdu, Pdu } from "../../shared/event.js";
import { eventIdOf } from "../../shared/hashes.js";
import { buildLocalPdu } from "../../shared/local-event.js";
import { buildLpdu, completeLpdu } from "../../shared/lpdu.js";
import { LM_ROOM_VERSION } from "../../shared/room-versions.js";
import { formatSigningKeySecret, parseSigningKeySecret, type SigningKey } from "../../shared/signing-key.js";
import { LM_PREFIX } from "../../shared/federation-paths.js";
import { storedEvents } from "./client.js";
import type { FederationOptions, TestServer } from "./harness.js";

export { LM_PREFIX };

export interface FedAnswer<T = Record<string, unknown>> {
  status: number;
  body: T & { errcode?: string; error?: string };
}

/** A federation request signed as `from` (or forged, per `opts`), with its JSON answer. */
export async function fed<T = Record<string, unknown>>(
  from: TestServer,
  to: TestServer,
  method: string,
  path: string,
  body?: unknown,
  opts?: FederationOptions,
): Promise<FedAnswer<T>> {
  const res = await from.federation(to, method, path, body, opts);
  return { status: res.status, body: (await res.json()) as FedAnswer<T>["body"] };
}

export type SendAnswer = FedAnswer<{ failed_pdus?: Record<string, { error: string }> }>;

/**
 * PUT /send as `from`. A transaction the real server has in flight to `to` makes ours wait
 * (400 M_BAD_STATE): retried for a while, as a sender would.
 */
export async function sendTxn(
  from: TestServer,
  to: TestServer,
  pdus: unknown[],
  opts: FederationOptions & { txnId?: string; edus?: unknown[] } = {},
): Promise<SendAnswer> {
  const txnId = opts.txnId ?? newTxnId();
  const body: Record<string, unknown> = { pdus, ...(opts.edus ? { edus: opts.edus } : {}) };
  const deadline = Date.now() + 15_000;
  for (;;) {
    const answer = await fed<{ failed_pdus?: Record<string, { error: string }> }>(from, to, "PUT", `${LM_PREFIX}/send/${encodeURIComponent(txnId)}`, body, opts);
    if (answer.status !== 400 || answer.body.errcode !== "M_BAD_STATE" || Date.now() > deadline) return answer;
    await new Promise((r) => setTimeout(r, 200));
  }
}

export function newTxnId(): string {
  return `forge-${randomBytes(6).toString("hex")}`;
}

/** A unique marker to put in an event body, so a test can look for it in every server's store. */
export function marker(what: string): string {
  return `${what}-${randomBytes(6).toString("hex")}`;
}

export function keyOf(server: TestServer): Promise<SigningKey> {
  return parseSigningKeySecret(server.signingKeySecret);
}

/** The key version ("t_xxxxxx") of a server's signing key. */
export function keyVersionOf(server: TestServer): string {
  return server.signingKeySecret.split(":")[1] as string;
}

/** A new random key; with `keyVersion`, under that key ID (a forgery of a server's real key ID). */
export function freshKeySecret(keyVersion = `f_${randomBytes(3).toString("hex")}`): string {
  return formatSigningKeySecret(new Uint8Array(randomBytes(32)), keyVersion);
}

/** A valid base64 signature over other bytes: a signature that is well formed but wrong. */
export async function wrongSignature(key: SigningKey): Promise<string> {
  return encodeBase64(await key.sign(new TextEncoder().encode("something else entirely")));
}

export interface EventFields {
  room_id: string;
  type: string;
  sender: string;
  state_key?: string;
  content: JsonObject;
}

/** An LPDU for `hub`, signed with `key` (the sender's server's key for an honest one). */
export function lpduWith(key: SigningKey, hub: string, fields: EventFields): Promise<Lpdu> {
  return buildLpdu({ ...fields, origin_server_ts: Date.now() }, key, hub);
}

export function lpduIdOf(e: object): Promise<string> {
  return eventIdOf(e, LM_ROOM_VERSION);
}

/** A server's current state of a room (admin API), keyed by type and state key. */
export async function stateOf(server: TestServer, roomId: string): Promise<Map<string, { event_id: string; pdu: Pdu }>> {
  const res = await server.fetch(`/_switchboard/admin/v1/rooms/${encodeURIComponent(roomId)}/state`, {
    headers: { authorization: "Bearer test-admin-token" },
  });
  const body = (await res.json()) as { state: Array<{ event_id: string; pdu: Pdu }> };
  if (res.status !== 200) throw new Error(`admin state on ${server.name}: ${res.status} ${JSON.stringify(body)}`);
  return new Map(body.state.map((e) => [`${e.pdu.type}\u0000${e.pdu.state_key ?? ""}`, e]));
}

/**
 * The links the hub would give an event now, read from `server`'s copy of the room; `prevEvents`
 * replaces the last stored event (to chain events not stored yet).
 */
export async function linksAt(
  server: TestServer,
  roomId: string,
  fields: EventFields,
  prevEvents?: string[],
): Promise<{ authEvents: string[]; prevEvents: string[] }> {
  const state = await stateOf(server, roomId);
  const authEvents: string[] = [];
  for (const [type, key] of authEventKeysLm(fields)) {
    const e = state.get(`${type}\u0000${key}`);
    if (e && !authEvents.includes(e.event_id)) authEvents.push(e.event_id);
  }
  if (prevEvents) return { authEvents, prevEvents };
  const events = await storedEvents(server, roomId);
  const last = events[events.length - 1];
  return { authEvents, prevEvents: last ? [last.event_id] : [] };
}

/**
 * A complete PDU the way a hub makes one for its own user (plain form, one signature), signed as
 * `hubName` with `key`, linked to `server`'s copy of the room.
 */
export async function plainPdu(server: TestServer, hubName: string, key: SigningKey, fields: EventFields, prevEvents?: string[]): Promise<Pdu> {
  const links = await linksAt(server, fields.room_id, fields, prevEvents);
  return buildLocalPdu({ ...fields, origin_server_ts: Date.now() }, links, hubName, key, LM_ROOM_VERSION);
}

/** A PDU completed from `lpdu` by `hubName` signing with `hubKey`, linked to `server`'s copy of the room. */
export async function completedPdu(server: TestServer, lpdu: Lpdu, hubName: string, hubKey: SigningKey, prevEvents?: string[]): Promise<Pdu> {
  const links = await linksAt(server, lpdu.room_id, lpdu as unknown as EventFields, prevEvents);
  return completeLpdu(lpdu, links, hubName, hubKey, LM_ROOM_VERSION);
}

/** Servers (by name) that stored an event whose content.body is `body`. */
export async function serversHolding(servers: readonly TestServer[], roomId: string, body: string): Promise<string[]> {
  const out: string[] = [];
  for (const s of servers) {
    const events = await storedEvents(s, roomId);
    if (events.some((e) => e.pdu.content["body"] === body)) out.push(s.name);
  }
  return out;
}

/** Servers (by name) that stored an event with this ID. */
export async function serversHoldingId(servers: readonly TestServer[], roomId: string, eventId: string): Promise<string[]> {
  const out: string[] = [];
  for (const s of servers) {
    const events = await storedEvents(s, roomId);
    if (events.some((e) => e.event_id === eventId)) out.push(s.name);
  }
  return out;
}

/** A local user's pending invite as the server keeps it (read from its Room object over RPC). */
export async function pendingInvite(server: TestServer, roomId: string, userId: string): Promise<{ eventJson: string; origin: string } | undefined> {
  const ns = (await server.miniflare().getDurableObjectNamespace("ROOM")) as unknown as {
    idFromName(name: string): unknown;
    get(id: unknown): { pendingInvite(userId: string): Promise<{ eventJson: string; origin: string } | undefined> };
  };
  const stub = ns.get(ns.idFromName(roomId));
  const inv = await stub.pendingInvite(userId);
  return inv === undefined ? undefined : { eventJson: inv.eventJson, origin: inv.origin };
}
