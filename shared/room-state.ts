// A room's current state as the Room object keeps it in memory: the state map plus the derived
// facts the hot path asks for on every event (who is joined, which servers take part).

import type { Pdu, StateMap } from "./event.js";
import { stateKeyOf } from "./event.js";
import { serverNameOf } from "./ids.js";

export interface StateEntry {
  eventId: string;
  pdu: Pdu;
}

export type Membership = "join" | "invite" | "leave" | "ban" | "knock";

export function membershipOf(e: Pdu | undefined): Membership | undefined {
  const m = e?.content["membership"];
  return m === "join" || m === "invite" || m === "leave" || m === "ban" || m === "knock" ? m : undefined;
}

/** Stripped state for invites and knocks (draft "Stripped State"). */
export const STRIPPED_STATE_TYPES = [
  "m.room.create",
  "m.room.name",
  "m.room.avatar",
  "m.room.topic",
  "m.room.join_rules",
  "m.room.canonical_alias",
  "m.room.encryption",
] as const;

export interface StrippedStateEvent {
  type: string;
  state_key: string;
  sender: string;
  content: Record<string, unknown>;
}

const EMPTY: ReadonlySet<string> = new Set();

export class RoomState implements StateMap {
  private readonly entries = new Map<string, StateEntry>();
  private readonly joinedPerServer = new Map<string, Set<string>>();

  get(type: string, stateKey: string): Pdu | undefined {
    return this.entries.get(stateKeyOf(type, stateKey))?.pdu;
  }

  entry(type: string, stateKey: string): StateEntry | undefined {
    return this.entries.get(stateKeyOf(type, stateKey));
  }

  /** By stateKeyOf(type, state_key), the key state resolution uses. */
  entryByKey(key: string): StateEntry | undefined {
    return this.entries.get(key);
  }

  eventIdOf(type: string, stateKey: string): string | undefined {
    return this.entries.get(stateKeyOf(type, stateKey))?.eventId;
  }

  get size(): number {
    return this.entries.size;
  }

  all(): IterableIterator<StateEntry> {
    return this.entries.values();
  }

  /** Applies a state event (no-op for non-state events) and keeps the joined-server counts right. */
  apply(eventId: string, pdu: Pdu): void {
    if (typeof pdu.state_key !== "string") return;
    const key = stateKeyOf(pdu.type, pdu.state_key);
    if (pdu.type === "m.room.member") {
      const before = membershipOf(this.entries.get(key)?.pdu);
      const after = membershipOf(pdu);
      if (before === "join" && after !== "join") this.setJoined(pdu.state_key, false);
      if (before !== "join" && after === "join") this.setJoined(pdu.state_key, true);
    }
    this.entries.set(key, { eventId, pdu });
  }

  /** Drops a (type, state_key) from state (full-mesh state resolution may leave a key out). */
  remove(type: string, stateKey: string): void {
    const key = stateKeyOf(type, stateKey);
    const e = this.entries.get(key);
    if (!e) return;
    if (type === "m.room.member" && membershipOf(e.pdu) === "join") this.setJoined(stateKey, false);
    this.entries.delete(key);
  }

  private setJoined(userId: string, joined: boolean): void {
    let server: string;
    try {
      server = serverNameOf(userId);
    } catch {
      return;
    }
    let users = this.joinedPerServer.get(server);
    if (joined) {
      if (!users) this.joinedPerServer.set(server, (users = new Set()));
      users.add(userId);
    } else if (users) {
      users.delete(userId);
      if (users.size === 0) this.joinedPerServer.delete(server);
    }
  }

  /** Joined users of one server (the local ones, for notifying their streams). */
  joinedUsersOf(server: string): ReadonlySet<string> {
    return this.joinedPerServer.get(server) ?? EMPTY;
  }

  /** Number of joined users, for room summaries. */
  joinedCount(): number {
    let n = 0;
    for (const users of this.joinedPerServer.values()) n += users.size;
    return n;
  }

  membership(userId: string): Membership | undefined {
    return membershipOf(this.get("m.room.member", userId));
  }

  /** Servers with at least one joined user. */
  joinedServers(): string[] {
    return [...this.joinedPerServer.keys()];
  }

  isServerJoined(server: string): boolean {
    return this.joinedPerServer.has(server);
  }

  members(membership?: Membership): StateEntry[] {
    const out: StateEntry[] = [];
    for (const e of this.entries.values()) {
      if (e.pdu.type !== "m.room.member") continue;
      if (membership === undefined || membershipOf(e.pdu) === membership) out.push(e);
    }
    return out;
  }

  stripped(): StrippedStateEvent[] {
    const out: StrippedStateEvent[] = [];
    for (const type of STRIPPED_STATE_TYPES) {
      const e = this.get(type, "");
      if (e) out.push({ type: e.type, state_key: "", sender: e.sender, content: e.content });
    }
    return out;
  }
}
