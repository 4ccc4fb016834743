/**
 * Behaviour of templates/manager/token-server.py: the real program on 127.0.0.1, spoken to over HTTP.
 * A worker is who its credential proves (X-Dokploy-Worker + Bearer sha256("<secret>:<name>")); which workers are
 * expected and ready comes from workers.json, written here the way the reconciler writes it.
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { sleep, waitFor, WAIT_LIMIT_MS } from "../../sandbox/wait";
import {
  freePort,
  runTokenServerToExit,
  startSlowClients,
  startTokenServer,
  stopAllTokenServers,
  TokenServer,
  TokenServerOptions,
  TOKEN_SERVER_STATE_DIR,
  workerHeaders,
  writeTokenServerConfig,
} from "../../sandbox/token-server";

const JOIN_COMMAND = "docker swarm join --token SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx 10.0.0.10:2377\n";
const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKq9kfpmB0vSFh0Wq1nQ8cXH0lJrQbq7ZP2v1d6S3Xyz dokploy-oci\n";
const API_KEY = "dokploy-api-key-must-never-leave-the-manager";

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface RequestOptions {
  /** The worker the request comes from: its name and its credential (derived from `secret`). */
  as?: string;
  /** Headers as given, instead of `as`. */
  headers?: http.OutgoingHttpHeaders;
  method?: string;
  /** Source address of the connection, to stand for one worker. */
  from?: string;
  body?: string;
}

/** One request on its own connection (no agent), so `from` really picks the source address. */
function request(url: string, options: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = options.headers ?? (options.as ? workerHeaders(secret, options.as) : {});
    const outgoing = http.request(
      url,
      { method: options.method ?? "GET", headers, localAddress: options.from, agent: false },
      (response) => {
        let body = "";
        response.setEncoding("utf8");
        response.on("data", (chunk) => (body += chunk));
        response.on("end", () => resolve({ status: response.statusCode!, headers: response.headers, body }));
      },
    );
    outgoing.on("error", reject);
    outgoing.end(options.body);
  });
}

let root: string;
let secret: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "token-server-"));
  secret = randomBytes(32).toString("hex");
});

afterEach(async () => {
  await stopAllTokenServers();
  fs.rmSync(root, { recursive: true, force: true });
});

async function start(options: Partial<TokenServerOptions> = {}): Promise<TokenServer> {
  return startTokenServer({ root, secret, ...options });
}

/** Fetches what a worker needs (token, then the key by `keyPath`) as worker `name`. */
async function fetchAsWorker(server: TokenServer, name: string, keyPath = "/public-key"): Promise<number[]> {
  const token = await request(`${server.url}/token`, { as: name });
  const key = await request(`${server.url}${keyPath}`, { as: name });
  return [token.status, key.status];
}

const health = async (server: TokenServer) => JSON.parse((await request(`${server.url}/healthz`)).body);

/** A server with everything published, so only identities and windows decide. */
async function startPublished(options: Partial<TokenServerOptions> = {}): Promise<TokenServer> {
  const server = await start(options);
  server.writeValue("token", JOIN_COMMAND);
  server.writeValue("public-key", PUBLIC_KEY);
  server.writeValue("credentials.json", JSON.stringify({ ssh_key_id: "key-123", public_key: PUBLIC_KEY }));
  return server;
}

test("answers 401 alike for no name, a missing or wrong credential, another worker's credential; /healthz without auth", async () => {
  const server = await startPublished();
  const replies = [
    await request(`${server.url}/token`),
    await request(`${server.url}/token`, { headers: { "X-Dokploy-Worker": "worker-1" } }),
    await request(`${server.url}/token`, { headers: { "X-Dokploy-Worker": "worker-1", Authorization: `Bearer ${randomBytes(32).toString("hex")}` } }),
    // worker-2's own credential does not prove worker-1
    await request(`${server.url}/token`, { headers: { ...workerHeaders(secret, "worker-2"), "X-Dokploy-Worker": "worker-1" } }),
    // the secret itself is no credential: workers never have it
    await request(`${server.url}/token`, { headers: { "X-Dokploy-Worker": "worker-1", Authorization: `Bearer ${secret}` } }),
    await request(`${server.url}/token`, { headers: { "X-Dokploy-Worker": "Worker 1\r\n", Authorization: "Bearer x" } }).catch(() => undefined),
    await request(`${server.url}/no-such-path`),
  ].filter((reply): reply is Reply => reply !== undefined);
  for (const reply of replies) {
    expect(reply.status).toBe(401);
    expect(reply.body).toBe("");
    expect(reply.headers["www-authenticate"]).toBe("Bearer");
  }
  await server.waitForLog("refused worker worker-1: wrong credential");
  expect(server.logs()).toContain("refused: no valid X-Dokploy-Worker header (a worker name)");

  const reply = await request(`${server.url}/healthz`);
  expect(reply.status).toBe(200);
  expect(reply.headers["content-type"]).toBe("application/json");
  expect(JSON.parse(reply.body)).toEqual({ status: "ok", serving: true });
});

test("answers 503 with Retry-After until the token is written, then serves it without a restart", async () => {
  const server = await start();

  const early = await request(`${server.url}/token`, { as: "worker-1" });
  expect(early.status).toBe(503);
  expect(Number(early.headers["retry-after"])).toBeGreaterThan(0);
  expect(early.body).toBe("");

  server.writeValue("token", JOIN_COMMAND);
  const later = await request(`${server.url}/token`, { as: "worker-1" });
  expect(later.status).toBe(200);
  expect(later.headers["content-type"]).toMatch(/^text\/plain/);
  expect(later.body).toBe(JOIN_COMMAND);
});

test("serves nobody (503) until the reconciler has published the expected workers; a malformed workers.json is logged and ignored", async () => {
  const server = await startPublished({ expected: null });
  expect((await request(`${server.url}/token`, { as: "worker-1" })).status).toBe(503);
  expect((await health(server)).serving).toBe(false);

  fs.writeFileSync(path.join(server.stateDir, "workers.json"), '{"expected": ["../etc"], "ready": []}');
  expect((await request(`${server.url}/token`, { as: "worker-1" })).status).toBe(503);
  await server.waitForLog(/ignoring .*workers\.json .*names must be worker names.*serving nobody until the reconciler rewrites it/);

  server.setWorkers(["worker-1"]);
  expect((await request(`${server.url}/token`, { as: "worker-1" })).status).toBe(200);
});

test("serves only ssh_key_id and public_key from credentials.json, never the API key", async () => {
  const server = await start();
  server.writeValue(
    "credentials.json",
    JSON.stringify({ ssh_key_id: "key-123", public_key: PUBLIC_KEY, api_key: API_KEY, admin_email: "a@b.c" }),
  );
  server.writeValue("public-key", PUBLIC_KEY);

  const credentials = await request(`${server.url}/credentials`, { as: "worker-1" });
  expect(credentials.status).toBe(200);
  expect(credentials.headers["content-type"]).toBe("application/json");
  expect(JSON.parse(credentials.body)).toEqual({ ssh_key_id: "key-123", public_key: PUBLIC_KEY });
  expect(credentials.body).not.toContain(API_KEY);

  const publicKey = await request(`${server.url}/public-key`, { as: "worker-1" });
  expect(publicKey.status).toBe(200);
  expect(publicKey.body).toBe(PUBLIC_KEY);
});

test("an identity that is not expected hears 403 and is logged; it is served once the reconciler lists it", async () => {
  const server = await startPublished({ expected: ["worker-1"] });
  const reply = await request(`${server.url}/token`, { as: "worker-2" });
  expect(reply.status).toBe(403);
  expect(reply.body).toBe("");
  await server.waitForLog("refused /token to worker worker-2: unknown identity: not an expected worker");

  server.setWorkers(["worker-1", "worker-2"]);
  expect(await fetchAsWorker(server, "worker-2")).toEqual([200, 200]);
  await server.waitForLog("expecting worker worker-2");
});

test("a worker may fetch the token again until its node is ready, then never; serving ends when every expected worker joined", async () => {
  const server = await startPublished({ expected: ["worker-1", "worker-2"] });

  expect(await fetchAsWorker(server, "worker-1")).toEqual([200, 200]);
  // Not in the swarm yet (a join that failed, an answer that was lost): it may ask again.
  expect(await fetchAsWorker(server, "worker-1")).toEqual([200, 200]);
  expect((await health(server)).serving).toBe(true);

  server.setWorkers(["worker-1", "worker-2"], ["worker-1"]);
  // Its node is ready: the credential was used, whoever presents it now.
  const again = await request(`${server.url}/token`, { as: "worker-1" });
  expect(again.status).toBe(410);
  await server.waitForLog("refused /token to worker worker-1: credential already used: it was served and is a ready swarm node");
  expect((await health(server)).serving).toBe(true); // worker-2 has not joined

  // worker-2 joined after fetching only the token (a reboot before the key): it still gets the key, once.
  expect((await request(`${server.url}/token`, { as: "worker-2" })).status).toBe(200);
  server.setWorkers(["worker-1", "worker-2"], ["worker-1", "worker-2"]);
  expect((await request(`${server.url}/token`, { as: "worker-2" })).status).toBe(410);
  expect((await request(`${server.url}/credentials`, { as: "worker-2" })).status).toBe(200);
  expect(await fetchAsWorker(server, "worker-2")).toEqual([410, 410]);
  expect(await health(server)).toEqual({ status: "ok", serving: false });
});

test("a worker recreated with the same name (its node no longer ready) may fetch the token again, once", async () => {
  const server = await startPublished({ expected: ["worker-1"], ready: ["worker-1"] });
  // Already in the swarm when first expected (e.g. after a rebuilt state): nothing to serve.
  expect(await fetchAsWorker(server, "worker-1")).toEqual([410, 410]);
  expect((await health(server)).serving).toBe(false);

  server.setWorkers(["worker-1"], []); // the old node is down, the new instance boots
  expect(await fetchAsWorker(server, "worker-1")).toEqual([200, 200]);
  await server.waitForLog("worker worker-1 left the swarm or is down (recreated?): it may fetch the join token again");
  server.setWorkers(["worker-1"], ["worker-1"]);
  expect(await fetchAsWorker(server, "worker-1")).toEqual([410, 410]);
});

test("a worker no longer expected (shrunk) is refused from then on", async () => {
  const server = await startPublished({ expected: ["worker-1", "worker-2"] });
  server.setWorkers(["worker-1"]);
  expect((await request(`${server.url}/token`, { as: "worker-2" })).status).toBe(403);
  await server.waitForLog("worker worker-2 is no longer expected");
});

test("each worker's window ends after ttlSeconds, and a restart does not reopen it; a newly expected worker gets its own", async () => {
  const server = await startPublished({ ttlSeconds: 2, expected: ["worker-1"] });
  expect((await request(`${server.url}/token`, { as: "worker-1" })).status).toBe(200);

  const deadline = Date.now() + WAIT_LIMIT_MS;
  while ((await health(server)).serving && Date.now() < deadline) await sleep(100);
  const late = await request(`${server.url}/token`, { as: "worker-1" });
  expect(late.status).toBe(410);
  await server.waitForLog("refused /token to worker worker-1: its window closed (2s after it became expected or left the swarm)");

  await server.restart();
  expect((await request(`${server.url}/token`, { as: "worker-1" })).status).toBe(410);
  expect((await health(server)).serving).toBe(false);

  server.setWorkers(["worker-1", "worker-2"]); // grown: the new worker's window opens now
  expect((await request(`${server.url}/token`, { as: "worker-2" })).status).toBe(200);
  expect((await request(`${server.url}/token`, { as: "worker-1" })).status).toBe(410);
});

test("restarted mid-join: what was served and each window survive; no identity is served past its once", async () => {
  const server = await startPublished({ expected: ["worker-1", "worker-2"] });
  expect(await fetchAsWorker(server, "worker-1")).toEqual([200, 200]);
  server.setWorkers(["worker-1", "worker-2"], ["worker-1"]);
  expect((await request(`${server.url}/token`, { as: "worker-1" })).status).toBe(410);

  await server.restart();
  expect((await request(`${server.url}/token`, { as: "worker-1" })).status).toBe(410);
  expect(await fetchAsWorker(server, "worker-2")).toEqual([200, 200]);
  const saved = JSON.parse(fs.readFileSync(path.join(server.stateDir, "server-state.json"), "utf8"));
  expect(saved.ready).toEqual(["worker-1"]);
  expect(saved.identities["worker-1"].served).toEqual(["key", "token"]);
});

test("serves concurrent workers", async () => {
  const names = Array.from({ length: 10 }, (_, i) => `worker-${i + 1}`);
  const server = await startPublished({ expected: names });
  const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => request(`${server.url}/token`, { as: names[i % names.length] })));
  expect(replies.map((reply) => reply.status)).toEqual(Array(20).fill(200));
  expect(new Set(replies.map((reply) => reply.body))).toEqual(new Set([JOIN_COMMAND]));
});

test("logs path, status and who was served or refused, never the secret, a credential or a served value", async () => {
  const server = await startPublished();

  await request(`${server.url}/token`, { as: "worker-1", from: "127.0.0.9" });
  await request(`${server.url}/public-key`, { as: "worker-1" });
  await request(`${server.url}/token?secret=${secret}`, { as: "worker-2" }); // a careless client's query string
  await request(`${server.url}/token`, { headers: { ...workerHeaders(secret, "worker-3"), Authorization: `Bearer ${secret}x` } });
  await server.waitForLog(/GET '\/token' 401/);

  const logs = server.logs();
  // Time (the host programs' one format), program, client, method, path, status.
  expect(logs).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ token-server: 127\.0\.0\.9 GET '\/token' 200$/m);
  for (const line of logs.trim().split("\n")) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ token-server: /);
  expect(logs).toMatch(/sent \/token to worker worker-1: served/);
  expect(logs).toMatch(/GET '\/public-key' 200/);
  expect(logs).not.toContain(secret);
  for (const name of ["worker-1", "worker-2", "worker-3"]) expect(logs).not.toContain(workerHeaders(secret, name).Authorization.slice(7));
  expect(logs).not.toContain("SWMTKN");
  expect(logs).not.toContain(PUBLIC_KEY.trim().split(" ")[1]);
  expect(logs).not.toMatch(/authorization|bearer/i);
});

test("refuses to start with a secret shorter than 32 characters", async () => {
  writeTokenServerConfig({ root, secret: "a".repeat(31), port: await freePort() });
  const result = await runTokenServerToExit(root);
  expect(result.code).toBe(2);
  expect(result.output).toMatch(/secret is shorter than 32 characters/);
  expect(result.output).not.toContain("a".repeat(31));
});

test("refuses to start without a config file, naming the path", async () => {
  const result = await runTokenServerToExit(root);
  expect(result.code).toBe(2);
  expect(result.output).toContain(path.join(root, "etc/dokploy-oci/node.json"));

  const elsewhere = path.join(root, "elsewhere.json");
  const overridden = await runTokenServerToExit(root, ["--config", elsewhere]);
  expect(overridden.code).toBe(2);
  expect(overridden.output).toContain(elsewhere);
});

test("answers 405 to other methods and 404 to unknown paths, both only after auth", async () => {
  const server = await startPublished();

  const post = await request(`${server.url}/token`, { as: "worker-1", method: "POST", body: "x=1" });
  expect(post.status).toBe(405);
  expect(post.headers.allow).toBe("GET");
  expect((await request(`${server.url}/token`, { method: "POST" })).status).toBe(401);

  expect((await request(`${server.url}/no-such-path`, { as: "worker-1" })).status).toBe(404);
  expect((await request(`${server.url}/token`, { as: "worker-1", method: "DELETE" })).status).toBe(405);
});

// Its systemd unit, with every other one: __tests__/host-files/systemd-units.test.ts.

describe("long poll (?wait=N)", () => {
  test("a request made before the token exists is answered with it as soon as it is published", async () => {
    const server = await start();
    const waiting = request(`${server.url}/token?wait=50`, { as: "worker-1" });
    await server.waitForLog(/GET '\/token' /, 2_000).then(
      () => {
        throw new Error("the waiting request was answered before the token existed");
      },
      () => undefined,
    );
    server.writeValue("token", JOIN_COMMAND);
    const reply = await waiting;
    expect(reply.status).toBe(200);
    expect(reply.body).toBe(JOIN_COMMAND);
  });

  test("a worker not expected yet waits in the request and is served the moment the reconciler lists it (growing)", async () => {
    const server = await startPublished({ expected: ["worker-1"] });
    const waiting = request(`${server.url}/token?wait=50`, { as: "worker-2" });
    await sleep(500);
    server.setWorkers(["worker-1", "worker-2"]);
    const reply = await waiting;
    expect([reply.status, reply.body]).toEqual([200, JOIN_COMMAND]);
    const timedOut = await request(`${server.url}/token?wait=0.3`, { as: "worker-3" });
    expect([timedOut.status, timedOut.headers["retry-after"]]).toEqual([403, "0"]);
  });

  test("a wait that runs out answers 503 with Retry-After 0 (ask again at once); without ?wait, Retry-After 5", async () => {
    const server = await start();
    const waited = await request(`${server.url}/token?wait=0.3`, { as: "worker-1" });
    expect([waited.status, waited.headers["retry-after"]]).toEqual([503, "0"]);
    const plain = await request(`${server.url}/token`, { as: "worker-1" });
    expect([plain.status, plain.headers["retry-after"]]).toEqual([503, "5"]);
    for (const wait of ["nan", "-5", "abc", ""]) {
      const reply = await request(`${server.url}/token?wait=${wait}`, { as: "worker-1" });
      expect([reply.status, reply.headers["retry-after"]]).toEqual([503, "5"]);
    }
  });

  test("the TTL ends a wait: a waiting client hears 410, not the token", async () => {
    const server = await start({ ttlSeconds: 1 });
    const waiting = request(`${server.url}/token?wait=50`, { as: "worker-1" });
    expect((await waiting).status).toBe(410);
    server.writeValue("token", JOIN_COMMAND);
    expect((await request(`${server.url}/token`, { as: "worker-1" })).status).toBe(410);
  });

  /** `count` idle connections from `address`, each resolved once connected. */
  async function holdIdle(server: TokenServer, address: string, count: number, sockets: net.Socket[]): Promise<void> {
    const { hostname, port } = new URL(server.url);
    for (let i = 0; i < count; i++) {
      const socket = net.connect({ host: hostname, port: Number(port), localAddress: address });
      socket.on("error", () => undefined);
      sockets.push(socket);
      await new Promise((resolve) => socket.once("connect", resolve));
    }
  }

  test("idle connections cannot pin the server: past 32 from one address that address is told to retry, others are served; past 256 in all, everyone is", async () => {
    const server = await startPublished();
    const sockets: net.Socket[] = [];
    try {
      // Connections that never send a request, each holding one of the server's threads until its deadline.
      await holdIdle(server, "127.0.0.1", 32, sockets);
      const extra = await request(`${server.url}/token`, { as: "worker-1", from: "127.0.0.1" });
      expect([extra.status, extra.headers["retry-after"]]).toEqual([503, "5"]);
      expect((await request(`${server.url}/token`, { as: "worker-1", from: "127.0.0.9" })).status).toBe(200);

      // 256 in all: a round counts only if no idle connection reached its deadline before the probe was answered.
      let probe: Reply | undefined;
      for (let round = 0; round < 5 && probe === undefined; round++) {
        for (const socket of sockets.splice(0)) socket.destroy();
        let cutOff = false;
        for (let address = 10; address < 18; address++) await holdIdle(server, `127.0.0.${address}`, 32, sockets);
        for (const socket of sockets) socket.once("close", () => (cutOff = true));
        const reply = await request(`${server.url}/token`, { as: "worker-1", from: "127.0.0.9" });
        if (!cutOff) probe = reply;
      }
      expect([probe?.status, probe?.headers["retry-after"]]).toEqual([503, "5"]);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    const deadline = Date.now() + WAIT_LIMIT_MS;
    let reply = await request(`${server.url}/token`, { as: "worker-1" });
    while (reply.status !== 200 && Date.now() < deadline) {
      await sleep(50);
      reply = await request(`${server.url}/token`, { as: "worker-1" });
    }
    expect(reply.status).toBe(200);
  });

  test("500 slow clients (a byte a second, reconnecting) from four addresses: each is cut off at its deadline, and a worker is served meanwhile", async () => {
    const server = await startPublished();
    const addresses = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"];
    const clients = startSlowClients(server.url, { count: 500, sourceAddresses: addresses, byteIntervalMs: 1_000 });
    try {
      await waitFor(() => addresses.every((address) => clients.refused(address) > 0), "every slow address to reach its limit");
      for (const path of ["/token", "/public-key"]) {
        expect((await request(`${server.url}${path}`, { as: "worker-1", from: "127.0.0.9" })).status).toBe(200);
      }
      // Sending a byte a second, a request of a thousand bytes would hold its thread for minutes without a deadline.
      await waitFor(() => clients.cutOff() >= 4 * 32, "the held slow clients to be cut off at their deadline");
      await server.waitForLog("Request timed out");
      expect((await request(`${server.url}/token`, { as: "worker-2", from: "127.0.0.10" })).status).toBe(200);
    } finally {
      await clients.stop();
    }
  });
});

describe("state it cannot trust: serving never reopens by itself", () => {
  const stateFile = () => path.join(root, TOKEN_SERVER_STATE_DIR, "server-state.json");
  // worker-1 joined; worker-2 was being served when the state went bad (its window may have closed since).
  const withWorker2OpenedAt = (openedAt: string) =>
    `{"identities": {"worker-1": {"openedAt": ${Date.now() / 1000 - 60}, "served": ["key", "token"]}, ` +
    `"worker-2": {"openedAt": ${openedAt}, "served": ["token"]}}, "ready": ["worker-1"]}`;
  const unreadable = "unreadable state file";
  const untrustedTime = "refused /token to worker worker-2: its window closed";
  const cases: Array<[string, string | null, string]> = [
    ["truncated", withWorker2OpenedAt("1700000000").slice(0, 60), unreadable],
    ["not JSON", "{not json", unreadable],
    ["NaN", withWorker2OpenedAt("NaN"), untrustedTime],
    ["Infinity", withWorker2OpenedAt("Infinity"), untrustedTime],
    ["-Infinity", withWorker2OpenedAt("-Infinity"), untrustedTime],
    ["a string", withWorker2OpenedAt(`"${Math.floor(Date.now() / 1000)}"`), untrustedTime],
    ["a boolean", withWorker2OpenedAt("true"), untrustedTime],
    ["10 h in the future", withWorker2OpenedAt(String(Date.now() / 1000 + 36_000)), untrustedTime],
    ["a list", "[]", unreadable],
    ["a list of identities", '{"identities": [], "ready": []}', unreadable],
    ["null", "null", unreadable],
    ["no ready list", '{"identities": {}}', unreadable],
    ["an older format", '{"startedAt": 1700000000, "fetched": {}}', unreadable],
    ["a directory", null, unreadable],
  ];

  test.each(cases)("%s: every window counts as closed, after a restart too", async (_what, content, logged) => {
    fs.mkdirSync(path.dirname(stateFile()), { recursive: true });
    if (content === null) fs.mkdirSync(path.join(stateFile(), "in-the-way"), { recursive: true });
    else fs.writeFileSync(stateFile(), content);
    const server = await startPublished({ expected: ["worker-1", "worker-2"], ready: ["worker-1"] });
    expect(await fetchAsWorker(server, "worker-2")).toEqual([410, 410]);
    expect(await fetchAsWorker(server, "worker-1")).toEqual([410, 410]);
    await server.waitForLog(logged);
    expect(await health(server)).toEqual({ status: "ok", serving: false });
    if (logged === unreadable) {
      expect(server.logs()).toContain(`, moved to .corrupt: all windows closed;`);
      if (content !== null) expect(fs.readFileSync(`${stateFile()}.corrupt`, "utf8")).toBe(content);
    }

    await server.restart();
    expect(await fetchAsWorker(server, "worker-2")).toEqual([410, 410]);
    // A worker expected from now on (the pool grew) gets its window as usual.
    server.setWorkers(["worker-1", "worker-2", "worker-3"], ["worker-1"]);
    expect(await fetchAsWorker(server, "worker-3")).toEqual([200, 200]);
  });

  test("the log says how to reopen serving on purpose, and doing so serves the workers not in the swarm", async () => {
    fs.mkdirSync(path.dirname(stateFile()), { recursive: true });
    fs.writeFileSync(stateFile(), "{not json");
    const server = await startPublished({ expected: ["worker-1", "worker-2"], ready: ["worker-1"] });
    await server.waitForLog(unreadable);
    expect(server.logs()).toContain(
      `to reopen them: systemctl stop dokploy-token-server; rm -rf ${stateFile()}; systemctl start dokploy-token-server`,
    );
    expect(await fetchAsWorker(server, "worker-2")).toEqual([410, 410]);
    // What the log says, with the test's stop and start for systemctl's.
    await server.stop();
    fs.rmSync(stateFile(), { recursive: true, force: true });
    await server.restart();
    expect(await fetchAsWorker(server, "worker-2")).toEqual([200, 200]);
    expect(await fetchAsWorker(server, "worker-1")).toEqual([410, 410]);
  });

  test.each([
    ["set back 10 h", -36_000],
    ["set forward 10 h", 36_000],
  ])("a clock %s while a window is open closes it, and putting the clock right does not reopen it", async (_what, offsetSeconds) => {
    const server = await startPublished({ expected: ["worker-1", "worker-2"], clockOffsetSeconds: 0 });
    expect(await fetchAsWorker(server, "worker-1")).toEqual([200, 200]);

    server.setClockOffset(offsetSeconds);
    expect(await fetchAsWorker(server, "worker-2")).toEqual([410, 410]);
    expect((await health(server)).serving).toBe(false);
    server.setClockOffset(0);
    expect(await fetchAsWorker(server, "worker-2")).toEqual([410, 410]);
    expect(await fetchAsWorker(server, "worker-1")).toEqual([410, 410]);
    await server.restart();
    expect(await fetchAsWorker(server, "worker-2")).toEqual([410, 410]);
    expect((await health(server)).serving).toBe(false);
  });

  test.each([
    ["10 h behind", -36_000],
    ["10 h ahead", 36_000],
  ])("a server restarted with its clock %s of the saved state serves nobody whose window was open", async (_what, offsetSeconds) => {
    const server = await startPublished({ expected: ["worker-1", "worker-2"], clockOffsetSeconds: 0 });
    expect((await request(`${server.url}/token`, { as: "worker-2" })).status).toBe(200);
    await server.stop();
    server.setClockOffset(offsetSeconds);
    await server.restart();
    expect(await fetchAsWorker(server, "worker-2")).toEqual([410, 410]);
    expect(await fetchAsWorker(server, "worker-1")).toEqual([410, 410]);
    if (offsetSeconds < 0) await server.waitForLog(untrustedTime);
  });
});
