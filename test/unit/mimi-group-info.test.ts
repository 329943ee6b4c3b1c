// The groupInfo endpoint's pieces that need no server: which GroupInfo the hub keeps from a commit
// (shared/mls-commit-group-info.ts) and the sealed, signed answer a requester opens
// (shared/mimi-group-info-seal.ts), with a real ts-mls group.

import { beforeAll, describe, expect, it } from "vitest";
import { getCiphersuiteFromName } from "ts-mls/crypto/ciphersuite.js";
import { getCiphersuiteImpl } from "ts-mls/crypto/getCiphersuiteImpl.js";
import { decodeBase64, encodeBase64 } from "../../shared/base64.js";
import { decodeGroupInfoField, type GroupInfoRatchetTreeTbe } from "../../shared/mimi/index.js";
import { openGroupInfoResponse, sealGroupInfoResponse } from "../../shared/mimi-group-info-seal.js";
import { signingKeyFromSeed, type SigningKey } from "../../shared/signing-key.js";
import { checkCommitGroupInfo } from "../../shared/mls-commit-group-info.js";
import { groupIdOfRoom } from "../../shared/mls-roster.js";
import { MlsDevice } from "../support/mls-client.js";

const ROOM = "!g:hub.test";
const SUITE = "MLS_128_DHKEMX25519_AES128GCM_SHA256_Ed25519" as const;
let groupInfo: Uint8Array; // a GroupInfo of ROOM's group for epoch 1, signed by alice at leaf 0
let forgedInfo: Uint8Array; // the same, signed by another key
let aliceKey: Uint8Array;
let otherKey: { signKey: Uint8Array; publicKey: Uint8Array };
let hubKey: SigningKey;

beforeAll(async () => {
  const alice = await MlsDevice.create("@alice:hub.test", "A");
  await alice.createGroup(ROOM);
  const pending = await alice.commit();
  groupInfo = decodeBase64(await alice.groupInfoAfter(pending));
  aliceKey = alice.signatureKey;
  otherKey = await alice.otherSignatureKey();
  forgedInfo = decodeBase64(await alice.groupInfoAfter(pending, otherKey.signKey));
  hubKey = await signingKeyFromSeed(new Uint8Array(32).fill(3), "hub1");
});

describe("the GroupInfo a commit carries (checkCommitGroupInfo)", () => {
  const b64 = (b: Uint8Array) => encodeBase64(b);
  const signer = () => ({ groupId: groupIdOfRoom(ROOM), commitEpoch: 0, senderLeaf: 0, signatureKey: aliceKey });

  it("is kept when it is this room's group at the epoch the commit starts, signed by the committing leaf's key", async () => {
    const checked = await checkCommitGroupInfo(b64(groupInfo), undefined, signer());
    expect(checked).toMatchObject({ ok: true, kept: { epoch: 1 } });
    expect(checked.ok && checked.kept?.groupInfo).toEqual(groupInfo);
    expect(await checkCommitGroupInfo(undefined, undefined, signer())).toEqual({ ok: true });
  });

  it("is refused for another epoch, another group, another signer leaf, another key, a forged signature, bad bytes or a tree alone", async () => {
    const refused = { ok: false, code: "bad_group_info" };
    expect(await checkCommitGroupInfo(b64(groupInfo), undefined, { ...signer(), commitEpoch: 1 })).toMatchObject(refused);
    expect(await checkCommitGroupInfo(b64(groupInfo), undefined, { ...signer(), groupId: groupIdOfRoom("!other:hub.test") })).toMatchObject(refused);
    expect(await checkCommitGroupInfo(b64(groupInfo), undefined, { ...signer(), senderLeaf: 1 })).toMatchObject(refused);
    expect(await checkCommitGroupInfo(b64(groupInfo), undefined, { ...signer(), signatureKey: otherKey.publicKey })).toMatchObject(refused);
    const forged = await checkCommitGroupInfo(b64(forgedInfo), undefined, signer());
    expect(forged).toMatchObject(refused);
    expect(!forged.ok && forged.reason).toContain("signature");
    expect(await checkCommitGroupInfo(b64(groupInfo.slice(0, 20)), undefined, signer())).toMatchObject(refused);
    expect(await checkCommitGroupInfo("not base64!", undefined, signer())).toMatchObject(refused);
    expect(await checkCommitGroupInfo(b64(groupInfo), "AAAA", signer())).toMatchObject(refused);
    expect(await checkCommitGroupInfo(undefined, b64(groupInfo), signer())).toMatchObject(refused);
  });
});

describe("a sealed groupInfo answer", () => {
  async function sealed(): Promise<{ tbe: GroupInfoRatchetTreeTbe; privateKey: Uint8Array; res: Awaited<ReturnType<typeof sealGroupInfoResponse>> }> {
    const impl = await getCiphersuiteImpl(getCiphersuiteFromName(SUITE));
    const pair = await impl.hpke.generateKeyPair();
    const field = decodeGroupInfoField(groupInfo);
    if (!field.ok) throw new Error("GroupInfo does not decode");
    const tbe: GroupInfoRatchetTreeTbe = { groupInfo: field.value, ratchetTreeOption: { representation: "outOfBand", treeSignature: new Uint8Array() }, pendingProposals: [] };
    const res = await sealGroupInfoResponse({ roomId: ROOM, cipherSuite: SUITE, groupInfoPublicKey: await impl.hpke.exportPublicKey(pair.publicKey), tbe, hubName: "hub.test", hubKey });
    return { tbe, privateKey: await impl.hpke.exportPrivateKey(pair.privateKey), res };
  }

  it("opens with the requester's private key to the GroupInfo that was sealed, signed by the hub's key", async () => {
    const { res, privateKey } = await sealed();
    expect(res.status === "success" && res.hubSender.signaturePublicKey).toEqual(hubKey.publicKey);
    const opened = await openGroupInfoResponse(res, privateKey, SUITE);
    expect(opened.ok && opened.value.groupInfo.bytes).toEqual(groupInfo);
  });

  it("does not open with another key, nor when the signature or the room ID was altered", async () => {
    const { res, privateKey } = await sealed();
    const other = await sealed();
    await expect(openGroupInfoResponse(res, other.privateKey, SUITE)).rejects.toThrow();
    if (res.status !== "success") throw new Error("not a success");
    expect(await openGroupInfoResponse({ ...res, signature: new Uint8Array(64) }, privateKey, SUITE)).toMatchObject({ ok: false });
    expect(await openGroupInfoResponse({ ...res, roomId: "!other:hub.test" }, privateKey, SUITE)).toMatchObject({ ok: false });
  });
});
