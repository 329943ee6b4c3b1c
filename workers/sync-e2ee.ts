// The end-to-end encryption fields of a /sync response for the syncing device: `to_device`,
// `device_lists`, `device_one_time_keys_count` and `device_unused_fallback_key_types`.
//
// `device_lists.changed` holds the users whose devices changed (recorded in the user's stream) and,
// as the client-server API asks, users who now share a room with the client; `left` holds users who
// no longer share any room with it. The latter two are read off the membership events this very
// response carries, so they cost nothing unless memberships changed (sliding sync, whose response
// need not carry the rooms, reads them from the rooms that changed: sliding-sync-device-lists.ts).

import type { DeviceKeyCounts, StreamChanges } from "../durable-objects/user-stream.js";
import { userStream } from "./client-common.js";
import { countOneTimeKeys, countsValidUntil, keyCounts } from "./storage/one-time-keys.js";
import { unusedFallbackKeyTypes } from "./storage/fallback-keys.js";

export interface E2eeSyncFields {
  to_device: { events: Array<{ sender: string; type: string; content: unknown }> };
  device_lists: { changed: string[]; left: string[] };
  device_one_time_keys_count: Record<string, number>;
  device_unused_fallback_key_types: string[];
}

interface SectionEvents {
  timeline?: { events?: unknown[] };
  state?: { events?: unknown[] };
}

/** Membership news of other users: who joined a room of ours, who left or was removed, and the rooms we left. */
export interface MembershipNews {
  joined: Set<string>;
  gone: Set<string>;
  leftRooms: readonly string[];
}

/** Folds membership events (client or federation form) into `news`, later events winning. */
export function addMemberEvents(userId: string, events: readonly unknown[], news: MembershipNews): void {
  for (const e of events as Array<Record<string, unknown>>) {
    if (e["type"] !== "m.room.member" || typeof e["state_key"] !== "string" || e["state_key"] === userId) continue;
    const membership = (e["content"] as Record<string, unknown> | undefined)?.["membership"];
    if (membership === "join") {
      news.joined.add(e["state_key"]);
      news.gone.delete(e["state_key"]);
    } else if (membership === "leave" || membership === "ban") {
      news.gone.add(e["state_key"]);
      news.joined.delete(e["state_key"]);
    }
  }
}

/** The membership news a /sync response's rooms carry. */
export function syncMembershipNews(userId: string, rooms: { join: Record<string, unknown>; leave: Record<string, unknown> }): MembershipNews {
  const news: MembershipNews = { joined: new Set(), gone: new Set(), leftRooms: Object.keys(rooms.leave) };
  for (const section of Object.values(rooms.join) as SectionEvents[]) addMemberEvents(userId, [...(section.state?.events ?? []), ...(section.timeline?.events ?? [])], news);
  return news;
}

async function membersOf(env: Env, roomIds: readonly string[]): Promise<string[][]> {
  return Promise.all(roomIds.map((r) => env.ROOM.get(env.ROOM.idFromName(r)).joinedMembers().catch(() => [] as string[])));
}

/** Users who joined a shared room (changed) and users no longer in any room with us (left). */
async function deviceListsFromMemberships(env: Env, userId: string, news: MembershipNews) {
  const joined = new Set(news.joined);
  const gone = new Set(news.gone);
  // Our own departures: everyone in the rooms we left may now share nothing with us.
  for (const members of await membersOf(env, news.leftRooms)) for (const m of members) if (m !== userId) gone.add(m);
  if (joined.size === 0 && gone.size === 0) return { changed: [] as string[], left: [] as string[] };
  const ourRooms = await env.USER_STREAM.get(env.USER_STREAM.idFromName(userId)).joinedRooms();
  const sharing = new Set((await membersOf(env, ourRooms)).flat());
  return { changed: [...joined].filter((u) => sharing.has(u)), left: [...gone].filter((u) => !sharing.has(u)) };
}

export async function e2eeSyncFields(
  env: Env,
  userId: string,
  deviceId: string,
  changes: StreamChanges,
  incremental: boolean,
  news: () => MembershipNews | Promise<MembershipNews>,
): Promise<E2eeSyncFields> {
  const [keys, fromMemberships] = await Promise.all([
    changes.keyCounts ?? readKeyCounts(env, userId, deviceId, changes.keyEpoch),
    incremental ? Promise.resolve(news()).then((n) => deviceListsFromMemberships(env, userId, n)) : { changed: [], left: [] },
  ]);
  // Clients (matrix-sdk-crypto among them) read a missing signed_curve25519 count as "unknown", not 0.
  const counts = { signed_curve25519: 0, ...keys.oneTime };
  // Someone who shares no room with us any more is "left", whatever else happened to their devices.
  const gone = new Set(fromMemberships.left);
  // An initial sync shows no device-list news: the client fetches every device it needs anyway.
  const recorded = incremental ? changes.deviceLists : { changed: [], left: [] };
  const changed = new Set([...recorded.changed, ...fromMemberships.changed].filter((u) => !gone.has(u)));
  const left = new Set([...recorded.left, ...gone].filter((u) => !changed.has(u)));
  return {
    to_device: { events: changes.toDevice.map((m) => ({ sender: m.sender, type: m.type, content: JSON.parse(m.contentJson) as unknown })) },
    device_lists: { changed: [...changed].sort(), left: [...left].sort() },
    device_one_time_keys_count: counts,
    device_unused_fallback_key_types: keys.unusedFallback,
  };
}

/** The device's key counts from D1, handed to the user's stream so the next syncs need not ask. */
async function readKeyCounts(env: Env, userId: string, deviceId: string, epoch: number): Promise<DeviceKeyCounts> {
  const now = Date.now();
  const [counted, fallback] = (await env.DB.batch([countOneTimeKeys(env.DB, userId, deviceId, now), unusedFallbackKeyTypes(env.DB, userId, deviceId, now)])) as [
    D1Result<unknown>,
    D1Result<{ algorithm: string; expires_ts: number | null }>,
  ];
  const unused = fallback.results ?? [];
  const counts: DeviceKeyCounts = { oneTime: keyCounts(counted), unusedFallback: unused.map((r) => r.algorithm) };
  const until = Math.min(countsValidUntil(counted), ...unused.map((r) => r.expires_ts ?? Infinity));
  await userStream(env, userId).rememberKeyCounts(deviceId, epoch, counts, until);
  return counts;
}
