// Helpers for the full-mesh room tests: a server's forward extremities (as make_join's prev_events
// show them to another server), the same-state check across servers, and PDUs built and signed as a
// real server of the test, for forks, races and withheld history the servers would not make on cue.

import { expect } from "vitest";
import type { JsonObject } from "../../shared/canonical-json.js";
import type { Pdu } from "../../shared/event.js";
import { eventIdOf } from "../../shared/hashes.js";
import { buildLocalPdu } from "../../shared/local-event.js";
import { getRoomVersion } from "../../shared/room-versions.js";
import { eventually } from "./client.js";
import { fed, keyOf, newTxnId, stateOf } from "./forge.js";
import type { TestServer } from "./harness.js";

/** `of`'s forward extremities: the prev_events of the join template it gives another server's user. */
export async function extremitiesOn(servers: TestServer[], of: TestServer, roomId: string, version: string): Promise<string[]> {
  const asker = servers.find((s) => s !== of) as TestServer;
  const res = await fed<{ event?: { prev_events?: string[] } }>(asker, of, "GET", `/_matrix/federation/v1/make_join/${encodeURIComponent(roomId)}/${encodeURIComponent(`@probe:${asker.name}`)}?ver=${version}`);
  expect(res.status).toBe(200);
  return [...(res.body.event?.prev_events ?? [])].sort();
}

/** Every server reports the same current state, event by event (waits for convergence). */
export async function sameStateEverywhere(servers: TestServer[], roomId: string): Promise<Map<string, string>> {
  return eventually(async () => {
    const states = await Promise.all(servers.map(async (s) => new Map([...(await stateOf(s, roomId))].map(([k, v]) => [k, v.event_id]))));
    const first = states[0] as Map<string, string>;
    const same = states.every((m) => m.size === first.size && [...m].every(([k, v]) => first.get(k) === v));
    return same ? first : undefined;
  }, "the same current state on every server");
}

/** Federation /event, with the room hint (a server's event index lags a second behind). */
export function eventPath(eventId: string, roomId: string): string {
  return `/_matrix/federation/v1/event/${encodeURIComponent(eventId)}?room_id=${encodeURIComponent(roomId)}`;
}

/** The event as `server` stores it, read over federation /event. */
export async function pduOn(from: TestServer, server: TestServer, eventId: string, roomId: string): Promise<Pdu> {
  const res = await fed<{ pdus?: Pdu[] }>(from, server, "GET", eventPath(eventId, roomId));
  expect(res.status).toBe(200);
  return (res.body.pdus as Pdu[])[0] as Pdu;
}

/**
 * An event by `sender` (a user of `as`), signed with `as`'s key, on `prevEvents`, citing auth events
 * from `stateFrom` (a server's current state, or a snapshot of one taken earlier).
 */
export async function forgeEvent(
  as: TestServer,
  stateFrom: TestServer | Map<string, { event_id: string }>,
  roomId: string,
  versionId: string,
  fields: { type: string; sender: string; state_key?: string; content: JsonObject },
  prevEvents: Array<{ eventId: string; depth: number }>,
): Promise<{ eventId: string; pdu: Pdu }> {
  const version = getRoomVersion(versionId);
  if (!version) throw new Error(`no version ${versionId}`);
  const state = stateFrom instanceof Map ? stateFrom : await stateOf(stateFrom, roomId);
  const authEvents: string[] = [];
  for (const [type, key] of version.authEventKeys(fields)) {
    const e = state.get(`${type}\u0000${key}`);
    if (e && !authEvents.includes(e.event_id)) authEvents.push(e.event_id);
  }
  const depth = Math.max(0, ...prevEvents.map((p) => p.depth)) + 1;
  const pdu = await buildLocalPdu(
    { room_id: roomId, origin_server_ts: Date.now(), ...fields } as never,
    { authEvents, prevEvents: prevEvents.map((p) => p.eventId), depth },
    as.name,
    await keyOf(as),
    version,
  );
  return { eventId: await eventIdOf(pdu, version), pdu };
}

/** PUT /v1/send from `from` to `to` with these PDUs; returns failed_pdus. */
export async function sendPdus(from: TestServer, to: TestServer, pdus: Pdu[]): Promise<Record<string, { error: string }>> {
  const res = await fed<{ pdus?: Record<string, { error?: string }> }>(from, to, "PUT", `/_matrix/federation/v1/send/${newTxnId()}`, { origin: from.name, origin_server_ts: Date.now(), pdus });
  expect(res.status).toBe(200);
  return (res.body as { failed_pdus?: Record<string, { error: string }> }).failed_pdus ?? {};
}
