// The table machinery of the Matrix v11/v12 auth-rules tests: the versions, their rule numbering and row helpers.

import type { JsonObject } from "../../shared/canonical-json.js";
import type { Pdu } from "../../shared/event.js";
import type { AuthResult } from "../../shared/room-version.js";
import type { Room, RoomOptions } from "./fixtures/auth-fixtures.js";
import { ALICE, ALLOWED as A, BOB, CAROL, DAVE, checkCreate, createEvent, room as baseRoom, table } from "./fixtures/auth-fixtures.js";

export type V = "11" | "12";

/** A v11 rule number as room v12 numbers it. */
export function v12Number(rule: string): string {
  const [major, ...rest] = rule.split(".").map(Number);
  if (major === undefined || major === 1) return rule;
  if (major === 9 && rest[0] !== undefined && rest[0] >= 4) rest[0]++;
  return [major + 1, ...rest].join(".");
}

export interface MatrixVersion {
  v: V;
  n: (v11Rule: string) => string;
  /** Power-levels content with these users: v11 lists the creator at 100; v12 creators are never listed. */
  pw: (users: Record<string, number>, rest?: JsonObject) => JsonObject;
  /** The `users` of the power-levels section's base content. */
  plUsers: Record<string, number>;
}

export const VERSIONS: MatrixVersion[] = [
  { v: "11", n: (r) => r, pw: (users, rest = {}) => ({ users: { [ALICE]: 100, ...users }, ...rest }), plUsers: { [ALICE]: 100, [BOB]: 50, [CAROL]: 75, [DAVE]: 50 } },
  {
    v: "12",
    n: v12Number,
    pw: (users, rest = {}) => (Object.keys(users).length > 0 ? { users, ...rest } : rest),
    plUsers: { [BOB]: 50, [CAROL]: 75, [DAVE]: 50, "@eve:e.test": 100 },
  },
];

/** step and expected in v11 numbers, or in `only`'s own numbers when the row belongs to one version. */
export type Row = readonly [step: string, text: string, run: () => AuthResult, expected: string, only?: V];

export function rowsFor(ver: MatrixVersion, rows: readonly Row[]): Array<[string, () => AuthResult, string]> {
  return rows
    .filter((r) => r[4] === undefined || r[4] === ver.v)
    .map(([step, text, run, expected, only]) => {
      const n = only === undefined ? ver.n : (r: string) => r;
      return [`v${ver.v} ${n(step)}: ${text}`, run, expected === A ? A : n(expected)];
    });
}

export const signedBy = (server: string): Partial<Pdu> => ({ signatures: { [server]: { "ed25519:1": "c2lnbmF0dXJl" } } });

/** The helpers each version's table is written with; `V` is the version, `n` renumbers a v11 rule for it. */
export function versionKit(ver: MatrixVersion) {
  const { v: V, n, pw } = ver;
  const room = (o: RoomOptions = {}) => baseRoom({ version: V, ...o });
  const checkIn = (o: RoomOptions, build: (r: Room) => Pdu, over = {}) => {
    const r = room(o);
    return r.check(build(r), over);
  };
  const create = (content: JsonObject = {}, extra: Partial<Pdu> = {}) => checkCreate(V, createEvent(V, ALICE, content, extra));
  const run = (rows: readonly Row[]) => table(rowsFor(ver, rows));
  return { V, n, pw, room, checkIn, create, run };
}
