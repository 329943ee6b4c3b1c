// What pairing does to the LM room's power levels: the converter's service user invites ghosts into
// the LM room when its join rules ask for an invite, so it needs the room's invite level. The member
// who pairs grants it in the same step, through the room's auth rules; when their own power could
// not grant it, pairing is refused before anything is written. Pure: worked out from current state.

import type { JsonObject } from "../canonical-json.js";
import type { Pdu } from "../event.js";
import { actionLevel, checkPowerLevelsChange, isPlainObject, isPowerLevelsProblem, parsePowerLevels, roomCreators, sendLevel, userLevel } from "../power-levels.js";

export type ServiceGrant = { grant: false } | { grant: true; content: JsonObject } | { refused: string };

/** The power-levels content that lets `service` invite, sent by `member`; or that none is needed; or why `member` cannot. */
export function serviceInviteGrant(powerLevels: Record<string, unknown> | undefined, create: Pdu | undefined, member: string, service: string): ServiceGrant {
  const content = powerLevels ?? {};
  const before = parsePowerLevels(content, "lm");
  if (isPowerLevelsProblem(before)) return { refused: `the room's power levels are malformed: ${before.reason}` };
  const ctx = { levels: powerLevels ? before : undefined, creators: roomCreators(create, "lm"), version: "lm" as const };
  const invite = actionLevel(ctx.levels, "invite");
  if (userLevel(ctx, service) >= invite) return { grant: false };
  const memberLevel = userLevel(ctx, member);
  const needed = sendLevel(ctx.levels, "m.room.power_levels", true);
  const why = `${member} cannot give the converter's service user ${service} the invite level ${invite}`;
  if (memberLevel < needed) return { refused: `${why}: changing power levels takes ${needed}, and they have ${memberLevel}` };
  const users = isPlainObject(content.users) ? content.users : {};
  const afterContent = { ...content, users: { ...users, [service]: invite } } as JsonObject;
  const after = parsePowerLevels(afterContent, "lm");
  if (isPowerLevelsProblem(after)) return { refused: `${why}: ${after.reason}` };
  const problem = checkPowerLevelsChange(before, content, after, afterContent, member, memberLevel, "lm");
  return problem ? { refused: `${why}: ${problem.reason}` } : { grant: true, content: afterContent };
}
