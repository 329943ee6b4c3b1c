// Unpadded base64 (draft -04 "Unpadded Base64"). Decoders accept padded input too, as the draft asks.

import { base64nopad, base64urlnopad } from "@scure/base";

export function encodeBase64(bytes: Uint8Array): string {
  return base64nopad.encode(bytes);
}

export function encodeBase64Url(bytes: Uint8Array): string {
  return base64urlnopad.encode(bytes);
}

function stripPadding(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 61 /* = */ && s.length - end < 2) end--;
  return s.slice(0, end);
}

/** Throws on anything that is not base64 in the standard alphabet. */
export function decodeBase64(s: string): Uint8Array {
  return base64nopad.decode(stripPadding(s));
}

export function decodeBase64Url(s: string): Uint8Array {
  return base64urlnopad.decode(stripPadding(s));
}

/** Returns undefined instead of throwing, for checks on untrusted input. */
export function tryDecodeBase64(s: unknown): Uint8Array | undefined {
  if (typeof s !== "string") return undefined;
  try {
    return decodeBase64(s);
  } catch {
    return undefined;
  }
}
