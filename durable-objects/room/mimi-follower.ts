// MIMI follower role (draft-ietf-mimi-protocol-06): this server's users take part in a room hosted on
// another provider's hub. Its local clients see the room through the ordinary client API as a *view
// room* hosted here: a local room created by the server's MIMI bridge user, which local participants
// join, and whose timeline holds every MLS message the hub fanned out (notify) as `m.mimi.fanout`
// events. The view has an ID of its own because the auth rules bind a room ID to its creator's server;
// its create event names the hub's room. Clients send MLS messages into the view as usual
// (`m.room.encrypted`, `m.mls.commit`): they go to the hub as submitMessage / update, and only what the
// hub accepts is written to the view, so every local reader sees the hub's order.

import { decodeBase64, encodeBase64 } from "../../shared/base64.js";
import type { JsonObject } from "../../shared/canonical-json.js";
import { ENCRYPTED_EVENT, MLS_COMMIT_EVENT } from "../../shared/room-encryption.js";
import type { RoomMimiStorage } from "../room-mimi-storage.js";
import type { SubmitOutcome, UpdateOutcome, UpdateRequest } from "./mimi-hub.js";
import type { LocalEvent } from "./protocol.js";
import { rejected, type Verdict } from "./verdict.js";
import type { Writer } from "./writer.js";

/** The view's event type for one fanned-out MLS message: `{message, kind, hub_ts}` (message in unpadded base64). */
export const MIMI_FANOUT_EVENT = "m.mimi.fanout";
/** Keys of the view's create event: the hub's room and the hub. */
export const MIMI_ROOM_KEY = "m.mimi.room";
export const MIMI_HUB_KEY = "m.mimi.hub";

/** The local user that creates view rooms and writes what the hub fans out. */
export function bridgeUserOf(serverName: string): string {
  return `@_mimi:${serverName}`;
}

/** The view room of the hub's room `roomId` on `serverName`: derived, so a notify finds it without a lookup. */
export async function viewRoomIdOf(roomId: string, serverName: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(roomId)));
  const hex = Array.from(digest.slice(0, 12), (b) => b.toString(16).padStart(2, "0")).join("");
  return `!mimi${hex}:${serverName}`;
}

export interface FanoutItem {
  kind: "message" | "welcome";
  /** The hub's acceptance time. */
  ts: number;
  message: Uint8Array;
}

export type ForwardFailure = { code: "unreachable"; description: string };

export interface FollowerPorts {
  submitMessage(hub: string, roomId: string, sender: string, appMessage: Uint8Array): Promise<SubmitOutcome | ForwardFailure>;
  update(hub: string, roomId: string, req: UpdateRequest): Promise<UpdateOutcome | ForwardFailure>;
  /** A local user's event in the view, written by the protocol that hosts it (LmHub). */
  appendLocal(w: Writer, sender: string, event: LocalEvent): Promise<Verdict>;
  readonly serverName: string;
}

const optionalBytes = (v: unknown): Uint8Array | undefined => (typeof v === "string" ? decodeBase64(v) : undefined);

export class MimiFollower {
  constructor(
    /** The hub's room this view follows. */
    readonly mimiRoomId: string,
    readonly hub: string,
    private readonly store: RoomMimiStorage,
    private readonly ports: FollowerPorts,
  ) {}

  /**
   * A notify from the hub: each message becomes a fanout event in the view, in order. A body seen
   * before (byte-identical, by its SHA-256) is not processed again; the hub gets 201 either way.
   */
  async notified(w: Writer, bodyHash: string, items: readonly FanoutItem[], now: number): Promise<"processed" | "duplicate"> {
    if (!this.store.firstSighting(bodyHash, now)) return "duplicate";
    for (const item of items) {
      const v = await this.ports.appendLocal(w, bridgeUserOf(this.ports.serverName), this.fanoutEvent(item));
      if (v.outcome === "rejected") console.error(`MIMI follower could not record a notify for ${this.mimiRoomId}: ${v.reason}`);
    }
    return "processed";
  }

  private fanoutEvent(item: FanoutItem): LocalEvent {
    return { type: MIMI_FANOUT_EVENT, content: { message: encodeBase64(item.message), kind: item.kind, hub_ts: item.ts } };
  }

  /**
   * A local client's MLS message for the room: forwarded to the hub, recorded in the view once
   * accepted. Other events are not the follower's business (undefined: the view handles them).
   */
  async send(w: Writer, sender: string, event: LocalEvent): Promise<Verdict | undefined> {
    if (event.type === MIMI_FANOUT_EVENT) return rejected("mimi", "Fanout events are written by this server only", 403, "M_FORBIDDEN");
    if (event.type !== ENCRYPTED_EVENT && event.type !== MLS_COMMIT_EVENT) return undefined;
    let outcome: SubmitOutcome | UpdateOutcome | ForwardFailure;
    let message: Uint8Array;
    let moreProposals: Uint8Array[] = [];
    try {
      if (event.type === ENCRYPTED_EVENT) {
        message = decodeBase64(String(event.content["ciphertext"]));
        outcome = await this.ports.submitMessage(this.hub, this.mimiRoomId, sender, message);
      } else {
        message = decodeBase64(String(event.content["message"]));
        const more = event.content["more_proposals"];
        if (more !== undefined && (!Array.isArray(more) || !more.every((m) => typeof m === "string"))) return rejected("format", "more_proposals must be a list of base64 MLS proposals", 400, "M_BAD_JSON");
        // More proposals go with a proposal as one batch (-06 §3.5 moreProposals): the hub holds all or none.
        moreProposals = (more ?? []).map((m) => decodeBase64(m));
        const req: UpdateRequest = { message, moreProposals, welcome: optionalBytes(event.content["welcome"]), groupInfo: optionalBytes(event.content["group_info"]), ratchetTree: optionalBytes(event.content["ratchet_tree"]) };
        outcome = await this.ports.update(this.hub, this.mimiRoomId, req);
      }
    } catch {
      return rejected("format", "ciphertext / message must be unpadded base64", 400, "M_BAD_JSON");
    }
    const first = await this.record(w, sender, outcome, message);
    // The hub notifies other providers of a batch, not ours: the view records each proposal itself.
    if (outcome.code === "success") for (const m of moreProposals) await this.record(w, sender, outcome, m);
    return first;
  }

  private async record(w: Writer, sender: string, outcome: SubmitOutcome | UpdateOutcome | ForwardFailure, message: Uint8Array): Promise<Verdict> {
    switch (outcome.code) {
      case "success":
        return this.ports.appendLocal(w, sender, { type: MIMI_FANOUT_EVENT, content: { message: encodeBase64(message), kind: "message", hub_ts: outcome.acceptedTimestamp } as JsonObject });
      case "unreachable":
        return rejected("mimi", `The room's hub ${this.hub} could not be reached: ${outcome.description}`, 502, "M_UNKNOWN");
      case "wrongEpoch":
      case "epochTooOld":
        return rejected("mimi", `MIMI ${outcome.code}: ${outcome.description}`, 403, "M_FORBIDDEN", { mimi_code: outcome.code, current_epoch: outcome.currentEpoch });
      default:
        return rejected("mimi", `MIMI ${outcome.code}: ${outcome.description}`, 403, "M_FORBIDDEN", { mimi_code: outcome.code });
    }
  }
}
