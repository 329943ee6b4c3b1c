#!/usr/bin/env node
// `npm run demo`: three Switchboard servers on loopback — a hub and two participant servers — each its own
// workerd (programmatic Miniflare) with its own server name, signing key, D1 and Durable Objects. Users on
// all three share one room; the demo then shows the room's timeline from each server's point of view and
// checks that the three views agree event for event. When Synapse is installed (scripts/synapse.sh), a fourth
// server joins the conversation through the protocol converter (demo-synapse.mjs); otherwise that part is skipped.
// Environment: DEMO_BASE_PORT (default 8787; the servers use BASE, BASE+1, BASE+2, Synapse BASE+3);
// DEMO_SYNAPSE=0 skips Synapse even when it is installed.

import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { DemoError, elapsed, fail, print, say } from "./demo-output.mjs";
import { User } from "./demo-client.mjs";
import { compare, converge, printTimeline, summary } from "./demo-timeline.mjs";
import { converse, hubCertificate, startSynapse, synapseAvailability } from "./demo-synapse.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const bundleDir = join(root, "dist", "demo-bundle");

// ---------------------------------------------------------------------------------------------
// Cleanup: everything we start is registered here and stopped on exit, error or Ctrl-C.
// ---------------------------------------------------------------------------------------------

const cleanups = [];
let cleaning;
/** Runs every cleanup step once, newest first; a step that hangs (a server still starting) gets 5 s. */
function cleanup() {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const fn = cleanups.pop();
      try {
        await Promise.race([fn(), new Promise((r) => setTimeout(r, 5_000).unref())]);
      } catch {
        /* best effort: keep stopping the rest */
      }
    }
  })();
  return cleaning;
}
let stateDir;
// Last resort, synchronous: the temp state goes even if the process ends while a step is still pending.
process.on("exit", () => stateDir && rmSync(stateDir, { recursive: true, force: true }));
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143], ["SIGHUP", 129]]) {
  process.on(signal, () => {
    process.exitCode = code;
    process.stdout.write(`\n[${elapsed()}] ${signal}: stopping the servers …\n`);
    cleanup().then(() => process.exit(code));
  });
}

// ---------------------------------------------------------------------------------------------
// Ports, bundle, servers
// ---------------------------------------------------------------------------------------------

function basePort() {
  const raw = process.env.DEMO_BASE_PORT ?? "8787";
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || n < 1024 || n > 65533) fail(`DEMO_BASE_PORT must be a port number between 1024 and 65533, got ${JSON.stringify(raw)}`);
  return n;
}

function portIsFree(port) {
  return new Promise((resolve) => {
    const s = createServer();
    s.once("error", () => resolve(false));
    s.listen(port, "127.0.0.1", () => s.close(() => resolve(true)));
  });
}

function run(cmd, args, env) {
  return new Promise((resolve, reject) => {
    let stderr = "";
    // A process group of its own so Ctrl-C cleanup can stop it and anything it started.
    const child = spawn(cmd, args, { cwd: root, env, stdio: ["ignore", "ignore", "pipe"], detached: true });
    const kill = () => {
      try {
        process.kill(-child.pid, "SIGTERM");
      } catch {
        /* already gone */
      }
    };
    cleanups.push(kill);
    child.stderr.on("data", (d) => (stderr += d));
    child.on("error", reject);
    child.on("exit", (code) => {
      cleanups.splice(cleanups.indexOf(kill), 1);
      code === 0 ? resolve() : reject(new DemoError(`${cmd} ${args.join(" ")} failed (exit ${code}):\n${stderr.trim()}`));
    });
  });
}

async function bundle() {
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" };
  await run(join(root, "node_modules", ".bin", "wrangler"), ["deploy", "--dry-run", "--outdir", bundleDir], env);
}

function migrationStatements(splitSql) {
  const dir = join(root, "migrations");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".sql"))
    .sort()
    .flatMap((f) => splitSql(readFileSync(join(dir, f), "utf8")));
}

/** Outbound fetch that trusts the hub's self-signed certificate (the Synapse mode's HTTPS hub). */
function trusting(certPath) {
  return { network: { allow: ["public", "private", "local"], tlsOptions: { trustBrowserCas: true, trustedCertificates: [readFileSync(certPath, "utf8")] } } };
}

async function startServer({ Miniflare, base, statements }, { name, port, hostMap, stateDir, tls, trust }) {
  const seed = randomBytes(32).toString("base64").replace(/=+$/, "");
  const adminToken = randomBytes(18).toString("base64url");
  const mf = new Miniflare({
    name: "switchboard",
    modulesRoot: bundleDir,
    modules: [{ type: "ESModule", path: join(bundleDir, "index.js") }],
    compatibilityDate: base.compatibilityDate,
    compatibilityFlags: base.compatibilityFlags,
    durableObjects: base.durableObjects,
    serviceBindings: base.serviceBindings,
    d1Databases: { DB: "db" },
    d1Persist: join(stateDir, name.replace(/[^a-z0-9.-]/gi, "_"), "d1"),
    durableObjectsPersist: join(stateDir, name.replace(/[^a-z0-9.-]/gi, "_"), "do"),
    r2Buckets: { MEDIA: "media" },
    r2Persist: join(stateDir, name.replace(/[^a-z0-9.-]/gi, "_"), "r2"),
    bindings: {
      SERVER_NAME: name,
      SIGNING_KEY: `ed25519:demo:${seed}`,
      FEDERATION_HOST_MAP: JSON.stringify(hostMap),
      ADMIN_TOKEN: adminToken,
    },
    host: "127.0.0.1",
    port,
    ...(tls ? { https: true, httpsKeyPath: tls.keyPath, httpsCertPath: tls.certPath } : {}),
    ...(trust ? { outboundService: trusting(trust) } : {}),
    cf: false,
  });
  cleanups.push(() => mf.dispose());
  await mf.ready;
  const db = await mf.getD1Database("DB");
  for (const sql of statements) await db.prepare(sql).run();
  const url = `${tls ? "https" : "http"}://127.0.0.1:${port}`;
  // The demo's own requests to an HTTPS server go straight to its Worker, so they need not trust its throwaway certificate.
  return { name, port, url, adminToken, ...(tls ? { fetch: (u, init) => mf.dispatchFetch(u, init) } : {}) };
}


// ---------------------------------------------------------------------------------------------
// The demo
// ---------------------------------------------------------------------------------------------

async function main() {
  const base = basePort();
  const names = [`hub.localhost:${base}`, `p1.localhost:${base + 1}`, `p2.localhost:${base + 2}`];
  const ports = [base, base + 1, base + 2];
  print("Switchboard demo: one Linearized Matrix hub and two participant servers, federating over loopback\n");

  const synapse = synapseAvailability(root);
  const synName = `127.0.0.1:${base + 3}`;
  const busy = [];
  for (let i = 0; i < 3; i++) if (!(await portIsFree(ports[i]))) busy.push(`${ports[i]} (for ${names[i]})`);
  if (synapse.version && !(await portIsFree(base + 3))) busy.push(`${base + 3} (for Synapse ${synName})`);
  if (busy.length > 0) {
    fail(`port ${busy.join(", ")} ${busy.length === 1 ? "is" : "are"} already in use.\nStop whatever listens there, or pick other ports: DEMO_BASE_PORT=${base + 100} npm run demo`);
  }

  stateDir = mkdtempSync(join(tmpdir(), "switchboard-demo-"));
  cleanups.push(() => rmSync(stateDir, { recursive: true, force: true }));

  let tls;
  let synStarting;
  if (synapse.version) {
    tls = hubCertificate(stateDir, "hub.localhost");
    say(`Synapse ${synapse.version} is installed: starting it as a fourth server, ${synName}`);
    synStarting = startSynapse(root, synName, base + 3, "hub.localhost", cleanups);
    synStarting.catch(() => undefined);
  } else {
    say(`Synapse part skipped: ${synapse.skip}`);
  }

  say("bundling the Worker (wrangler deploy --dry-run) …");
  const bundleStart = Date.now();
  await bundle();
  say(`bundled in ${((Date.now() - bundleStart) / 1000).toFixed(1)} s; starting three servers (state in ${stateDir})`);
  process.env.WRANGLER_LOG ??= "warn"; // wrangler's config reader would announce .dev.vars, which the demo does not use
  const [{ Miniflare }, wrangler] = await Promise.all([import("miniflare"), import("wrangler")]);
  const env = {
    Miniflare,
    base: wrangler.unstable_getMiniflareWorkerOptions(join(root, "wrangler.toml")).workerOptions,
    statements: migrationStatements(wrangler.unstable_splitSqlQuery),
  };
  const hostMap = Object.fromEntries(names.map((n, i) => [n, `${tls && i === 0 ? "https" : "http"}://127.0.0.1:${ports[i]}`]));
  if (tls) hostMap[synName] = `http://127.0.0.1:${base + 3}`;
  const servers = await Promise.all(names.map((name, i) => startServer(env, { name, port: ports[i], hostMap, stateDir, tls: i === 0 ? tls : undefined, trust: tls?.certPath })));
  for (const s of servers) say(`started ${s.name.padEnd(20)} on ${s.url}`);
  const [hub, p1, p2] = servers;

  const [alice, bob, carol] = await Promise.all([User.register(hub, "alice"), User.register(p1, "bob"), User.register(p2, "carol")]);
  for (const u of [alice, bob, carol]) say(`registered ${u.userId}`);

  const { room_id: roomId } = await alice.request("POST", "/createRoom", {
    name: "Switchboard demo",
    // bob and carol may change the room's name and topic, so participant servers send state events too.
    power_level_content_override: { users: { [alice.userId]: 100, [bob.userId]: 50, [carol.userId]: 50 } },
  });
  say(`alice created ${roomId} ("Switchboard demo") on ${hub.name}`);
  await alice.request("POST", `/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: bob.userId });
  await alice.request("POST", `/rooms/${encodeURIComponent(roomId)}/invite`, { user_id: carol.userId });
  say(`alice invited ${bob.userId} and ${carol.userId}`);
  await bob.request("POST", `/join/${encodeURIComponent(roomId)}`, {});
  say(`bob joined through ${p1.name}`);
  await carol.request("POST", `/join/${encodeURIComponent(roomId)}`, {});
  say(`carol joined through ${p2.name}`);

  print("\nConversation:");
  const sent = [];
  const line = async (user, text) => {
    sent.push(await user.send(roomId, text));
    say(`${user.name.padEnd(5)} ${JSON.stringify(text)}`);
  };
  const together = async (lines) => {
    const ids = await Promise.all(lines.map(([user, text]) => user.send(roomId, text)));
    sent.push(...ids);
    say(`sent at the same time from three servers: ${lines.map(([u, t]) => `${u.name} ${JSON.stringify(t)}`).join(", ")}`);
  };
  await line(alice, "Welcome, both of you! This room lives on the hub.");
  await line(bob, "Hi alice! Bob here, writing from p1.");
  await line(carol, "Hello from p2, everyone.");
  await together([
    [alice, "Let's all talk at once."],
    [bob, "Talking at once from p1!"],
    [carol, "And at once from p2!"],
  ]);
  sent.push(await carol.setState(roomId, "m.room.topic", { topic: "One order for everyone" }));
  say(`carol set the topic to "One order for everyone"`);
  await line(alice, "The hub puts every event in one order.");
  await together([
    [bob, "So we all see the same timeline?"],
    [carol, "Even for messages sent at the same moment?"],
    [alice, "Yes — same event IDs, same order, on every server."],
  ]);
  sent.push(await bob.setState(roomId, "m.room.name", { name: "Three servers, one timeline" }));
  say(`bob renamed the room to "Three servers, one timeline"`);
  await line(carol, "Nice name, bob.");

  const waitStart = Date.now();
  const viewers = [alice, bob, carol];
  const views = await converge(viewers, roomId, sent);
  say(`all three servers hold all ${sent.length} messages and changes (waited ${Date.now() - waitStart} ms)`);

  viewers.forEach((u, i) => printTimeline(`Timeline on ${u.server.name} (as seen by ${u.userId}, ${views[i].length} events)`, views[i]));

  const { problems, shared, start } = compare(names, views);
  print();
  if (problems.length > 0) {
    for (const p of problems) print(`MISMATCH: ${p}`);
    fail("the three views are NOT identical");
  }
  print(
    `Result: the three views are identical — the ${shared.length} events from the hub's #${start + 1} (${summary(views[0][start])}) on ` +
      `have the same event IDs in the same order on all three servers.`,
  );
  for (let i = 1; i < 3; i++) {
    const at = views[0].findIndex((e) => e.event_id === views[i][0].event_id);
    print(`${names[i]}'s replica starts at its user's join, the hub's event #${at + 1}, and matches the hub's timeline from there to the end.`);
  }

  if (synStarting) {
    const syn = await synStarting;
    say(`Synapse ${syn.name} is up`);
    await converse({ hub, syn, roomId, lmUsers: [alice, bob, carol] });
  } else {
    print(`\nThe protocol converter part (a Synapse user in the same conversation) was skipped: ${synapse.skip}.`);
  }
}

main()
  .then(async () => {
    if (cleaning) return; // interrupted: the signal handler exits
    await cleanup();
    say("stopped the servers and removed the demo state");
    process.exit(0);
  })
  .catch(async (err) => {
    if (cleaning) return;
    await cleanup();
    if (err instanceof DemoError) process.stderr.write(`\ndemo failed: ${err.message}\n`);
    else process.stderr.write(`\ndemo failed unexpectedly: ${err?.stack ?? err}\n`);
    process.exit(1);
  });
