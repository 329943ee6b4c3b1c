// An MLS device over the client API of either homeserver (Synapse or Switchboard), for the peer
// tests: a ts-mls client (test/support/mls-client.ts) whose credential object and KeyPackages are
// published with /keys/upload, whose Welcomes come in by /sync's to-device section, and whose
// commits and messages go out as room events. Nothing here is specific to Switchboard: a Synapse
// user's device reads and sends the MLS events through Synapse's own client API.

import { mlsCredentialKey } from "../../shared/device-keys.js";
import { MLS_DEFAULT_ALGORITHM } from "../../shared/mls-algorithm.js";
import { generateSeed, signingKeyFromSeed } from "../../shared/signing-key.js";
import { MLS_ALGORITHM, MLS_KEY_PACKAGE_ALGORITHM, signAs } from "../support/e2ee-keys.js";
import { MlsDevice } from "../support/mls-client.js";
import { eventually, User, type Homeserver } from "./peer.js";

export const ROOM_ALGORITHM = MLS_DEFAULT_ALGORITHM;
export const WELCOME_ALGORITHM = "m.mls.v1.welcome.dhkemx25519-aes128gcm-sha256-ed25519";
export { MLS_KEY_PACKAGE_ALGORITHM };

interface ToDevice {
  sender: string;
  type: string;
  content: Record<string, unknown>;
}

const enc = encodeURIComponent;

export class PeerMlsDevice {
  private since: string | undefined;
  private readonly inbox: ToDevice[] = [];
  private kp = 0;

  private constructor(
    readonly user: User,
    readonly mls: MlsDevice,
    private readonly seed: Uint8Array,
  ) {}

  get userId(): string {
    return this.user.userId;
  }
  get deviceId(): string {
    return this.user.deviceId;
  }

  static async register(server: Homeserver, username: string): Promise<PeerMlsDevice> {
    const user = await User.register(server, username);
    const seed = generateSeed();
    const publicKey = (await signingKeyFromSeed(seed, user.deviceId)).publicKey;
    return new PeerMlsDevice(user, await MlsDevice.create(user.userId, user.deviceId, { signKey: seed, publicKey }), seed);
  }

  /** Publishes the device's credential object (signed by its MLS key) and `n` KeyPackages. */
  async publish(n: number): Promise<void> {
    const key = await signingKeyFromSeed(this.seed, this.deviceId);
    const cred = mlsCredentialKey({ userId: this.userId, deviceId: this.deviceId, signatureKey: key.publicKey });
    const device = await signAs({ user_id: this.userId, device_id: this.deviceId, algorithms: [MLS_ALGORITHM], keys: { [cred.keyId]: cred.value } }, this.userId, [
      { keyId: cred.keyId, sign: (b: Uint8Array) => key.sign(b) },
    ]);
    const oneTime: Record<string, string> = {};
    for (let i = 0; i < n; i++) oneTime[`${MLS_KEY_PACKAGE_ALGORITHM}:kp${this.kp++}`] = await this.mls.keyPackage();
    await this.user.request("POST", "/keys/upload", { device_keys: device, one_time_keys: oneTime });
  }

  /** Waits for a to-device message matching `match`, reading /sync. */
  async receive(match: (e: ToDevice) => boolean, what: string): Promise<ToDevice> {
    return eventually(`${what} for ${this.userId}`, async () => {
      const s = await this.user.request<{ next_batch: string; to_device?: { events?: ToDevice[] } }>("GET", `/sync?timeout=1000${this.since ? `&since=${enc(this.since)}` : ""}`);
      this.since = s.next_batch;
      this.inbox.push(...(s.to_device?.events ?? []));
      return this.inbox.find(match);
    });
  }

  async send(roomId: string, type: string, content: Record<string, unknown>): Promise<string> {
    return (await this.user.request<{ event_id: string }>("PUT", `/rooms/${enc(roomId)}/send/${type}/${this.user.nextTxn()}`, content)).event_id;
  }

  async sendToDevice(messages: Record<string, Record<string, Record<string, unknown>>>): Promise<void> {
    await this.user.request("PUT", `/sendToDevice/m.room.encrypted/${this.user.nextTxn()}`, { messages });
  }

  async encrypted(text: string, commitEventId: string): Promise<Record<string, unknown>> {
    return { algorithm: ROOM_ALGORITHM, ciphertext: await this.mls.encrypt(text), commit_event_id: commitEventId };
  }
}
