// The Room facade's writes: creating and joining rooms, local sends, federation transactions and
// membership handshakes, invites, and the outbox's RPCs for the destination queues.

import type { JsonObject } from "../shared/canonical-json.js";
import type { InitialEvent } from "../shared/create-room.js";
import { badJson, forbidden, limitExceeded, MatrixError } from "../shared/errors.js";
import type { Lpdu, Pdu } from "../shared/event.js";
import { eventIdOf } from "../shared/hashes.js";
import { serverNameOf } from "../shared/ids.js";
import type { StrippedStateEvent } from "../shared/room-state.js";
import { getRoomVersion } from "../shared/room-versions.js";
import type { OutboxRow } from "./room-storage.js";
import { creationVersion } from "./room/lm-hub.js";
import { bufferEarlyPdus, LmParticipant, type JoinState } from "./room/lm-participant.js";
import { MatrixDag } from "./room/matrix-dag.js";
import type { InviteRequest, JoinAnswer, LocalEvent, MembershipKind } from "./room/protocol.js";
import { acceptedOrThrow, eventIdOrThrow, failedPdus, rejected, toMatrixError, type FailedPdus } from "./room/verdict.js";
import { hasProvenance } from "../shared/converter/provenance.js";
import { PAIR_EVENT, parsePairing } from "../shared/converter/pairing.js";
import { rememberAccepted, screenProvenance } from "./room/converter-gate.js";
import { RoomReads } from "./room-facade-reads.js";
import { joinContentFor, vouchForJoin } from "./room/restricted-join.js";

export abstract class RoomWrites extends RoomReads {
  /** Creates the room with its initial events, all sent by `creator` (a local user); this server is its hub. */
  async create(roomId: string, versionId: string, creator: string, events: InitialEvent[], createTs?: number): Promise<string[]> {
    return this.section.run(async (w) => {
      if (this.engine) throw new MatrixError(400, "M_ROOM_IN_USE", "Room already exists");
      const version = creationVersion(versionId, serverNameOf(creator) === this.env.SERVER_NAME, events);
      for (const [k, v] of [["room_id", roomId], ["room_version", versionId], ["hub", this.env.SERVER_NAME]] as const) this.parts.store.setMeta(k, v);
      const { protocol } = this.start({ roomId, version, hub: this.env.SERVER_NAME }, (core) => (version.linearized ? this.lmHub(core) : this.dag(core)));
      const ids: string[] = [];
      for (const e of events) {
        const event = e.state_key === undefined ? { type: e.type, content: e.content } : e;
        // A v12 room ID is the create event's hash: the Worker built it at `createTs`, and so do we.
        ids.push(eventIdOrThrow(protocol instanceof MatrixDag ? await protocol.appendLocal(w, creator, event, e.type === "m.room.create" ? createTs : undefined) : await protocol.appendLocal(w, creator, event)));
      }
      if (version.roomIdFromCreateEvent && `!${ids[0]?.slice(1)}` !== roomId) throw new MatrixError(500, "M_UNKNOWN", "The create event does not derive the room ID");
      await this.parts.notifier.notifyNow(creator);
      return ids;
    });
  }

  /** First contact with a room hosted elsewhere: the verified send_join answer (IDs as the Worker computed them). */
  async initFromJoin(args: JoinState & { roomId: string; version: string; hub: string }): Promise<{ eventId: string }> {
    return this.section.run(async (w) => {
      const version = getRoomVersion(args.version);
      if (!version) throw new MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", `Unsupported room version ${args.version}`);
      const known = this.engine?.core.last && this.engine.protocol;
      if (!version.linearized) {
        const dag = known instanceof MatrixDag ? known : this.start({ roomId: args.roomId, version, hub: args.hub }, (core) => this.dag(core)).protocol;
        const v = known ? await dag.receiver.receive(w, args.hub, args.event) : await dag.firstJoin(w, args);
        if (v.outcome === "rejected") throw forbidden(v.reason);
        return { eventId: await eventIdOf(args.event, version) };
      }
      if (known) {
        // Already participating: the join is just another event from the hub.
        const v = known instanceof LmParticipant ? await known.acceptFromHub(w, args.event) : rejected("hub", "This server is the room's hub");
        if (v.outcome === "rejected") throw forbidden(v.reason);
        return { eventId: await eventIdOf(args.event, version) };
      }
      const { protocol: participant } = this.start({ roomId: args.roomId, version, hub: args.hub }, (core) => new LmParticipant(core, this.parts.ports));
      return { eventId: eventIdOrThrow(await participant.firstJoin(w, args)) };
    });
  }

  /** Marks a join in progress through `hub`, so its fan-out racing our send_join answer is kept. */
  async beginJoin(hub: string): Promise<void> {
    if (!this.engine?.core.last) this.parts.store.setMeta("joining_via", hub);
  }

  /** A local user's event; idempotent per (user, device, txnId). `mustBeJoined`: the client API's 403, checked here to save a call. */
  async send(sender: string, event: LocalEvent, txn?: { deviceId: string; txnId: string }, mustBeJoined = false): Promise<{ eventId: string }> {
    if (serverNameOf(sender) !== this.env.SERVER_NAME) throw forbidden("Not a local user");
    if (mustBeJoined) this.requireJoined(sender);
    if (hasProvenance(event.content)) throw forbidden("Only a room's converter sends events carrying io.switchboard.provenance");
    const pairing = event.type === PAIR_EVENT && event.state_key !== undefined ? parsePairing(event.state_key, event.content) : undefined;
    if (pairing && "error" in pairing) throw badJson(`Invalid ${PAIR_EVENT}: ${pairing.error}`);
    const known = txn && this.parts.store.getClientTxn(sender, txn.deviceId, txn.txnId);
    if (known) return { eventId: known };
    const { protocol, follower } = this.loaded();
    const forwarded = follower && (await this.section.run(async (w) => follower.send(w, sender, event)));
    const eventId = eventIdOrThrow(forwarded ?? (await protocol.send(sender, event, txn)));
    if (txn) this.parts.store.putClientTxn(sender, txn.deviceId, txn.txnId, eventId);
    await this.parts.notifier.notifyNow(sender);
    return { eventId };
  }

  /** A transaction's items for this room (signatures and hashes verified by the Worker); returns its failed_pdus. */
  async receive(origin: string, items: Array<{ id: string; lpdu?: Lpdu; pdu?: Pdu }>): Promise<FailedPdus> {
    return this.section.run(async (w) => {
      const e = this.engine;
      const wait = this.parts.outbox.refusalMs(origin, items, this.ordersHere());
      if (wait !== undefined) throw limitExceeded(wait);
      if (!e) return bufferEarlyPdus(this.parts.store, origin, items), {};
      if (!(e.core.version.linearized && e.protocol.isHub)) return failedPdus(await e.core.batch(w, () => e.protocol.receive(w, origin, items)));
      const screened = await screenProvenance(e.core, origin, items, this.parts.converterStore);
      const results = await e.core.batch(w, () => e.protocol.receive(w, origin, screened.kept));
      rememberAccepted(this.parts.converterStore, screened, results, Date.now());
      return failedPdus([...screened.answered, ...results]);
    });
  }

  /** make_join / make_leave / make_knock: a template, if the change would pass the auth rules now (a restricted join names its authoriser). */
  async makeMembership(userId: string, membership: MembershipKind): Promise<{ template: Record<string, unknown>; roomVersion: string }> {
    const content = membership === "join" ? await this.joinContent(userId) : {};
    const answer = this.loaded().protocol.membershipTemplate(userId, membership, content);
    if ("outcome" in answer) throw toMatrixError(answer);
    return answer;
  }

  /** A local user joins a room this server is in; in a restricted room, by an allowed room's membership. */
  async joinLocal(userId: string, content: Record<string, unknown>): Promise<{ eventId: string }> {
    const extra = await this.joinContent(userId);
    return this.send(userId, { type: "m.room.member", state_key: userId, content: { ...(content as JsonObject), ...extra, membership: "join" } });
  }

  /** The join content restricted join rules ask of `userId` now (room/restricted-join.ts), or their refusal. */
  private async joinContent(userId: string): Promise<JsonObject> {
    const extra = await joinContentFor(this.loaded().core, this.env.SERVER_NAME, userId, this.parts.allowedRoomFacts);
    if ("outcome" in extra) throw toMatrixError(extra);
    return extra.content;
  }

  /** send_join / send_leave / send_knock: a join is answered with the state before it and its auth chain. */
  async sendMembership(origin: string, lpdu: Lpdu, membership: MembershipKind): Promise<JoinAnswer> {
    return this.section.run(async (w) => {
      const answer = await this.loaded().protocol.membershipAnswer(w, origin, lpdu, membership);
      if ("outcome" in answer) throw toMatrixError(answer);
      return answer;
    });
  }

  /** send_join / send_leave / send_knock v2 in a full-mesh room: the joining server's signed PDU (checked by the Worker). */
  async sendMembershipPdu(origin: string, pdu: Pdu, membership: MembershipKind): Promise<JoinAnswer> {
    return this.section.run(async (w) => {
      const { core, protocol } = this.loaded();
      if (!protocol.membershipPdu) throw new MatrixError(400, "M_BAD_JSON", "This room takes LPDUs in send_join, send_leave and send_knock");
      const vouched = membership === "join" ? await vouchForJoin(core, this.env.SERVER_NAME, pdu, this.parts.allowedRoomFacts, this.parts.ports.signingKey) : pdu;
      if ("outcome" in vouched) throw toMatrixError(vouched);
      const answer = await core.batch(w, () => protocol.membershipPdu?.(w, origin, vouched, membership) ?? Promise.resolve(rejected("format", "unreachable")));
      if ("outcome" in answer) throw toMatrixError(answer);
      return answer;
    });
  }

  /** Invite of a user on another server, as hub: completed, checked, signed by the invitee's server, committed. */
  async inviteRemote(request: InviteRequest): Promise<{ eventId: string; json: string }> {
    return this.section.run(async (w) => {
      const { eventId, pdu } = acceptedOrThrow(await this.loaded().protocol.inviteRemote(w, request));
      return { eventId, json: JSON.stringify(pdu) };
    });
  }

  /** A local user invites someone. */
  async invite(sender: string, target: string, content: Record<string, unknown>): Promise<{ eventId: string }> {
    return { eventId: eventIdOrThrow(await this.loaded().protocol.invite(sender, target, content as JsonObject)) };
  }

  /** The hub refused an LPDU we sent (its failed_pdus); the waiting client gets the reason. */
  async lpduRejected(lpduHash: string, error: string, details: Record<string, unknown> = {}): Promise<void> {
    if (this.engine) this.engine.protocol.lpduRejected(lpduHash, error, details);
    else this.parts.store.deletePendingClientTxns(lpduHash);
  }

  async storeInvite(userId: string, pdu: Pdu, stripped: StrippedStateEvent[], origin: string, roomVersion: string): Promise<void> {
    await this.parts.storeInvite(userId, pdu, stripped, origin, this.engine ? undefined : roomVersion);
  }

  /** A local user's pending invite: the server to join through and the stripped state, as JSON. */
  async pendingInvite(userId: string): Promise<{ hub: string; origin: string; eventJson: string; strippedJson: string } | undefined> {
    return this.parts.reads.pendingInvite(userId);
  }

  async forgetInvite(userId: string): Promise<void> {
    this.parts.store.deleteInvite(userId);
  }

  /** A destination queue's pull; passing `after` also reports everything up to it as delivered. */
  async fanOutBatch(destination: string, after: number | null, limit: number): Promise<{ rows: OutboxRow[]; tip: number }> {
    return this.parts.outbox.batch(destination, after, limit);
  }

  async fanOutDone(destination: string, upTo: number): Promise<void> {
    this.parts.outbox.done(destination, upTo);
  }

  /** Asked before `origin`'s transaction of `count` PDUs is verified: how long it would be refused, or null (room is reserved for it). */
  async fanOutWait(origin: string, count: number): Promise<number | null> {
    return this.parts.outbox.admit(origin, count, this.ordersHere());
  }

  async outboxStatus(): Promise<Array<{ destination: string; count: number }>> {
    return this.parts.outbox.status();
  }
}
