// PUT /sendToDevice/{eventType}/{txnId}: to-device messages from a client. Local targets get the
// message in their device inboxes; remote ones as the draft's m.direct_to_device EDUs (one per target
// device) through the target server's Destination queue (to-device.ts). MLS Welcomes first wait for
// their commit to be accepted (welcome-gate.ts). A transaction ID is handled once per device.

import type { JsonObject } from "../shared/canonical-json.js";
import { badJson, invalidParam, MatrixError, tooLarge } from "../shared/errors.js";
import { isDeviceId, isUserId, serverNameOf } from "../shared/ids.js";
import type { RouteTable, SbRequest } from "./app.js";
import { requireUser } from "./client-auth.js";
import { json, readJsonBody , pathParam } from "./http.js";
import { claimToDeviceTxn, releaseToDeviceTxn } from "./storage/to-device-txns.js";
import { dispatchToDevice, type LocalToDevice } from "./to-device.js";
import { checkWelcomeShape, gateWelcomes, isMlsWelcome } from "./welcome-gate.js";

const PREFIXES = ["/_matrix/client/v3", "/_matrix/client/r0"] as const;
const MAX_BODY_BYTES = 1024 * 1024;
const MAX_TARGETS = 1_000;
/**
 * Largest message content sent to another server. A transaction carries up to 100 EDUs and
 * receivers accept 4 MiB, so 100 messages of this size still fit in one transaction.
 */
export const MAX_REMOTE_MESSAGE_BYTES = 36 * 1024;

function parseMessages(raw: unknown, type: string): LocalToDevice[] {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw badJson("messages must be an object of user ID to {device ID: content}");
  const out: LocalToDevice[] = [];
  for (const [target, byDevice] of Object.entries(raw)) {
    if (!isUserId(target)) throw invalidParam(`Invalid user ID ${target.slice(0, 100)}`);
    if (typeof byDevice !== "object" || byDevice === null || Array.isArray(byDevice)) throw badJson(`messages.${target} must be an object of device ID to content`);
    for (const [targetDevice, content] of Object.entries(byDevice)) {
      if (targetDevice !== "*" && !isDeviceId(targetDevice)) throw invalidParam(`Invalid device ID ${targetDevice.slice(0, 100)}`);
      if (typeof content !== "object" || content === null || Array.isArray(content)) throw badJson(`messages.${target}.${targetDevice} must be an object`);
      out.push({ target, targetDevice, type, content: content as JsonObject });
      if (out.length > MAX_TARGETS) throw invalidParam(`At most ${MAX_TARGETS} recipients per request`);
    }
  }
  return out;
}

async function sendToDevice(req: SbRequest, env: Env): Promise<Response> {
  const { userId, deviceId } = await requireUser(req, env);
  const type = pathParam(req, "eventType");
  const txnId = pathParam(req, "txnId");
  if (type === "" || type.length > 255) throw invalidParam("Invalid event type");
  if (txnId === "" || txnId.length > 255) throw invalidParam("Invalid transaction ID");
  const { body } = await readJsonBody(req, { maxBytes: MAX_BODY_BYTES });
  const messages = parseMessages(body["messages"], type);
  const serverName = req.config.serverName;
  for (const m of messages) {
    if (serverNameOf(m.target) !== serverName && JSON.stringify(m.content).length > MAX_REMOTE_MESSAGE_BYTES) {
      throw tooLarge(`Messages to other servers are limited to ${MAX_REMOTE_MESSAGE_BYTES} bytes`);
    }
  }
  // MLS Welcomes wait for their commit (welcome-gate.ts); a malformed one fails the request before anything goes out.
  const welcomes = messages.filter(isMlsWelcome);
  for (const w of welcomes) checkWelcomeShape(w);

  const now = Date.now();
  if (!(await claimToDeviceTxn(env.DB, userId, deviceId, txnId, now))) return json({});
  // One ID per send: a retry after a partial failure does not duplicate what already arrived.
  const messageId = `${userId}|${deviceId}|${txnId}`;
  try {
    const ready = welcomes.length === 0 ? messages : [...messages.filter((m) => !isMlsWelcome(m)), ...(await gateWelcomes(env, userId, welcomes, messageId))];
    await dispatchToDevice(env, serverName, userId, ready, messageId);
  } catch (err) {
    await releaseToDeviceTxn(env.DB, userId, deviceId, txnId).run().catch(() => undefined);
    throw err instanceof MatrixError ? err : new MatrixError(500, "M_UNKNOWN", "Delivery failed; retry with the same transaction ID");
  }
  return json({});
}

export function mountClientToDevice(t: RouteTable): void {
  for (const p of PREFIXES) t.add("put", `${p}/sendToDevice/:eventType/:txnId`, sendToDevice);
}
