// Cross-signing keys in key queries: the master, self-signing and (for the user themselves)
// user-signing keys of local users, the signatures stored for devices and keys merged into what is
// served, and the checks on cross-signing keys that other servers answer with.

import type { JsonObject } from "../shared/canonical-json.js";
import { checkSignedByMaster, parseCrossSigningKey, withSignatures, type CrossSigningKey, type CrossSigningUsage } from "../shared/cross-signing.js";
import type { DeviceKeysResult } from "./e2ee-keys.js";
import { listCrossSigningKeys, listSignatures, type StoredSignature } from "./storage/cross-signing.js";

/** user ID -> key object, per usage, as keys/query answers them. */
export interface CrossSigningResult {
  master_keys: Record<string, JsonObject>;
  self_signing_keys: Record<string, JsonObject>;
  user_signing_keys: Record<string, JsonObject>;
}

export const emptyCrossSigning = (): CrossSigningResult => ({ master_keys: {}, self_signing_keys: {}, user_signing_keys: {} });

const FIELD: Record<CrossSigningUsage, keyof CrossSigningResult> = { master: "master_keys", self_signing: "self_signing_keys", user_signing: "user_signing_keys" };

/** A user's stored keys by usage, parsed (they were checked on upload). */
export async function storedKeysOf(db: D1Database, userId: string): Promise<Partial<Record<CrossSigningUsage, CrossSigningKey>>> {
  const out: Partial<Record<CrossSigningUsage, CrossSigningKey>> = {};
  for (const row of await listCrossSigningKeys(db, [userId])) {
    const usage = row.usage as CrossSigningUsage;
    out[usage] = parseCrossSigningKey(JSON.parse(row.keyJson), userId, usage);
  }
  return out;
}

const publicKeyOf = (obj: JsonObject): string | undefined => {
  const keys = obj["keys"];
  const first = keys && typeof keys === "object" && !Array.isArray(keys) ? Object.values(keys)[0] : undefined;
  return typeof first === "string" ? first : undefined;
};

function byTarget(sigs: StoredSignature[]): Map<string, StoredSignature[]> {
  const out = new Map<string, StoredSignature[]>();
  for (const s of sigs) {
    const key = `${s.targetUserId}|${s.targetKeyId}`;
    out.set(key, [...(out.get(key) ?? []), s]);
  }
  return out;
}

/**
 * Local users' cross-signing keys. `viewer` is the asking local user (undefined for another server):
 * only they see their own user-signing key and the signatures they made on others' master keys.
 */
export async function localCrossSigning(db: D1Database, userIds: readonly string[], viewer: string | undefined): Promise<CrossSigningResult> {
  const out = emptyCrossSigning();
  if (userIds.length === 0) return out;
  const sigs = byTarget(await listSignatures(db, userIds, viewer));
  for (const row of await listCrossSigningKeys(db, userIds)) {
    const usage = row.usage as CrossSigningUsage;
    if (usage === "user_signing" && row.userId !== viewer) continue;
    let obj = JSON.parse(row.keyJson) as JsonObject;
    const pub = publicKeyOf(obj);
    if (usage === "master" && pub !== undefined) obj = withSignatures(obj, sigs.get(`${row.userId}|${pub}`) ?? []);
    out[FIELD[usage]][row.userId] = obj;
  }
  return out;
}

/** Device objects with the signatures stored for them (the owner's self-signing key's, chiefly). */
export async function withDeviceSignatures(db: D1Database, devices: DeviceKeysResult, viewer: string | undefined): Promise<DeviceKeysResult> {
  const users = Object.keys(devices);
  if (users.length === 0) return devices;
  const sigs = byTarget(await listSignatures(db, users, viewer));
  if (sigs.size === 0) return devices;
  const out: DeviceKeysResult = {};
  for (const [userId, byDevice] of Object.entries(devices)) {
    out[userId] = Object.fromEntries(Object.entries(byDevice).map(([deviceId, obj]) => [deviceId, withSignatures(obj, sigs.get(`${userId}|${deviceId}`) ?? [])]));
  }
  return out;
}

/** Signatures the viewer made on remote users' master keys (stored here, where they uploaded them). */
export async function withViewerSignatures(db: D1Database, result: CrossSigningResult, viewer: string): Promise<void> {
  const users = Object.keys(result.master_keys);
  if (users.length === 0) return;
  const sigs = byTarget((await listSignatures(db, users, viewer)).filter((s) => s.signerUserId === viewer));
  for (const [userId, obj] of Object.entries(result.master_keys)) {
    const pub = publicKeyOf(obj);
    if (pub !== undefined) result.master_keys[userId] = withSignatures(obj, sigs.get(`${userId}|${pub}`) ?? []);
  }
}

/**
 * A remote server's master and self-signing keys for `userId`, kept only if well-formed, owned by
 * that user, and (for the self-signing key) signed by the master key.
 */
export async function checkedRemoteCrossSigning(userId: string, master: unknown, selfSigning: unknown): Promise<{ master?: JsonObject; selfSigning?: JsonObject }> {
  if (master === undefined) return {};
  let m: CrossSigningKey;
  try {
    m = parseCrossSigningKey(master, userId, "master");
  } catch {
    return {};
  }
  if (selfSigning === undefined) return { master: m.object };
  try {
    const s = parseCrossSigningKey(selfSigning, userId, "self_signing");
    await checkSignedByMaster(s, m);
    return { master: m.object, selfSigning: s.object };
  } catch {
    return { master: m.object };
  }
}
