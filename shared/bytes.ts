// Byte-string equality, for keys, group IDs and hashes compared in the clear (none of them secret).

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
