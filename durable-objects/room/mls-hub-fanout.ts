// Commit listener: the hub's external proposals (room-mls-hub.ts) reach every member's client before
// anyone can commit them. MIMI followers get each proposal as a notify FanoutMessage, queued in the
// event's own transaction behind the messages before it; devices on this server and on LM participant
// servers get one to-device message listing the proposals in order, since LM has no proposal event.

import { encodeBase64 } from "../../shared/base64.js";
import type { RoomState } from "../../shared/room-state.js";
import { serverNameOf } from "../../shared/ids.js";
import type { RoomMls } from "../room-mls.js";
import type { FollowerSet, RoomMimiStorage } from "../room-mimi-storage.js";
import type { HubProposalRow } from "../room-mls-hub-storage.js";
import type { CommitListener, Committed } from "./core.js";

/** The to-device type carrying the hub's proposals: `{room_id, epoch, proposals: [base64 MLSMessage]}`. */
export const HUB_PROPOSALS_EVENT = "org.switchboard.mls.hub_proposals";

export interface HubFanoutPorts {
  deliverToDevice(sender: string, type: string, messagesJson: string, messageId: string): Promise<void>;
  /** Starts the MIMI notify queue (MimiNotifier.kick). */
  kickNotify(roomId: string): void;
  waitUntil(p: Promise<unknown>): void;
  readonly serverName: string;
}

export class HubProposalFanout implements CommitListener {
  private queued: Array<{ roomId: string; eventId: string; rows: HubProposalRow[] }> = [];

  constructor(
    private readonly mls: RoomMls,
    private readonly state: RoomState,
    private readonly mimi: { store: RoomMimiStorage; followers: Pick<FollowerSet, "list"> },
    private readonly ports: HubFanoutPorts,
  ) {}

  record(c: Committed): void {
    const rows = c.mls?.hub?.proposals;
    if (!rows?.length) return;
    for (const provider of this.mimi.followers.list()) {
      for (const row of rows) this.mimi.store.enqueueNotify(provider, "message", c.pdu.origin_server_ts, row.message);
    }
  }

  committed(c: Committed): void {
    const rows = c.mls?.hub?.proposals;
    if (rows?.length) this.queued.push({ roomId: c.roomId, eventId: c.eventId, rows });
  }

  settle(): void {
    const queued = this.queued;
    this.queued = [];
    for (const q of queued) {
      if (this.mimi.followers.list().length > 0) this.ports.kickNotify(q.roomId);
      this.toDevices(q);
    }
  }

  private toDevices(q: { roomId: string; eventId: string; rows: HubProposalRow[] }): void {
    const followers = new Set(this.mimi.followers.list());
    const messages: Array<{ target: string; targetDevice: string; content: unknown }> = [];
    const content = { room_id: q.roomId, epoch: q.rows[0]?.epoch ?? 0, proposals: q.rows.map((r) => encodeBase64(r.message)) };
    for (const leaf of this.mls.currentRoster()?.leaves ?? []) {
      if (!leaf || followers.has(serverNameOf(leaf.userId)) || this.state.membership(leaf.userId) !== "join") continue;
      messages.push({ target: leaf.userId, targetDevice: leaf.deviceId, content });
    }
    if (messages.length === 0) return;
    const send = this.ports.deliverToDevice(`@_mimi:${this.ports.serverName}`, HUB_PROPOSALS_EVENT, JSON.stringify(messages), `hub-proposals-${q.eventId}`);
    this.ports.waitUntil(send.catch((e) => console.error("sending the hub's proposals failed", q.eventId, e)));
  }
}
