// The demo's fourth server: a real Synapse (scripts/synapse.sh), when one is installed here. The hub
// pairs the demo's LM room with a Matrix v12 room, a Synapse user joins that room, and messages cross
// the protocol converter both ways. Synapse federates only over HTTPS to the host and port in a
// server name, so in this mode the hub serves HTTPS (a throwaway self-signed certificate) and its
// name resolves inside Synapse's root; `hub.fetch` reaches its Worker without the certificate.

import { execFile, execFileSync } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { User, call } from "./demo-client.mjs";
import { fail, print, say } from "./demo-output.mjs";
import { printTimeline } from "./demo-timeline.mjs";

const run = promisify(execFile);

/** Whether the Synapse part can run: `{ version }`, or `{ skip }` saying why not. */
export function synapseAvailability(root) {
  if (process.env.DEMO_SYNAPSE === "0") return { skip: "DEMO_SYNAPSE=0" };
  if (process.getuid?.() !== 0) return { skip: "scripts/synapse.sh needs root" };
  try {
    const out = execFileSync("bash", [join(root, "scripts", "synapse.sh"), "installed"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] });
    return { version: out.trim().split("\n").pop() };
  } catch {
    return { skip: "Synapse is not installed (scripts/synapse.sh install builds it, as root)" };
  }
}

/** A self-signed certificate for the hub, by name and by loopback address. */
export function hubCertificate(dir, hubHost) {
  const keyPath = join(dir, "hub-tls.key");
  const certPath = join(dir, "hub-tls.crt");
  execFileSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
    "-subj", `/CN=${hubHost}`, "-addext", `subjectAltName=DNS:${hubHost},IP:127.0.0.1`, "-keyout", keyPath, "-out", certPath], { stdio: "ignore" });
  return { keyPath, certPath };
}

/**
 * Starts a fresh Synapse named `name` on `port`, and makes `hubHost` resolve inside its root;
 * `cleanups` gets the step that stops it and deletes its data.
 */
export async function startSynapse(root, name, port, hubHost, cleanups) {
  const script = join(root, "scripts", "synapse.sh");
  await run("bash", [script, "reset", name]);
  cleanups.push(() => run("bash", [script, "reset", name]));
  await run("bash", [script, "resolve", hubHost]);
  await run("bash", [script, "start", name, String(port)]);
  return { name, url: `http://127.0.0.1:${port}` };
}

/** Polls `check` until it is truthy; fails after `ms`. */
async function until(what, check, ms = 20_000) {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > deadline) fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Synapse's view of a room, oldest first (its tokens are its own, so paginate backwards from now). */
async function synapseTimeline(user, roomId) {
  const page = await user.request("GET", `/rooms/${encodeURIComponent(roomId)}/messages?dir=b&limit=200`);
  return page.chunk.reverse();
}

/** The converter part of the demo: pairing, a Synapse user in the same conversation, all timelines. */
export async function converse({ hub, syn, roomId, lmUsers: [alice, bob, carol] }) {
  print("\nThrough the protocol converter, with a Synapse user:");
  const pair = await hub.fetch(`${hub.url}/_matrix/client/unstable/io.switchboard/rooms/${encodeURIComponent(roomId)}/pair`, {
    method: "POST",
    headers: { authorization: `Bearer ${alice.token}`, "content-type": "application/json" },
    body: JSON.stringify({ preset: "public_chat" }),
  });
  const paired = await pair.json();
  if (!pair.ok) fail(`pairing the room: ${pair.status} ${paired.errcode ?? ""} ${paired.error ?? ""}`);
  const mx = paired.peer_room_id;
  say(`alice paired the LM room with the Matrix v12 room ${mx} (created by @_switchboard:${hub.name})`);
  // Pairing gave the service user the LM room's invite level, so Matrix users' ghosts can enter the invite-only room.
  say(`pairing let @_switchboard:${hub.name} invite, so Matrix users' ghosts can enter the invite-only LM room`);

  const sam = await User.register(syn, "sam");
  await call(syn, "POST", `/join/${encodeURIComponent(mx)}?server_name=${encodeURIComponent(hub.name)}`, sam.token, {});
  say(`${sam.userId} joined the Matrix room from Synapse`);

  const fromSam = "Hello from Synapse! I am in the Matrix room paired with yours.";
  const fromBob = "Welcome, sam. Bob here, on p1, through the converter.";
  const fromCarol = "And carol on p2: our LM room and your Matrix room are one conversation.";
  const samSent = Date.now();
  await sam.send(mx, fromSam);
  say(`sam   ${JSON.stringify(fromSam)}`);
  const lmViewers = [alice, bob, carol];
  await until("sam's message on the three LM servers", async () =>
    (await Promise.all(lmViewers.map((u) => u.timeline(roomId)))).every((v) => v.some((e) => e.content?.body === fromSam)));
  say(`sam's message reached all three LM servers (${Date.now() - samSent} ms), sent by his ghost on the hub`);
  await bob.send(roomId, fromBob);
  say(`bob   ${JSON.stringify(fromBob)}`);
  await carol.send(roomId, fromCarol);
  say(`carol ${JSON.stringify(fromCarol)}`);
  const lmSent = Date.now();
  await until("bob's and carol's messages on Synapse", async () => {
    const bodies = (await synapseTimeline(sam, mx)).map((e) => e.content?.body);
    return bodies.includes(fromBob) && bodies.includes(fromCarol);
  });
  say(`bob's and carol's messages reached Synapse (${Date.now() - lmSent} ms)`);

  // Everyone's view of the one conversation: the LM room on each LM server, the Matrix room on Synapse.
  const views = await Promise.all(lmViewers.map((u) => u.timeline(roomId)));
  const tail = (v) => v.slice(v.findIndex((e) => e.type === "io.switchboard.pair"));
  lmViewers.forEach((u, i) => printTimeline(`LM room on ${u.server.name} since the pairing (as seen by ${u.userId})`, tail(views[i])));
  const onSynapse = await synapseTimeline(sam, mx);
  printTimeline(`Matrix room ${mx} on Synapse ${syn.name} (as seen by ${sam.userId}, ${onSynapse.length} events)`, onSynapse);
  const count = (v, body) => v.filter((e) => e.content?.body === body).length;
  const once = [...views, onSynapse].every((v) => [fromSam, fromBob, fromCarol].every((b) => count(v, b) === 1));
  if (!once) fail("a message is missing or shown twice in one of the four views");
  print(`\nResult: sam on Synapse and alice, bob and carol on the LM servers hold the same three converter-crossing messages, each exactly once in every view.`);
}
