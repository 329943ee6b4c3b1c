// Malformed MIMI bodies get a typed error naming the field and why; nothing throws. Also the tolerant
// readings of -06's open questions: bare vs MLSMessage-wrapped structs, a leading protocol octet.

import { encodeMlsMessage } from "ts-mls";
import { encodeGroupInfo } from "ts-mls/groupInfo.js";
import { encodeKeyPackage } from "ts-mls/keyPackage.js";
import { encodeWelcome } from "ts-mls/welcome.js";
import { beforeAll, describe, expect, it } from "vitest";
import {
  decodeFanoutMessage,
  decodeGroupInfoField,
  decodeKeyMaterialRequest,
  decodeKeyPackageField,
  decodeNotifyBody,
  decodeSubmitMessageRequest,
  decodeSubmitMessageResponse,
  decodeUpdateRequest,
  decodeUpdateRoomResponse,
  decodeWelcomeField,
  encodeFanoutMessage,
  encodeKeyMaterialRequest,
  encodeSubmitMessageRequest,
  encodeSubmitMessageResponse,
  encodeUpdateRequest,
  encodeUpdateRoomResponse,
  groupInfoField,
  mlsMessageField,
  welcomeField,
  type Decoded,
  type MimiCodecReason,
} from "../../shared/mimi/index.js";
import { mimiMlsMaterial, type MimiMlsMaterial } from "../support/mimi-mls.js";

function expectError<T>(d: Decoded<T>, reason: MimiCodecReason, field?: string): void {
  expect(d.ok).toBe(false);
  if (d.ok) return;
  expect(d.error.reason).toBe(reason);
  if (field !== undefined) expect(d.error.field).toBe(field);
}

const cat = (...parts: Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
};

describe("malformed MIMI bodies", () => {
  let m: MimiMlsMaterial;
  let submit: Uint8Array;
  let update: Uint8Array;
  beforeAll(async () => {
    m = await mimiMlsMaterial();
    submit = encodeSubmitMessageRequest({ protocol: "mls10", appMessage: mlsMessageField(m.fromAlice), sendingUri: "mimi://a.example/u/alice" });
    update = encodeUpdateRequest({
      kind: "commit",
      proposalOrCommit: mlsMessageField(m.commit),
      welcome: welcomeField(m.welcome),
      groupInfoOption: { representation: "full", groupInfo: groupInfoField(m.groupInfo) },
      ratchetTreeOption: { representation: "distributionService" },
    });
  });

  it("every truncation of a submitMessage or update body is a typed error, never a throw", () => {
    for (const body of [submit, update]) {
      for (let n = 0; n < body.length; n++) {
        const d = body === submit ? decodeSubmitMessageRequest(body.subarray(0, n)) : decodeUpdateRequest(body.subarray(0, n));
        expect(d.ok, `prefix of ${n} bytes`).toBe(false);
        if (!d.ok) expect(["truncated", "invalid_mls", "overlong_length", "noncanonical_length", "invalid_value", "unknown_enum"]).toContain(d.error.reason);
      }
    }
  });

  it("a trailing byte after the body is refused as trailing_bytes", () => {
    expectError(decodeSubmitMessageRequest(cat(submit, Uint8Array.of(0))), "trailing_bytes");
    expectError(decodeUpdateRequest(cat(update, Uint8Array.of(0))), "trailing_bytes");
    const res = encodeUpdateRoomResponse({ responseCode: "wrongEpoch", errorDescription: "", currentEpoch: 7n });
    expectError(decodeUpdateRoomResponse(cat(res, Uint8Array.of(1, 2))), "trailing_bytes");
  });

  it("a length prefix longer than the body is overlong_length, at the field it belongs to", () => {
    // errorDescription's 1-byte prefix claims 63 bytes where none follow.
    expectError(decodeUpdateRoomResponse(Uint8Array.of(2, 63)), "overlong_length", "errorDescription");
    // the sendingUri after the MLS message claims 4 bytes, 1 follows.
    const msg = encodeMlsMessage(m.fromAlice);
    expectError(decodeSubmitMessageRequest(cat(Uint8Array.of(1), msg, Uint8Array.of(4, 0x61))), "overlong_length", "sendingUri");
  });

  it("a length prefix not in its shortest form, or the reserved 8-byte form, is noncanonical_length", () => {
    expectError(decodeUpdateRoomResponse(Uint8Array.of(2, 0x40, 0x00)), "noncanonical_length", "errorDescription");
    expectError(decodeUpdateRoomResponse(Uint8Array.of(2, 0xc0, 0, 0, 0, 0, 0, 0, 0)), "noncanonical_length", "errorDescription");
  });

  it("enum values the draft does not define are unknown_enum", () => {
    expectError(decodeUpdateRoomResponse(Uint8Array.of(4, 0)), "unknown_enum", "responseCode");
    expectError(decodeSubmitMessageResponse(Uint8Array.of(1, 3)), "unknown_enum", "statusCode");
    expectError(decodeSubmitMessageResponse(Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)), "unknown_enum", "protocol");
    expectError(decodeSubmitMessageRequest(cat(Uint8Array.of(2), submit.subarray(1))), "unknown_enum", "protocol");
  });

  it("an optional's presence octet other than 0 or 1 is invalid_value", () => {
    const good = encodeSubmitMessageResponse({ protocol: "mls10", statusCode: "accepted", acceptedTimestamp: 5n });
    const bad = good.slice();
    bad[bad.length - 1] = 2;
    expectError(decodeSubmitMessageResponse(bad), "invalid_value", "frank");
  });

  it("a submitted message that is not a PrivateMessage application message is invalid_mls", () => {
    const body = cat(Uint8Array.of(1), encodeMlsMessage(m.commit), Uint8Array.of(0));
    expectError(decodeSubmitMessageRequest(body), "invalid_mls", "appMessage");
    expectError(decodeSubmitMessageRequest(cat(Uint8Array.of(1, 0, 1, 0, 9), Uint8Array.of(0))), "invalid_mls", "appMessage");
  });

  it("an update whose message is an application message is invalid_mls", () => {
    expectError(decodeUpdateRequest(cat(encodeMlsMessage(m.fromAlice), Uint8Array.of(0))), "invalid_mls", "proposalOrCommit");
  });

  it("an MLS struct inside a body with a non-minimal length prefix (ts-mls would take it) is invalid_mls", () => {
    const req = encodeKeyMaterialRequest({
      protocol: "mls10",
      requestingUser: "u",
      targetUser: "t",
      roomId: "",
      acceptableCiphersuites: [1],
      requiredCapabilities: { extensionTypes: [], proposalTypes: [], credentialTypes: [] },
      requesterSignatureKey: new Uint8Array(0),
      requesterCredential: { credentialType: "basic", identity: Uint8Array.of(0x61, 0x62) },
      signature: new Uint8Array(0),
    });
    expect(decodeKeyMaterialRequest(req).ok).toBe(true);
    const at = req.findIndex((_, i) => req[i] === 0 && req[i + 1] === 1 && req[i + 2] === 2 && req[i + 3] === 0x61);
    const stretched = cat(req.subarray(0, at + 2), Uint8Array.of(0x40, 2), req.subarray(at + 3));
    expectError(decodeKeyMaterialRequest(stretched), "invalid_mls", "requesterCredential");
  });

  it("an empty notify body and a KeyPackage fanned out are refused", () => {
    expectError(decodeNotifyBody(new Uint8Array(0)), "truncated");
    const kp = encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: m.bobKeyPackage });
    expectError(decodeFanoutMessage(cat(new Uint8Array(8), kp)), "invalid_mls", "message");
  });
});

describe("tolerant readings of -06's open questions", () => {
  let m: MimiMlsMaterial;
  beforeAll(async () => {
    m = await mimiMlsMaterial();
  });

  it("a bare KeyPackage, Welcome or GroupInfo is accepted and rewrapped as the MLSMessage we write", () => {
    const kp = decodeKeyPackageField(encodeKeyPackage(m.bobKeyPackage));
    const wrappedKp = encodeMlsMessage({ version: "mls10", wireformat: "mls_key_package", keyPackage: m.bobKeyPackage });
    expect(kp.ok && kp.value.bytes).toEqual(wrappedKp);
    expect(decodeKeyPackageField(wrappedKp).ok && true).toBe(true);
    const welcome = decodeWelcomeField(encodeWelcome(m.welcome));
    expect(welcome.ok && welcome.value.bytes).toEqual(welcomeField(m.welcome).bytes);
    const gi = decodeGroupInfoField(encodeGroupInfo(m.groupInfo));
    expect(gi.ok && gi.value.value).toEqual(m.groupInfo);
    expect(gi.ok && gi.value.bytes).toEqual(groupInfoField(m.groupInfo).bytes);
  });

  it("an update whose Welcome and GroupInfo are bare decodes like the wrapped one", () => {
    const wrapped = encodeUpdateRequest({
      kind: "commit",
      proposalOrCommit: mlsMessageField(m.commit),
      welcome: welcomeField(m.welcome),
      groupInfoOption: { representation: "full", groupInfo: groupInfoField(m.groupInfo) },
      ratchetTreeOption: { representation: "distributionService" },
    });
    const bare = cat(
      encodeMlsMessage(m.commit),
      Uint8Array.of(1),
      encodeWelcome(m.welcome),
      Uint8Array.of(1),
      encodeGroupInfo(m.groupInfo),
      Uint8Array.of(4),
    );
    const d = decodeUpdateRequest(bare);
    expect(d.ok && encodeUpdateRequest(d.value)).toEqual(wrapped);
  });

  it("a leading mls10 protocol octet on UpdateRequest and FanoutMessage is accepted; we write none", () => {
    const req = encodeUpdateRequest({ kind: "proposal", proposalOrCommit: mlsMessageField(m.proposal), moreProposals: [] });
    expect(req[0]).toBe(0);
    const withByte = decodeUpdateRequest(cat(Uint8Array.of(1), req));
    expect(withByte.ok && encodeUpdateRequest(withByte.value)).toEqual(req);

    const fan = encodeFanoutMessage({ kind: "application", timestamp: 1_700_000_000_000n, message: mlsMessageField(m.fromAlice) });
    const before = decodeFanoutMessage(cat(Uint8Array.of(1), fan));
    const after = decodeFanoutMessage(cat(fan.subarray(0, 8), Uint8Array.of(1), fan.subarray(8)));
    expect(before.ok && encodeFanoutMessage(before.value)).toEqual(fan);
    expect(after.ok && encodeFanoutMessage(after.value)).toEqual(fan);
  });

  it("SubmitResponseCode value 0 (declared accepted, selected as success) carries the timestamp", () => {
    const d = decodeSubmitMessageResponse(Uint8Array.of(1, 0, 0, 0, 0, 0, 0, 0, 0, 42, 0));
    expect(d).toEqual({ ok: true, value: { protocol: "mls10", statusCode: "accepted", acceptedTimestamp: 42n } });
  });
});
