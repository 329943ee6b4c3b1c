// The EDUs of key distribution (draft "Ephemeral Data Units", "Device Info Publishing", "To-Device
// Messaging"): building the draft's shapes, and reading both the draft's and Matrix's shapes, since
// peers may speak either: both forms are read, the draft's is sent (docs/architecture.md, "Federation paths").

import type { JsonObject } from "./canonical-json.js";
import { isDeviceId, isUserId } from "./ids.js";

export const TO_DEVICE_EDU = "m.direct_to_device";
export const DEVICE_LIST_EDU = "m.device_list_update";
/** Matrix's EDU for a user's new cross-signing keys (server-server "Cross-signing"). */
export const SIGNING_KEY_UPDATE_EDU = "m.signing_key_update";
/** Most to-device recipients one EDU may name (Matrix's shape lists many at once). */
const MAX_EDU_TARGETS = 1_000;

/** One to-device message as it travels: the draft sends one EDU per recipient device. */
export interface ToDeviceTarget {
  target: string;
  /** A device ID, or "*" for every device of the target. */
  targetDevice: string;
  messageType: string;
  message: JsonObject;
}

export type E2eeEdu =
  | { kind: "to_device"; sender: string; messages: ToDeviceTarget[]; messageId?: string }
  | { kind: "device_list"; userId: string; changed: unknown[]; removed: string[] }
  | { kind: "signing_key_update"; userId: string; masterKey: unknown; selfSigningKey: unknown };

/** The draft's m.direct_to_device EDU for one recipient device. */
export function toDeviceEdu(sender: string, t: ToDeviceTarget): JsonObject {
  return { type: TO_DEVICE_EDU, sender, content: { target: t.target, target_device: t.targetDevice, message_type: t.messageType, message: t.message } };
}

/**
 * The draft's m.device_list_update EDU. The draft's EDU section names the field `sender`, its device
 * section `sender_id`: both are sent, with the same value.
 */
export function deviceListUpdateEdu(userId: string, changed: JsonObject[], removed: string[], stream?: { prev: number; next: number }): JsonObject {
  // A stream position (a converter ghost's) lets the Matrix form name the update it follows (matrix-edus.ts).
  const content: JsonObject = { changed, removed };
  if (stream) Object.assign(content, { stream_id: stream.next, prev_id: [stream.prev] });
  return { type: DEVICE_LIST_EDU, sender: userId, sender_id: userId, content };
}

/** Matrix's m.signing_key_update EDU: the user's master and self-signing keys (never the user-signing key). */
export function signingKeyUpdateEdu(userId: string, masterKey: JsonObject | undefined, selfSigningKey: JsonObject | undefined): JsonObject {
  const content: JsonObject = { user_id: userId };
  if (masterKey) content["master_key"] = masterKey;
  if (selfSigningKey) content["self_signing_key"] = selfSigningKey;
  return { type: SIGNING_KEY_UPDATE_EDU, edu_type: SIGNING_KEY_UPDATE_EDU, content };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const isTargetDevice = (d: unknown): d is string => d === "*" || isDeviceId(d);

/** Reads a to-device or device-list EDU in either shape; undefined for anything else or malformed. */
export function parseE2eeEdu(raw: unknown): E2eeEdu | undefined {
  if (!isObject(raw)) return undefined;
  const type = raw["type"] ?? raw["edu_type"];
  const content = raw["content"];
  if (!isObject(content)) return undefined;
  if (type === TO_DEVICE_EDU) {
    // Draft: {sender, content: {target, target_device, message_type, message}}.
    if (typeof content["target"] === "string") {
      const sender = raw["sender"] ?? raw["sender_id"];
      const { target, target_device: targetDevice, message_type: messageType, message } = content;
      if (!isUserId(sender) || !isUserId(target) || !isTargetDevice(targetDevice)) return undefined;
      if (typeof messageType !== "string" || messageType === "" || !isObject(message)) return undefined;
      return { kind: "to_device", sender, messages: [{ target, targetDevice, messageType, message: message as JsonObject }] };
    }
    // Matrix: {content: {sender, type, message_id, messages: {user: {device: content}}}}.
    const { sender, type: messageType, message_id: messageId, messages } = content;
    if (!isUserId(sender) || typeof messageType !== "string" || messageType === "" || !isObject(messages)) return undefined;
    const out: ToDeviceTarget[] = [];
    for (const [target, byDevice] of Object.entries(messages)) {
      if (!isUserId(target) || !isObject(byDevice)) continue;
      for (const [targetDevice, message] of Object.entries(byDevice)) {
        if (isTargetDevice(targetDevice) && isObject(message) && out.length < MAX_EDU_TARGETS) out.push({ target, targetDevice, messageType, message: message as JsonObject });
      }
    }
    const edu: E2eeEdu = { kind: "to_device", sender, messages: out };
    if (typeof messageId === "string") edu.messageId = messageId;
    return edu;
  }
  if (type === DEVICE_LIST_EDU) {
    // Draft: {sender_id, content: {changed: [device objects], removed: [device IDs]}}.
    const sender = raw["sender_id"] ?? raw["sender"];
    if (isUserId(sender) && (Array.isArray(content["changed"]) || Array.isArray(content["removed"]))) {
      const changed = Array.isArray(content["changed"]) ? content["changed"] : [];
      const removed = Array.isArray(content["removed"]) ? content["removed"].filter(isDeviceId) : [];
      return { kind: "device_list", userId: sender, changed, removed };
    }
    // Matrix: {content: {user_id, device_id, deleted?, keys?, ...}}.
    const { user_id: userId, device_id: deviceId, deleted, keys } = content;
    if (!isUserId(userId) || !isDeviceId(deviceId)) return undefined;
    return { kind: "device_list", userId, changed: deleted === true || !isObject(keys) ? [] : [keys], removed: deleted === true ? [deviceId] : [] };
  }
  if (type === SIGNING_KEY_UPDATE_EDU) {
    const userId = content["user_id"];
    if (!isUserId(userId)) return undefined;
    return { kind: "signing_key_update", userId, masterKey: content["master_key"], selfSigningKey: content["self_signing_key"] };
  }
  return undefined;
}
