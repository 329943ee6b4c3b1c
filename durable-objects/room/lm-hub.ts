// Linearized Matrix, hub role: this server orders the room. Local users' events and participants'
// LPDUs are completed here, checked against current state, committed, and fanned out to every
// server in the room.

import type { JsonObject } from "../../shared/canonical-json.js";
import type { InitialEvent } from "../../shared/create-room.js";
import { MatrixError } from "../../shared/errors.js";
import type { Lpdu, Pdu } from "../../shared/event.js";
import { eventIdOf } from "../../shared/hashes.js";
import { serverNameOf } from "../../shared/ids.js";
import { buildLocalPdu } from "../../shared/local-event.js";
import { buildVouchedPdu, completeLpdu, completeLpduWithId } from "../../shared/lpdu.js";
import { MIMI_PROVIDER_KEY, vouchedForLmServer } from "../../shared/mimi-vouched.js";
import { checkEncryptionEvent, ENCRYPTION_EVENT, encryptionOfCreate } from "../../shared/room-encryption.js";
import { membershipOf } from "../../shared/room-state.js";
import type { RoomVersion } from "../../shared/room-version.js";
import { getRoomVersion } from "../../shared/room-versions.js";
import { authChainOf } from "../room-history.js";
import type { RoomCore } from "./core.js";
import { eventFields, linksFor, membershipShapeError } from "./lm-common.js";
import type { EnginePorts } from "./ports.js";
import type { InboundItem, InviteRequest, JoinAnswer, LocalEvent, MembershipKind, RoomProtocol } from "./protocol.js";
import { rejected, rejectedBy, type Accepted, type Rejected, type Verdict } from "./verdict.js";
import type { Writer } from "./writer.js";

/**
 * The version of a room about to be created here, checked before anything is stored: a known
 * version, a local creator, and encryption the hub can enforce that the initial state does not
 * already weaken. Throws the refusal.
 */
export function creationVersion(versionId: string, creatorIsLocal: boolean, events: readonly InitialEvent[]): RoomVersion {
  const version = getRoomVersion(versionId);
  if (!version) throw new MatrixError(400, "M_UNSUPPORTED_ROOM_VERSION", `Unsupported room version ${versionId}`);
  if (!creatorIsLocal) throw new MatrixError(403, "M_FORBIDDEN", "Only local users can create rooms here");
  const encryption = encryptionOfCreate(events.find((e) => e.type === "m.room.create")?.content);
  if (!encryption.ok) throw new MatrixError(400, "M_BAD_JSON", encryption.reason);
  let current: JsonObject | undefined;
  for (const e of events) {
    if (e.type !== ENCRYPTION_EVENT || e.state_key !== "") continue;
    const verdict = checkEncryptionEvent(encryption.encryption, current, e.content);
    if (!verdict.ok) throw new MatrixError(403, "M_FORBIDDEN", `Encryption cannot be weakened: ${verdict.reason}`);
    current = e.content;
  }
  return version;
}

export class LmHub implements RoomProtocol {
  readonly isHub = true;

  constructor(
    private readonly core: RoomCore,
    private readonly ports: EnginePorts,
    /** Servers that get the room's events through another protocol (MIMI followers): no LM fan-out to them. */
    private readonly servedElsewhere: (server: string) => boolean = () => false,
  ) {}

  private get serverName(): string {
    return this.ports.serverName;
  }

  send(sender: string, event: LocalEvent): Promise<Verdict> {
    return this.core.exclusive((w) => this.appendLocal(w, sender, event));
  }

  /** A local user's event, built, signed and committed here. */
  async appendLocal(w: Writer, sender: string, event: LocalEvent): Promise<Verdict> {
    const fields = { ...eventFields(this.core, sender, event), ...(event.redacts !== undefined ? { redacts: event.redacts } : {}) };
    const pdu = await buildLocalPdu(fields, linksFor(this.core, fields), this.serverName, await this.ports.signingKey(), this.core.version);
    return this.accept(w, pdu, undefined);
  }

  /**
   * An event of a MIMI provider's user, which the provider authenticated as itself and the hub writes
   * for it (shared/mimi-vouched.ts): the hub's signature only, the provider named in the content, then
   * the same checks as any other event.
   */
  async appendVouched(w: Writer, provider: string, sender: string, event: LocalEvent): Promise<Verdict> {
    if (serverNameOf(sender) !== provider) return rejected("origin", `${provider} cannot send events for ${sender}`);
    if (provider === this.serverName) return rejected("origin", "Local users send through the client API");
    const fields = eventFields(this.core, sender, { ...event, content: { ...event.content, [MIMI_PROVIDER_KEY]: provider } });
    const lm = vouchedForLmServer(fields, this.core.state);
    if (lm) return rejected("origin", lm);
    const { pdu, eventId } = await buildVouchedPdu(fields, linksFor(this.core, fields), this.serverName, await this.ports.signingKey(), this.core.version);
    return this.accept(w, pdu, undefined, eventId);
  }

  /** Checks a completed PDU against current state (and the MLS rules) and commits it. */
  private async accept(w: Writer, pdu: Pdu, lpduHash: string | undefined, knownId?: string): Promise<Verdict> {
    const refused = this.core.checkFormat(pdu) ?? this.core.authorize(pdu);
    if (refused) return refused;
    let mls;
    try {
      mls = await this.ports.mls.vetAsHub(pdu, this.core.roomId);
    } catch (e) {
      return rejectedBy("mls", e);
    }
    const eventId = knownId ?? (await eventIdOf(pdu, this.core.version));
    this.core.commit(w, { eventId, pdu, lpduHash, destinations: this.destinationsOf(pdu), mls });
    return { outcome: "accepted", eventId, pdu };
  }

  /** A participant's LPDU: completed with the next links, signed, checked, committed. A retried one is a duplicate. */
  private async acceptLpdu(w: Writer, origin: string, lpdu: Lpdu): Promise<Verdict> {
    if (serverNameOf(lpdu.sender) !== origin) return rejected("origin", `${origin} cannot send events for ${lpdu.sender}`);
    // Participants would take it for a hub-vouched MIMI event (shared/mimi-vouched.ts).
    if (Object.hasOwn(lpdu.content, MIMI_PROVIDER_KEY)) return rejected("origin", `${MIMI_PROVIDER_KEY} is written only by the hub`);
    const lpduHash = lpdu.hashes.lpdu.sha256;
    const known = this.core.store.getEventIdByLpduHash(lpduHash);
    if (known) return { outcome: "duplicate", eventId: known };
    const { pdu, eventId } = await completeLpduWithId(lpdu, linksFor(this.core, lpdu), this.serverName, await this.ports.signingKey(), this.core.version);
    return this.accept(w, pdu, lpduHash, eventId);
  }

  async receive(w: Writer, origin: string, items: readonly InboundItem[]): Promise<Array<{ id: string; verdict: Verdict }>> {
    const out: Array<{ id: string; verdict: Verdict }> = [];
    for (const { id, lpdu, pdu } of items) {
      let verdict: Verdict;
      try {
        if (lpdu) {
          if (!this.core.last) continue; // not ordering yet: dropped
          verdict = await this.acceptLpdu(w, origin, lpdu);
        } else if (pdu) {
          verdict = rejected("hub", "Only the hub sends PDUs in a room it hosts, and that is us");
        } else continue;
      } catch (e) {
        verdict = rejected("internal", e instanceof Error ? e.message : String(e), 500, "M_UNKNOWN");
      }
      out.push({ id, verdict });
    }
    return out;
  }

  membershipTemplate(userId: string, membership: MembershipKind): { template: JsonObject; roomVersion: string } | Rejected {
    const template: JsonObject = {
      room_id: this.core.roomId,
      type: "m.room.member",
      state_key: userId,
      sender: userId,
      origin_server_ts: Date.now(),
      content: { membership },
      hub_server: this.core.identity.hub,
    };
    // Trial run of the auth rules with the links the real event would get.
    const links = linksFor(this.core, template as unknown as Pdu);
    const trial = { ...template, auth_events: links.authEvents, prev_events: links.prevEvents, hashes: {}, signatures: {} } as unknown as Pdu;
    return this.core.authorize(trial, links.authEvents) ?? { template, roomVersion: this.core.version.id };
  }

  async membershipAnswer(w: Writer, origin: string, lpdu: Lpdu, membership: MembershipKind): Promise<JoinAnswer | Rejected> {
    const shape = membershipShapeError(lpdu, membership);
    if (shape) return shape;
    const stateBefore = membership === "join" ? this.core.store.currentState() : [];
    const v = await this.acceptLpdu(w, origin, lpdu);
    if (v.outcome === "rejected") return v;
    const pdu = v.outcome === "accepted" ? v.pdu : this.core.eventById(v.eventId);
    if (membership === "join") {
      const stateJson = stateBefore.map((e) => e.json);
      const chain = authChainOf(this.core.store, stateBefore).map((e) => e.json);
      const body = `{"state":[${stateJson.join(",")}],"auth_chain":[${chain.join(",")}],"event":${JSON.stringify(pdu)},"members_omitted":false,"origin":${JSON.stringify(this.serverName)}}`;
      return { body, eventId: v.eventId };
    }
    if (membership === "knock") return { body: JSON.stringify({ stripped_state: this.core.state.stripped(), knock_room_state: this.core.state.stripped() }), eventId: v.eventId };
    return { body: "{}", eventId: v.eventId };
  }

  invite(sender: string, target: string, content: JsonObject): Promise<Verdict> {
    return this.core.exclusive((w) => this.inviteRemote(w, { sender, target, content }));
  }

  /**
   * The invite is completed (from a participant's LPDU or built for a local sender), checked,
   * offered to the target server's /invite (which signs it), then committed with that signature.
   */
  async inviteRemote(w: Writer, request: InviteRequest): Promise<Verdict> {
    const version = this.core.version;
    let pdu: Pdu;
    let lpduHash: string | undefined;
    if ("lpdu" in request) {
      if (serverNameOf(request.lpdu.sender) !== request.origin) return rejected("origin", `${request.origin} cannot send events for ${request.lpdu.sender}`);
      lpduHash = request.lpdu.hashes.lpdu.sha256;
      pdu = await completeLpdu(request.lpdu, linksFor(this.core, request.lpdu), this.serverName, await this.ports.signingKey(), version);
    } else {
      const fields = {
        room_id: this.core.roomId,
        type: "m.room.member",
        state_key: request.target,
        sender: request.sender,
        origin_server_ts: Date.now(),
        content: { ...request.content, membership: "invite" },
      };
      pdu = await buildLocalPdu(fields, linksFor(this.core, fields), this.serverName, await this.ports.signingKey(), version);
    }
    if (pdu.type !== "m.room.member" || membershipOf(pdu) !== "invite" || typeof pdu.state_key !== "string") return rejected("format", "Not an invite", 400, "M_BAD_JSON");
    const refused = this.core.checkFormat(pdu) ?? this.core.authorize(pdu);
    if (refused) return refused;
    const target = serverNameOf(pdu.state_key);
    let final: Pdu | Rejected = pdu;
    // A MIMI provider's user is not offered the invite: the participant-list change follows it.
    if (target !== this.serverName && !this.core.state.isServerJoined(target) && !this.servedElsewhere(target)) final = await this.offerInvite(target, pdu);
    if ("outcome" in final) return final;
    const eventId = await eventIdOf(final, version);
    this.core.commit(w, { eventId, pdu: final, lpduHash, destinations: this.destinationsOf(final) });
    return { outcome: "accepted", eventId, pdu: final } satisfies Accepted;
  }

  /** POST /invite to the target server; its answer must be our event plus its signature. */
  private async offerInvite(target: string, pdu: Pdu): Promise<Pdu | Rejected> {
    const version = this.core.version;
    const eventId = await eventIdOf(pdu, version);
    const res = await this.ports.federation.inviteAndVerify(target, eventId, pdu as unknown as Record<string, unknown>, version.id, this.core.state.stripped());
    if (!("pdu" in res)) return rejected("invite", `Invite refused by ${target}: ${res.error}`, res.status >= 400 && res.status < 500 ? 403 : 502);
    const signed = res.pdu as unknown as Pdu;
    if ((await eventIdOf(signed, version)) !== eventId) return rejected("invite", `${target} changed the invite event`);
    return signed;
  }

  /**
   * Every server with a joined user once the event applies, the sender's server, and the target
   * of a kick or ban (draft "Sending Events"); never ourselves.
   */
  destinationsOf(pdu: Pdu): string[] {
    const out = new Set(this.core.state.joinedServers());
    if (pdu.type === "m.room.member" && typeof pdu.state_key === "string") {
      try {
        const target = serverNameOf(pdu.state_key);
        if (membershipOf(pdu) === "join") out.add(target);
        if ((membershipOf(pdu) === "leave" || membershipOf(pdu) === "ban") && pdu.state_key !== pdu.sender) out.add(target);
      } catch {
        /* malformed target: the auth rules already refused anything that matters */
      }
    }
    out.add(serverNameOf(pdu.sender));
    out.delete(this.serverName);
    return [...out].filter((s) => !this.servedElsewhere(s));
  }

  lpduRejected(lpduHash: string): void {
    // A hub sends no LPDUs; a client transaction left from before this server became hub is dropped.
    this.core.store.deletePendingClientTxns(lpduHash);
  }
}
