/**
 * Behaviour of templates/worker/bootstrap.sh: the real script under a temp root, against the real token server
 * (harness/token-server.ts) on loopback, with stub docker/apt-get/systemctl/... first on PATH and real curl and
 * python3. Each worker proves its own name with the credential derived from the token server's secret.
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as http from "http";
import { AddressInfo } from "net";
import * as path from "path";
import { startTokenServer, stopAllTokenServers, TokenServer, workerCredential } from "../../sandbox/token-server";
import {
  AUTHORIZED_KEYS,
  cleanupWorkers,
  getDockerScript,
  hostEnv,
  JOIN_COMMAND,
  makeTempRoot,
  makeWorker,
  MANAGER_IP,
  PUBLIC_KEY,
  start,
  startFileServer,
  Worker,
  WORKER_BOOTSTRAP,
  WORKER_LOG,
  WORKER_MARKER,
  WORKER_TOKEN,
} from "../../sandbox/worker";
import { sleep, waitFor } from "../../sandbox/wait";

const REPO = path.resolve(__dirname, "../..");
const TIMESTAMPED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /;
const JOIN_ARGV = ["swarm", "join", "--token", WORKER_TOKEN, `${MANAGER_IP}:2377`];

afterEach(async () => {
  await cleanupWorkers();
  await stopAllTokenServers();
});

const newSecret = () => randomBytes(32).toString("hex");

/** A token server that expects worker-1 .. worker-`workers` (as the reconciler would list them). */
async function tokenServer(secret: string, workers = 10): Promise<TokenServer> {
  const expected = Array.from({ length: workers }, (_, i) => `worker-${i + 1}`);
  return startTokenServer({ root: makeTempRoot("dokploy-oci-token-"), secret, expected });
}

function publish(server: TokenServer): void {
  server.writeValue("token", JOIN_COMMAND);
  server.writeValue("public-key", `${PUBLIC_KEY}\n`);
}

const count = (text: string, needle: string) => text.split(needle).length - 1;

function expectNoSecrets(worker: Worker, secret: string, ...texts: string[]): void {
  for (const text of [worker.log(), ...texts]) {
    expect(text).not.toContain(secret);
    expect(text).not.toContain(WORKER_TOKEN);
  }
}

/** The command lines of every process on the host right now. */
function commandLines(): string[] {
  const lines: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      lines.push(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " "));
    } catch {
      // exited meanwhile
    }
  }
  return lines;
}

function healthz(server: TokenServer, secret: string): Promise<{ serving: boolean }> {
  return new Promise((resolve, reject) => {
    http
      .get(`${server.url}/healthz`, { headers: { Authorization: `Bearer ${secret}` }, agent: false }, (response) => {
        let body = "";
        response.setEncoding("utf8").on("data", (chunk: string) => (body += chunk));
        response.on("end", () => resolve(JSON.parse(body)));
      })
      .on("error", reject);
  });
}

describe("worker bootstrap", () => {
  test("fresh host: installs Docker, waits for the token, joins once, authorizes the key, no secret anywhere", async () => {
    const secret = newSecret();
    const server = await tokenServer(secret);
    const installer = await startFileServer({ "/get-docker.sh": getDockerScript() });
    const worker = makeWorker({
      tokenServerUrl: server.url,
      secret,
      dockerInstalled: false,
      installerUrl: `${installer}/get-docker.sh`,
    });
    const run = worker.run();
    // The bearer secret must never be on a command line (ps shows every user's argv).
    const argvWithSecret: string[] = [];
    const watcher = setInterval(() => argvWithSecret.push(...commandLines().filter((line) => line.includes(secret))), 5);
    try {
      await waitFor(() => count(worker.log(), "not ready yet (HTTP 503)") >= 2, "the worker to poll an empty token server");
      server.writeValue("token", JOIN_COMMAND);
      await waitFor(() => worker.joins().length > 0, "the join");
      server.writeValue("public-key", `${PUBLIC_KEY}\n`);
      const exit = await run.done;
      expect(exit.code).toBe(0);
    } finally {
      clearInterval(watcher);
    }
    expect(argvWithSecret).toEqual([]);

    expect(worker.joins().map((join) => join.argv)).toEqual([JOIN_ARGV]);
    const calls = worker.stubCalls();
    expect(calls.indexOf("get-docker.sh")).toBeGreaterThan(-1);
    expect(calls.indexOf("get-docker.sh")).toBeLessThan(calls.findIndex((line) => line.startsWith("docker swarm join")));
    expect(calls).toEqual(expect.arrayContaining(["systemctl enable docker", "systemctl start docker"]));
    // The shared hardening ran first.
    expect(worker.exists("etc/ssh/sshd_config.d/00-hardening.conf")).toBe(true);
    expect(calls.indexOf("sshd -t")).toBeLessThan(calls.indexOf("get-docker.sh"));

    expect(worker.read(AUTHORIZED_KEYS)).toBe(`${PUBLIC_KEY}\n`);
    expect(fs.statSync(worker.path(AUTHORIZED_KEYS)).mode & 0o777).toBe(0o600);
    expect(fs.statSync(worker.path("root/.ssh")).mode & 0o777).toBe(0o700);
    expect(worker.exists(WORKER_MARKER)).toBe(true);

    expect(fs.statSync(worker.path(WORKER_LOG)).mode & 0o777).toBe(0o600);
    const lines = worker.log().trim().split("\n");
    for (const line of lines) expect(line).toMatch(TIMESTAMPED);
    expect(lines[lines.length - 1]).toMatch(/ worker ready$/);
    // A long poll that ran out is asked again at once: the server already waited.
    expect(worker.log()).toMatch(/GET \/token: attempt 1: not ready yet \(HTTP 503\)[^\n]*; next attempt in 0s\n/);
    expectNoSecrets(worker, secret, (await run.done).output);
    // The 0600 curl config holding the secret is gone with the work dir.
    expect(fs.readdirSync(worker.path("tmp"))).toEqual([]);
  });

  test("long poll: a worker asking before the token exists gets it on its first request, the moment it is published", async () => {
    const secret = newSecret();
    const server = await tokenServer(secret);
    const worker = makeWorker({ tokenServerUrl: server.url, secret, join: { waitSeconds: 30 } });
    const run = worker.run();
    // curl is running with the long poll: the request is (or is about to be) held by the server.
    await waitFor(() => commandLines().some((line) => line.includes("/token?wait=30")), "the worker's long poll");
    await sleep(300);
    const publishedAt = Date.now();
    publish(server);
    expect((await run.done).code).toBe(0);
    expect(worker.log()).toContain("GET /token: attempt 1: received");
    expect(worker.log()).not.toContain("not ready yet");
    console.log(`long poll: joined ${worker.joins()[0].at - publishedAt} ms after the token was published`);
  });

  test("5 workers in parallel, each its own client: all join once; reports the join lag", async () => {
    const secret = newSecret();
    const server = await tokenServer(secret, 5);
    const workers = [2, 3, 4, 5, 6].map((n) =>
      makeWorker({ tokenServerUrl: server.url, secret, name: `worker-${n - 1}`, sourceAddress: `127.0.0.${n}` }),
    );
    const runs = workers.map((worker) => worker.run());
    await waitFor(
      () => workers.every((worker) => worker.log().includes("not ready yet")),
      "every worker to poll the empty token server",
    );
    const publishedAt = Date.now();
    publish(server);
    for (const exit of await Promise.all(runs.map((run) => run.done))) expect(exit.code).toBe(0);

    for (const worker of workers) {
      expect(worker.joins().map((join) => join.argv)).toEqual([JOIN_ARGV]);
      expect(worker.read(AUTHORIZED_KEYS)).toBe(`${PUBLIC_KEY}\n`);
      expect(worker.exists(WORKER_MARKER)).toBe(true);
    }
    const lags = workers.map((worker) => worker.joins()[0].at - publishedAt).sort((a, b) => a - b);
    console.log(
      `join lag after the token was published (initialDelaySeconds 0.05, maxDelaySeconds 0.4, full jitter): ` +
        `median ${Math.round(lags[2])} ms, max ${Math.round(lags[4])} ms (all: ${lags.map(Math.round).join(", ")} ms)`,
    );
    // How fast is for `npm run bench`; here only that nobody joined before the token existed.
    expect(lags[0]).toBeGreaterThanOrEqual(0);

    // The reconciler sees the five as ready nodes: the server has stopped serving. A sixth worker, not declared,
    // hears 403 and keeps waiting; a copy of worker-1 (its credential reused) hears 410.
    server.setWorkers(workers.map((_, i) => `worker-${i + 1}`), workers.map((_, i) => `worker-${i + 1}`));
    expect((await healthz(server, secret)).serving).toBe(false);
    const late = makeWorker({ tokenServerUrl: server.url, secret, name: "worker-6", sourceAddress: "127.0.0.7" });
    const lateRun = late.run();
    await waitFor(() => late.log().includes("not expected (HTTP 403)"), "the sixth worker to hear 403");
    await lateRun.kill();
    expect(late.log()).toMatch(/GET \/token: attempt 1: not expected \(HTTP 403\): the manager does not list worker-6 among its workers yet.*; next attempt in 0s/);
    const copy = makeWorker({ tokenServerUrl: server.url, secret, name: "worker-1", sourceAddress: "127.0.0.8" });
    const copyRun = copy.run();
    await waitFor(() => copy.log().includes("GONE (HTTP 410)"), "the copy of worker-1 to hear 410");
    await copyRun.kill();
    expect(copy.log()).toMatch(/GET \/token: attempt 1: GONE \(HTTP 410\).*already served while in the swarm.*; next attempt in 0.4s/);
    expect([late.joins(), copy.joins()]).toEqual([[], []]);
  });

  test("the rejoin check of a worker in the manager's swarm hears 410 and asks Docker nothing", async () => {
    // Every few minutes on every worker (dokploy-worker-rejoin.timer): the docker CLI's start is the costly part.
    const secret = newSecret();
    const server = await tokenServer(secret, 1);
    publish(server);
    const worker = makeWorker({ tokenServerUrl: server.url, secret });
    expect((await worker.run().done).code).toBe(0);
    // The reconciler sees it as a ready node of the swarm.
    server.setWorkers(["worker-1"], ["worker-1"]);
    const setupCalls = worker.stubCalls().length;
    const check = await start("bash", [worker.path(WORKER_BOOTSTRAP), "rejoin"], hostEnv(worker.root)).done;
    expect(check.code).toBe(0);
    expect(server.logs()).toMatch(/refused \/token to worker worker-1: credential already used/);
    expect(worker.stubCalls().slice(setupCalls).filter((line) => line.startsWith("docker "))).toEqual([]);
    expect(worker.joins()).toHaveLength(1);
  });

  test("token server down, then starting (503), then ready: keeps polling with capped backoff and joins", async () => {
    const secret = newSecret();
    const server = await tokenServer(secret);
    await server.stop();
    const worker = makeWorker({ tokenServerUrl: server.url, secret });
    const run = worker.run();
    await waitFor(() => count(worker.log(), "token server unreachable") >= 3, "three unreachable attempts");
    await server.restart();
    await waitFor(() => count(worker.log(), "not ready yet (HTTP 503)") >= 3, "three 503 answers");
    publish(server);
    expect((await run.done).code).toBe(0);
    expect(worker.joins()).toHaveLength(1);

    const attempts = worker.log().split("\n").filter((line) => line.includes("GET /token: attempt"));
    expect(attempts[0]).toMatch(/attempt 1: token server unreachable \(curl: \(7\) Failed to connect to 127.0.0.1 port \d+/);
    attempts.forEach((line, index) => expect(line).toContain(`attempt ${index + 1}: `));
    // Delays are jittered in [0, min(0.4, 0.05 * 2^(attempt-1))].
    for (const line of attempts.slice(0, -1)) {
      const attempt = Number(/attempt (\d+):/.exec(line)![1]);
      const delay = Number(/next attempt in ([\d.]+)s$/.exec(line)![1]);
      expect(delay).toBeLessThanOrEqual(Math.min(0.4, 0.05 * 2 ** (attempt - 1)) + 0.001);
    }
    expect(attempts[attempts.length - 1]).toMatch(/attempt \d+: received$/);
  });

  test("wrong credential: logs 'refused: wrong credential' and keeps trying, never joins; a corrected node.json is picked up", async () => {
    const secret = newSecret();
    const server = await tokenServer(secret);
    publish(server);
    // Another worker's credential: valid, but it does not prove worker-1.
    const worker = makeWorker({ tokenServerUrl: server.url, secret, credential: workerCredential(secret, "worker-2") });
    const run = worker.run();
    await waitFor(() => count(worker.log(), "refused: wrong credential (HTTP 401)") >= 4, "four 401 answers");
    expect(worker.joins()).toEqual([]);
    expect(worker.exists(WORKER_MARKER)).toBe(false);
    expect(run.output()).not.toContain("worker ready");

    await server.waitForLog("refused worker worker-1: wrong credential");
    // The config is rewritten with the right credential while the worker runs.
    const configPath = worker.path("etc/dokploy-oci/node.json");
    const config = JSON.parse(fs.readFileSync(configPath, "utf8"));
    config.tokenServer.credential = workerCredential(secret, "worker-1");
    fs.writeFileSync(configPath, JSON.stringify(config));
    expect((await run.done).code).toBe(0);
    expect(worker.joins().map((join) => join.argv)).toEqual([JOIN_ARGV]);
    expectNoSecrets(worker, secret, run.output());
  });

  test("a user-supplied secret with quotes, backslashes and shell characters derives a credential the token server accepts", async () => {
    const secret = `${newSecret()}"\\$'!#%&*;<>?[]\`{|}~`;
    const server = await tokenServer(secret);
    publish(server);
    const worker = makeWorker({ tokenServerUrl: server.url, secret });
    const run = worker.run();
    expect((await run.done).code).toBe(0);
    expect(worker.joins().map((join) => join.argv)).toEqual([JOIN_ARGV]);
    expectNoSecrets(worker, secret, run.output());
  });

  test("wrong credential forever: still retrying at the end, no join; a malformed one stops the setup before any request", async () => {
    const server = await tokenServer(newSecret());
    publish(server);
    const worker = makeWorker({ tokenServerUrl: server.url, secret: newSecret() });
    const run = worker.run();
    await waitFor(() => count(worker.log(), "refused: wrong credential") >= 4, "four 401 answers");
    const exit = await run.kill();
    expect(exit.signal).toBe("SIGKILL");
    expect(worker.joins()).toEqual([]);
    expect(worker.stubCalls().filter((line) => line.startsWith("docker swarm"))).toEqual([]);

    const malformed = makeWorker({ tokenServerUrl: server.url, secret: "", credential: "not-a-sha256" });
    const exit2 = await malformed.run().done;
    expect(exit2.code).not.toBe(0);
    expect(exit2.output).toContain("tokenServer.credential must be 64 lowercase hex digits");
  });

  test("reboot after the join, before the key: the next run does not join again and finishes", async () => {
    const secret = newSecret();
    const server = await tokenServer(secret);
    server.writeValue("token", JOIN_COMMAND);
    const worker = makeWorker({ tokenServerUrl: server.url, secret });
    const first = worker.run();
    await waitFor(() => worker.log().includes("GET /public-key: attempt 2"), "the worker to wait for the key");
    await first.kill();
    expect(worker.joins()).toHaveLength(1);
    expect(worker.exists(WORKER_MARKER)).toBe(false);

    server.writeValue("public-key", `${PUBLIC_KEY}\n`);
    const second = worker.run();
    expect((await second.done).code).toBe(0);
    expect(worker.joins()).toHaveLength(1);
    expect(worker.log()).toContain("already part of a swarm; not joining again");
    expect(worker.read(AUTHORIZED_KEYS)).toBe(`${PUBLIC_KEY}\n`);
    expect(worker.exists(WORKER_MARKER)).toBe(true);
  });

  test("marker lost after a finished run: no second join, the key is not duplicated, other keys are kept", async () => {
    const secret = newSecret();
    const server = await tokenServer(secret);
    publish(server);
    const worker = makeWorker({ tokenServerUrl: server.url, secret });
    const otherKey = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 someone@laptop";
    fs.mkdirSync(worker.path("root/.ssh"), { recursive: true });
    fs.writeFileSync(worker.path(AUTHORIZED_KEYS), otherKey); // no final newline
    expect((await worker.run().done).code).toBe(0);
    fs.rmSync(worker.path(WORKER_MARKER));

    expect((await worker.run().done).code).toBe(0);
    expect(worker.joins()).toHaveLength(1);
    expect(worker.read(AUTHORIZED_KEYS)).toBe(`${otherKey}\n${PUBLIC_KEY}\n`);
    expect(worker.log()).toContain("Dokploy's SSH key is already authorized for root");
    expect(worker.exists(WORKER_MARKER)).toBe(true);
  });

  test("a command that fails where nothing expects it (root's .ssh is a file) stops the setup there: logged, no marker", async () => {
    const secret = newSecret();
    const server = await tokenServer(secret);
    publish(server);
    const worker = makeWorker({ tokenServerUrl: server.url, secret });
    fs.mkdirSync(worker.path("root"), { recursive: true });
    fs.writeFileSync(worker.path("root/.ssh"), "");
    const exit = await worker.run().done;
    expect(exit.code).not.toBe(0);
    expect(worker.log()).toMatch(/ERROR: line \d+: 'mkdir -p "\$\(dirname "\$AUTHORIZED_KEYS"\)"' failed with exit status 1\n/);
    expect(worker.log()).not.toContain("Dokploy's SSH key authorized for root");
    expect(worker.exists(WORKER_MARKER)).toBe(false);
    // The host set right, the next run finishes.
    fs.rmSync(worker.path("root/.ssh"));
    expect((await worker.run().done).code).toBe(0);
    expect(worker.read(AUTHORIZED_KEYS)).toBe(`${PUBLIC_KEY}\n`);
  });

  test("unexpected join commands and keys are refused, never reach docker, and are not logged", async () => {
    const secret = newSecret();
    const server = await tokenServer(secret);
    const worker = makeWorker({ tokenServerUrl: server.url, secret, join: { maxDelaySeconds: 0.1 } });
    const pwned = worker.path("pwned");
    const hostile = [
      `docker swarm join --token ${WORKER_TOKEN} 1.2.3.4:2377; rm -rf /`,
      `docker swarm join --token ${WORKER_TOKEN} --advertise-addr 1.2.3.4 ${MANAGER_IP}:2377`,
      `docker swarm join --token \`touch ${pwned}\` ${MANAGER_IP}:2377`,
      `docker swarm join --token $(touch ${pwned}) ${MANAGER_IP}:2377`,
      `docker swarm join --token ${WORKER_TOKEN} ${MANAGER_IP}:2377\ntouch ${pwned}\n`,
      `docker swarm join --token ${WORKER_TOKEN} ${MANAGER_IP}:2377 && touch ${pwned}`,
      `docker swarm join --token ${WORKER_TOKEN}  ${MANAGER_IP}:2377`,
      `docker swarm join --token ${WORKER_TOKEN} 999.0.0.1:2377`,
      `docker swarm join --token ${WORKER_TOKEN} 010.0.0.10:2377`,
      `docker swarm join --token ${WORKER_TOKEN} ${MANAGER_IP}:2378`,
      `docker swarm join --token SWMTKN-1-ABC-def ${MANAGER_IP}:2377`,
      `docker swarm join --token ${WORKER_TOKEN}\0 ${MANAGER_IP}:2377`,
      `docker swarm join --token ${WORKER_TOKEN} ${MANAGER_IP}:2377\r\n`,
      `docker swarm join --token ${WORKER_TOKEN} manager.internal:2377`,
      "",
    ];
    const run = worker.run();
    for (const command of hostile) {
      // Two refusals after the write: at least one fetched this value.
      const before = count(worker.log(), "unexpected join command");
      server.writeValue("token", command);
      await waitFor(() => count(worker.log(), "unexpected join command") >= before + 2, `refusing ${JSON.stringify(command)}`);
    }
    expect(worker.joins()).toEqual([]);
    expect(worker.stubCalls().filter((line) => line.startsWith("docker swarm"))).toEqual([]);

    const hostileKeys = [`${PUBLIC_KEY}\nssh-ed25519 AAAAattacker`, `command="touch ${pwned}" ${PUBLIC_KEY}`, "ecdsa-sha2-nistp256 AAAA x"];
    server.writeValue("token", JOIN_COMMAND);
    for (const key of hostileKeys) {
      const before = count(worker.log(), "unexpected public key");
      server.writeValue("public-key", key);
      await waitFor(() => count(worker.log(), "unexpected public key") >= before + 2, `refusing key ${JSON.stringify(key)}`);
    }
    expect(worker.exists(AUTHORIZED_KEYS) ? worker.read(AUTHORIZED_KEYS) : "").toBe("");

    server.writeValue("public-key", `${PUBLIC_KEY}\n`);
    expect((await run.done).code).toBe(0);
    expect(worker.joins().map((join) => join.argv)).toEqual([JOIN_ARGV]);
    expect(worker.read(AUTHORIZED_KEYS)).toBe(`${PUBLIC_KEY}\n`);
    expect(fs.existsSync(pwned)).toBe(false);
    expect(worker.log()).toMatch(/unexpected join command \(\d+ bytes, /);
    for (const text of [worker.log(), run.output()]) {
      expect(text).not.toContain("rm -rf");
      expect(text).not.toContain("advertise-addr");
      expect(text).not.toContain("attacker");
    }
  });

  test("a well-formed join command naming another manager is refused: the worker joins only its own cluster's", async () => {
    const secret = newSecret();
    const server = await tokenServer(secret);
    const worker = makeWorker({ tokenServerUrl: server.url, secret, join: { maxDelaySeconds: 0.1 } });
    const run = worker.run();
    for (const address of ["10.0.0.11", "192.0.2.10", "10.0.0.100", "0.0.0.0"]) {
      const refusals = () => count(worker.log(), `join command names ${address}, not this cluster's manager ${MANAGER_IP}`);
      server.writeValue("token", `docker swarm join --token ${WORKER_TOKEN} ${address}:2377\n`);
      await waitFor(() => refusals() >= 2, `refusing a join to ${address}`);
    }
    expect(worker.joins()).toEqual([]);
    publish(server);
    expect((await run.done).code).toBe(0);
    expect(worker.joins().map((join) => join.argv)).toEqual([JOIN_ARGV]);
  });

  test("node.json without a valid swarm.managerAddress stops the setup before any request", async () => {
    const secret = newSecret();
    const server = await tokenServer(secret);
    publish(server);
    for (const managerAddress of [undefined, "", "manager.internal", "10.0.0.256", "10.0.0.10\n1.2.3.4"]) {
      const worker = makeWorker({ tokenServerUrl: server.url, secret });
      const config = JSON.parse(worker.read("etc/dokploy-oci/node.json"));
      config.swarm = managerAddress === undefined ? {} : { managerAddress };
      fs.writeFileSync(worker.path("etc/dokploy-oci/node.json"), JSON.stringify(config));
      const exit = await worker.run().done;
      expect(exit.code).not.toBe(0);
      expect(exit.output).toContain("swarm.managerAddress must be the manager's private IPv4 address");
      expect(worker.joins()).toEqual([]);
    }
    expect(server.logs()).not.toMatch(/GET '\/token'/);
  });

  test("an endless or oversized answer is cut at the size limit: it never fills the disk and is refused", async () => {
    const secret = newSecret();
    let sent = 0;
    let token = "";
    // A token server gone rogue: /token streams without end (no Content-Length) until the client hangs up.
    const rogue = http.createServer((request, response) => {
      const path = new URL(request.url ?? "/", "http://rogue").pathname;
      if (path === "/token" && !token) {
        response.writeHead(200, { "Content-Type": "text/plain" });
        const chunk = Buffer.alloc(64 * 1024, "A");
        const pump = () => {
          while (!response.destroyed && response.write(chunk)) sent += chunk.length;
          if (!response.destroyed) response.once("drain", pump);
        };
        pump();
      } else if (path === "/token") response.writeHead(200).end(token);
      else response.writeHead(200).end(`${PUBLIC_KEY}\n`);
    });
    await new Promise<void>((resolve) => rogue.listen(0, "127.0.0.1", resolve));
    try {
      const url = `http://127.0.0.1:${(rogue.address() as AddressInfo).port}`;
      const worker = makeWorker({ tokenServerUrl: url, secret, join: { maxDelaySeconds: 0.1, requestTimeoutSeconds: 30 } });
      const run = worker.run();
      await waitFor(() => count(worker.log(), "unexpected join command") >= 2, "two refusals of the endless answer");
      // The worker hung up after one byte past its 4096-byte limit: far less than 30 s of loopback streaming.
      expect(sent).toBeLessThan(16 * 1024 * 1024);
      expect(worker.log()).toMatch(/unexpected join command \(4097 bytes, /);
      token = JOIN_COMMAND;
      expect((await run.done).code).toBe(0);
      expect(worker.joins().map((join) => join.argv)).toEqual([JOIN_ARGV]);
    } finally {
      rogue.closeAllConnections();
      await new Promise((resolve) => rogue.close(resolve));
    }
  });

  test("a Docker installer larger than the limit is not run", async () => {
    const secret = newSecret();
    const server = await tokenServer(secret);
    publish(server);
    const installerUrl = await startFileServer({ "/get-docker.sh": `${getDockerScript()}\n${"#".repeat(5 * 1024 * 1024)}\n` });
    const worker = makeWorker({ tokenServerUrl: server.url, secret, dockerInstalled: false, installerUrl: `${installerUrl}/get-docker.sh` });
    const exit = await worker.run().done;
    expect(exit.code).not.toBe(0);
    expect(worker.log()).toMatch(/the Docker installer is larger than 4194304 bytes; not running it/);
    expect(worker.stubCalls().filter((line) => line.startsWith("get-docker"))).toEqual([]);
    expect(worker.joins()).toEqual([]);
  });

  test("exits at once when the marker exists: no hardening, no docker, no request", async () => {
    const secret = newSecret();
    const server = await tokenServer(secret);
    publish(server);
    const worker = makeWorker({ tokenServerUrl: server.url, secret });
    fs.mkdirSync(worker.path("opt"), { recursive: true });
    fs.writeFileSync(worker.path(WORKER_MARKER), "");
    expect((await worker.run().done).code).toBe(0);
    expect(worker.stubCalls()).toEqual([]);
    expect(server.logs()).not.toMatch(/GET '\/(token|public-key)'/);
    expect(worker.log()).toContain("worker setup already complete");
  });

  test("the systemd unit runs the bootstrap at every boot until the marker exists", () => {
    const unit = fs.readFileSync(path.join(REPO, "templates/worker/dokploy-worker-setup.service"), "utf8");
    expect(unit).toContain("ConditionPathExists=!/opt/dokploy-worker-setup-complete");
    expect(unit).toContain("ExecStart=/opt/dokploy-oci/bin/worker-bootstrap.sh");
    expect(unit).toMatch(/^Type=oneshot$/m);
    expect(unit).toMatch(/^TimeoutStartSec=infinity$/m);
    expect(unit).toMatch(/^WantedBy=multi-user.target$/m);
  });
});
