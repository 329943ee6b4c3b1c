// POST /_matrix/federation/unstable/org.switchboard.mimi/rooms/{roomId}/welcome (X-Matrix signed): an
// LM participant server relays to the room's hub the Welcome one of its clients sent to users of the
// room's MIMI followers, who cannot receive to-device messages. The hub's room checks and queues it
// (durable-objects/room/mimi-welcome.ts); answers {queued, duplicates}: the providers it is now
// queued for, and those that had this commit's Welcome already.

import { badJson, MatrixError } from "../shared/errors.js";
import { MIMI_FEDERATION_PREFIX, parseWelcomeRelay } from "../shared/mimi-welcome-relay.js";
import type { RouteTable, SbRequest } from "./app.js";
import { authedLimited } from "./federation.js";
import { json, pathParam } from "./http.js";

/** A Welcome is at most a few hundred KiB even for large groups; targets add little. */
const MAX_BODY_BYTES = 1024 * 1024;

const ERRCODES = { 400: "M_BAD_JSON", 403: "M_FORBIDDEN", 404: "M_NOT_FOUND" } as const;

async function relayWelcome(req: SbRequest, env: Env): Promise<Response> {
  const { origin, body } = await authedLimited(req, env, MAX_BODY_BYTES);
  const roomId = pathParam(req, "roomId");
  const parsed = parseWelcomeRelay(body, roomId);
  if (!parsed.ok) throw badJson(parsed.reason);
  const verdict = await env.ROOM.get(env.ROOM.idFromName(roomId)).mimiRelayedWelcome(origin, parsed.relay);
  if (verdict.kind === "refused") throw new MatrixError(verdict.status, ERRCODES[verdict.status], verdict.reason);
  return json({ queued: verdict.providers, duplicates: verdict.duplicates });
}

export function mountMimiWelcomeRelay(t: RouteTable): void {
  t.add("post", `${MIMI_FEDERATION_PREFIX}/rooms/:roomId/welcome`, relayWelcome);
}
