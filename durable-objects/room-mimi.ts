// The Room's MIMI roles wired to its parts and the Worker's Outbound service: the hub endpoints
// (room/mimi-hub.ts) of a room this server orders, and the follower (room/mimi-follower.ts) of a view
// room. Both write through the protocol that orders the room, seen here only as what it can do.

import type { RoomState } from "../shared/room-state.js";
import type { RoomParts } from "./room/cloudflare.js";
import { MimiFollower } from "./room/mimi-follower.js";
import { MimiHub } from "./room/mimi-hub.js";
import { mimiMlsView } from "./room/mimi-mls-view.js";
import type { InviteRequest, LocalEvent } from "./room/protocol.js";
import type { Verdict } from "./room/verdict.js";
import type { Writer } from "./room/writer.js";

/** What the MIMI roles need from the LM hub of the room. */
export interface OrderingHub {
  appendVouched(w: Writer, provider: string, sender: string, event: LocalEvent): Promise<Verdict>;
  appendLocal(w: Writer, sender: string, event: LocalEvent): Promise<Verdict>;
  inviteRemote(w: Writer, request: InviteRequest): Promise<Verdict>;
}

export function mimiRoles(roomId: string, hub: OrderingHub, parts: RoomParts, state: RoomState, env: Env, waitUntil: (p: Promise<unknown>) => void): { mimi: MimiHub; follower?: MimiFollower } {
  const mimi = new MimiHub(roomId, parts.mimi.store, parts.mimi.followers, {
    appendVouched: (w, provider, sender, event) => hub.appendVouched(w, provider, sender, event),
    invite: (w, sender, target) => hub.inviteRemote(w, { sender, target, content: {} }),
    isLmServer: (server) => state.isServerJoined(server),
    queueWelcome: (commitEventId, providers, welcome) => void parts.mimi.welcomes.queue(roomId, commitEventId, providers, welcome),
    deliverToDevice: (sender, type, messages, messageId) => waitUntil(env.OUTBOUND.deliverToDevice(sender, type, JSON.stringify(messages), messageId)),
    mls: mimiMlsView(parts.mls),
    serverName: env.SERVER_NAME,
    now: () => Date.now(),
  });
  const [mimiRoom, mimiHub] = [parts.store.getMeta("mimi_room"), parts.store.getMeta("mimi_hub")];
  if (!mimiRoom || !mimiHub) return { mimi };
  const out = env.OUTBOUND;
  const follower = new MimiFollower(mimiRoom, mimiHub, parts.mimi.store, {
    submitMessage: (h, id, sender, bytes) => out.mimiSubmitMessage(h, id, sender, bytes),
    update: (h, id, req) => out.mimiUpdate(h, id, req),
    appendLocal: (w, sender, event) => hub.appendLocal(w, sender, event),
    serverName: env.SERVER_NAME,
  });
  return { mimi, follower };
}
