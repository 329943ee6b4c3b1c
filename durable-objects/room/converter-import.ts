// The converter's writing side: an event of a paired room, handed over by that room's converter
// listener, is written into this room through this room's own protocol (its auth rules included)
// by a ghost or a local user. Its dedup key is checked first: a second copy (another converter, a
// retry) is answered as a duplicate and nothing new is written. Imports run one at a time, so the
// check and the write cannot interleave. Through a participant (a second converter) the write also
// ends when another converter's copy arrives first (converter-seen.ts).

import { convertEvent, type Conversion } from "../../shared/converter/convert.js";
import { dedupKeyOf } from "../../shared/converter/dedup-key.js";
import { serviceUserId } from "../../shared/converter/ghost-user.js";
import type { Pdu } from "../../shared/event.js";
import { getRoomVersion } from "../../shared/room-versions.js";
import type { ConversionItem } from "./converter.js";
import type { KeyWait, SeenKeys } from "./converter-seen.js";
import { pairingsOf } from "./converter.js";
import type { RoomCore } from "./core.js";
import type { RoomProtocol } from "./protocol.js";
import type { Verdict } from "./verdict.js";
import type { DedupKeys } from "./converter-dedup-keys.js";
import { rememberCommitCopy, withLocalCommit } from "./converter-mls.js";
import { banAsLeave, isUnban } from "./converter-ban.js";

export type ImportResult = { outcome: "accepted" | "duplicate"; eventId: string } | { outcome: "skipped" | "rejected"; reason: string };

export class ConverterImport {
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly serverName: string,
    private readonly keys: DedupKeys,
    private readonly seen: SeenKeys,
  ) {}

  /** Serialised: see the file comment. */
  run(core: RoomCore, protocol: RoomProtocol, item: ConversionItem): Promise<ImportResult> {
    const go = () => this.importOne(core, protocol, item);
    const next = this.chain.then(go, go);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private async importOne(core: RoomCore, protocol: RoomProtocol, item: ConversionItem): Promise<ImportResult> {
    const pairing = pairingsOf(core.state).find((p) => p.peerRoomId === item.sourceRoomId);
    if (!pairing || !pairing.converters.includes(this.serverName)) return { outcome: "rejected", reason: `${core.roomId} is not paired with ${item.sourceRoomId} through ${this.serverName}` };
    const version = getRoomVersion(item.sourceVersion);
    if (!version) return { outcome: "rejected", reason: `unknown room version ${item.sourceVersion}` };
    const pdu = JSON.parse(item.pduJson) as Pdu;
    const result = convertEvent({ roomId: item.sourceRoomId, version, eventId: item.eventId, pdu, before: item.before }, core.roomId, this.serverName);
    if (!result.ok) return { outcome: "skipped", reason: result.reason };
    const c = await withLocalCommit(result.conversion, { sourceRoomId: item.sourceRoomId, eventId: item.eventId, version, pdu, commitJson: item.commitJson }, core.roomId, this.keys);
    // Keyed as written here (a membership per ghost), the key every server computes from the copy.
    const key = await dedupKeyOf(c, core.roomId, item.eventId);
    if (key === undefined) return { outcome: "skipped", reason: "the event has no dedup key" };
    const known = this.keys.eventWithKey(key);
    if (known !== undefined) return { outcome: "duplicate", eventId: known };
    const viaHub = core.version.linearized && core.identity.hub !== this.serverName;
    // A second converter's ghost joins only to carry a message (ensureJoined): one ghost per member unless it must.
    if (viaHub && c.type === "m.room.member" && c.content.membership === "join") return { outcome: "skipped", reason: "a second converter's ghost joins with its first message" };
    const other = viaHub ? this.seen.waitFor(key) : undefined;
    try {
      return await this.convert(core, protocol, item, c, key, other);
    } finally {
      other?.cancel();
    }
  }

  private async convert(core: RoomCore, protocol: RoomProtocol, item: ConversionItem, c: Conversion, key: string, other: KeyWait | undefined): Promise<ImportResult> {
    if (c.type === "m.room.member") {
      // The member's, not the sender's: a ban or unban is sent by the service user.
      const now = core.state.membership(c.state_key ?? c.sender);
      const m = c.content.membership;
      const settled = m === "join" ? now === "join" : m === "ban" ? now === "ban" : isUnban(c) ? now !== "ban" : now !== "join" && now !== "invite";
      if (settled) return { outcome: "skipped", reason: `${c.state_key ?? c.sender} is already ${c.content.membership === "join" ? "joined" : "not in the room"}` };
    }
    if (c.type !== "m.room.member") {
      const joined = await this.ensureJoined(core, protocol, c.sender);
      if (joined) return { outcome: "rejected", reason: joined.reason };
    }
    // The other converter's copy may have arrived while the ghost joined.
    const meanwhile = other && this.keys.eventWithKey(key);
    if (meanwhile) return { outcome: "duplicate", eventId: meanwhile };
    let v = await this.write(protocol, c, other);
    // A service user without the power to ban: the ghost leaves instead, so the user is still gone (docs/converter-membership.md).
    if (v.outcome === "rejected" && c.content.membership === "ban" && c.state_key !== undefined && core.state.membership(c.state_key) === "join") v = await this.write(protocol, banAsLeave(c), other);
    // A ghost joining a room that needs an invite: the service user invites it, when it can.
    if (v.outcome === "rejected" && c.type === "m.room.member" && c.content.membership === "join" && (await this.inviteByService(core, protocol, c.sender))) v = await this.write(protocol, c, other);
    // Room name and topic need power the sender may lack here; the service user carries them then.
    const service = serviceUserId(this.serverName);
    if (v.outcome === "rejected" && c.state_key === "" && c.sender !== service && core.state.membership(service) === "join") v = await this.write(protocol, { ...c, sender: service }, other);
    if (v.outcome === "rejected") return { outcome: "rejected", reason: v.reason };
    this.keys.putKey(key, v.eventId, Date.now());
    if (v.outcome === "accepted") rememberCommitCopy(this.keys, c.type, item.sourceRoomId, item.eventId, v.eventId);
    return { outcome: v.outcome === "duplicate" ? "duplicate" : "accepted", eventId: v.eventId };
  }

  /** Sends `c`; with `other`, the answer is that copy's event once it is committed here first. */
  private write(protocol: RoomProtocol, c: Conversion, other: KeyWait | undefined): Promise<Verdict> {
    const sent = protocol.send(c.sender, { type: c.type, content: c.content, ...(c.state_key !== undefined ? { state_key: c.state_key } : {}) });
    return other ? Promise.race([sent, other.promise.then((eventId): Verdict => ({ outcome: "duplicate", eventId }))]) : sent;
  }

  /** Joins `sender` (a ghost or a local user) before their first converted message; undefined once joined. */
  private async ensureJoined(core: RoomCore, protocol: RoomProtocol, sender: string): Promise<{ reason: string } | undefined> {
    if (core.state.membership(sender) === "join") return undefined;
    const join = { type: "m.room.member", state_key: sender, content: { membership: "join" } };
    let v = await protocol.send(sender, join);
    if (v.outcome === "rejected" && (await this.inviteByService(core, protocol, sender))) v = await protocol.send(sender, join);
    return v.outcome === "rejected" ? { reason: `${sender} cannot join: ${v.reason}` } : undefined;
  }

  private async inviteByService(core: RoomCore, protocol: RoomProtocol, target: string): Promise<boolean> {
    const service = serviceUserId(this.serverName);
    if (core.state.membership(service) !== "join" || core.state.membership(target) === "ban") return false;
    const v = await protocol.invite(service, target, {});
    return v.outcome !== "rejected";
  }
}
