// Room helpers for the peer tests, over the client API of either homeserver.

import { eventually, type User } from "./peer.js";

export interface ClientEvent {
  event_id: string;
  type: string;
  sender: string;
  state_key?: string;
  content: Record<string, unknown>;
  origin_server_ts: number;
}

const enc = encodeURIComponent;

export async function createRoom(u: User, body: Record<string, unknown>): Promise<string> {
  return (await u.request<{ room_id: string }>("POST", "/createRoom", body)).room_id;
}

export async function join(u: User, roomId: string, via: string): Promise<void> {
  await u.request("POST", `/join/${enc(roomId)}?server_name=${enc(via)}`, {});
}

export async function send(u: User, roomId: string, body: string): Promise<string> {
  return (await u.request<{ event_id: string }>("PUT", `/rooms/${enc(roomId)}/send/m.room.message/${u.nextTxn()}`, { msgtype: "m.text", body })).event_id;
}

export async function setState(u: User, roomId: string, type: string, stateKey: string, content: Record<string, unknown>): Promise<string> {
  return (await u.request<{ event_id: string }>("PUT", `/rooms/${enc(roomId)}/state/${enc(type)}/${enc(stateKey)}`, content)).event_id;
}

/** The room's timeline as this user's server shows it, oldest first. */
export async function timeline(u: User, roomId: string): Promise<ClientEvent[]> {
  const out: ClientEvent[] = [];
  let from: string | undefined;
  for (let page = 0; page < 50; page++) {
    const q = `dir=b&limit=100${from ? `&from=${enc(from)}` : ""}`;
    const res = await u.request<{ chunk: ClientEvent[]; end?: string }>("GET", `/rooms/${enc(roomId)}/messages?${q}`);
    out.push(...res.chunk);
    if (res.chunk.length === 0 || !res.end || res.end === from) break;
    from = res.end;
  }
  return out.reverse();
}

/** Current state as `type|state_key -> event ID`. */
export async function stateMap(u: User, roomId: string): Promise<Record<string, string>> {
  const state = await u.request<ClientEvent[]>("GET", `/rooms/${enc(roomId)}/state`);
  return Object.fromEntries(state.map((e) => [`${e.type}|${e.state_key ?? ""}`, e.event_id]));
}

export async function membership(u: User, roomId: string, userId: string): Promise<string | undefined> {
  try {
    const c = await u.request<{ membership: string }>("GET", `/rooms/${enc(roomId)}/state/m.room.member/${enc(userId)}`);
    return c.membership;
  } catch {
    // A banned user may not read the room's state (Synapse): its own /sync still shows the ban.
    return userId === u.userId ? ownMembershipFromSync(u, roomId) : undefined;
  }
}

let filterNonce = 0;

async function ownMembershipFromSync(u: User, roomId: string): Promise<string | undefined> {
  // A filter of its own per call: Synapse serves an identical initial /sync from its cache.
  const filter = enc(JSON.stringify({ room: { include_leave: true, timeline: { limit: 50 + ++filterNonce } } }));
  type Room = { timeline?: { events?: ClientEvent[] }; state?: { events?: ClientEvent[] } };
  const s = await u.request<{ rooms?: Record<string, Record<string, Room> | undefined> }>("GET", `/sync?timeout=0&filter=${filter}`);
  for (const section of ["leave", "join"]) {
    const room = s.rooms?.[section]?.[roomId];
    const events = [...(room?.state?.events ?? []), ...(room?.timeline?.events ?? [])].filter((e) => e.type === "m.room.member" && e.state_key === u.userId);
    const last = events[events.length - 1];
    if (last) return last.content["membership"] as string;
  }
  return undefined;
}

/** A /sync position to watch the room's new events from. */
export async function syncPosition(u: User): Promise<string> {
  return (await u.request<{ next_batch: string }>("GET", "/sync?timeout=0")).next_batch;
}

/**
 * Long-polls `u`'s /sync from `position` until the event arrives, as a client sees new messages;
 * returns how long that took from `t0`.
 */
export async function seen(u: User, roomId: string, eventId: string, position: string, t0: number, ms = 20_000): Promise<number> {
  let since = position;
  const deadline = t0 + ms;
  while (Date.now() < deadline) {
    const s = await u.request<{ next_batch: string; rooms?: { join?: Record<string, { timeline?: { events?: ClientEvent[] } }> } }>("GET", `/sync?timeout=1000&since=${enc(since)}`);
    if ((s.rooms?.join?.[roomId]?.timeline?.events ?? []).some((e) => e.event_id === eventId)) return Date.now() - t0;
    since = s.next_batch;
  }
  throw new Error(`${eventId} did not reach ${u.userId}'s /sync within ${ms} ms`);
}

/** Waits until `u`'s server shows every one of `eventIds` in the room's timeline. */
export async function allSeen(u: User, roomId: string, eventIds: readonly string[], ms = 30_000): Promise<void> {
  await eventually(`${eventIds.length} events on ${u.server.name}`, async () => {
    const have = new Set((await timeline(u, roomId)).map((e) => e.event_id));
    return eventIds.every((id) => have.has(id)) ? true : undefined;
  }, ms, 250);
}

/** Waits until `u`'s server shows `userId` with this membership. */
export async function hasMembership(u: User, roomId: string, userId: string, want: string, ms = 20_000): Promise<void> {
  await eventually(`${userId} ${want} in ${roomId} on ${u.server.name}`, async () => ((await membership(u, roomId, userId)) === want ? true : undefined), ms, 100);
}

/**
 * Waits until `u` has an invite to `roomId` in its /sync, from a position taken before the invite was
 * sent (Synapse answers a repeated initial /sync from a two-minute cache, so that cannot be polled).
 */
export async function invited(u: User, roomId: string, position: string, ms = 20_000): Promise<void> {
  let since = position;
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const s = await u.request<{ next_batch: string; rooms?: { invite?: Record<string, unknown> } }>("GET", `/sync?timeout=1000&since=${enc(since)}`);
    if (s.rooms?.invite?.[roomId]) return;
    since = s.next_batch;
  }
  throw new Error(`no invite to ${roomId} reached ${u.userId}'s /sync within ${ms} ms`);
}
