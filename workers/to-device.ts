// Delivering to-device messages to this server's users: into each target device's inbox in its
// user's stream, from where /sync hands them out until acknowledged. Messages for users or devices
// that do not exist are dropped, as the draft says of the m.direct_to_device EDU.

import type { JsonObject } from "../shared/canonical-json.js";
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
