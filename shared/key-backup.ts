// Server-side key backup (client-server "Server-side key backups"): the shape of a backed-up session
// key and the rule that decides whether an upload replaces the key already stored. The session data
// is encrypted by the client; the server reads only the three fields the rule needs.

import { badJson } from "./errors.js";

export interface KeyBackupData {
  first_message_index: number;
  forwarded_count: number;
  is_verified: boolean;
  session_data: Record<string, unknown>;
}

const MAX_SESSION_DATA = 16 * 1024;

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function parseKeyBackupData(raw: unknown, where: string): KeyBackupData {
  if (!isObject(raw)) throw badJson(`${where} must be an object`);
  const { first_message_index: fmi, forwarded_count: fc, is_verified: verified, session_data: data } = raw;
  if (!Number.isSafeInteger(fmi) || (fmi as number) < 0) throw badJson(`${where}.first_message_index must be a non-negative integer`);
  if (!Number.isSafeInteger(fc) || (fc as number) < 0) throw badJson(`${where}.forwarded_count must be a non-negative integer`);
  if (typeof verified !== "boolean") throw badJson(`${where}.is_verified must be a boolean`);
  if (!isObject(data)) throw badJson(`${where}.session_data must be an object`);
  if (JSON.stringify(data).length > MAX_SESSION_DATA) throw badJson(`${where}.session_data is too large`);
  return { first_message_index: fmi as number, forwarded_count: fc as number, is_verified: verified, session_data: data };
}

/**
 * Whether `incoming` should replace `existing` (spec): a verified key beats an unverified one; then a
 * lower first message index (it decrypts more); then fewer forwards.
 */
export function replacesBackedUpKey(existing: KeyBackupData, incoming: KeyBackupData): boolean {
  if (existing.is_verified !== incoming.is_verified) return incoming.is_verified;
  if (existing.first_message_index !== incoming.first_message_index) return incoming.first_message_index < existing.first_message_index;
  return incoming.forwarded_count < existing.forwarded_count;
}
