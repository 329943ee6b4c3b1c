// Welcomes of LM commits for users of the room's MIMI followers (docs/mimi.md "Welcomes"). A client
// that commits over LM sends its Welcome as to-device messages, which a MIMI provider cannot receive.
// Before this server passes such a Welcome on (at once, or released once its commit is accepted), the
// room takes out the messages for followers' users: as the hub, it queues the Welcome bytes for each
// follower's notify, after the commit; as an LM participant, it relays them to the hub, which checks
// them and does the same. Each provider gets one Welcome per commit, however often it arrives.

import type { JsonObject } from "../../shared/canonical-json.js";
import { serverNameOf } from "../../shared/ids.js";
import { decodeBase64 } from "../../shared/base64.js";
import { inspectCommit } from "../../shared/mls-commit.js";
import { HUB_PROPOSALS_UNSIGNED } from "../../shared/mls-hub-references.js";
import { resolvedMemberProposal } from "../../shared/mls-member-proposal.js";
import { isJoinedMimiUser, welcomeBytes, welcomeRelayJson, welcomeRelayPath, type WelcomeRelay } from "../../shared/mimi-welcome-relay.js";
import { takesPartOverLm } from "../../shared/mimi-vouched.js";
import type { RoomState } from "../../shared/room-state.js";
import { MLS_COMMIT_EVENT } from "../../shared/room-encryption.js";
import type { MimiWelcomeStorage } from "../room-mimi-welcome-storage.js";

export interface WelcomeMessage {
  target: string;
  targetDevice: string;
  content: JsonObject;
}

export interface MimiWelcomePorts {
  /** The room and the server that orders it, once known; only LM rooms have MIMI followers. */
  identity(): { roomId: string; hub: string; linearized: boolean } | undefined;
  readonly serverName: string;
  readonly state: RoomState;
  readonly sent: MimiWelcomeStorage;
  followers: { has(provider: string): boolean };
  enqueueNotify(provider: string, ts: number, welcome: Uint8Array): void;
  kickNotify(roomId: string): void;
  /** The room's MLS algorithm and what it knows of commits and devices. */
  mls: {
    algorithm(): string | undefined;
    isAcceptedCommit(eventId: string): boolean;
    devices(): Array<{ userId: string; deviceId: string }>;
  };
  /** A stored event, for reading a commit's Adds (by value in its content; by reference among the proposals the hub carried in its unsigned). */
  eventContent(eventId: string): { type: string; content: JsonObject; unsigned?: JsonObject } | undefined;
  /** A signed federation request (Outbound.request). */
  request(server: string, method: string, path: string, body: unknown): Promise<{ status: number; body: unknown }>;
  now(): number;
}

/** A relayed Welcome's fate at the hub: queued for these providers (or seen before), or refused. */
export type RelayVerdict =
  | { kind: "queued"; providers: string[]; duplicates: string[] }
  | { kind: "refused"; status: 400 | 403 | 404; reason: string };

export class MimiWelcomes {
  constructor(private readonly ports: MimiWelcomePorts) {}

  /**
   * Takes out of `messages` (the Welcomes of `commitEventId` from `sender`, whose commit is accepted
   * here) those for users of MIMI followers and sends them the MIMI way; answers the rest, which go
   * as to-device. Throws when the hub cannot be reached, so the caller keeps or retries the lot.
   */
  async divert(commitEventId: string, sender: string, messages: readonly WelcomeMessage[]): Promise<WelcomeMessage[]> {
    const id = this.ports.identity();
    if (!id?.linearized) return [...messages];
    const ordersHere = id.hub === this.ports.serverName;
    const isFollowerUser = ordersHere
      ? (u: string) => this.ports.followers.has(serverNameOf(u)) && this.ports.state.membership(u) === "join"
      : (u: string) => isJoinedMimiUser(u, this.ports.state.get("m.room.member", u), this.ports.state);
    const mimi = messages.filter((m) => isFollowerUser(m.target));
    if (mimi.length === 0) return [...messages];
    // One Welcome per commit: messages carrying other bytes (or none) are dropped, a provider could not take them anyway.
    const byCiphertext = new Map<string, WelcomeMessage[]>();
    for (const m of mimi) {
      const c = m.content["ciphertext"];
      if (typeof c === "string" && welcomeBytes(c)) byCiphertext.set(c, [...(byCiphertext.get(c) ?? []), m]);
      else console.warn(`MIMI Welcome for ${m.target} dropped: its ciphertext is no MLS Welcome`);
    }
    for (const [ciphertext, list] of byCiphertext) {
      if (ordersHere) this.queue(id.roomId, commitEventId, new Set(list.map((m) => serverNameOf(m.target))), welcomeBytes(ciphertext) as Uint8Array);
      else await this.relay(id, commitEventId, sender, ciphertext, list);
    }
    return messages.filter((m) => !isFollowerUser(m.target));
  }

  private async relay(id: { roomId: string; hub: string }, commitEventId: string, sender: string, welcome: string, list: readonly WelcomeMessage[]): Promise<void> {
    const targets = list.map((m) => ({ userId: m.target, deviceId: m.targetDevice }));
    const res = await this.ports.request(id.hub, "POST", welcomeRelayPath(id.roomId), welcomeRelayJson(id.roomId, { commitEventId, sender, welcome, targets }));
    if (res.status === 200) return;
    // Unreachable or failing: the caller keeps the Welcome and tries again. A refusal is final.
    if (res.status === 0 || res.status >= 500 || res.status === 429) throw new Error(`relaying a Welcome to ${id.hub} failed: ${res.status} ${JSON.stringify(res.body)}`);
    console.warn(`${id.hub} refused the Welcome of ${commitEventId} for ${targets.length} MIMI user(s): ${JSON.stringify(res.body)}`);
  }

  /**
   * Queues `welcome` after the commit for each of `providers` that has not had this commit's Welcome:
   * the one way a Welcome reaches a follower, whether its commit came over LM or MIMI (room/mimi-hub.ts).
   */
  queue(roomId: string, commitEventId: string, providers: ReadonlySet<string>, welcome: Uint8Array): { queued: string[]; duplicates: string[] } {
    const out = { queued: [] as string[], duplicates: [] as string[] };
    const now = this.ports.now();
    for (const p of providers) {
      if (this.ports.sent.sent(commitEventId, p)) {
        out.duplicates.push(p);
        continue;
      }
      this.ports.sent.markSent(commitEventId, p, now);
      this.ports.enqueueNotify(p, now, welcome);
      out.queued.push(p);
    }
    if (out.queued.length > 0) this.ports.kickNotify(roomId);
    return out;
  }

  /**
   * Hub: a Welcome relayed by `origin`. Everything is checked before anything is queued: the origin
   * takes part in the room over LM and `sender` is its joined user, the commit is accepted, and each
   * target is a joined user of a current follower whose device (any of them, for "*") that commit added
   * and the roster still holds.
   */
  relayed(origin: string, relay: WelcomeRelay): RelayVerdict {
    const id = this.ports.identity();
    if (!id?.linearized || id.hub !== this.ports.serverName) return { kind: "refused", status: 404, reason: "this server is not the room's hub" };
    const { state } = this.ports;
    if (!state.isServerJoined(origin) || !takesPartOverLm(origin, state)) return { kind: "refused", status: 403, reason: `${origin} takes no part in this room over LM` };
    if (serverNameOf(relay.sender) !== origin || state.membership(relay.sender) !== "join") return { kind: "refused", status: 403, reason: `${relay.sender} is not a joined user of ${origin}` };
    if (!this.ports.mls.isAcceptedCommit(relay.commitEventId)) return { kind: "refused", status: 403, reason: `${relay.commitEventId} is not an accepted commit of this room` };
    const added = this.addedBy(relay.commitEventId);
    for (const t of relay.targets) {
      const provider = serverNameOf(t.userId);
      if (!this.ports.followers.has(provider) || state.membership(t.userId) !== "join") return { kind: "refused", status: 403, reason: `${t.userId} is not a joined user of a MIMI follower of this room` };
      const devices = added.filter((d) => d.userId === t.userId && (t.deviceId === "*" || d.deviceId === t.deviceId));
      if (devices.length === 0) return { kind: "refused", status: 403, reason: `${relay.commitEventId} added no device ${t.deviceId} of ${t.userId} that is still in the group` };
    }
    const { queued, duplicates } = this.queue(id.roomId, relay.commitEventId, new Set(relay.targets.map((t) => serverNameOf(t.userId))), relay.welcome);
    return { kind: "queued", providers: queued, duplicates };
  }

  /** The devices the commit added (by value, or by reference to a member's Add the hub held) that the roster still holds. */
  private addedBy(commitEventId: string): Array<{ userId: string; deviceId: string }> {
    const event = this.ports.eventContent(commitEventId);
    const algorithm = this.ports.mls.algorithm();
    if (!event || event.type !== MLS_COMMIT_EVENT || !algorithm) return [];
    const inspected = inspectCommit(event.content["message"], algorithm);
    if (!inspected.ok) return [];
    const carried = event.unsigned?.[HUB_PROPOSALS_UNSIGNED];
    const byReference = (Array.isArray(carried) ? carried : []).flatMap((m) => {
      const effect = typeof m === "string" ? resolvedMemberProposal(decodeBase64(m), "") : undefined;
      return effect?.type === "add" ? [effect.identity] : [];
    });
    const byValue = inspected.commit.proposals.flatMap((p) => (p.type === "add" ? [p.identity] : []));
    const inGroup = new Set(this.ports.mls.devices().map((d) => `${d.userId}\u0000${d.deviceId}`));
    return [...byValue, ...byReference].flatMap((d) => (inGroup.has(`${d.userId}\u0000${d.deviceId}`) ? [{ userId: d.userId, deviceId: d.deviceId }] : []));
  }
}
