// Property tests over every MIMI -06 structure: any value round-trips through its encoder and decoder,
// and any mutation of a valid encoding (a byte changed, cut or added) decodes to a typed error or to a
// value that re-encodes to exactly the mutated bytes: the decoders accept only canonical encodings.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import * as mimi from "../../shared/mimi/index.js";

const bytes = (max = 40) => fc.uint8Array({ maxLength: max });
const uri = fc.string({ maxLength: 30, unit: "grapheme" });
const u16 = fc.integer({ min: 0, max: 0xffff });
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
const credential = bytes(20).map((identity): mimi.Credential => ({ credentialType: "basic", identity }));
const extension = fc.record({ extensionType: fc.integer({ min: 0x0a0a, max: 0xffff }), extensionData: bytes(12) });
const frank = fc.record({ serverFrank: fc.uint8Array({ minLength: 32, maxLength: 32 }), frankingSignatureCiphersuite: u16, frankingIntegritySignature: bytes() });
const appData = fc
  .uniqueArray(fc.record({ componentId: u16, data: bytes(10) }), { selector: (e) => e.componentId, maxLength: 4 })
  .map((a) => a.sort((x, y) => x.componentId - y.componentId));
const requiredCapabilities = fc.record({
  extensionTypes: fc.array(u16, { maxLength: 3 }),
  proposalTypes: fc.array(u16, { maxLength: 3 }),
  credentialTypes: fc.array(fc.constantFrom("basic" as const, "x509" as const), { maxLength: 2 }),
});
const capabilities: fc.Arbitrary<mimi.Capabilities> = fc.record({
  versions: fc.constant<mimi.Capabilities["versions"]>(["mls10"]),
  ciphersuites: fc.constant<mimi.Capabilities["ciphersuites"]>(["MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519"]),
  extensions: fc.array(fc.integer({ min: 6, max: 0xffff }), { maxLength: 3 }),
  proposals: fc.array(fc.integer({ min: 8, max: 0xffff }), { maxLength: 3 }),
  credentials: fc.constant<mimi.Capabilities["credentials"]>(["basic"]),
});
const ratchetTreeOption: fc.Arbitrary<mimi.RatchetTreeOption> = fc.oneof(
  fc.record({ representation: fc.constant("httpsUri" as const), ratchetTreeUrl: uri, treeSignature: bytes() }),
  fc.record({ representation: fc.constant("outOfBand" as const), treeSignature: bytes() }),
  fc.constant({ representation: "distributionService" as const }),
);
const pair = fc.record({ user: uri, roleIndex: u32 });

interface Case<T> {
  name: string;
  arb: fc.Arbitrary<T>;
  encode: (v: T) => Uint8Array;
  decode: (b: Uint8Array) => mimi.Decoded<T>;
}
const c = <T>(name: string, arb: fc.Arbitrary<T>, encode: (v: T) => Uint8Array, decode: (b: Uint8Array) => mimi.Decoded<T>): Case<unknown> =>
  ({ name, arb, encode, decode }) as Case<unknown>;

const CASES: Case<unknown>[] = [
  c(
    "UpdateRoomResponse",
    fc.oneof(
      fc.record({ responseCode: fc.constant("success" as const), errorDescription: uri, acceptedTimestamp: u64 }),
      fc.record({ responseCode: fc.constant("wrongEpoch" as const), errorDescription: uri, currentEpoch: u64 }),
      fc.record({ responseCode: fc.constant("notAllowed" as const), errorDescription: uri }),
      fc.record({ responseCode: fc.constant("invalidProposal" as const), errorDescription: uri, invalidProposals: fc.array(bytes(32), { maxLength: 3 }) }),
    ),
    mimi.encodeUpdateRoomResponse,
    mimi.decodeUpdateRoomResponse,
  ),
  c(
    "SubmitMessageResponse",
    fc.oneof(
      fc.record({ protocol: fc.constant("mls10" as const), statusCode: fc.constant("accepted" as const), acceptedTimestamp: u64, frank }, { requiredKeys: ["protocol", "statusCode", "acceptedTimestamp"] }),
      fc.record({ protocol: fc.constant("mls10" as const), statusCode: fc.constant("notAllowed" as const) }),
      fc.record({ protocol: fc.constant("mls10" as const), statusCode: fc.constant("epochTooOld" as const), currentEpoch: u64 }),
    ),
    mimi.encodeSubmitMessageResponse,
    mimi.decodeSubmitMessageResponse,
  ),
  c(
    "KeyMaterialRequest",
    fc.record({
      protocol: fc.constant("mls10" as const),
      requestingUser: uri,
      targetUser: uri,
      roomId: uri,
      acceptableCiphersuites: fc.array(u16, { minLength: 1, maxLength: 4 }),
      requiredCapabilities,
      requesterSignatureKey: bytes(32),
      requesterCredential: credential,
      signature: bytes(64),
    }),
    mimi.encodeKeyMaterialRequest,
    mimi.decodeKeyMaterialRequest,
  ),
  c(
    "KeyMaterialResponse",
    fc.record({
      protocol: fc.constant("mls10" as const),
      userStatus: fc.constantFrom("success" as const, "partialSuccess" as const, "noCompatibleMaterial" as const),
      userUri: uri,
      clients: fc.array(
        fc.oneof(
          fc.record({ clientStatus: fc.constant("keyMaterialExhausted" as const), clientUri: uri }),
          fc.record({ clientStatus: fc.constant("nothingCompatible" as const), clientUri: uri, clientCapabilities: capabilities }, { requiredKeys: ["clientStatus", "clientUri"] }),
        ),
        { maxLength: 3 },
      ),
    }),
    mimi.encodeKeyMaterialResponse,
    mimi.decodeKeyMaterialResponse,
  ),
  c(
    "GroupInfoRequest",
    fc.record({
      protocol: fc.constant("mls10" as const),
      cipherSuite: u16,
      requestingSignatureKey: bytes(32),
      requestingCredential: credential,
      groupInfoPublicKey: bytes(32),
      joiningCode: bytes(8),
      signature: bytes(64),
    }),
    mimi.encodeGroupInfoRequest,
    mimi.decodeGroupInfoRequest,
  ),
  c(
    "GroupInfoResponse",
    fc.oneof(
      fc.record({
        protocol: fc.constant("mls10" as const),
        roomId: uri,
        status: fc.constant("success" as const),
        cipherSuite: u16,
        hubSender: fc.record({ signaturePublicKey: bytes(32), credential }),
        encryptedGroupInfoAndTree: fc.record({ kemOutput: bytes(32), ciphertext: bytes(60) }),
        signature: bytes(64),
      }),
      fc.record({ protocol: fc.constant("mls10" as const), roomId: uri, status: fc.constantFrom("notAuthorized" as const, "noSuchRoom" as const) }),
    ),
    mimi.encodeGroupInfoResponse,
    mimi.decodeGroupInfoResponse,
  ),
  c(
    "ConsentEntry",
    fc.record(
      {
        consentOperation: fc.constantFrom("cancel" as const, "request" as const, "revoke" as const),
        requesterUri: uri,
        targetUri: uri,
        roomId: uri,
        consentExtensions: appData,
      },
      { requiredKeys: ["consentOperation", "requesterUri", "targetUri", "consentExtensions"] },
    ),
    mimi.encodeConsentEntry,
    mimi.decodeConsentEntry,
  ),
  c(
    "ConsentScope",
    fc.record({ requesterUri: uri, targetUri: uri, roomId: uri }, { requiredKeys: ["requesterUri", "targetUri"] }),
    mimi.encodeConsentScope,
    mimi.decodeConsentScope,
  ),
  c(
    "IdentifierRequest",
    fc.record({
      queryElements: fc.array(
        fc.oneof(
          fc.record({ searchType: fc.constant("oidcStdClaim" as const), claimName: bytes(10), searchValue: uri }),
          fc.record({ searchType: fc.constant("vcardField" as const), propertyName: bytes(10), searchValue: uri }),
          fc.record({ searchType: fc.constantFrom("handle" as const, "nick" as const, "email" as const, "phone" as const, "partialName" as const, "wholeProfile" as const), searchValue: uri }),
        ),
        { maxLength: 3 },
      ),
      idRequestExtensions: appData,
    }),
    mimi.encodeIdentifierRequest,
    mimi.decodeIdentifierRequest,
  ),
  c(
    "IdentifierResponse",
    fc.record({
      responseCode: fc.constantFrom(...(Object.keys(mimi.IDENTIFIER_QUERY_CODE) as mimi.IdentifierQueryCode[])),
      uri: fc.array(uri, { maxLength: 3 }),
      foundProfiles: fc.array(
        fc.record({
          stableUri: uri,
          fields: fc.array(fc.record({ fieldSource: fc.constantFrom("oidcStdClaim" as const, "vcardField" as const), fieldName: uri, fieldValue: bytes(10) }), { maxLength: 2 }),
        }),
        { maxLength: 2 },
      ),
      idResponseExtensions: appData,
    }),
    mimi.encodeIdentifierResponse,
    mimi.decodeIdentifierResponse,
  ),
  c(
    "AbuseReport",
    fc.record({
      reportingUser: uri,
      allegedAbuserUri: uri,
      reasonCode: fc.integer({ min: 0, max: 255 }),
      note: bytes(),
      messages: fc.array(fc.record({ messageContent: bytes(), frank, acceptedTimestamp: u64 }), { maxLength: 2 }),
      abuseExtensions: appData,
    }),
    mimi.encodeAbuseReport,
    mimi.decodeAbuseReport,
  ),
  c(
    "RoomMetaData",
    fc.record({
      roomUri: uri,
      roomName: uri.filter((s) => !s.includes("\u0000")),
      roomDescriptions: fc.array(fc.record({ mediaType: uri, languageTag: uri, descriptionContent: bytes() }), { maxLength: 2 }),
      roomAvatar: uri,
      roomSubject: uri.filter((s) => !s.includes("\u0000")),
      roomMood: uri.filter((s) => !s.includes("\u0000")),
    }),
    mimi.encodeRoomMetaData,
    mimi.decodeRoomMetaData,
  ),
  c("ParticipantListData", fc.record({ participants: fc.array(pair, { maxLength: 5 }) }), mimi.encodeParticipantListData, mimi.decodeParticipantListData),
  c(
    "ParticipantListUpdate",
    fc.record({
      changedRoleParticipants: fc.array(fc.record({ userIndex: u32, roleIndex: u32 }), { maxLength: 3 }),
      removedIndices: fc.array(u32, { maxLength: 3 }),
      addedParticipants: fc.array(pair, { maxLength: 3 }),
    }),
    mimi.encodeParticipantListUpdate,
    mimi.decodeParticipantListUpdate,
  ),
  c(
    "AppDataUpdate",
    fc.oneof(
      fc.record({ componentId: u16, op: fc.constant("update" as const), update: bytes() }),
      fc.record({ componentId: u16, op: fc.constant("remove" as const) }),
    ),
    mimi.encodeAppDataUpdate,
    mimi.decodeAppDataUpdate,
  ),
  c("AppDataDictionary", appData, mimi.encodeAppDataDictionary, mimi.decodeAppDataDictionary),
  c("Frank", frank, mimi.encodeFrank, mimi.decodeFrank),
  c("FrankAAD", fc.record({ frankingTag: fc.uint8Array({ minLength: 32, maxLength: 32 }) }), mimi.encodeFrankAad, mimi.decodeFrankAad),
  c("FrankingAgentData", fc.record({ frankingSignatureKey: bytes(32), credential }), mimi.encodeFrankingAgentData, mimi.decodeFrankingAgentData),
  c("ServerFrankingContext", fc.record({ senderUri: uri, roomUri: uri, acceptedTimestamp: u64 }), mimi.encodeServerFrankingContext, mimi.decodeServerFrankingContext),
  c(
    "FrankingIntegrityTBS",
    fc.record({
      serverFrank: fc.uint8Array({ minLength: 32, maxLength: 32 }),
      frankingSignatureCiphersuite: u16,
      context: fc.record({ senderUri: uri, roomUri: uri, acceptedTimestamp: u64 }),
    }),
    mimi.encodeFrankingIntegrityTbs,
    mimi.decodeFrankingIntegrityTbs,
  ),
  c("RatchetTreeOption", ratchetTreeOption, mimi.encodeRatchetTreeOption, mimi.decodeRatchetTreeOption),
  c(
    "PartialGroupInfo",
    fc.record({
      ratchetTreePresence: fc.constantFrom("no_ratchet_tree" as const, "present" as const, "removed" as const, "added" as const),
      groupInfoExtensions: fc.array(extension, { maxLength: 2 }),
      signature: bytes(64),
    }),
    mimi.encodePartialGroupInfo,
    mimi.decodePartialGroupInfo,
  ),
  c(
    "PseudonymousCredential",
    fc.record({ clientPseudonym: uri, userPseudonym: uri, signaturePublicKey: bytes(32), identityLinkCiphertext: bytes() }),
    mimi.encodePseudonymousCredential,
    mimi.decodePseudonymousCredential,
  ),
  c(
    "IdentityLinkTBE",
    fc.record({ pseudonymousCredentialSignature: bytes(64), clientCredential: credential }),
    mimi.encodeIdentityLinkTbe,
    mimi.decodeIdentityLinkTbe,
  ),
];

type Mutation = { kind: "set"; at: number; value: number } | { kind: "cut"; at: number } | { kind: "insert"; at: number; value: number };
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("set" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant("cut" as const), at: fc.nat() }),
  fc.record({ kind: fc.constant("insert" as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
);

function mutate(b: Uint8Array, m: Mutation): Uint8Array {
  const at = b.length === 0 ? 0 : m.at % (b.length + (m.kind === "insert" ? 1 : 0));
  if (m.kind === "cut") return b.slice(0, at);
  if (m.kind === "insert") return Uint8Array.from([...b.subarray(0, at), m.value, ...b.subarray(at)]);
  const out = b.slice();
  if (out.length > 0) out[at] = m.value;
  return out;
}

describe("MIMI structures: property tests", () => {
  for (const { name, arb, encode, decode } of CASES) {
    it(`${name} decodes to the value it was encoded from`, () => {
      fc.assert(
        fc.property(arb, (v) => {
          expect(decode(encode(v))).toEqual({ ok: true, value: v });
        }),
        { numRuns: 150 },
      );
    });

    it(`${name}: a mutated encoding is a typed error or exactly its own canonical encoding`, () => {
      fc.assert(
        fc.property(arb, mutation, (v, m) => {
          const bad = mutate(encode(v), m);
          const d = decode(bad);
          if (d.ok) expect(encode(d.value)).toEqual(bad);
          else expect(d.error.structure).toBe(name);
        }),
        { numRuns: 150 },
      );
    });
  }

  it("random bytes never make any decoder throw", () => {
    const decoders = [
      ...CASES.map((x) => x.decode),
      mimi.decodeUpdateRequest,
      mimi.decodeSubmitMessageRequest,
      mimi.decodeNotifyBody,
      mimi.decodeFanoutMessage,
      mimi.decodeGroupInfoRatchetTreeTbe,
      mimi.decodeKeyPackageField,
      mimi.decodeWelcomeField,
      mimi.decodeGroupInfoField,
      mimi.decodeMlsMessageField,
    ];
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (b) => {
        for (const d of decoders) expect(typeof d(b).ok).toBe("boolean");
      }),
      { numRuns: 300 },
    );
  });
});
