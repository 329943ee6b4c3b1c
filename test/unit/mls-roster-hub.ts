// Shared fixtures of the mls-roster tests: a hub reduced to what the roster needs, and a populated room.

import { expect } from "vitest";
import { encodeBase64 } from "../../shared/base64.js";
import { MLS_DEFAULT_ALGORITHM } from "../../shared/mls-algorithm.js";
import { inspectCommit, readEncryptedHeader } from "../../shared/mls-commit.js";
import { applyCommit, checkEncrypted, deviceInvalidated, userJoined, userLeft, type CommitResult, type EncryptedCheck, type Roster } from "../../shared/mls-roster.js";
import { MlsDevice, type PendingCommit } from "../support/mls-client.js";

export const ROOM = "!mls:hub.example";

/** The Room's part, reduced to what the roster needs: joined users, valid devices, one roster. */
export class Hub {
  roster: Roster | null = null;
  readonly joined = new Set<string>();
  private readonly devices = new Map<string, string>();

  join(...users: string[]): void {
    for (const u of users) {
      this.joined.add(u);
      if (this.roster) this.roster = userJoined(this.roster, u);
    }
  }

  leave(user: string): void {
    this.joined.delete(user);
    if (this.roster) this.roster = userLeft(this.roster, user);
  }

  /** Publishes valid device information (what /keys/upload would have validated). */
  register(...devices: MlsDevice[]): void {
    for (const d of devices) this.devices.set(`${d.userId}|${d.deviceId}`, encodeBase64(d.signatureKey));
  }

  invalidate(device: MlsDevice): void {
    this.devices.delete(`${device.userId}|${device.deviceId}`);
    if (this.roster) this.roster = deviceInvalidated(this.roster, device.userId, device.deviceId);
  }

  submit(sender: string, message: string): CommitResult {
    const inspected = inspectCommit(message, MLS_DEFAULT_ALGORITHM);
    if (!inspected.ok) throw new Error(`inspection rejected: ${inspected.code}`);
    const result = applyCommit(this.roster, inspected.commit, {
      roomId: ROOM,
      sender,
      isJoined: (u) => this.joined.has(u),
      isValidDevice: (u, d, key) => {
        const published = this.devices.get(`${u}|${d}`);
        return published !== undefined && (key === undefined || published === encodeBase64(key));
      },
    });
    if (result.ok) this.roster = result.roster;
    return result;
  }

  /** Submits a device's commit as its user and adopts it locally when accepted. */
  commitBy(device: MlsDevice, pending: PendingCommit): CommitResult {
    const result = this.submit(device.userId, pending.message);
    if (result.ok) device.confirm(pending);
    return result;
  }

  encrypted(sender: string, ciphertext: string): EncryptedCheck {
    const header = readEncryptedHeader(ciphertext);
    if (!header.ok) throw new Error(`header rejected: ${header.code}`);
    return checkEncrypted(this.roster, header.header, sender, (u) => this.joined.has(u));
  }
}

export function accepted(result: CommitResult): Extract<CommitResult, { ok: true }> {
  if (!result.ok) throw new Error(`rejected: ${result.code}: ${result.reason}`);
  return result;
}

export function rejected(result: CommitResult | EncryptedCheck, code: string): Extract<CommitResult, { ok: false }> {
  if (result.ok) throw new Error(`accepted, expected ${code}`);
  expect(result.code).toBe(code);
  return result;
}

export const device = (user: string, id: string) => MlsDevice.create(user, id);

/** alice creates the group; bob (two devices) and carol are added; everyone is joined and valid. */
export async function populatedRoom() {
  const hub = new Hub();
  const alice = await device("@alice:hub.example", "A1");
  const bob1 = await device("@bob:other.example", "B1");
  const bob2 = await device("@bob:other.example", "B2");
  const carol = await device("@carol:other.example", "C1");
  hub.join(alice.userId, bob1.userId, carol.userId);
  hub.register(alice, bob1, bob2, carol);
  await alice.createGroup(ROOM);
  accepted(hub.commitBy(alice, await alice.commit()));
  const add = await alice.commit({ add: [await bob1.keyPackage(), await bob2.keyPackage(), await carol.keyPackage()] });
  accepted(hub.commitBy(alice, add));
  for (const d of [bob1, bob2, carol]) await d.join(add.welcome!);
  return { hub, alice, bob1, bob2, carol, all: [alice, bob1, bob2, carol] };
}

export async function processAll(devices: MlsDevice[], message: string): Promise<void> {
  for (const d of devices) await d.processCommit(message);
}
