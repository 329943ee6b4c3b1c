// The Matrix server-server forms of the key-distribution EDUs, for peers that are Matrix homeservers
// rather than LM servers (Synapse and its kin). The Destination queue holds the draft's forms
// (e2ee-edus.ts); a transaction going to a Matrix peer has its EDUs rewritten here on the way out.
// Matrix EDUs are `{edu_type, content}`; Synapse fails a whole transaction over an EDU it cannot read,
// so anything not understood here is passed on untouched only if it already has `edu_type`.

import type { JsonObject, JsonValue } from "./canonical-json.js";
import { DEVICE_LIST_EDU, TO_DEVICE_EDU, parseE2eeEdu } from "./e2ee-edus.js";

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** The device a converter ghost's news names in Matrix form: never a device of anyone's, so deleting it changes nothing. */
export const RESYNC_DEVICE_ID = "io.switchboard.ghost";

/**
 * A converter ghost's news (no device named, a stream position given): Matrix needs a device in the
 * EDU, and a receiver that re-fetched the (always empty) list would see nothing new and tell no one,
 * so it goes as the deletion of a device that never existed, following the ghost's previous update.
 */
function ghostNews(raw: Record<string, unknown>, named: number): { stream_id: number; prev_id: number[] } | undefined {
  const content = raw["content"];
  if (named > 0 || !isObject(content)) return undefined;
  const { stream_id: streamId, prev_id: prevId } = content;
  if (typeof streamId !== "number" || !Array.isArray(prevId) || !prevId.every((p) => typeof p === "number")) return undefined;
  return { stream_id: streamId, prev_id: prevId as number[] };
}

export interface MatrixEduContext {
  /** Unique per EDU of this transaction and stable across its retries (the receiver deduplicates on it). */
  messageId: (index: number) => string;
  /** The device-list stream position to report; increases over time. */
  streamId: number;
}

/**
 * The Matrix forms of one queued EDU (a device-list EDU becomes one per device), or none when it
 * cannot be expressed for a Matrix peer.
 */
export function toMatrixEdus(raw: unknown, index: number, ctx: MatrixEduContext): JsonObject[] {
  if (!isObject(raw)) return [];
  if (typeof raw["edu_type"] === "string") return [raw as JsonObject];
  const parsed = parseE2eeEdu(raw);
  if (parsed?.kind === "to_device") {
    const messages: Record<string, Record<string, JsonObject>> = {};
    const types = new Set(parsed.messages.map((m) => m.messageType));
    // One Matrix EDU carries one message type; the draft's EDU has one message, so this always holds.
    if (types.size !== 1) return [];
    for (const m of parsed.messages) (messages[m.target] ??= {})[m.targetDevice] = m.message;
    const type = [...types][0] as string;
    return [{ edu_type: TO_DEVICE_EDU, content: { sender: parsed.sender, type, message_id: ctx.messageId(index), messages } }];
  }
  if (parsed?.kind === "device_list") {
    // No prev_id: the receiver then fetches the whole list from GET /user/devices/{userId}, which keeps
    // it right however many updates it missed.
    const base = { user_id: parsed.userId, stream_id: ctx.streamId, prev_id: [] as JsonValue[] };
    const out: JsonObject[] = [];
    for (const keys of parsed.changed) {
      if (!isObject(keys) || typeof keys["device_id"] !== "string") continue;
      out.push({ edu_type: DEVICE_LIST_EDU, content: { ...base, device_id: keys["device_id"], keys: keys as JsonObject } });
    }
    for (const deviceId of parsed.removed) out.push({ edu_type: DEVICE_LIST_EDU, content: { ...base, device_id: deviceId, deleted: true } });
    const ghost = ghostNews(raw, parsed.changed.length + parsed.removed.length);
    if (ghost) out.push({ edu_type: DEVICE_LIST_EDU, content: { user_id: parsed.userId, device_id: RESYNC_DEVICE_ID, deleted: true, ...ghost } });
    return out;
  }
  // Other EDUs in the draft's shape: `type` is Matrix's `edu_type`. A key EDU that did not parse stays behind.
  const type = raw["type"];
  if (type === TO_DEVICE_EDU || type === DEVICE_LIST_EDU) return [];
  if (typeof type === "string" && isObject(raw["content"])) return [{ edu_type: type, content: raw["content"] as JsonObject }];
  return [];
}

/** A transaction body ({origin, origin_server_ts, pdus, edus}) with its EDUs in Matrix form. */
export function toMatrixTransaction(body: Record<string, unknown>, txnId: string): Record<string, unknown> {
  const edus = Array.isArray(body["edus"]) ? body["edus"] : [];
  if (edus.length === 0) return body;
  const ts = typeof body["origin_server_ts"] === "number" ? body["origin_server_ts"] : Date.now();
  const ctx: MatrixEduContext = { messageId: (i) => `${txnId}.${i}`, streamId: ts };
  return { ...body, edus: edus.flatMap((e, i) => toMatrixEdus(e, i, ctx)) };
}
