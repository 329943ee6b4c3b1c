// A simulated MLS device for tests: a ts-mls client whose BasicCredential carries the draft's identity
// (shared/mls-identity.ts), speaking in the base64 strings that travel in events and to-device messages:
// KeyPackages for /keys/upload, `m.mls.commit` `message`s, Welcomes, `m.room.encrypted` `ciphertext`s.
// A commit is prepared, then adopted only once the hub accepts it (confirm), as a real client must do
// when another device's commit for the same epoch may win instead.

import {
  createApplicationMessage,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPub,
  createProposal,
  decodeMlsMessage,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  encodeMlsMessage,
  generateKeyPackageWithKey,
  getCiphersuiteFromName,
  getCiphersuiteImpl,
  joinGroup,
  processMessage,
  processPrivateMessage,
  acceptAll,
  type CiphersuiteImpl,
  type CiphersuiteName,
  type ClientState,
  type KeyPackage,
  type MLSMessage,
  type PrivateKeyPackage,
  type Proposal,
} from "ts-mls";
import { makeProposalRef } from "ts-mls/authenticatedContent.js";
import { signWithLabel } from "ts-mls/crypto/signature.js";
import { encodeLeafNodeTBS, type LeafNode, type LeafNodeTBS } from "ts-mls/leafNode.js";
import { updateLeafKey } from "ts-mls/privateKeyPath.js";
import { signGroupInfo } from "ts-mls/groupInfo.js";
import { decodeBase64, encodeBase64 } from "../../shared/base64.js";
import { decodeDeviceIdentity, encodeDeviceIdentity } from "../../shared/mls-identity.js";
import { groupIdOfRoom } from "../../shared/mls-roster.js";

export const TEST_SUITE: CiphersuiteName = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519";

let suite: Promise<CiphersuiteImpl> | undefined;
export function cipherSuite(): Promise<CiphersuiteImpl> {
  suite ??= getCiphersuiteImpl(getCiphersuiteFromName(TEST_SUITE));
  return suite;
}

export function encodeMessage(message: MLSMessage): string {
  return encodeBase64(encodeMlsMessage(message));
}

export function decodeMessage(base64: string): MLSMessage {
  const decoded = decodeMlsMessage(decodeBase64(base64), 0);
  if (!decoded) throw new Error("not an MLS message");
  return decoded[0];
}

/** Decodes, lets the test alter the message, re-encodes: for messages no honest client would send. */
export function rewriteMessage(base64: string, alter: (message: MLSMessage) => void): string {
  const message = decodeMessage(base64);
  alter(message);
  return encodeMessage(message);
}

export interface PendingCommit {
  /** The `m.mls.commit` event's `message`: a PublicMessage. */
  message: string;
  /** The Welcome for added devices, sent by to-device with `commit_event_id` once the commit is accepted. */
  welcome?: string;
  /** The epoch the commit is for. */
  epoch: number;
  newState: ClientState;
}

export interface CommitOptions {
  /** Base64 KeyPackage messages, as /keys/claim hands them out. */
  add?: string[];
  remove?: number[];
  /** Further proposals by value, for tests of what the hub refuses. */
  extra?: Proposal[];
}

export class MlsDevice {
  private keyPackages: { publicPackage: KeyPackage; privatePackage: PrivateKeyPackage }[] = [];
  private current: ClientState | undefined;
  /** This device's Update proposal of the current epoch: its ref (base64) and the new leaf's HPKE private key. */
  private ownUpdate: { ref: string; privateKey: Uint8Array } | undefined;

  private constructor(
    readonly userId: string,
    readonly deviceId: string,
    private readonly signature: { signKey: Uint8Array; publicKey: Uint8Array },
    private readonly cs: CiphersuiteImpl,
  ) {}

  /**
   * A device with a fresh signature key, or with `signature` (an Ed25519 seed as ts-mls's signKey and its
   * public key) when the test also signs the device's published credential object with that key.
   */
  static async create(userId: string, deviceId: string, signature?: { signKey: Uint8Array; publicKey: Uint8Array }): Promise<MlsDevice> {
    const cs = await cipherSuite();
    return new MlsDevice(userId, deviceId, signature ?? (await cs.signature.keygen()), cs);
  }

  get state(): ClientState {
    if (!this.current) throw new Error(`${this.userId}/${this.deviceId} is in no group`);
    return this.current;
  }

  get epoch(): number {
    return Number(this.state.groupContext.epoch);
  }

  get leafIndex(): number {
    return this.state.privatePath.leafIndex;
  }

  get signatureKey(): Uint8Array {
    return this.signature.publicKey;
  }

  /** A fresh KeyPackage, base64 MLSMessage; the device keeps its private half to join with. */
  async keyPackage(): Promise<string> {
    const identity = encodeDeviceIdentity({ userId: this.userId, deviceId: this.deviceId, signatureKey: this.signature.publicKey });
    const kp = await generateKeyPackageWithKey(
      { credentialType: "basic", identity },
      defaultCapabilities(),
      defaultLifetime,
      [],
      this.signature,
      this.cs,
    );
    this.keyPackages.push(kp);
    return encodeMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: kp.publicPackage });
  }

  /** Creates the room's group at epoch 0 with this device alone at leaf 0 (nothing is sent yet). */
  async createGroup(roomId: string): Promise<void> {
    await this.keyPackage();
    const kp = this.keyPackages.pop()!;
    this.current = await createGroup(groupIdOfRoom(roomId), kp.publicPackage, kp.privatePackage, [], this.cs);
  }

  /** Prepares a commit as a PublicMessage; nothing changes locally until confirm(). */
  async commit(options: CommitOptions = {}): Promise<PendingCommit> {
    const proposals: Proposal[] = [
      ...(options.add ?? []).map((b64): Proposal => {
        const m = decodeMessage(b64);
        if (m.wireformat !== "mls_key_package") throw new Error("not a KeyPackage");
        return { proposalType: "add", add: { keyPackage: m.keyPackage } };
      }),
      ...(options.remove ?? []).map((removed): Proposal => ({ proposalType: "remove", remove: { removed } })),
      ...(options.extra ?? []),
    ];
    const epoch = this.epoch;
    // The ratchet tree rides in the Welcome so a joiner needs nothing else.
    const result = await createCommit(
      { state: this.state, cipherSuite: this.cs },
      { extraProposals: proposals, wireAsPublicMessage: true, ratchetTreeExtension: true },
    );
    const pending: PendingCommit = { message: encodeMessage(result.commit), epoch, newState: result.newState };
    if (result.welcome) pending.welcome = encodeMessage({ version: "mls10", wireformat: "mls_welcome", welcome: result.welcome });
    return pending;
  }

  /**
   * The GroupInfo of the epoch a pending commit leads to (MIMI's update and an LM commit carry it), base64
   * MLSMessage; with `forgedBy`, re-signed by that other signature key (ts-mls signKey) instead.
   */
  async groupInfoAfter(pending: PendingCommit, forgedBy?: Uint8Array): Promise<string> {
    const groupInfo = await createGroupInfoWithExternalPub(pending.newState, [], this.cs);
    const signed = forgedBy ? await signGroupInfo(groupInfo, forgedBy, this.cs.signature) : groupInfo;
    return encodeMessage({ version: "mls10", wireformat: "mls_group_info", groupInfo: signed });
  }

  /** A signature key pair that is not this device's (ts-mls signKey and public key), for forgeries. */
  async otherSignatureKey(): Promise<{ signKey: Uint8Array; publicKey: Uint8Array }> {
    return this.cs.signature.keygen();
  }

  /** The hub accepted this device's commit: adopt the next epoch. */
  confirm(pending: PendingCommit): void {
    if (pending.epoch !== this.epoch) throw new Error("commit is for another epoch");
    this.current = pending.newState;
  }

  /** Applies another device's accepted commit. */
  async processCommit(message: string): Promise<void> {
    const m = decodeMessage(message);
    if (m.wireformat !== "mls_public_message") throw new Error("not a PublicMessage");
    const c = m.publicMessage.content;
    const own = this.ownUpdate;
    if (c.contentType === "commit" && own && c.commit.proposals.some((p) => p.proposalOrRefType === "reference" && encodeBase64(p.reference) === own.ref)) {
      // The commit installs this device's Update: its leaf now has the Update's HPKE key (ts-mls keeps none for it).
      this.current = { ...this.state, privatePath: updateLeafKey(this.state.privatePath, own.privateKey) };
    }
    if (c.contentType === "commit") this.ownUpdate = undefined;
    const result = await processMessage(m, this.state, emptyPskIndex, acceptAll, this.cs);
    this.current = result.newState;
  }

  /** Sends a proposal as a PublicMessage and keeps it pending, so the next commit carries it by reference. */
  async propose(proposal: Proposal): Promise<string> {
    const result = await createProposal(this.state, true, proposal, this.cs);
    this.current = result.newState;
    return encodeMessage(result.message);
  }

  /**
   * Proposes an Update of this device's own leaf: a fresh HPKE key, the same credential and signature
   * key (the device's published one), signed as RFC 9420 §7.2 has an update LeafNode signed.
   * `tamper` alters the LeafNode after signing, for tests of what the hub refuses.
   */
  async proposeUpdate(tamper?: (leaf: LeafNode) => void): Promise<string> {
    const node = this.state.ratchetTree[this.leafIndex * 2];
    if (node?.nodeType !== "leaf") throw new Error("no own leaf");
    const keys = await this.cs.hpke.generateKeyPair();
    const { leaf } = node;
    const tbs: LeafNodeTBS = {
      hpkePublicKey: await this.cs.hpke.exportPublicKey(keys.publicKey),
      signaturePublicKey: leaf.signaturePublicKey,
      credential: leaf.credential,
      capabilities: leaf.capabilities,
      leafNodeSource: "update",
      extensions: leaf.extensions,
      groupId: this.state.groupContext.groupId,
      leafIndex: this.leafIndex,
    };
    const signature = await signWithLabel(this.signature.signKey, "LeafNodeTBS", encodeLeafNodeTBS(tbs), this.cs.signature);
    const leafNode = { hpkePublicKey: tbs.hpkePublicKey, signaturePublicKey: tbs.signaturePublicKey, credential: tbs.credential, capabilities: tbs.capabilities, leafNodeSource: "update", extensions: tbs.extensions, signature } as LeafNode;
    tamper?.(leafNode);
    const message = await this.propose({ proposalType: "update", update: { leafNode } } as Proposal);
    const m = decodeMessage(message);
    if (m.wireformat !== "mls_public_message") throw new Error("not a PublicMessage");
    const ref = await makeProposalRef({ wireformat: "mls_public_message", content: m.publicMessage.content, auth: m.publicMessage.auth }, this.cs.hash);
    this.ownUpdate = { ref: encodeBase64(ref), privateKey: await this.cs.hpke.exportPrivateKey(keys.privateKey) };
    return message;
  }

  /** Keeps another sender's proposal (e.g. the hub's, as external sender) for the next commit to include by reference. */
  async processProposal(message: string): Promise<void> {
    await this.processCommit(message);
  }

  /** The GroupContextExtensions proposal that makes `externalSender` (ts-mls encoding) the group's external sender. */
  static installExternalSender(externalSender: Uint8Array): Proposal {
    return { proposalType: "group_context_extensions", groupContextExtensions: { extensions: [{ extensionType: "external_senders", extensionData: externalSender }] } };
  }

  async join(welcome: string): Promise<void> {
    const m = decodeMessage(welcome);
    if (m.wireformat !== "mls_welcome") throw new Error("not a Welcome");
    for (const [i, kp] of this.keyPackages.entries()) {
      try {
        this.current = await joinGroup(m.welcome, kp.publicPackage, kp.privatePackage, emptyPskIndex, this.cs);
      } catch {
        continue; // the Welcome is for another of this device's KeyPackages
      }
      this.keyPackages.splice(i, 1);
      return;
    }
    throw new Error(`no KeyPackage of ${this.userId}/${this.deviceId} opens this Welcome`);
  }

  /** An `m.room.encrypted` `ciphertext`: a PrivateMessage. */
  async encrypt(text: string): Promise<string> {
    const result = await createApplicationMessage(this.state, new TextEncoder().encode(text), this.cs);
    this.current = result.newState;
    return encodeMessage({ version: "mls10", wireformat: "mls_private_message", privateMessage: result.privateMessage });
  }

  async decrypt(ciphertext: string): Promise<string> {
    const m = decodeMessage(ciphertext);
    if (m.wireformat !== "mls_private_message") throw new Error("not a PrivateMessage");
    const result = await processPrivateMessage(this.state, m.privateMessage, emptyPskIndex, this.cs);
    this.current = result.newState;
    if (result.kind !== "applicationMessage") throw new Error("not an application message");
    return new TextDecoder().decode(result.message);
  }

  /** The leaf index of a device in this device's view of the group. */
  leafOf(userId: string, deviceId: string): number | undefined {
    for (const [nodeIndex, node] of this.state.ratchetTree.entries()) {
      if (node?.nodeType !== "leaf" || node.leaf.credential.credentialType !== "basic") continue;
      const id = decodeDeviceIdentity(node.leaf.credential.identity);
      if (id.ok && id.identity.userId === userId && id.identity.deviceId === deviceId) return nodeIndex / 2;
    }
    return undefined;
  }
}
