// Sliding sync's extensions (MSC3885 to_device, MSC3884 e2ee, MSC3959 account_data, MSC3960
// receipts, MSC3961 typing, as MSC4186 and Element X use them). Each reads what /sync reads: the
// user's stream for what changed, D1 for account data and keys, the rooms for typing and receipts.

import type { ExtensionScope, SlidingRequest } from "../shared/sliding-sync-request.js";
import type { SlidingSnapshot, StreamChanges } from "../durable-objects/user-stream.js";
import { userStream } from "./client-common.js";
import type { RoomsOutcome } from "./sliding-sync-rooms.js";
import { listAccountData } from "./storage/account-data.js";
import { slidingMembershipNews } from "./sliding-sync-device-lists.js";
import { e2eeSyncFields } from "./sync-e2ee.js";
import { ephemeralOf } from "./sync-ephemeral.js";

export interface ExtensionsOutcome {
  body: Record<string, unknown>;
  /** Whether any extension carries news (a long-poll may return for it). */
  news: boolean;
}

/** The rooms an extension covers: those of its lists (or all lists) and its rooms (or all subscriptions). */
function scopedRooms(scope: ExtensionScope, req: SlidingRequest, rooms: RoomsOutcome): Set<string> {
  const out = new Set<string>();
  for (const m of rooms.matched.values()) {
    const inList = m.lists.some((l) => scope.lists === undefined || scope.lists.includes(l));
    const subscribed = req.subscriptions.has(m.roomId) && (scope.rooms === undefined || scope.rooms.includes(m.roomId));
    if (inList || subscribed) out.add(m.roomId);
  }
  for (const r of scope.rooms ?? []) if (rooms.matched.has(r)) out.add(r);
  return out;
}

async function toDevice(env: Env, userId: string, deviceId: string, since: string | undefined, limit: number | undefined) {
  const from = since !== undefined && /^\d{1,15}$/.test(since) ? Number(since) : 0;
  const batch = await userStream(env, userId).toDeviceBatch(deviceId, from, limit ?? 100);
  return { next_batch: String(batch.next), events: batch.messages.map((m) => ({ sender: m.sender, type: m.type, content: JSON.parse(m.contentJson) as unknown })) };
}

async function e2ee(env: Env, userId: string, deviceId: string, snap: SlidingSnapshot) {
  const changes: StreamChanges = { ...snap, next: snap.counter, rooms: [], toDevice: [], presence: [] };
  // A resumed connection has news even when its pos stands for token 0 (a stream that had not moved).
  const fields = await e2eeSyncFields(env, userId, deviceId, changes, snap.pos > 0, () => slidingMembershipNews(env, userId, snap.roomChanges));
  return { device_lists: fields.device_lists, device_one_time_keys_count: fields.device_one_time_keys_count, device_unused_fallback_key_types: fields.device_unused_fallback_key_types };
}

/** Global entries that changed (all on a new connection); for rooms in scope, those that changed and all of each room new to the connection. */
async function accountData(env: Env, userId: string, snap: SlidingSnapshot, inScope: Set<string>, initial: Set<string>) {
  const wanted = snap.since === 0 ? undefined : new Set(snap.accountData.map((c) => `${c.roomId}\u0000${c.type}`));
  const newRooms = [...initial].some((r) => inScope.has(r));
  if (wanted?.size === 0 && !newRooms) return { global: [], rooms: {} };
  const rows = (await listAccountData(env.DB, userId)).filter((r) => !wanted || wanted.has(`${r.room_id}\u0000${r.type}`) || initial.has(r.room_id));
  const global: unknown[] = [];
  const rooms: Record<string, unknown[]> = {};
  for (const r of rows) {
    const event = { type: r.type, content: JSON.parse(r.content) as unknown };
    if (r.room_id === "") global.push(event);
    else if (inScope.has(r.room_id)) (rooms[r.room_id] ??= []).push(event);
  }
  return { global, rooms };
}

/** Typing and receipts of the rooms in scope whose ephemeral data changed, or that are new to the connection. */
async function ephemeral(env: Env, userId: string, snap: SlidingSnapshot, rooms: RoomsOutcome, typingScope: Set<string> | undefined, receiptScope: Set<string> | undefined) {
  const changed = new Set(snap.ephemeral);
  const pick = (scope: Set<string> | undefined) => [...(scope ?? [])].filter((r) => changed.has(r) || rooms.initial.has(r));
  const wanted = new Set([...pick(typingScope), ...pick(receiptScope)]);
  const views = await ephemeralOf(env, wanted, userId);
  const typing: Record<string, unknown> = {};
  const receipts: Record<string, unknown> = {};
  for (const [roomId, v] of views) {
    // A new room's typing is only worth sending while someone types; a changed one always (it may have stopped).
    if (typingScope?.has(roomId) && (changed.has(roomId) || v.typing.content.user_ids.length > 0)) typing[roomId] = v.typing;
    if (receiptScope?.has(roomId) && v.receipt) receipts[roomId] = v.receipt;
  }
  return { typing, receipts };
}

export async function slidingExtensions(env: Env, userId: string, deviceId: string, req: SlidingRequest, snap: SlidingSnapshot, rooms: RoomsOutcome): Promise<ExtensionsOutcome> {
  const ext = req.extensions;
  const body: Record<string, unknown> = {};
  let news = false;
  const scope = (s: ExtensionScope | undefined) => (s?.enabled ? scopedRooms(s, req, rooms) : undefined);
  const [td, keys, data, eph] = await Promise.all([
    ext.toDevice?.enabled ? toDevice(env, userId, deviceId, ext.toDevice.since, ext.toDevice.limit) : undefined,
    ext.e2ee?.enabled ? e2ee(env, userId, deviceId, snap) : undefined,
    ext.accountData?.enabled ? accountData(env, userId, snap, scope(ext.accountData) ?? new Set(), rooms.initial) : undefined,
    ext.typing?.enabled || ext.receipts?.enabled ? ephemeral(env, userId, snap, rooms, scope(ext.typing), scope(ext.receipts)) : undefined,
  ]);
  if (td) {
    body["to_device"] = td;
    news ||= td.events.length > 0;
  }
  if (keys) {
    body["e2ee"] = keys;
    news ||= keys.device_lists.changed.length + keys.device_lists.left.length > 0;
  }
  if (data) {
    body["account_data"] = data;
    news ||= data.global.length > 0 || Object.keys(data.rooms).length > 0;
  }
  if (eph && ext.typing?.enabled) body["typing"] = { rooms: eph.typing };
  if (eph && ext.receipts?.enabled) body["receipts"] = { rooms: eph.receipts };
  if (eph) news ||= (ext.typing?.enabled === true && Object.keys(eph.typing).length > 0) || (ext.receipts?.enabled === true && Object.keys(eph.receipts).length > 0);
  return { body, news };
}
