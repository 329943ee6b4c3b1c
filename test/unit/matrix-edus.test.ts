import { describe, expect, it } from "vitest";
import { deviceListUpdateEdu, parseE2eeEdu, toDeviceEdu } from "../../shared/e2ee-edus.js";
import { toMatrixEdus, toMatrixTransaction } from "../../shared/matrix-edus.js";

const ctx = { messageId: (i: number) => `txn1.${i}`, streamId: 1234 };
const device = { user_id: "@a:one.test", device_id: "DEV1", algorithms: ["m.olm.v1.curve25519-aes-sha2"], keys: { "curve25519:DEV1": "k" }, signatures: {} };

describe("Matrix-form EDUs for Matrix homeserver peers", () => {
  it("turns the draft's to-device EDU into Matrix's {sender, type, message_id, messages} under edu_type", () => {
    const draft = toDeviceEdu("@a:one.test", { target: "@b:two.test", targetDevice: "BDEV", messageType: "m.room.encrypted", message: { ciphertext: "x" } });
    expect(toMatrixEdus(draft, 3, ctx)).toEqual([
      {
        edu_type: "m.direct_to_device",
        content: { sender: "@a:one.test", type: "m.room.encrypted", message_id: "txn1.3", messages: { "@b:two.test": { BDEV: { ciphertext: "x" } } } },
      },
    ]);
  });

  it("turns a device-list EDU into one Matrix update per changed or removed device, without prev_id so the receiver resyncs", () => {
    const draft = deviceListUpdateEdu("@a:one.test", [device], ["OLD"]);
    expect(toMatrixEdus(draft, 0, ctx)).toEqual([
      { edu_type: "m.device_list_update", content: { user_id: "@a:one.test", device_id: "DEV1", stream_id: 1234, prev_id: [], keys: device } },
      { edu_type: "m.device_list_update", content: { user_id: "@a:one.test", device_id: "OLD", stream_id: 1234, prev_id: [], deleted: true } },
    ]);
  });

  it("keeps EDUs already in Matrix form and renames `type` to `edu_type` for other draft-shaped EDUs", () => {
    const typing = { edu_type: "m.typing", content: { room_id: "!r:one.test", user_id: "@a:one.test", typing: true } };
    expect(toMatrixEdus(typing, 0, ctx)).toEqual([typing]);
    expect(toMatrixEdus({ type: "m.receipt", content: { x: 1 } }, 0, ctx)).toEqual([{ edu_type: "m.receipt", content: { x: 1 } }]);
  });

  it("drops what cannot be read rather than sending a Matrix peer an EDU that would fail its whole transaction", () => {
    expect(toMatrixEdus(null, 0, ctx)).toEqual([]);
    expect(toMatrixEdus({ type: "m.direct_to_device", content: { target: "not a user" } }, 0, ctx)).toEqual([]);
    expect(toMatrixEdus({ content: {} }, 0, ctx)).toEqual([]);
  });

  it("rewrites a transaction's EDUs with message IDs from its transaction ID and leaves its PDUs alone", () => {
    const pdu = { type: "m.room.message" };
    const td = toDeviceEdu("@a:one.test", { target: "@b:two.test", targetDevice: "*", messageType: "m.x", message: {} });
    const out = toMatrixTransaction({ origin: "one.test", origin_server_ts: 99, pdus: [pdu], edus: [td, td] }, "T7");
    expect(out["pdus"]).toEqual([pdu]);
    expect((out["edus"] as Array<{ content: { message_id: string } }>).map((e) => e.content.message_id)).toEqual(["T7.0", "T7.1"]);
    const same = { origin: "one.test", pdus: [], edus: [] };
    expect(toMatrixTransaction(same, "T8")).toBe(same);
  });

  it("reads Matrix's m.signing_key_update as news about the user's keys", () => {
    expect(parseE2eeEdu({ edu_type: "m.signing_key_update", content: { user_id: "@a:one.test", master_key: {} } })).toEqual({ kind: "signing_key_update", userId: "@a:one.test", masterKey: {}, selfSigningKey: undefined });
    expect(parseE2eeEdu({ edu_type: "m.signing_key_update", content: { user_id: "nope" } })).toBeUndefined();
  });

  it("round-trips: the Matrix forms it sends read back as the same to-device message and device change", () => {
    const draft = toDeviceEdu("@a:one.test", { target: "@b:two.test", targetDevice: "BDEV", messageType: "m.x", message: { n: 1 } });
    const [m] = toMatrixEdus(draft, 0, ctx);
    expect(parseE2eeEdu(m)).toEqual({ ...parseE2eeEdu(draft), messageId: "txn1.0" });
    const [d] = toMatrixEdus(deviceListUpdateEdu("@a:one.test", [device], []), 0, ctx);
    expect(parseE2eeEdu(d)).toEqual({ kind: "device_list", userId: "@a:one.test", changed: [device], removed: [] });
  });
});
