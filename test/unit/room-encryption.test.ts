import { describe, expect, it } from "vitest";
import { MLS_DEFAULT_ALGORITHM } from "../../shared/mls-algorithm.js";
import { checkEncryptionEvent, checkRedaction, encryptionOfCreate, type RoomEncryption } from "../../shared/room-encryption.js";

const MLS: RoomEncryption = { mls: true, algorithm: MLS_DEFAULT_ALGORITHM, suite: "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519" };
const PLAIN: RoomEncryption = { mls: false };
const MEGOLM = "m.megolm.v1.aes-sha2";

describe("encryptionOfCreate", () => {
  it("makes a room an MLS room when its create event names a supported MLS algorithm", () => {
    expect(encryptionOfCreate({ room_version: "x", encryption: { algorithm: MLS_DEFAULT_ALGORITHM } })).toEqual({ ok: true, encryption: MLS });
  });

  it("leaves a room without encryption in its create event as a non-MLS room", () => {
    expect(encryptionOfCreate({ room_version: "x" })).toEqual({ ok: true, encryption: PLAIN });
    expect(encryptionOfCreate(undefined)).toEqual({ ok: true, encryption: PLAIN });
  });

  it("refuses an encryption the hub cannot enforce: unknown suites, other algorithms, malformed values", () => {
    for (const encryption of [{ algorithm: "m.mls.v1.unknown-suite" }, { algorithm: MEGOLM }, { algorithm: 7 }, "mls", null, []]) {
      const r = encryptionOfCreate({ encryption });
      expect(r.ok, JSON.stringify(encryption)).toBe(false);
    }
  });
});

describe("checkEncryptionEvent", () => {
  it("lets an MLS room restate its algorithm and nothing else, not even a stronger-sounding one", () => {
    expect(checkEncryptionEvent(MLS, undefined, { algorithm: MLS_DEFAULT_ALGORITHM })).toEqual({ ok: true });
    for (const content of [{ algorithm: MEGOLM }, {}, { algorithm: "m.mls.v1.dhkemp384-aes256gcm-sha384-p384" }]) {
      expect(checkEncryptionEvent(MLS, { algorithm: MLS_DEFAULT_ALGORITHM }, content).ok, JSON.stringify(content)).toBe(false);
    }
  });

  it("lets a double-ratchet room turn encryption on once, then keeps its algorithm", () => {
    expect(checkEncryptionEvent(PLAIN, undefined, { algorithm: MEGOLM })).toEqual({ ok: true });
    expect(checkEncryptionEvent(PLAIN, { algorithm: MEGOLM }, { algorithm: MEGOLM, rotation_period_ms: 1000 })).toEqual({ ok: true });
    expect(checkEncryptionEvent(PLAIN, { algorithm: MEGOLM }, { algorithm: "m.olm.v1.curve25519-aes-sha2" }).ok).toBe(false);
    expect(checkEncryptionEvent(PLAIN, { algorithm: MEGOLM }, {}).ok).toBe(false);
    expect(checkEncryptionEvent(PLAIN, undefined, {}).ok).toBe(false);
  });
});

describe("checkRedaction", () => {
  it("refuses redacting the current m.room.encryption in any room, allows an outdated one", () => {
    expect(checkRedaction(PLAIN, { type: "m.room.encryption", stateKey: "", isCurrent: true }).ok).toBe(false);
    expect(checkRedaction(MLS, { type: "m.room.encryption", stateKey: "", isCurrent: true }).ok).toBe(false);
    expect(checkRedaction(PLAIN, { type: "m.room.encryption", stateKey: "", isCurrent: false })).toEqual({ ok: true });
  });

  it("refuses redacting an m.mls.commit in an MLS room; other events may be redacted", () => {
    expect(checkRedaction(MLS, { type: "m.mls.commit", isCurrent: false }).ok).toBe(false);
    expect(checkRedaction(MLS, { type: "m.room.encrypted", isCurrent: false })).toEqual({ ok: true });
    expect(checkRedaction(PLAIN, { type: "m.mls.commit", isCurrent: false })).toEqual({ ok: true });
  });
});
