// The signed MIMI requests: a signature made with ts-mls's SignWithLabel over the TBS encoding
// verifies against the TBS re-encoded from the decoded request, and fails once a field is changed.

import { signWithLabel, verifyWithLabel } from "ts-mls/crypto/signature.js";
import { describe, expect, it } from "vitest";
import {
  decodeGroupInfoRequest,
  decodeKeyMaterialRequest,
  encodeGroupInfoRequest,
  encodeGroupInfoRequestTbs,
  encodeKeyMaterialRequest,
  encodeKeyMaterialRequestTbs,
  type GroupInfoRequestTbs,
  type KeyMaterialRequestTbs,
} from "../../shared/mimi/index.js";
import { cipherSuite } from "../support/mls-client.js";

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("signed MIMI requests", () => {
  it("a KeyMaterialRequest's signature verifies over the TBS of what was decoded, and not after tampering", async () => {
    const cs = await cipherSuite();
    const keys = await cs.signature.keygen();
    const tbs: KeyMaterialRequestTbs = {
      protocol: "mls10",
      requestingUser: "mimi://a.example/u/alice",
      targetUser: "mimi://b.example/u/bob",
      roomId: "mimi://a.example/r/room",
      acceptableCiphersuites: [1],
      requiredCapabilities: { extensionTypes: [], proposalTypes: [], credentialTypes: ["basic"] },
      requesterSignatureKey: keys.publicKey,
      requesterCredential: { credentialType: "basic", identity: text("mimi://a.example/u/alice") },
    };
    const signature = await signWithLabel(keys.signKey, "KeyMaterialRequestTBS", encodeKeyMaterialRequestTbs(tbs), cs.signature);
    const decoded = decodeKeyMaterialRequest(encodeKeyMaterialRequest({ ...tbs, signature }));
    if (!decoded.ok) throw new Error(decoded.error.detail);
    const req = decoded.value;
    expect(await verifyWithLabel(req.requesterSignatureKey, "KeyMaterialRequestTBS", encodeKeyMaterialRequestTbs(req), req.signature, cs.signature)).toBe(true);
    const tampered = { ...req, targetUser: "mimi://b.example/u/mallory" };
    expect(await verifyWithLabel(req.requesterSignatureKey, "KeyMaterialRequestTBS", encodeKeyMaterialRequestTbs(tampered), req.signature, cs.signature)).toBe(false);
  });

  it("a GroupInfoRequest's signature covers the joining code, present or absent", async () => {
    const cs = await cipherSuite();
    const keys = await cs.signature.keygen();
    for (const joiningCode of [new Uint8Array(0), text("join-123")]) {
      const tbs: GroupInfoRequestTbs = {
        protocol: "mls10",
        cipherSuite: 1,
        requestingSignatureKey: keys.publicKey,
        requestingCredential: { credentialType: "basic", identity: text("mimi://b.example/d/bob/2") },
        groupInfoPublicKey: new Uint8Array(32).fill(7),
        joiningCode,
      };
      const signature = await signWithLabel(keys.signKey, "GroupInfoRequestTBS", encodeGroupInfoRequestTbs(tbs), cs.signature);
      const decoded = decodeGroupInfoRequest(encodeGroupInfoRequest({ ...tbs, signature }));
      if (!decoded.ok) throw new Error(decoded.error.detail);
      const req = decoded.value;
      expect(await verifyWithLabel(keys.publicKey, "GroupInfoRequestTBS", encodeGroupInfoRequestTbs(req), req.signature, cs.signature)).toBe(true);
      const other = { ...req, joiningCode: text("other") };
      expect(await verifyWithLabel(keys.publicKey, "GroupInfoRequestTBS", encodeGroupInfoRequestTbs(other), req.signature, cs.signature)).toBe(false);
    }
  });
});
