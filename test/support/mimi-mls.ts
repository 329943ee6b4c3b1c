// Real MLS material for the MIMI codec tests, made by ts-mls: a group with Alice, a KeyPackage of
// Bob's, Alice's commit adding Bob (a PublicMessage) with its Welcome, a GroupInfo, the ratchet tree,
// a proposal by reference and application messages both ways.

import {
  createApplicationMessage,
  createCommit,
  createGroup,
  createGroupInfoWithExternalPub,
  createProposal,
  defaultCapabilities,
  defaultLifetime,
  emptyPskIndex,
  generateKeyPackage,
  joinGroup,
  type ClientState,
  type Credential,
  type GroupInfo,
  type KeyPackage,
  type MLSMessage,
  type Welcome,
} from "ts-mls";
import type { RatchetTree } from "ts-mls/ratchetTree.js";
import { cipherSuite } from "./mls-client.js";

export interface MimiMlsMaterial {
  aliceCredential: Credential;
  aliceSignatureKey: Uint8Array;
  bobKeyPackage: KeyPackage;
  spareKeyPackage: KeyPackage;
  commit: MLSMessage;
  welcome: Welcome;
  groupInfo: GroupInfo;
  ratchetTree: RatchetTree;
  proposal: MLSMessage;
  secondProposal: MLSMessage;
  fromAlice: MLSMessage;
  alice: ClientState;
  bob: ClientState;
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);

let made: Promise<MimiMlsMaterial> | undefined;

/** Built once per test file: ts-mls key generation is the slow part. */
export function mimiMlsMaterial(): Promise<MimiMlsMaterial> {
  made ??= build();
  return made;
}

async function build(): Promise<MimiMlsMaterial> {
  const cs = await cipherSuite();
  const aliceCredential: Credential = { credentialType: "basic", identity: text("mimi://a.example/u/alice") };
  const bobCredential: Credential = { credentialType: "basic", identity: text("mimi://b.example/u/bob") };
  const aliceKp = await generateKeyPackage(aliceCredential, defaultCapabilities(), defaultLifetime, [], cs);
  const bobKp = await generateKeyPackage(bobCredential, defaultCapabilities(), defaultLifetime, [], cs);
  const spare = await generateKeyPackage(bobCredential, defaultCapabilities(), defaultLifetime, [], cs);
  let alice = await createGroup(text("mimi-room"), aliceKp.publicPackage, aliceKp.privatePackage, [], cs);
  const add = await createCommit(
    { state: alice, cipherSuite: cs },
    { extraProposals: [{ proposalType: "add", add: { keyPackage: bobKp.publicPackage } }], wireAsPublicMessage: true },
  );
  alice = add.newState;
  if (!add.welcome) throw new Error("no Welcome");
  const groupInfo = await createGroupInfoWithExternalPub(alice, [], cs);
  const bob = await joinGroup(add.welcome, bobKp.publicPackage, bobKp.privatePackage, emptyPskIndex, cs, alice.ratchetTree);
  const p1 = await createProposal(alice, true, { proposalType: "remove", remove: { removed: 1 } }, cs);
  const p2 = await createProposal(alice, true, { proposalType: "add", add: { keyPackage: spare.publicPackage } }, cs);
  const app = await createApplicationMessage(alice, text("hello over MIMI"), cs);
  return {
    aliceCredential,
    aliceSignatureKey: aliceKp.publicPackage.leafNode.signaturePublicKey,
    bobKeyPackage: bobKp.publicPackage,
    spareKeyPackage: spare.publicPackage,
    commit: add.commit,
    welcome: add.welcome,
    groupInfo,
    ratchetTree: alice.ratchetTree,
    proposal: p1.message,
    secondProposal: p2.message,
    fromAlice: { version: "mls10", wireformat: "mls_private_message", privateMessage: app.privateMessage },
    alice,
    bob,
  };
}
