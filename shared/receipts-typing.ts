// Typing notifications and read receipts as clients and servers exchange them (client-server
// "Typing Notifications" and "Receipts"; server-server m.typing and m.receipt EDUs): building
// the m.receipt content shape, and reading the EDUs other servers send. Pure.

import { isEventId, isRoomId, isUserId } from "./ids.js";

export const TYPING_EDU = "m.typing";
export const RECEIPT_EDU = "m.receipt";
export const PRESENCE_EDU = "m.presence";
/** Receipt types shown to other users; m.read.private is shown only to its own user and never federated. */
export const PUBLIC_RECEIPT_TYPES = new Set(["m.read"]);
export const RECEIPT_TYPES = new Set(["m.read", "m.read.private"]);
/** The longest a client may say it is typing before it must say so again (Synapse caps the same way). */
export const MAX_TYPING_MS = 120_000;
export const DEFAULT_TYPING_MS = 30_000;

export interface Receipt {
  userId: string;
  receiptType: string;
  /** '' for an unthreaded receipt. */
  threadId: string;
  eventId: string;
  ts: number;
}

/** `{event_id: {receipt_type: {user_id: {ts, thread_id?}}}}`: the m.receipt content clients read. */
export function receiptContent(receipts: readonly Receipt[]): Record<string, Record<string, Record<string, { ts: number; thread_id?: string }>>> {
  const out: Record<string, Record<string, Record<string, { ts: number; thread_id?: string }>>> = {};
  for (const r of receipts) {
    const byType = (out[r.eventId] ??= {});
    (byType[r.receiptType] ??= {})[r.userId] = { ts: r.ts, ...(r.threadId !== "" ? { thread_id: r.threadId } : {}) };
  }
  return out;
}

export function typingEdu(roomId: string, userId: string, typing: boolean): Record<string, unknown> {
  return { edu_type: TYPING_EDU, type: TYPING_EDU, content: { room_id: roomId, user_id: userId, typing } };
}

/** The federation m.receipt EDU for one receipt: `{room_id: {receipt_type: {user_id: {event_ids, data}}}}`. */
export function receiptEdu(roomId: string, r: Receipt): Record<string, unknown> {
  const data = { ts: r.ts, ...(r.threadId !== "" ? { thread_id: r.threadId } : {}) };
  return { edu_type: RECEIPT_EDU, type: RECEIPT_EDU, content: { [roomId]: { [r.receiptType]: { [r.userId]: { event_ids: [r.eventId], data } } } } };
}

export type EphemeralEdu =
  | { kind: "typing"; roomId: string; userId: string; typing: boolean }
  | { kind: "receipt"; roomId: string; receipt: Receipt }
  | { kind: "presence" };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * The typing, receipt and presence EDUs in `raw` (undefined for other EDU types). Malformed parts
 * are skipped; one receipt EDU may carry many receipts, so the answer is a list.
 */
export function parseEphemeralEdu(raw: unknown, now: number): EphemeralEdu[] | undefined {
  if (!isObject(raw)) return undefined;
  const type = raw["edu_type"] ?? raw["type"];
  const content = raw["content"];
  if (type === PRESENCE_EDU) return [{ kind: "presence" }];
  if (type === TYPING_EDU) {
    if (!isObject(content) || !isRoomId(content["room_id"]) || !isUserId(content["user_id"]) || typeof content["typing"] !== "boolean") return [];
    return [{ kind: "typing", roomId: content["room_id"], userId: content["user_id"], typing: content["typing"] }];
  }
  if (type !== RECEIPT_EDU) return undefined;
  if (!isObject(content)) return [];
  const out: EphemeralEdu[] = [];
  for (const [roomId, byType] of Object.entries(content)) {
    if (!isRoomId(roomId) || !isObject(byType)) continue;
    for (const [receiptType, byUser] of Object.entries(byType)) {
      if (!PUBLIC_RECEIPT_TYPES.has(receiptType) || !isObject(byUser)) continue;
      for (const [userId, r] of Object.entries(byUser)) {
        if (!isUserId(userId) || !isObject(r) || !Array.isArray(r["event_ids"])) continue;
        const eventId = r["event_ids"].find((e) => isEventId(e));
        if (typeof eventId !== "string") continue;
        const data = isObject(r["data"]) ? r["data"] : {};
        const threadId = typeof data["thread_id"] === "string" ? data["thread_id"] : "";
        const ts = typeof data["ts"] === "number" && Number.isSafeInteger(data["ts"]) ? data["ts"] : now;
        out.push({ kind: "receipt", roomId, receipt: { userId, receiptType, threadId, eventId, ts } });
      }
      if (out.length >= 100) return out;
    }
  }
  return out;
}
