// Commit listener: local users' streams learn that the room moved, so their /sync wakes. Notices
// are coalesced per user and sent in rounds; a batch of commits settles into one round.

import type { Pdu } from "../../shared/event.js";
import { membershipOf, type RoomState, type StrippedStateEvent } from "../../shared/room-state.js";
import type { CommitListener, Committed } from "./core.js";

export interface Notice {
  pos: number;
  membership?: "join" | "invite" | "leave" | "ban" | "knock";
  inviteStateJson?: string;
}

/** A local user's stream (the USER_STREAM object), as far as the room tells it anything. */
export interface StreamPort {
  notify(userId: string, roomId: string, n: Notice): Promise<void>;
}

export function strippedOf(e: Pdu): StrippedStateEvent {
  return { type: e.type, state_key: e.state_key ?? "", sender: e.sender, content: e.content };
}

export class LocalNotifier implements CommitListener {
  private readonly pending = new Map<string, Notice>();
  private notifying: Promise<void> | undefined;
  private roomId: string | undefined;

  constructor(
    private readonly serverName: string,
    private readonly state: RoomState,
    private readonly streams: StreamPort,
    private readonly waitUntil: (p: Promise<unknown>) => void,
  ) {}

  /** Local joined users see every event; a local member event's target learns its new membership. */
  committed(c: Committed): void {
    this.roomId = c.roomId;
    const { pos, pdu } = c;
    for (const u of this.state.joinedUsersOf(this.serverName)) this.merge(u, { pos });
    if (pdu.type === "m.room.member" && typeof pdu.state_key === "string" && pdu.state_key.endsWith(`:${this.serverName}`)) {
      const membership = membershipOf(pdu);
      if (membership) {
        const notice: Notice = { pos, membership };
        if (membership === "invite") notice.inviteStateJson = JSON.stringify([...this.state.stripped(), strippedOf(pdu)]);
        this.merge(pdu.state_key, notice);
      }
    }
  }

  settle(): void {
    if (this.notifying || this.pending.size === 0) return;
    const roomId = this.roomId;
    if (roomId === undefined) return;
    this.notifying = (async () => {
      while (this.pending.size > 0) {
        const batch = [...this.pending];
        this.pending.clear();
        await Promise.all(batch.map(([user, n]) => this.streams.notify(user, roomId, n).catch((e) => console.error("notify failed", user, e))));
      }
    })().finally(() => (this.notifying = undefined));
    this.waitUntil(this.notifying);
  }

  /**
   * Read-your-writes: the acting user's stream learns of their own event before their request
   * returns, so a sync right after it shows it; everyone else's notice stays coalesced.
   */
  async notifyNow(userId: string): Promise<void> {
    const n = this.pending.get(userId);
    if (!n || this.roomId === undefined) return;
    this.pending.delete(userId);
    await this.streams.notify(userId, this.roomId, n).catch((e) => console.error("notify failed", userId, e));
  }

  /**
   * After a restart, tell every local member where the room stands: a notification lost with the
   * previous instance would otherwise hide the newest events until the next one.
   */
  renotify(roomId: string, pos: number): void {
    this.roomId = roomId;
    for (const u of this.state.joinedUsersOf(this.serverName)) this.merge(u, { pos });
    this.settle();
  }

  private merge(userId: string, n: Notice): void {
    const prev = this.pending.get(userId);
    this.pending.set(userId, prev ? { ...prev, ...n, membership: n.membership ?? prev.membership } : n);
  }
}
