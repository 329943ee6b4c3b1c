// Delivering to-device messages to this server's users: into each target device's inbox in its
// user's stream, from where /sync hands them out until acknowledged. Messages for users or devices
// that do not exist are dropped, as the draft says of the m.direct_to_device EDU.

import { canonicalJson } from "../shared/canonical-json.js";
import type { JsonObject } from "../shared/canonical-json.js";
import { toDeviceEdu } from "../shared/e2ee-edus.js";
import { serverNameOf } from "../shared/ids.js";
import type { ToDeviceDelivery } from "../durable-objects/user-stream.js";
import { listDeviceIds } from "./storage/device-keys.js";

export interface LocalToDevice {
  target: string;
  /** A device ID or "*" for all of the target's devices. */
  targetDevice: string;
  type: string;
  content: JsonObject;
}

/**
 * Delivers messages from `sender`; `messageId` identifies this send, so delivering it again (a retry)
 * adds nothing while the first copy is still in the inbox. Returns the number of messages stored.
 */
export async function deliverLocalToDevice(env: Env, sender: string, messages: readonly LocalToDevice[], messageId: string): Promise<number> {
  const byTarget = new Map<string, LocalToDevice[]>();
  for (const m of messages) {
    const list = byTarget.get(m.target) ?? [];
    list.push(m);
    byTarget.set(m.target, list);
  }
  const counts = await Promise.all(
    [...byTarget].map(async ([target, list]) => {
      const devices = await listDeviceIds(env.DB, target);
      if (devices.length === 0) return 0;
      const deliveries: ToDeviceDelivery[] = [];
      for (const m of list) {
        const contentJson = JSON.stringify(m.content);
        for (const deviceId of m.targetDevice === "*" ? devices : devices.filter((d) => d === m.targetDevice)) {
          deliveries.push({ deviceId, messageId, sender, type: m.type, contentJson });
        }
      }
      if (deliveries.length === 0) return 0;
      return env.USER_STREAM.get(env.USER_STREAM.idFromName(target)).deliverToDevice(deliveries);
    }),
  );
  return counts.reduce((a, b) => a + b, 0);
}

/**
 * Sends one client's to-device messages on their way: local targets into their inboxes, remote ones as
 * the draft's m.direct_to_device EDUs (one per target device) through each server's Destination queue.
 * `messageId` names this send, so repeating it (a retry, a held Welcome released twice) adds nothing.
 */
export async function dispatchToDevice(env: Env, serverName: string, sender: string, messages: readonly LocalToDevice[], messageId: string): Promise<void> {
  const local = messages.filter((m) => serverNameOf(m.target) === serverName);
  const byServer = new Map<string, LocalToDevice[]>();
  for (const m of messages) {
    const server = serverNameOf(m.target);
    if (server !== serverName) byServer.set(server, [...(byServer.get(server) ?? []), m]);
  }
  await Promise.all([
    deliverLocalToDevice(env, sender, local, messageId),
    ...[...byServer].map(([server, list]) =>
      env.DESTINATION.get(env.DESTINATION.idFromName(server)).enqueue(
        server,
        list.map((m) => ({
          roomId: "",
          id: `td/${messageId}/${m.target}/${m.targetDevice}`,
          json: canonicalJson(toDeviceEdu(sender, { target: m.target, targetDevice: m.targetDevice, messageType: m.type, message: m.content })),
          kind: "edu" as const,
        })),
      ),
    ),
  ]);
}
