// Which devices may be MLS members, for the Room's commit checks (reached through Outbound.mlsDevices):
// a device is valid when it publishes a device credential object that verifies and carries an MLS
// credential; the answer is that credential's signature key. Local devices are read from D1 (stored
// only after validation at /keys/upload, and only while the device is logged in); other servers' devices
// are asked for over federation and validated here (remote-e2ee.ts), as a client's /keys/query would be.

import { storedMlsSignatureKey } from "../shared/device-keys.js";
import { encodeBase64 } from "../shared/base64.js";
import type { JsonObject } from "../shared/canonical-json.js";
import { isDeviceId, isUserId, serverNameOf } from "../shared/ids.js";
import type { MlsDeviceKeys } from "../durable-objects/room-mls.js";
import type { Config } from "./config.js";
import { queryRemoteDeviceKeys } from "./remote-e2ee.js";
import { listDeviceKeys } from "./storage/device-keys.js";

/** A commit's checks wait at most this long for another server's device information. */
const REMOTE_TIMEOUT_MS = 5_000;
/** Users per lookup: a commit adding more devices than fit in one event is impossible anyway. */
const MAX_USERS = 1_000;

function keyOf(obj: JsonObject | undefined): string | null {
  const key = obj && storedMlsSignatureKey(obj);
  return key ? encodeBase64(key) : null;
}

/** `query`: user ID -> device IDs. Malformed entries are answered null (not a valid device). */
export async function mlsDeviceKeys(db: D1Database, config: Config, query: Record<string, unknown>): Promise<MlsDeviceKeys> {
  const out: MlsDeviceKeys = { keys: {}, unreachable: [] };
  const byServer = new Map<string, Map<string, string[]>>();
  for (const [userId, devices] of Object.entries(query).slice(0, MAX_USERS)) {
    const ids = Array.isArray(devices) ? devices.filter((d): d is string => typeof d === "string" && isDeviceId(d)) : [];
    out.keys[userId] = Object.fromEntries(ids.map((d) => [d, null]));
    if (!isUserId(userId) || ids.length === 0) continue;
    const server = serverNameOf(userId);
    const perServer = byServer.get(server) ?? new Map<string, string[]>();
    perServer.set(userId, ids);
    byServer.set(server, perServer);
  }
  await Promise.all(
    [...byServer].map(async ([server, users]) => {
      if (server === config.serverName) {
        for (const row of await listDeviceKeys(db, [...users.keys()])) {
          const wanted = out.keys[row.userId];
          if (wanted && row.deviceId in wanted) wanted[row.deviceId] = keyOf(JSON.parse(row.keyJson) as JsonObject);
        }
        return;
      }
      const remote = await queryRemoteDeviceKeys(config, server, users, REMOTE_TIMEOUT_MS);
      if (!remote.ok) {
        out.unreachable.push(...users.keys());
        return;
      }
      for (const [userId, devices] of users) {
        const answered = remote.value[userId] ?? {};
        const wanted = out.keys[userId] as Record<string, string | null>;
        for (const d of devices) wanted[d] = keyOf(answered[d]);
      }
    }),
  );
  return out;
}
