// RatchetTreeOption and PartialGroupInfo (draft-mahy-mls-ratchet-tree-options, which MIMI -06 cites
// for UpdateRequest, FanoutMessage and the groupInfo response).

import { encodeExtension, readExtension, readRatchetTree, type Extension, type RatchetTreeField } from "./mls-fields.js";
import { decodeBody, encodeBody, type Decoded, type Reader, type Writer } from "./tls-codec.js";

export const RATCHET_TREE_REPRESENTATION = { full: 1, httpsUri: 2, outOfBand: 3, distributionService: 4 } as const;

/**
 * `full` carries the tree as the ratchet_tree extension encodes it (`optional<Node> ratchet_tree<V>`,
 * RFC 9420 §12.4.3.3); the draft's `Node ratchet_tree<V>` shorthand names that same extension.
 */
export type RatchetTreeOption =
  | { representation: "full"; ratchetTree: RatchetTreeField }
  | { representation: "httpsUri"; ratchetTreeUrl: string; treeSignature: Uint8Array }
  | { representation: "outOfBand"; treeSignature: Uint8Array }
  | { representation: "distributionService" };

export function readRatchetTreeOption(r: Reader): RatchetTreeOption {
  const representation = r.field("representation", (x) => x.enumU8(RATCHET_TREE_REPRESENTATION));
  switch (representation) {
    case "full":
      return { representation, ratchetTree: r.field("ratchet_tree", readRatchetTree) };
    case "httpsUri":
      return {
        representation,
        ratchetTreeUrl: r.field("ratchet_tree_url", (x) => x.utf8()),
        treeSignature: r.field("tree_signature", (x) => x.opaque()),
      };
    case "outOfBand":
      return { representation, treeSignature: r.field("tree_signature", (x) => x.opaque()) };
    case "distributionService":
      return { representation };
  }
}

export function writeRatchetTreeOption(w: Writer, o: RatchetTreeOption): void {
  w.u8(RATCHET_TREE_REPRESENTATION[o.representation]);
  switch (o.representation) {
    case "full":
      w.raw(o.ratchetTree.bytes);
      return;
    case "httpsUri":
      w.utf8(o.ratchetTreeUrl).opaque(o.treeSignature);
      return;
    case "outOfBand":
      w.opaque(o.treeSignature);
      return;
    case "distributionService":
      return;
  }
}

export const RATCHET_TREE_PRESENCE = { no_ratchet_tree: 0, present: 1, removed: 2, added: 3 } as const;
export type RatchetTreePresence = keyof typeof RATCHET_TREE_PRESENCE;

/** The GroupInfo fields a hub cannot rebuild from public handshakes. */
export interface PartialGroupInfo {
  ratchetTreePresence: RatchetTreePresence;
  /** GroupInfo extensions except ratchet_tree. */
  groupInfoExtensions: Extension[];
  signature: Uint8Array;
}

export function readPartialGroupInfo(r: Reader): PartialGroupInfo {
  return {
    ratchetTreePresence: r.field("ratchet_tree_presence", (x) => x.enumU8(RATCHET_TREE_PRESENCE)),
    groupInfoExtensions: r.field("group_info_extensions", (x) => x.vector(readExtension)),
    signature: r.field("signature", (x) => x.opaque()),
  };
}

export function writePartialGroupInfo(w: Writer, p: PartialGroupInfo): void {
  w.u8(RATCHET_TREE_PRESENCE[p.ratchetTreePresence]);
  w.vector(p.groupInfoExtensions, (ww, e) => ww.raw(encodeExtension(e)));
  w.opaque(p.signature);
}

export const encodeRatchetTreeOption = (o: RatchetTreeOption): Uint8Array => encodeBody((w) => writeRatchetTreeOption(w, o));
export const decodeRatchetTreeOption = (bytes: Uint8Array): Decoded<RatchetTreeOption> =>
  decodeBody("RatchetTreeOption", bytes, readRatchetTreeOption);
export const encodePartialGroupInfo = (p: PartialGroupInfo): Uint8Array => encodeBody((w) => writePartialGroupInfo(w, p));
export const decodePartialGroupInfo = (bytes: Uint8Array): Decoded<PartialGroupInfo> =>
  decodeBody("PartialGroupInfo", bytes, readPartialGroupInfo);
