// Who hears about a device change (draft "Device Info Publishing"; client-server `device_lists`).
// A local user's change reaches every local user sharing a room with them (and the user's own other
// devices), and every remote server with a member in one of those rooms as an m.device_list_update
// EDU. A remote user's change, received as that EDU, reaches the local users sharing a room with them.
// Devices that are gone are also news for the rooms themselves: a removed device may not stay in a
// room's MLS group, so each room marks its leaves as removals the next commit must make (room-mls.ts).

import { canonicalJson } from "../shared/canonical-json.js";
import type { JsonObject } from "../shared/canonical-json.js";
import { deviceListUpdateEdu, signingKeyUpdateEdu } from "../shared/e2ee-edus.js";
import { serverNameOf } from "../shared/ids.js";
import { possibleGhostsOf } from "./converter-device-lists.js";
import { deleteKeysOfDevices } from "./e2ee-keys.js";
import { deleteSignaturesOn } from "./storage/cross-signing.js";
import { deleteDevicePushers } from "./storage/pushers.js";
import { advanceGhostStream } from "./storage/ghost-device-streams.js";
import { listRooms } from "./storage/rooms.js";

/** Rooms asked at once for their members; bounds the fan-out's concurrent RPCs. */
const CONCURRENCY = 16;
/** Room pages scanned for a remote user's rooms (see roomsSharedWithRemoteUser). */
const ROOM_PAGE = 500;
const MAX_ROOM_PAGES = 40;

async function mapLimit<T, R>(items: readonly T[], limit: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await f(items[i] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

const stream = (env: Env, userId: string) => env.USER_STREAM.get(env.USER_STREAM.idFromName(userId));
const room = (env: Env, roomId: string) => env.ROOM.get(env.ROOM.idFromName(roomId));

/** Tells the rooms that `userId`'s `removed` devices are gone (nothing to do for rooms without MLS). */
async function tellRoomsDevicesRemoved(env: Env, roomIds: readonly string[], userId: string, removed: string[]): Promise<void> {
  if (removed.length === 0) return;
  await mapLimit(roomIds, CONCURRENCY, (r) => room(env, r).devicesRemoved(userId, removed).catch((e) => console.error("telling a room about removed devices failed", r, e)));
}

const roomMembers = (env: Env, roomId: string) =>
  env.ROOM.get(env.ROOM.idFromName(roomId))
    .joinedMembers()
    .catch(() => [] as string[]);

/** Tells local users in `userIds` that `changedUser`'s devices changed. */
async function notifyLocal(env: Env, userIds: Iterable<string>, changedUser: string): Promise<void> {
  await mapLimit([...userIds], CONCURRENCY, (u) => stream(env, u).deviceListsChanged([changedUser]));
}

/**
 * A local user's devices changed: `changed` holds the device objects now published, `removed` the
 * devices that are gone.
 */
export async function announceDeviceChange(env: Env, serverName: string, userId: string, changed: JsonObject[], removed: string[], stream?: { prev: number; next: number }): Promise<void> {
  const { rooms, locals, servers } = await audienceOf(env, serverName, userId);
  const edu = canonicalJson(deviceListUpdateEdu(userId, changed, removed, stream));
  const id = `dlu/${userId}/${Date.now()}/${crypto.randomUUID()}`;
  await Promise.all([
    notifyLocal(env, locals, userId),
    tellRoomsDevicesRemoved(env, rooms, userId, removed),
    ...[...servers].map((s) => env.DESTINATION.get(env.DESTINATION.idFromName(s)).enqueue(s, [{ roomId: "", id, json: edu, kind: "edu" }])),
  ]);
}

/** Where a local user's key news goes: the user's room-mates here, and the servers of the others. */
export async function audienceOf(env: Env, serverName: string, userId: string): Promise<{ rooms: string[]; locals: Set<string>; servers: Set<string> }> {
  const rooms = await stream(env, userId).joinedRooms();
  const memberLists = await mapLimit(rooms, CONCURRENCY, (r) => roomMembers(env, r));
  const locals = new Set<string>([userId]);
  const servers = new Set<string>();
  for (const m of memberLists.flat()) {
    const server = serverNameOf(m);
    if (server === serverName) locals.add(m);
    else servers.add(server);
  }
  return { rooms, locals, servers };
}

/**
 * A local user's cross-signing keys changed: local room-mates see the user in `device_lists.changed`,
 * and every server sharing a room gets an m.signing_key_update EDU.
 */
export async function announceSigningKeyChange(env: Env, serverName: string, userId: string, master: JsonObject | undefined, selfSigning: JsonObject | undefined): Promise<void> {
  const { locals, servers } = await audienceOf(env, serverName, userId);
  const edu = canonicalJson(signingKeyUpdateEdu(userId, master, selfSigning));
  const id = `sku/${userId}/${Date.now()}/${crypto.randomUUID()}`;
  await Promise.all([
    notifyLocal(env, locals, userId),
    ...[...servers].map((s) => env.DESTINATION.get(env.DESTINATION.idFromName(s)).enqueue(s, [{ roomId: "", id, json: edu, kind: "edu" }])),
  ]);
}

/**
 * The rooms a remote user is joined to, and the local users who share one with them. There is no
 * per-user room index for remote users, so this asks every room this server knows: fine at this
 * scale, and bounded by the page cap.
 */
async function roomsSharedWith(env: Env, serverName: string, remoteUser: string, ghosts: readonly string[]): Promise<{ roomIds: string[]; locals: Set<string>; ghostsSeen: Set<string> }> {
  const locals = new Set<string>();
  const ghostsSeen = new Set<string>();
  const roomIds: string[] = [];
  let after = 0;
  for (let page = 0; page < MAX_ROOM_PAGES; page++) {
    const rows = await listRooms(env.DB, ROOM_PAGE, after);
    const lists = await mapLimit(rows, CONCURRENCY, (r) => roomMembers(env, r.room_id));
    lists.forEach((members, i) => {
      for (const g of ghosts) if (members.includes(g)) ghostsSeen.add(g);
      if (!members.includes(remoteUser)) return;
      roomIds.push((rows[i] as { room_id: string }).room_id);
      for (const m of members) if (serverNameOf(m) === serverName) locals.add(m);
    });
    if (rows.length < ROOM_PAGE) break;
    after = (rows[rows.length - 1] as { created_ts: number }).created_ts;
  }
  return { roomIds, locals, ghostsSeen };
}

/**
 * A remote user's devices changed (their server told us): tell our users who share a room with them,
 * the rooms they are in about devices that are gone (`removed`), and, through the user's converter
 * ghosts here, the other side of each pairing (converter-device-lists.ts).
 */
export async function remoteDeviceListChanged(env: Env, serverName: string, remoteUser: string, removed: string[] = []): Promise<void> {
  const { roomIds, locals, ghostsSeen } = await roomsSharedWith(env, serverName, remoteUser, possibleGhostsOf(remoteUser, serverName));
  await Promise.all([
    notifyLocal(env, locals, remoteUser),
    tellRoomsDevicesRemoved(env, roomIds, remoteUser, removed),
    ...[...ghostsSeen].map(async (ghost) => announceDeviceChange(env, serverName, ghost, [], [], await advanceGhostStream(env.DB, ghost))),
  ]);
}

/**
 * Devices logged out ("all": every device of the user): their keys, pushers and to-device inboxes go, and if
 * any had published device keys, everyone sharing a room hears that they were removed.
 */
export async function devicesRemoved(env: Env, serverName: string, userId: string, deviceIds: string[] | "all"): Promise<void> {
  const hadKeys = await deleteKeysOfDevices(env.DB, userId, deviceIds);
  const cleanup = [...deleteDevicePushers(env.DB, userId, deviceIds), ...deleteSignaturesOn(env.DB, userId, hadKeys)];
  if (cleanup.length > 0) await env.DB.batch(cleanup);
  await stream(env, userId).dropDevices(deviceIds);
  if (hadKeys.length > 0) await announceDeviceChange(env, serverName, userId, [], hadKeys);
}
