// The seam between the room core and the rules of one protocol role. Today: LmHub and LmParticipant
// (Linearized Matrix); a full-mesh Matrix DAG engine and a MIMI hub are further implementations in
// files of their own. Implementations import the core, never each other.

import type { JsonObject } from "../../shared/canonical-json.js";
import type { Lpdu, Pdu } from "../../shared/event.js";
import type { Rejected, Verdict } from "./verdict.js";
import type { Writer } from "./writer.js";

/** A local user's event as the client API hands it over. */
export type LocalEvent = { type: string; state_key?: string; content: JsonObject; redacts?: string };

export interface InboundItem {
  /** The ID of what was received, for failed_pdus. */
  id: string;
  lpdu?: Lpdu;
  pdu?: Pdu;
}

export type MembershipKind = "join" | "leave" | "knock";

export interface JoinAnswer {
  /** The send_join response body, assembled from stored JSON (it can be large). */
  body: string;
  eventId: string;
}

export type InviteRequest = { lpdu: Lpdu; origin: string } | { sender: string; target: string; content: JsonObject };

export interface RoomProtocol {
  /** Whether this server orders the room (admin and client views). */
  readonly isHub: boolean;
  /** A local user's event. */
  send(sender: string, event: LocalEvent, txn?: { deviceId: string; txnId: string }): Promise<Verdict>;
  /** A transaction's items from `origin`; items this role does not take are dropped (no entry). */
  receive(w: Writer, origin: string, items: readonly InboundItem[]): Promise<Array<{ id: string; verdict: Verdict }>>;
  /** A local user invites someone. */
  invite(sender: string, target: string, content: JsonObject): Promise<Verdict>;
  /** An invite completed here and offered to the invitee's server (federation /invite, as hub). */
  inviteRemote(w: Writer, request: InviteRequest): Promise<Verdict>;
  /** make_join / make_leave / make_knock; `content`: extra content the template carries (a restricted join's authoriser). */
  membershipTemplate(userId: string, membership: MembershipKind, content?: JsonObject): { template: JsonObject; roomVersion: string } | Rejected;
  /** send_join / send_leave / send_knock. */
  membershipAnswer(w: Writer, origin: string, lpdu: Lpdu, membership: MembershipKind): Promise<JoinAnswer | Rejected>;
  /** Where history older than this server's copy comes from (verified PDUs up to `upTo`); absent when it holds it all. */
  olderHistory?(upTo: string, limit: number): Promise<Pdu[] | undefined>;
  /** The servers an event this server commits is sent to. */
  destinationsOf(pdu: Pdu): string[];
  /** Full-mesh rooms: send_join / send_leave / send_knock v2, where the joining server sends a signed PDU. */
  membershipPdu?(w: Writer, origin: string, pdu: Pdu, membership: MembershipKind): Promise<JoinAnswer | Rejected>;
  /** Full-mesh rooms: the state before an event as event IDs, when this server knows it (federation /state). */
  stateIdsBefore?(eventId: string): string[] | undefined;
  /** Full-mesh rooms: get_missing_events, as event IDs oldest first. */
  missingEvents?(earliest: readonly string[], latest: readonly string[], limit: number, minDepth: number): string[];
  /** Full-mesh rooms: whether an event may be served to other servers (held, not rejected). */
  servable?(eventId: string): boolean;
  /** Full-mesh rooms: /backfill as event IDs oldest first, walking prev_events; undefined when none of `from` is held. */
  backfillIds?(from: readonly string[], limit: number): string[] | undefined;
  /** The hub refused an LPDU this server sent; `details` is the rest of its failed_pdus entry. */
  lpduRejected(lpduHash: string, error: string, details?: Readonly<Record<string, unknown>>): void;
}
