// Commit listener: MLS. Inside the commit it records what the event does to the roster and the
// accepted commits (room-mls.ts); after it, an accepted m.mls.commit releases the Welcomes held for it
// (those for users of MIMI followers go the MIMI way, room/mimi-welcome.ts).

import { MLS_COMMIT_EVENT } from "../../shared/room-encryption.js";
import type { RoomState } from "../../shared/room-state.js";
import type { RoomMls } from "../room-mls.js";
import type { CommitListener, Committed } from "./core.js";

export interface WelcomePorts {
  /** Sends the messages for MIMI followers' users their way; answers the rest (JSON, as held). */
  divert(commitEventId: string, sender: string, messagesJson: string): Promise<string>;
  deliverToDevice(sender: string, type: string, messagesJson: string, messageId: string): Promise<void>;
  waitUntil(p: Promise<unknown>): void;
}

export class MlsListener implements CommitListener {
  constructor(
    private readonly mls: RoomMls,
    private readonly state: RoomState,
    private readonly ports: WelcomePorts,
  ) {}

  record(c: Committed): void {
    const { pdu } = c;
    const membershipBefore = pdu.type === "m.room.member" && typeof pdu.state_key === "string" ? this.state.membership(pdu.state_key) : undefined;
    this.mls.record(c.eventId, c.pos, pdu, membershipBefore, c.mls);
  }

  committed(c: Committed): void {
    if (c.pdu.type === MLS_COMMIT_EVENT) this.releaseWelcomes();
  }

  /** Sends on the Welcomes whose commit was just accepted; one that fails stays held and goes with the next commit. */
  private releaseWelcomes(): void {
    const ready = this.mls.releasableWelcomes(Date.now());
    if (ready.length === 0) return;
    this.ports.waitUntil(
      Promise.all(
        ready.map(async (w) => {
          try {
            const rest = await this.ports.divert(w.commitEventId, w.sender, w.messagesJson);
            if (rest !== "[]") await this.ports.deliverToDevice(w.sender, w.type, rest, w.messageId);
            this.mls.welcomeReleased(w.seq);
          } catch (e) {
            console.error("releasing a held Welcome failed", w.commitEventId, e);
          }
        }),
      ),
    );
  }
}
