// Simplified Sliding Sync (MSC4186) at its unstable path and the stable one the MSC names. A request
// opens its connection at `pos` in the user's stream (the same stream /sync reads), works out the
// rooms and extensions to send, and, when there is nothing to send yet, waits on the stream for
// something to happen and looks again, until its timeout. The response's rooms are recorded under a
// new pos, which the next request presents.

import { MatrixError } from "../shared/errors.js";
import { parseSlidingRequest } from "../shared/sliding-sync-request.js";
import type { RouteTable, SbRequest } from "./app.js";
import { authenticate } from "./client-auth.js";
import { userStream } from "./client-common.js";
import { json, readJsonBody } from "./http.js";
import { slidingExtensions } from "./sliding-sync-extensions.js";
import { slidingRooms } from "./sliding-sync-rooms.js";

export const SLIDING_SYNC_FEATURE = "org.matrix.simplified_msc3575";
const MAX_BODY_BYTES = 256 * 1024;

async function slidingSync(req: SbRequest, env: Env): Promise<Response> {
  const auth = await authenticate(req, env);
  const { userId, deviceId } = auth;
  const { body } = await readJsonBody(req, { maxBytes: MAX_BODY_BYTES });
  const request = parseSlidingRequest(body, new URL(req.url).searchParams);
  // A new connection answers at once, whatever its timeout (Element X's second connection counts on it).
  const deadline = Date.now() + (request.pos === undefined ? 0 : request.timeoutMs);
  const stream = userStream(env, userId);
  // The rate-limit charge rides on the first call to the stream; later calls wait there first.
  let charge: string | undefined = auth.tokenHash;
  let wait: { after: number; timeoutMs: number } | undefined;
  for (;;) {
    const snap = await stream.slidingOpen(deviceId, request.connId, request.pos, charge, wait);
    charge = undefined;
    if (snap === null) throw new MatrixError(400, "M_UNKNOWN_POS", "Unknown pos: start the connection again without one");
    const rooms = await slidingRooms(env, userId, request, snap);
    const extensions = await slidingExtensions(env, userId, deviceId, request, snap, rooms);
    const news = Object.keys(rooms.rooms).length > 0 || extensions.news;
    const left = deadline - Date.now();
    if (news || left <= 0 || snap.pos === 0) {
      const pos = await stream.slidingCommit(deviceId, request.connId, snap.pos, snap.counter, rooms.sent);
      return json({ pos, ...(request.txnId !== undefined ? { txn_id: request.txnId } : {}), lists: rooms.lists, rooms: rooms.rooms, extensions: extensions.body });
    }
    wait = { after: snap.counter, timeoutMs: left };
  }
}

export function mountSlidingSync(t: RouteTable): void {
  t.add("post", "/_matrix/client/unstable/org.matrix.simplified_msc3575/sync", slidingSync);
  t.add("post", "/_matrix/client/v4/sync", slidingSync);
}
