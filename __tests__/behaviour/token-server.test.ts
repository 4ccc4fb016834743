/**
 * Behaviour of templates/manager/token-server.py: the real program on 127.0.0.1, spoken to over HTTP.
 * Distinct workers are simulated with distinct loopback source addresses (Linux routes all of 127/8 to lo).
 */
import { spawnSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { sleep, WAIT_LIMIT_MS } from "../harness/wait";
import {
  freePort,
  runTokenServerToExit,
  startTokenServer,
  stopAllTokenServers,
  TokenServer,
  TokenServerOptions,
  TOKEN_SERVER_STATE_DIR,
  writeTokenServerConfig,
} from "../harness/token-server";

const JOIN_COMMAND = "docker swarm join --token SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-1awxwuwd3z9j1z3puu7rcgdbx 10.0.0.10:2377\n";
const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKq9kfpmB0vSFh0Wq1nQ8cXH0lJrQbq7ZP2v1d6S3Xyz dokploy-oci\n";
const API_KEY = "dokploy-api-key-must-never-leave-the-manager";
const UNIT_FILE = path.resolve(__dirname, "../../templates/manager/dokploy-token-server.service");

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

interface RequestOptions {
  secret?: string;
  method?: string;
  /** Source address of the connection, to stand for one worker. */
  from?: string;
  body?: string;
}

/** One request on its own connection (no agent), so `from` really picks the source address. */
function request(url: string, options: RequestOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: http.OutgoingHttpHeaders = options.secret ? { Authorization: `Bearer ${options.secret}` } : {};
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

/** Fetches what a worker needs (token, then the key by `keyPath`) from one source address. */
async function fetchAsWorker(server: TokenServer, from: string, keyPath = "/public-key"): Promise<number[]> {
  const token = await request(`${server.url}/token`, { secret, from });
  const key = await request(`${server.url}${keyPath}`, { secret, from });
  return [token.status, key.status];
}

test("answers 401 alike for a missing and a wrong secret, and /healthz without auth", async () => {
  const server = await start();
  server.writeValue("token", JOIN_COMMAND);

  const missing = await request(`${server.url}/token`);
  const wrong = await request(`${server.url}/token`, { secret: randomBytes(32).toString("hex") });
  const unknownPath = await request(`${server.url}/no-such-path`);
  for (const reply of [missing, wrong, unknownPath]) {
    expect(reply.status).toBe(401);
    expect(reply.body).toBe(missing.body);
    expect(reply.headers["www-authenticate"]).toBe(missing.headers["www-authenticate"]);
  }
  expect(missing.body).toBe("");

  const health = await request(`${server.url}/healthz`);
  expect(health.status).toBe(200);
  expect(health.headers["content-type"]).toBe("application/json");
  expect(JSON.parse(health.body)).toEqual({ status: "ok", serving: true });
});

test("answers 503 with Retry-After until the token is written, then serves it without a restart", async () => {
  const server = await start();

  const early = await request(`${server.url}/token`, { secret });
  expect(early.status).toBe(503);
  expect(Number(early.headers["retry-after"])).toBeGreaterThan(0);
  expect(early.body).toBe("");

  server.writeValue("token", JOIN_COMMAND);
  const later = await request(`${server.url}/token`, { secret });
  expect(later.status).toBe(200);
  expect(later.headers["content-type"]).toMatch(/^text\/plain/);
  expect(later.body).toBe(JOIN_COMMAND);
});

test("serves only ssh_key_id and public_key from credentials.json, never the API key", async () => {
  const server = await start();
  server.writeValue(
    "credentials.json",
    JSON.stringify({ ssh_key_id: "key-123", public_key: PUBLIC_KEY, api_key: API_KEY, admin_email: "a@b.c" }),
  );
  server.writeValue("public-key", PUBLIC_KEY);

  const credentials = await request(`${server.url}/credentials`, { secret });
  expect(credentials.status).toBe(200);
  expect(credentials.headers["content-type"]).toBe("application/json");
  expect(JSON.parse(credentials.body)).toEqual({ ssh_key_id: "key-123", public_key: PUBLIC_KEY });
  expect(credentials.body).not.toContain(API_KEY);

  const publicKey = await request(`${server.url}/public-key`, { secret });
  expect(publicKey.status).toBe(200);
  expect(publicKey.body).toBe(PUBLIC_KEY);
});

test("stops serving everyone once expectedWorkers distinct clients fetched token and key", async () => {
  const server = await start({ expectedWorkers: 2 });
  server.writeValue("token", JOIN_COMMAND);
  server.writeValue("public-key", PUBLIC_KEY);
  server.writeValue("credentials.json", JSON.stringify({ ssh_key_id: "key-123", public_key: PUBLIC_KEY }));

  expect(await fetchAsWorker(server, "127.0.0.2")).toEqual([200, 200]);
  expect(await fetchAsWorker(server, "127.0.0.2")).toEqual([200, 200]); // a counted client may re-fetch
  // Fetching the token alone does not count as a served worker.
  expect((await request(`${server.url}/token`, { secret, from: "127.0.0.4" })).status).toBe(200);
  expect(JSON.parse((await request(`${server.url}/healthz`)).body).serving).toBe(true);

  expect(await fetchAsWorker(server, "127.0.0.3", "/credentials")).toEqual([200, 200]);

  expect(await fetchAsWorker(server, "127.0.0.4")).toEqual([410, 410]);
  expect(await fetchAsWorker(server, "127.0.0.5")).toEqual([410, 410]);
  expect(await fetchAsWorker(server, "127.0.0.2")).toEqual([410, 410]);
  expect(await fetchAsWorker(server, "127.0.0.3", "/credentials")).toEqual([410, 410]);
  expect(JSON.parse((await request(`${server.url}/healthz`)).body)).toEqual({ status: "ok", serving: false });
});

test("stops serving after ttlSeconds, and a restart does not reset the TTL", async () => {
  const server = await start({ ttlSeconds: 2 });
  server.writeValue("token", JOIN_COMMAND);
  expect((await request(`${server.url}/token`, { secret })).status).toBe(200);

  const deadline = Date.now() + WAIT_LIMIT_MS;
  while (JSON.parse((await request(`${server.url}/healthz`)).body).serving && Date.now() < deadline) await sleep(100);
  expect((await request(`${server.url}/token`, { secret })).status).toBe(410);

  await server.restart();
  expect((await request(`${server.url}/token`, { secret })).status).toBe(410);
  expect(JSON.parse((await request(`${server.url}/healthz`)).body).serving).toBe(false);
});

test("a restart keeps the count of served clients", async () => {
  const server = await start({ expectedWorkers: 2 });
  server.writeValue("token", JOIN_COMMAND);
  server.writeValue("public-key", PUBLIC_KEY);
  expect(await fetchAsWorker(server, "127.0.0.2")).toEqual([200, 200]);

  await server.restart();
  expect(await fetchAsWorker(server, "127.0.0.3")).toEqual([200, 200]);
  expect(await fetchAsWorker(server, "127.0.0.4")).toEqual([410, 410]);
});

test("serves concurrent clients from distinct addresses", async () => {
  const server = await start({ expectedWorkers: 10 });
  server.writeValue("token", JOIN_COMMAND);

  const sources = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"];
  const replies = await Promise.all(
    Array.from({ length: 20 }, (_, i) => request(`${server.url}/token`, { secret, from: sources[i % sources.length] })),
  );
  expect(replies.map((reply) => reply.status)).toEqual(Array(20).fill(200));
  expect(new Set(replies.map((reply) => reply.body))).toEqual(new Set([JOIN_COMMAND]));
});

test("logs path and status of every request, never the secret, the header or a served value", async () => {
  const server = await start();
  server.writeValue("token", JOIN_COMMAND);
  server.writeValue("public-key", PUBLIC_KEY);

  await request(`${server.url}/token`, { secret, from: "127.0.0.9" });
  await request(`${server.url}/public-key`, { secret });
  await request(`${server.url}/token?secret=${secret}`, { secret }); // a careless client's query string
  await request(`${server.url}/token`, { secret: `${secret}x` });
  await server.waitForLog(/GET '\/token' 401/);

  const logs = server.logs();
  expect(logs).toMatch(/^127\.0\.0\.9 .*\[.+\] GET '\/token' 200$/m); // client, time, method, path, status
  expect(logs).toMatch(/GET '\/public-key' 200/);
  expect(logs).not.toContain(secret);
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
  const server = await start();
  server.writeValue("token", JOIN_COMMAND);

  const post = await request(`${server.url}/token`, { secret, method: "POST", body: "x=1" });
  expect(post.status).toBe(405);
  expect(post.headers.allow).toBe("GET");
  expect((await request(`${server.url}/token`, { method: "POST" })).status).toBe(401);

  expect((await request(`${server.url}/no-such-path`, { secret })).status).toBe(404);
  expect((await request(`${server.url}/token`, { secret, method: "DELETE" })).status).toBe(405);
});

const hasSystemdAnalyze = spawnSync("systemd-analyze", ["--version"]).status === 0;
(hasSystemdAnalyze ? test : test.skip)("the systemd unit passes systemd-analyze verify without warnings", () => {
  const unitDir = fs.mkdtempSync(path.join(root, "unit-"));
  const unit = path.join(unitDir, path.basename(UNIT_FILE));
  fs.copyFileSync(UNIT_FILE, unit);
  // verify exits 0 on unknown keys and bad values but prints them, so any output is a failure.
  const result = spawnSync("systemd-analyze", ["verify", unit], { encoding: "utf8" });
  expect({ status: result.status, output: result.stdout + result.stderr }).toEqual({ status: 0, output: "" });
});

describe("long poll (?wait=N)", () => {
  test("a request made before the token exists is answered with it as soon as it is published", async () => {
    const server = await start();
    const waiting = request(`${server.url}/token?wait=50`, { secret });
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

  test("a wait that runs out answers 503 with Retry-After 0 (ask again at once); without ?wait, Retry-After 5", async () => {
    const server = await start();
    const waited = await request(`${server.url}/token?wait=0.3`, { secret });
    expect([waited.status, waited.headers["retry-after"]]).toEqual([503, "0"]);
    const plain = await request(`${server.url}/token`, { secret });
    expect([plain.status, plain.headers["retry-after"]]).toEqual([503, "5"]);
    for (const wait of ["nan", "-5", "abc", ""]) {
      const reply = await request(`${server.url}/token?wait=${wait}`, { secret });
      expect([reply.status, reply.headers["retry-after"]]).toEqual([503, "5"]);
    }
  });

  test("the TTL ends a wait: a waiting client hears 410, not the token", async () => {
    const server = await start({ ttlSeconds: 1 });
    const waiting = request(`${server.url}/token?wait=50`, { secret });
    expect((await waiting).status).toBe(410);
    server.writeValue("token", JOIN_COMMAND);
    expect((await request(`${server.url}/token`, { secret })).status).toBe(410);
  });

  test("idle connections cannot pin the server: past 256 at once, a client is told to retry at once", async () => {
    const server = await start();
    const host = new URL(server.url);
    const sockets: net.Socket[] = [];
    try {
      // Connections that never send a request, each holding one of the server's threads.
      for (let i = 0; i < 256; i++) {
        const socket = net.connect(Number(host.port), host.hostname);
        socket.on("error", () => undefined);
        sockets.push(socket);
        await new Promise((resolve) => socket.once("connect", resolve));
      }
      const extra = await request(`${server.url}/token`, { secret }).catch((error) => error);
      expect(extra.status).toBe(503);
      expect(extra.headers["retry-after"]).toBe("5");
    } finally {
      for (const socket of sockets) socket.destroy();
    }
    server.writeValue("token", JOIN_COMMAND);
    const deadline = Date.now() + WAIT_LIMIT_MS;
    let reply = await request(`${server.url}/token`, { secret });
    while (reply.status !== 200 && Date.now() < deadline) {
      await sleep(50);
      reply = await request(`${server.url}/token`, { secret });
    }
    expect(reply.status).toBe(200);
  });
});

test("a corrupt state file, or one whose start time is not a finite past time, stops the server: it never serves again by accident", async () => {
  const stateFile = path.join(root, TOKEN_SERVER_STATE_DIR, "server-state.json");
  const fetched = '"fetched": {}';
  for (const content of [
    "{not json",
    `{"startedAt": NaN, ${fetched}}`,
    `{"startedAt": Infinity, ${fetched}}`,
    `{"startedAt": "1700000000", ${fetched}}`,
    `{"startedAt": true, ${fetched}}`,
    `{"startedAt": ${Date.now() / 1000 + 86_400}, ${fetched}}`,
    `{"startedAt": 1700000000, "fetched": []}`,
    `{"startedAt": 1700000000}`,
  ]) {
    writeTokenServerConfig({ root, secret, port: await freePort() });
    fs.mkdirSync(path.dirname(stateFile), { recursive: true });
    fs.writeFileSync(stateFile, content);
    const result = await runTokenServerToExit(root);
    expect([content, result.code]).toEqual([content, 2]);
    expect(result.output).toContain(`unreadable state file ${stateFile}`);
    expect(result.output).toContain("delete it to serve again for a new TTL");
  }
});
