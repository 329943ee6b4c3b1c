// The Room object's lifecycle and identity: `load()` picks the protocol from the stored version and
// hub, `start()` builds the engine, and the guards every RPC group uses. The RPC methods are in the
// subclasses (room-facade-reads.ts, room-facade-writes.ts, room.ts); workerd exports the last as `Room`.

import { DurableObject } from "cloudflare:workers";
import { forbidden, notFound } from "../shared/errors.js";
import { RoomState } from "../shared/room-state.js";
import { getRoomVersion } from "../shared/room-versions.js";
import { roomParts, type RoomParts } from "./room/cloudflare.js";
import { RoomCore, type RoomIdentity } from "./room/core.js";
import { LmHub } from "./room/lm-hub.js";
import { LmParticipant } from "./room/lm-participant.js";
import type { MimiHub } from "./room/mimi-hub.js";
import type { MimiFollower } from "./room/mimi-follower.js";
import { mimiRoles } from "./room-mimi.js";
import { MatrixDag } from "./room/matrix-dag.js";
import { DagGapFiller } from "./room/dag-missing.js";
import { resolveState } from "../shared/state-resolution.js";
import type { RoomVersion } from "../shared/room-version.js";
import type { RoomProtocol } from "./room/protocol.js";
import { Writer } from "./room/writer.js";
import { unnamedConverterCopy } from "./room/converter-mesh.js";
import { DEDUP_WINDOW_MS } from "./room-converter-storage.js";

export interface Engine {
  core: RoomCore;
  protocol: RoomProtocol;
  /** Hub rooms: the MIMI endpoints, writing through the LM hub (room/mimi-hub.ts). */
  mimi?: MimiHub;
  /** View rooms of a MIMI room hosted elsewhere (room/mimi-follower.ts). */
  follower?: MimiFollower;
}

/** What every RPC group of the facade stands on; `Room` (room.ts) is the class workerd exports. */
export abstract class RoomBase extends DurableObject<Env> {
  protected readonly state = new RoomState();
  protected readonly section = Writer.section();
  protected readonly parts: RoomParts;
  /** Set once the room's identity is known (created here, joined, or loaded). */
  protected engine: Engine | undefined;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.parts = roomParts(ctx, env, this.state, () => this.engine?.core);
    void ctx.blockConcurrencyWhile(async () => this.load());
  }

  /** Reads the room's identity and picks its protocol: the hub role when its hub is this server. */
  protected load(): void {
    const [roomId, versionId, hub] = ["room_id", "room_version", "hub"].map((k) => this.parts.store.getMeta(k));
    const version = versionId === undefined ? undefined : getRoomVersion(versionId);
    if (!roomId || !version || !hub) return;
    const { core } = this.start({ roomId, version, hub }, (c) => (!version.linearized ? this.dag(c) : hub === this.env.SERVER_NAME ? this.lmHub(c) : new LmParticipant(c, this.parts.ports)));
    core.loadFromStore();
    this.parts.mls.load(roomId);
    if (core.last) this.parts.notifier.renotify(roomId, core.last.pos);
  }

  protected start<P extends RoomProtocol>(identity: RoomIdentity, make: (core: RoomCore) => P): { core: RoomCore; protocol: P } {
    const core = new RoomCore(identity, this.state, this.parts.store, this.section, this.parts.ports.transaction, this.parts.listeners);
    const protocol = make(core);
    this.engine = { core, protocol };
    if (protocol instanceof LmHub) Object.assign(this.engine, mimiRoles(identity.roomId, protocol, this.parts, this.state, this.env, (p) => this.ctx.waitUntil(p)));
    return { core, protocol };
  }

  /** The LM hub of a room that may also serve MIMI followers, which get notify instead of LM fan-out. */
  protected lmHub(core: RoomCore): LmHub {
    const followers = this.parts.mimi.followers;
    return new LmHub(core, this.parts.ports, (server) => followers.has(server));
  }

  /** The full-mesh protocol (room versions 11 and 12) on `core`, with state resolution and gap filling. */
  protected dag(core: RoomCore): MatrixDag {
    const version: RoomVersion = core.version;
    const dag = new MatrixDag(core, this.parts.ports, this.parts.dag, (stateSets, getEvent) => resolveState({ version, stateSets, getEvent }));
    dag.gapFiller = new DagGapFiller(core, dag, this.parts.ports);
    dag.receiver.screen = unnamedConverterCopy(core.state);
    return dag;
  }

  /** 403 unless `userId` is joined (also when this server does not know the room). */
  protected requireJoined(userId: string): void {
    if (this.state.membership(userId) !== "join") throw forbidden(this.engine ? `${userId} is not in room ${this.engine.core.roomId}` : `${userId} is not in this room`);
  }

  /** Whether this server orders the room now: a hub with a timeline (fan-out push-back applies only then). */
  protected ordersHere(): boolean {
    // Full-mesh rooms take no LPDUs, and received events add nothing to our outbox: no push-back.
    return !!this.engine?.core.last && this.engine.protocol.isHub && this.engine.core.version.linearized;
  }

  /** The room, once it has a timeline; 404 before. */
  protected loaded(): Engine {
    if (!this.engine?.core.last) throw notFound("Room not known to this server");
    return this.engine;
  }

  override async alarm(): Promise<void> {
    const roomId = this.engine?.core.roomId;
    if (roomId === undefined) return;
    await this.parts.indexer.flush(roomId);
    await this.parts.outbox.reannounce(roomId);
    this.parts.mimi.notifier.kick(roomId);
    await this.parts.converter.flush();
    this.parts.converterStore.pruneKeysBefore(Date.now() - DEDUP_WINDOW_MS);
  }

  /** MIMI hub rooms only (404 otherwise): the endpoints of room/mimi-hub.ts. */
  protected mimiHub(): MimiHub {
    const mimi = this.loaded().mimi;
    if (!mimi) throw notFound("This server is not the room's hub");
    return mimi;
  }
}
