/**
 * Behaviour of templates/manager/register-workers.py (the reconciler): the real program against the fake Dokploy
 * (which enforces the tRPC transport, x-api-key auth and the server procedures' inputs and refusals), a fake
 * instance metadata service holding the manager's workers tag (harness/fake-imds.ts), and a fake Docker Engine API
 * that lists, drains and removes nodes from a JSON file the test controls (sandbox/docker-api.py).
 * The end-to-end tests run the whole chain: manager bootstrap -> reconciler -> token server -> worker bootstraps
 * -> registration, then grow and shrink by changing the tag only.
 */
import { spawnSync } from "child_process";
import { randomBytes, randomUUID } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as path from "path";
import { WORKERS_TAG_KEY } from "../../lib/worker-identity";
import { FakeDokploy } from "../harness/fake-dokploy";
import { FakeImds } from "../harness/fake-imds";
import { startTokenServer, stopAllTokenServers, TOKEN_SERVER_STATE_DIR } from "../../sandbox/token-server";
import { installManager, MANAGER_BOOTSTRAP, managerNodeConfig } from "../../sandbox/manager";
import {
  AUTHORIZED_KEYS,
  cleanupWorkers,
  JOIN_COMMAND,
  hostEnv,
  makeTempRoot,
  makeWorker,
  MANAGER_IP,
  PUBLIC_KEY,
  readSwarmNodes,
  REGISTER_WORKERS,
  RegistrationConfig,
  runRegistration,
  Running,
  start,
  startDockerApi,
  startFileServer,
  SwarmNode,
  SwarmRecord,
  WORKER_LOG,
  WORKER_MARKER,
  writeRegistrationConfig,
  writeSwarmNodes,
} from "../../sandbox/worker";
import { CHAIN_TEST_LIMIT_MS, sleep, waitFor } from "../../sandbox/wait";

const REPO = path.resolve(__dirname, "../..");
const ADMIN = { email: "admin@example.com", password: "correct horse battery", name: "Admin" };
const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";

const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  await cleanupWorkers();
  await stopAllTokenServers();
  while (cleanups.length > 0) await cleanups.pop()!();
});

const node = (n: number, overrides: Partial<SwarmNode> = {}): SwarmNode => ({
  ID: `node${n}${"x".repeat(20)}`,
  Hostname: `worker-${n}`,
  Role: "worker",
  State: "ready",
  Addr: `10.0.0.${10 + n}`,
  ...overrides,
});
const MANAGER_NODE: SwarmNode = { ID: "manager0xxxxxxxxxxxxxxxxx", Hostname: "manager", Role: "manager", State: "ready", Addr: MANAGER_IP };

interface Manager {
  root: string;
  fake: FakeDokploy;
  imds: FakeImds;
  /** Sets the manager's workers tag, as `terraform apply` does in place. */
  setTag(value: string): void;
  /** workers.json as the reconciler last wrote it for the token server. */
  published(): { expected: string[]; ready: string[] };
  apiKey: string;
  sshKeyId: string;
  nodesFile: string;
  /** Starts the program: `--once` unless `loop`. */
  register(options?: { loop?: boolean }): Running;
  creates(): { body: unknown; headers: http.IncomingHttpHeaders }[];
}

async function startImds(tag?: string): Promise<FakeImds> {
  const imds = new FakeImds();
  if (tag !== undefined) imds.freeformTags = { project: "demo", [WORKERS_TAG_KEY]: tag };
  await imds.start();
  cleanups.push(() => imds.stop());
  return imds;
}

async function startFake(): Promise<FakeDokploy> {
  const fake = new FakeDokploy();
  await fake.start();
  cleanups.push(() => fake.stop());
  return fake;
}

/** A manager whose Dokploy already has the admin, the API key (unlimited) and the workers' SSH key, as the bootstrap leaves it. */
async function makeManager(
  options: { registration?: Partial<RegistrationConfig>; nodes?: SwarmRecord[]; credentials?: boolean; dokployUrl?: string; tag?: string; dockerApi?: boolean } = {},
): Promise<Manager> {
  const fake = await startFake();
  const imds = await startImds(options.tag ?? "worker:3");
  const { organization } = fake.seedAdmin(ADMIN);
  const apiKey = fake.seedApiKey({ name: "dokploy-oci", organizationId: organization.id, rateLimitEnabled: false }).key;
  const sshKeyId = randomUUID();
  fake.sshKeys.push({
    sshKeyId,
    name: "dokploy-oci-workers",
    publicKey: PUBLIC_KEY,
    privateKey: PRIVATE_KEY,
    organizationId: organization.id,
    createdAt: new Date().toISOString(),
  });
  const root = makeTempRoot("dokploy-oci-manager-");
  writeRegistrationConfig(root, {
    serverType: "deploy",
    username: "root",
    sshPort: 22,
    intervalSeconds: 0.1,
    dokployUrl: options.dokployUrl ?? fake.url,
    enableDockerCleanup: true,
    instanceMetadataUrl: imds.url,
    ...options.registration,
  });
  if (options.credentials !== false) writeCredentials(root, { api_key: apiKey, ssh_key_id: sshKeyId });
  const nodesFile = path.join(root, "swarm-nodes.json");
  writeSwarmNodes(nodesFile, options.nodes ?? [MANAGER_NODE, node(1), node(2), node(3)]);
  if (options.dockerApi !== false) await startDockerApi(root, nodesFile);
  return {
    root,
    fake,
    imds,
    setTag: (value) => (imds.freeformTags = { ...imds.freeformTags, [WORKERS_TAG_KEY]: value }),
    published: () => JSON.parse(fs.readFileSync(path.join(root, TOKEN_SERVER_STATE_DIR, "workers.json"), "utf8")),
    apiKey,
    sshKeyId,
    nodesFile,
    register: ({ loop = false } = {}) => runRegistration(root, nodesFile, loop ? [] : ["--once"]),
    creates: () => fake.calls.filter((call) => call.proc === "server.create").map(({ body, headers }) => ({ body, headers })),
  };
}

function writeCredentials(root: string, credentials: Record<string, string>): void {
  const file = path.join(root, "opt/dokploy-credentials.json");
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, JSON.stringify({ admin_email: ADMIN.email, ...credentials }), { mode: 0o600 });
}

const registeredIps = (manager: Manager) => manager.fake.servers.map((server) => server.ipAddress).sort();
const procCalls = (manager: Manager, proc: string) => manager.fake.calls.filter((call) => call.proc === proc);

/** Lets a running loop make `passes` more server.all calls (each pass with candidates makes one). */
async function morePasses(manager: Manager, passes: number): Promise<void> {
  const target = procCalls(manager, "server.all").length + passes;
  await waitFor(() => procCalls(manager, "server.all").length >= target, `${passes} more passes`);
}

function expectNoKey(manager: Manager, ...texts: string[]): void {
  for (const text of texts) expect(text).not.toContain(manager.apiKey);
}

describe("register-workers", () => {
  test("registers the ready workers with every required field; not the manager, not a down node", async () => {
    const manager = await makeManager({ tag: "worker:4", nodes: [MANAGER_NODE, node(1), node(2), node(3), node(4, { State: "down" })] });
    const run = await manager.register().done;
    expect(run.code).toBe(0);

    expect(manager.creates().map((call) => call.body)).toEqual(
      [1, 2, 3].map((n) => ({
        0: {
          json: {
            name: `worker-${n}`,
            description: "",
            ipAddress: `10.0.0.${10 + n}`,
            port: 22,
            username: "root",
            sshKeyId: manager.sshKeyId,
            serverType: "deploy",
            enableDockerCleanup: true,
          },
        },
      })),
    );
    expect(registeredIps(manager)).toEqual(["10.0.0.11", "10.0.0.12", "10.0.0.13"]);
    // The token server learns who may join and who is in the swarm already; the tag was read with IMDS v2's header.
    expect(manager.published()).toEqual({ expected: ["worker-1", "worker-2", "worker-3", "worker-4"], ready: ["worker-1", "worker-2", "worker-3"] });
    expect(manager.imds.authorizations).toEqual(["Bearer Oracle"]);
    // tRPC batched transport, the key in x-api-key, never server.setup.
    for (const call of manager.fake.calls) {
      expect(call.headers["x-api-key"]).toBe(manager.apiKey);
      expect(call.headers.authorization).toBeUndefined();
      expect(call.proc).toMatch(/^server\.(all|create)$/);
    }
    expect(procCalls(manager, "server.all").map((call) => call.method)).toEqual(["GET"]);
    expect(manager.creates()).toHaveLength(3);
    expect(procCalls(manager, "server.create").every((call) => call.method === "POST")).toBe(true);
    expect(run.output).toMatch(/register-workers: registered worker-1 \(10\.0\.0\.11\) as a Dokploy deploy server \(serverId [0-9a-f-]{36}\)/);
    for (const line of run.output.trim().split("\n")) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ register-workers: /);
    expectNoKey(manager, run.output);
  });

  test("server type, SSH user and port, and docker cleanup come from node.json", async () => {
    const manager = await makeManager({
      nodes: [node(1)],
      tag: "worker:1",
      registration: { serverType: "build", username: "dokploy", sshPort: 2222, enableDockerCleanup: false },
    });
    expect((await manager.register().done).code).toBe(0);
    expect(manager.fake.servers).toEqual([
      expect.objectContaining({ serverType: "build", username: "dokploy", port: 2222, enableDockerCleanup: false }),
    ]);
  });

  test("a second run, and two runs at once, register nothing twice", async () => {
    const manager = await makeManager();
    const [first, second] = [manager.register(), manager.register()];
    expect((await first.done).code).toBe(0);
    expect((await second.done).code).toBe(0);
    expect(registeredIps(manager)).toEqual(["10.0.0.11", "10.0.0.12", "10.0.0.13"]);
    expect(manager.creates()).toHaveLength(3);

    expect((await manager.register().done).code).toBe(0);
    expect(manager.creates()).toHaveLength(3);
    expect(procCalls(manager, "server.all")).toHaveLength(3);
  });

  test("server.create answering 500 once: registered on a later pass, exactly once", async () => {
    const manager = await makeManager();
    manager.fake.failNext("server.create", 500, 1);
    const loop = manager.register({ loop: true });
    await waitFor(() => manager.fake.servers.length === 3, "three registrations");
    await morePasses(manager, 3);
    await loop.kill();
    expect(registeredIps(manager)).toEqual(["10.0.0.11", "10.0.0.12", "10.0.0.13"]);
    expect(manager.creates()).toHaveLength(4);
    expect(loop.output()).toContain("server.create for worker-1 (10.0.0.11): HTTP 500: Injected failure (HTTP 500); trying again in 0.1s");
    expect(loop.output()).toContain("working again");
  });

  test("a rejected API key: logged once, nothing created, the key never logged", async () => {
    const manager = await makeManager();
    const wrongKey = `fake_${randomBytes(24).toString("hex")}`;
    writeCredentials(manager.root, { api_key: wrongKey, ssh_key_id: manager.sshKeyId });
    const loop = manager.register({ loop: true });
    await waitFor(() => procCalls(manager, "server.all").length >= 4, "four passes");
    const exit = await loop.kill();
    expect(manager.fake.servers).toEqual([]);
    expect(manager.creates()).toEqual([]);
    expect(exit.output.split("server.all: API key rejected (HTTP 401; rate-limited or revoked: re-running the manager bootstrap replaces it); trying again in 0.1s")).toHaveLength(2);
    expect(exit.output).not.toContain(wrongKey);
    expectNoKey(manager, exit.output);
  });

  test("a 400 for a node is logged with Dokploy's message and that node is not retried at once", async () => {
    const manager = await makeManager({ nodes: [node(1), node(2)], tag: "worker:2" });
    writeCredentials(manager.root, { api_key: manager.apiKey, ssh_key_id: "no-such-key" });
    const loop = manager.register({ loop: true });
    await waitFor(() => procCalls(manager, "server.all").length >= 6, "six passes");
    await loop.kill();
    expect(manager.creates()).toHaveLength(2);
    expect(loop.output()).toContain(
      "server.create for worker-1 (10.0.0.11) refused: HTTP 400: SSH key not found; not trying that node again for 300s",
    );
  });

  test("serverType none: never calls Dokploy, still publishes the expected workers and retires the swarm nodes of removed ones", async () => {
    const manager = await makeManager({ registration: { serverType: "none" } });
    expect((await manager.register().done).code).toBe(0);
    manager.setTag("worker:2");
    const run = await manager.register().done;
    expect(run.code).toBe(0);
    expect(run.output).toContain("not registering workers in Dokploy (registration.serverType is none)");
    expect(run.output).toMatch(/draining worker-3 \(node3x+\): it is no longer expected/);
    expect(readSwarmNodes(manager.nodesFile).map((entry) => entry.Hostname)).toEqual(["manager", "worker-1", "worker-2"]);
    expect(manager.published()).toEqual({ expected: ["worker-1", "worker-2"], ready: ["worker-1", "worker-2"] });
    expect(manager.fake.calls).toEqual([]);
  });

  test("waits for the credentials (logged once), then registers", async () => {
    const manager = await makeManager({ credentials: false });
    const loop = manager.register({ loop: true });
    await waitFor(() => loop.output().includes("waiting for"), "the waiting line");
    await sleep(500);
    writeCredentials(manager.root, { api_key: manager.apiKey, ssh_key_id: manager.sshKeyId });
    await waitFor(() => manager.fake.servers.length === 3, "three registrations");
    await loop.kill();
    expect(loop.output().split(/waiting for \S+\/opt\/dokploy-credentials.json/)).toHaveLength(2);
  });

  test("Docker not answering, then not a swarm manager: each said once, nothing registered or removed; then the pass goes on", async () => {
    const manager = await makeManager({ dockerApi: false });
    const loop = manager.register({ loop: true });
    await waitFor(() => loop.output().includes("listing the swarm's nodes: Docker is not answering"), "the first problem");
    // The engine answers, but as a node outside any swarm (what a real dockerd answered before swarm init).
    fs.renameSync(manager.nodesFile, `${manager.nodesFile}.later`);
    await startDockerApi(manager.root, manager.nodesFile);
    await waitFor(() => loop.output().includes("This node is not a swarm manager"), "the second problem");
    await sleep(500);
    expect(manager.fake.calls).toEqual([]);
    fs.renameSync(`${manager.nodesFile}.later`, manager.nodesFile);
    await waitFor(() => manager.fake.servers.length === 3, "three registrations");
    const { output } = await loop.kill();
    expect(output.match(/Docker is not answering/g)).toHaveLength(1);
    // Docker's message as one escaped line.
    expect(output.match(/listing the swarm's nodes failed: This node is not a swarm manager\. Use \\"docker swarm init\\"/g)).toHaveLength(1);
    expect(output).toContain("register-workers: working again");
    expect(readSwarmNodes(manager.nodesFile)).toHaveLength(4);
  });

  test("Docker taking the request and never answering (a busy engine after a reboot): the pass gives up after 60 s and says so, and the loop goes on", async () => {
    const manager = await makeManager({ dockerApi: false });
    // What the real manager's journal showed after a reboot: the engine's socket accepts, no answer comes.
    const socketPath = path.join(manager.root, "var/run/docker.sock");
    fs.mkdirSync(path.dirname(socketPath), { recursive: true });
    const held = new Set<net.Socket>();
    const stuck = net.createServer((socket) => {
      held.add(socket);
      socket.on("close", () => held.delete(socket));
    });
    await new Promise<void>((resolve) => stuck.listen(socketPath, resolve));
    const unstick = async () => {
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => (stuck.listening ? stuck.close(() => resolve()) : resolve()));
    };
    cleanups.push(unstick);
    const loop = manager.register({ loop: true });
    const started = Date.now();
    await waitFor(() => loop.output().includes("listing the swarm's nodes: no answer from Docker within 60s"), "the pass giving up", 3 * 60_000, 200);
    expect(Date.now() - started).toBeGreaterThanOrEqual(59_000);
    expect(manager.fake.calls).toEqual([]);
    await unstick();
    await startDockerApi(manager.root, manager.nodesFile);
    await waitFor(() => manager.fake.servers.length === 3, "three registrations");
    const { output } = await loop.kill();
    expect(output).toContain("register-workers: working again");
  }, 5 * 60_000);

  test("killed mid-pass, after a create whose answer never came back: each worker registered exactly once", async () => {
    const manager = await makeManager();
    // Between the program and Dokploy: forwards everything, but swallows the answer to the second server.create.
    const proxy = await startSwallowingProxy(manager.fake.url, 2);
    writeRegistrationConfig(manager.root, {
      serverType: "deploy",
      username: "root",
      sshPort: 22,
      intervalSeconds: 0.1,
      dokployUrl: proxy.url,
      enableDockerCleanup: true,
      instanceMetadataUrl: manager.imds.url,
    });
    const first = manager.register({ loop: true });
    await waitFor(() => proxy.swallowed() === 1, "the swallowed answer");
    expect(manager.fake.servers).toHaveLength(2);
    await first.kill();

    const second = manager.register({ loop: true });
    await waitFor(() => manager.fake.servers.length === 3, "the third registration");
    await morePasses(manager, 2);
    await second.kill();
    expect(registeredIps(manager)).toEqual(["10.0.0.11", "10.0.0.12", "10.0.0.13"]);
    expect(manager.creates()).toHaveLength(3);
  });

  test("a worker joining later is registered on the next pass", async () => {
    const manager = await makeManager({ nodes: [MANAGER_NODE, node(1)] });
    const loop = manager.register({ loop: true });
    await waitFor(() => manager.fake.servers.length === 1, "the first registration");
    await morePasses(manager, 2);
    writeSwarmNodes(manager.nodesFile, [...readSwarmNodes(manager.nodesFile), node(2)]);
    await waitFor(() => manager.fake.servers.length === 2, "the late worker's registration");
    await morePasses(manager, 2);
    await loop.kill();
    expect(registeredIps(manager)).toEqual(["10.0.0.11", "10.0.0.12"]);
    expect(manager.creates()).toHaveLength(2);
  });

  test("Dokploy's Traefik, left stopped by Docker after a reboot (Dokploy #4057), is started again once", async () => {
    const manager = await makeManager({ nodes: [MANAGER_NODE, node(1)] });
    const exited = path.join(manager.root, ".stub-state/docker/exited-containers");
    fs.mkdirSync(path.dirname(exited), { recursive: true });
    fs.writeFileSync(exited, "dokploy-traefik\n");
    const loop = manager.register({ loop: true });
    await waitFor(() => manager.fake.servers.length === 1, "the registration");
    await morePasses(manager, 2);
    const { output } = await loop.kill();
    expect(fs.readFileSync(exited, "utf8")).toBe("");
    expect(output.match(/started dokploy-traefik again/g)).toHaveLength(1);
  });

  describe("Dokploy's Traefik holding an address another endpoint of dokploy-network holds", () => {
    // `docker network inspect dokploy-network --verbose --format '{{json .Services}}'` as a real manager printed it
    // after a reboot of the whole cluster (__tests__/vm), IDs shortened: Traefik had the dokploy service's VIP.
    const task = (name: string, address: string) => ({ Name: name, EndpointID: `e-${name}`, EndpointIP: address, Info: { "Host IP": "10.0.0.10" } });
    const services = (traefik: string) => ({
      "": { VIP: "<nil>", Ports: [], LocalLBIndex: 0, Tasks: [task("dokploy-traefik", traefik)] },
      dokploy: { VIP: "10.20.1.2", Ports: [], LocalLBIndex: 256, Tasks: [task("dokploy.1.vzq33gh6ck7a", "10.20.1.5")] },
      "lab-app": { VIP: "10.20.1.6", Ports: [], LocalLBIndex: 257, Tasks: [task("lab-app.1.jpyh111msde1", "10.20.1.11")] },
    });

    /** `traefik`: its address in the network's answer; null: the network cannot be read. */
    async function passesWith(traefik: string | null): Promise<{ restarts: string; output: string }> {
      const manager = await makeManager({ nodes: [MANAGER_NODE, node(1)] });
      const state = path.join(manager.root, ".stub-state/docker");
      fs.mkdirSync(state, { recursive: true });
      fs.writeFileSync(path.join(state, "running-containers"), "dokploy-traefik\n");
      if (traefik !== null) fs.writeFileSync(path.join(state, "network-services.json"), JSON.stringify(services(traefik)));
      // What the restart gets it: a free address.
      fs.writeFileSync(path.join(state, "network-services.after-restart.json"), JSON.stringify(services("10.20.1.12")));
      const loop = manager.register({ loop: true });
      await waitFor(() => manager.fake.servers.length === 1, "the registration");
      await morePasses(manager, 3);
      const { output } = await loop.kill();
      const restarts = path.join(state, "restarts");
      return { restarts: fs.existsSync(restarts) ? fs.readFileSync(restarts, "utf8") : "", output };
    }

    test("a service's virtual IP: restarted once, with the reason logged", async () => {
      const { restarts, output } = await passesWith("10.20.1.2");
      expect(restarts).toBe("dokploy-traefik\n");
      expect(output.match(/restarted dokploy-traefik: .*/g)).toEqual([
        `restarted dokploy-traefik: its address 10.20.1.2 on dokploy-network is also the virtual IP of service "dokploy", so nothing behind it answered (Docker gave it a taken address after a reboot)`,
      ]);
    });

    test("a task's address too; an address of its own is left alone", async () => {
      expect((await passesWith("10.20.1.11")).restarts).toBe("dokploy-traefik\n");
      expect(await passesWith("10.20.1.3")).toMatchObject({ restarts: "" });
    });

    test("a network it cannot read: said once, no restart, and the workers are still registered", async () => {
      // passesWith waits for the registration itself.
      const { restarts, output } = await passesWith(null);
      expect(restarts).toBe("");
      expect(output.match(/cannot check dokploy-traefik's address on dokploy-network: .*/g)).toHaveLength(1);
    });
  });

  test("malformed node records are skipped and reported once each; the rest of the pass goes on", async () => {
    const ESC = "\u001b";
    const record = (id: string, hostname: unknown, addr: unknown, extra: object = {}) => ({
      ID: id,
      Raw: { ID: id, Spec: { Role: "worker" }, Description: hostname === undefined ? null : { Hostname: hostname }, Status: { State: "ready", ...(addr !== undefined && { Addr: addr }) }, ...extra },
    });
    const hostile: SwarmRecord[] = [
      record("v6xxxxxxxxxxxxxxxxxxxxxxx", "worker-v6", "fd00::6"),
      record("noaddrxxxxxxxxxxxxxxxxxxx", "worker-noaddr", undefined),
      record("portxxxxxxxxxxxxxxxxxxxxx", "worker-port", "10.0.0.30:2377"),
      record("zeroxxxxxxxxxxxxxxxxxxxxx", "worker-zero", "0.0.0.0"),
      record("numberxxxxxxxxxxxxxxxxxxx", "worker-number", 167772191),
      { ID: "spec-nullxxxxxxxxxxxxxxxx", Raw: { ID: "spec-nullxxxxxxxxxxxxxxxx", Spec: null, Status: null } },
      { ID: "not-objectxxxxxxxxxxxxxxx", Raw: "a string" },
      // A null description and a forged hostname: registered under a name built from the address.
      record("nulldescxxxxxxxxxxxxxxxxx", undefined, "10.0.0.31"),
      record("forgedxxxxxxxxxxxxxxxxxxx", `evil\n2026-01-01T00:00:00Z register-workers: registered ${ESC}[2J`, "10.0.0.32"),
    ];
    const manager = await makeManager({ tag: "worker:2", nodes: [MANAGER_NODE, node(1), ...hostile, node(2)] });
    const loop = manager.register({ loop: true });
    await waitFor(() => manager.fake.servers.length === 2, "the two good workers");
    await morePasses(manager, 3);
    await loop.kill();
    // Nodes this cluster does not declare (whatever their records) are neither registered nor removed.
    expect(registeredIps(manager)).toEqual(["10.0.0.11", "10.0.0.12"]);
    expect(readSwarmNodes(manager.nodesFile)).toHaveLength(3 + hostile.length);
    const output = loop.output();
    expect(output.split("leaving swarm node null (nulldescxxxxxxxxxxxxxxxxx) alone: not declared")).toHaveLength(2);
    expect(output).toContain('leaving swarm node "evil\\n2026-01-01T00:00:00Z register-workers: registered \\u001b[2J" (forgedxxxxxxxxxxxxxxxxxxx) alone');
    for (const reason of ['"fd00::6" is not an IPv4 address', 'its address null is not', '"10.0.0.30:2377" is not', "0.0.0.0 cannot reach it", "167772191 is not"]) {
      // Once each, though several passes saw the same record.
      expect(output.split(reason)).toHaveLength(2);
    }
    // Log lines are the program's own: the forged hostname stays inside one escaped, quoted value.
    expect(output).not.toContain(ESC);
    for (const line of output.split("\n").filter(Boolean)) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ register-workers: /);
    expect(output.match(/^\S+ register-workers: registered /gm)).toHaveLength(2);
    expect(output).not.toMatch(/Traceback/);
  });

  test("compiles with python3, and its systemd unit restarts it", () => {
    const compiled = path.join(makeTempRoot("dokploy-oci-pyc-"), "register-workers.pyc");
    const result = spawnSync(
      "python3",
      ["-c", "import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)", REGISTER_WORKERS, compiled],
      { encoding: "utf8" },
    );
    expect(result.stderr).toBe("");
    expect(result.status).toBe(0);
    const unit = fs.readFileSync(path.join(REPO, "templates/manager/dokploy-register-workers.service"), "utf8");
    expect(unit).toContain("ExecStart=/usr/bin/python3 /opt/dokploy-oci/bin/register-workers.py");
    expect(unit).toMatch(/^Restart=on-failure$/m);
    expect(unit).toMatch(/^WantedBy=multi-user.target$/m);
  });
});

describe("growing, shrinking, replacing", () => {
  const procCount = (manager: Manager, proc: string) => procCalls(manager, proc).length;
  const workerNodes = (manager: Manager) =>
    readSwarmNodes(manager.nodesFile)
      .filter((entry) => entry.Role === "worker")
      .map((entry) => `${entry.Hostname} ${entry.State}`)
      .sort();
  const serverNames = (manager: Manager) => manager.fake.servers.map((server) => `${server.name} ${server.ipAddress}`).sort();

  /** A worker-N bootstrap that joins the stub swarm as worker-N at 10.0.0.(10+N) through the real token server. */
  function bootWorker(manager: Manager, url: string, secret: string, n: number) {
    const worker = makeWorker({
      tokenServerUrl: url,
      secret,
      name: `worker-${n}`,
      swarm: { nodesFile: manager.nodesFile, hostname: `worker-${n}`, address: `10.0.0.${10 + n}` },
    });
    return { worker, run: worker.run() };
  }

  /** The token server applies workers.json when it is asked anything: /healthz. */
  const poke = (url: string) => new Promise((resolve) => http.get(`${url}/healthz`, (response) => response.resume().on("end", resolve)));

  async function withTokenServer(manager: Manager) {
    const secret = randomBytes(32).toString("hex");
    // No workers.json from the test: the reconciler is what tells the token server who may join.
    const server = await startTokenServer({ root: manager.root, secret, expected: null });
    server.writeValue("token", JOIN_COMMAND);
    server.writeValue("public-key", `${PUBLIC_KEY}\n`);
    return { server, secret };
  }

  test("grown from 1 to 3 workers and shrunk back to 1 by the tag alone: exactly the right swarm nodes and Dokploy servers", async () => {
    const manager = await makeManager({ tag: "worker:1", nodes: [MANAGER_NODE] });
    const { server, secret } = await withTokenServer(manager);
    let reconciler = manager.register({ loop: true });

    const first = bootWorker(manager, server.url, secret, 1);
    expect((await first.run.done).code).toBe(0);
    await waitFor(() => serverNames(manager).length === 1, "worker-1 registered");

    // Two more workers boot before the manager's tag says 3 (Terraform creates them while it updates the tag):
    // they wait, refused as not expected yet; meanwhile the manager reboots (token server and reconciler restart).
    const more = [2, 3].map((n) => bootWorker(manager, server.url, secret, n));
    await waitFor(() => more.every(({ worker }) => worker.log().includes("not expected (HTTP 403)")), "the new workers to wait as not expected");
    await reconciler.kill();
    await server.restart();
    reconciler = manager.register({ loop: true });
    manager.setTag("worker:3");
    for (const { run } of more) expect((await run.done).code).toBe(0);
    await waitFor(() => serverNames(manager).length === 3, "three Dokploy servers");
    expect(workerNodes(manager)).toEqual(["worker-1 ready", "worker-2 ready", "worker-3 ready"]);
    await waitFor(() => manager.published().ready.length === 3, "the token server told all three joined");
    expect(server.logs()).toMatch(/refused \/token to worker worker-2: unknown identity/);

    const retiredIds = readSwarmNodes(manager.nodesFile).filter((entry) => entry.Hostname !== "worker-1" && entry.Role === "worker").map((entry) => entry.ID);
    manager.setTag("worker:1");
    await waitFor(() => workerNodes(manager).length === 1 && serverNames(manager).length === 1, "the shrink to one worker");
    await morePasses(manager, 3);
    await reconciler.kill();

    expect(workerNodes(manager)).toEqual(["worker-1 ready"]);
    expect(serverNames(manager)).toEqual(["worker-1 10.0.0.11"]);
    expect(procCount(manager, "server.create")).toBe(3);
    expect(procCount(manager, "server.remove")).toBe(2);
    const log = reconciler.output();
    for (const n of [2, 3]) {
      expect(log).toMatch(new RegExp(`draining worker-${n} \\(\\w+\\): it is no longer expected`));
      expect(log).toMatch(new RegExp(`removed swarm node \\w+: worker-${n}, drained`));
      expect(log).toMatch(new RegExp(`removed Dokploy server worker-${n} \\(10\\.0\\.0\\.${10 + n}, serverId [0-9a-f-]{36}\\): no longer expected`));
    }
    // Each retired node was drained before it was removed.
    const calls = fs.readFileSync(path.join(manager.root, "stub-calls.log"), "utf8").split("\n");
    expect(retiredIds).toHaveLength(2);
    for (const id of retiredIds) {
      const drained = calls.findIndex((call) => call.startsWith(`docker-api POST /nodes/${id}/update?version=`) && call.includes('"Availability": "drain"'));
      expect(drained).toBeGreaterThanOrEqual(0);
      expect(calls.indexOf(`docker-api DELETE /nodes/${id}?force=true`)).toBeGreaterThan(drained);
    }
    expect(manager.published()).toEqual({ expected: ["worker-1"], ready: ["worker-1"] });
    // Shrunk workers can no longer fetch anything.
    await poke(server.url);
    await server.waitForLog("worker worker-3 is no longer expected");
    expectNoKey(manager, log, server.logs());
  }, CHAIN_TEST_LIMIT_MS);

  test("a worker recreated with the same name and address: its old down node removed, still one Dokploy server", async () => {
    const manager = await makeManager({ tag: "worker:2", nodes: [MANAGER_NODE, node(1), node(2)] });
    const { server, secret } = await withTokenServer(manager);
    const reconciler = manager.register({ loop: true });
    await waitFor(() => serverNames(manager).length === 2 && manager.published().ready.length === 2, "both registered");
    await poke(server.url);

    // The instance is terminated (its node goes down) and recreated from the same user_data.
    writeSwarmNodes(manager.nodesFile, readSwarmNodes(manager.nodesFile).map((entry) => (entry.Hostname === "worker-2" ? { ...entry, State: "down" } : entry)));
    await waitFor(() => manager.published().ready.length === 1, "the reconciler published that worker-2 is gone");
    await poke(server.url);
    const replacement = bootWorker(manager, server.url, secret, 2);
    expect((await replacement.run.done).code).toBe(0);
    await waitFor(() => workerNodes(manager).join() === "worker-1 ready,worker-2 ready", "the old node removed");
    await morePasses(manager, 3);
    await reconciler.kill();

    expect(readSwarmNodes(manager.nodesFile).filter((entry) => entry.Hostname === "worker-2").map((entry) => entry.ID)).not.toContain(node(2).ID);
    expect(serverNames(manager)).toEqual(["worker-1 10.0.0.11", "worker-2 10.0.0.12"]);
    expect(procCount(manager, "server.create")).toBe(2);
    expect(reconciler.output()).toContain(`removed swarm node ${node(2).ID}: the old swarm node of worker-2, which was recreated`);
    expect(server.logs()).toContain("worker worker-2 left the swarm or is down (recreated?): it may fetch the join token again");
    // Once back in the swarm, its credential is used up again.
    const again = makeWorker({ tokenServerUrl: server.url, secret, name: "worker-2" });
    const againRun = again.run();
    await waitFor(() => again.log().includes("GONE (HTTP 410)"), "a second copy of worker-2 refused");
    await againRun.kill();
  });

  test("Dokploy refusing to remove a server with services: its node is still removed, the refusal logged, the server kept", async () => {
    const manager = await makeManager({ tag: "worker:2", nodes: [MANAGER_NODE, node(1), node(2)] });
    expect((await manager.register().done).code).toBe(0);
    const busy = manager.fake.servers.find((server) => server.name === "worker-2")!;
    manager.fake.servicesOn.set(busy.serverId, 1);
    manager.setTag("worker:1");
    const loop = manager.register({ loop: true });
    await waitFor(() => loop.output().includes("server.remove for worker-2"), "the refused removal");
    await morePasses(manager, 4);
    await loop.kill();
    expect(workerNodes(manager)).toEqual(["worker-1 ready"]);
    expect(serverNames(manager)).toEqual(["worker-1 10.0.0.11", "worker-2 10.0.0.12"]);
    expect(loop.output()).toContain(
      `server.remove for worker-2 (${busy.serverId}) refused: HTTP 400: Server has active services, please delete them first; not trying that node again for 300s`,
    );
    expect(procCount(manager, "server.remove")).toBe(1);
  });

  test("metadata service down, tag missing or malformed: nothing removed, each problem logged once; nodes never declared are left alone", async () => {
    const manager = await makeManager({ tag: "worker:2", nodes: [MANAGER_NODE, node(1), node(2), node(7, { Hostname: "byhand-1" })] });
    const loop = manager.register({ loop: true });
    await waitFor(() => serverNames(manager).length === 2, "the two declared workers registered");
    const unchanged = workerNodes(manager);
    const passesWith = async (problem: string) => {
      await waitFor(() => loop.output().split(problem).length >= 2, `the log line: ${problem}`);
      await sleep(500); // several passes meet the same problem
      expect(loop.output().split(problem)).toHaveLength(2);
      expect(workerNodes(manager)).toEqual(unchanged);
    };
    await manager.imds.stop();
    await passesWith("cannot read the instance metadata at");
    manager.imds.freeformTags = { project: "demo" };
    await manager.imds.start();
    await passesWith(`the manager instance has no freeform tag ${WORKERS_TAG_KEY}; changing nothing`);
    manager.setTag("worker:2,worker:x");
    await passesWith(`freeform tag ${WORKERS_TAG_KEY} is invalid: "worker:x" is not <namePrefix>:<count up to 100>; changing nothing`);
    manager.setTag("worker:2");
    await waitFor(() => loop.output().includes("working again"), "working again");
    await morePasses(manager, 2);
    await loop.kill();
    expect(workerNodes(manager)).toEqual(unchanged);
    expect(serverNames(manager)).toEqual(["worker-1 10.0.0.11", "worker-2 10.0.0.12"]);
    expect(procCount(manager, "server.remove")).toBe(0);
    expect(loop.output().split('leaving swarm node "byhand-1" (node7xxxxxxxxxxxxxxxxxxxx) alone: not declared')).toHaveLength(2);
  });
});

describe("end to end", () => {
  test("manager bootstrap -> token server -> 5 workers -> registration: all 5 registered once, no worker sees the API key", async () => {
    const fake = await startFake();
    const managerRoot = makeTempRoot("dokploy-oci-manager-");
    const secret = randomBytes(32).toString("hex");
    const installer = await startFileServer({
      "/install.sh": fs.readFileSync(path.join(REPO, "sandbox/host-stubs/installer/install.sh"), "utf8"),
    });
    installManager(
      managerRoot,
      managerNodeConfig({
        privateIp: MANAGER_IP,
        dokployUrl: fake.url,
        installerUrl: `${installer}/install.sh`,
        admin: ADMIN,
        wait: { stepSeconds: 0.05, maxDelaySeconds: 0.2, maxAttempts: 60 },
      }),
    );
    const imds = await startImds("worker:5");
    writeRegistrationConfig(managerRoot, {
      serverType: "deploy",
      username: "root",
      sshPort: 22,
      intervalSeconds: 0.2,
      dokployUrl: fake.url,
      enableDockerCleanup: true,
      instanceMetadataUrl: imds.url,
    });
    // The token server learns the expected workers from the reconciler only (no workers.json written here).
    const tokenServer = await startTokenServer({ root: managerRoot, secret, expected: null });
    const nodesFile = path.join(managerRoot, "swarm-nodes.json");
    writeSwarmNodes(nodesFile, [MANAGER_NODE]);
    await startDockerApi(managerRoot, nodesFile);

    // Everything starts at once, as on a fresh deployment: the workers and the registration wait for the manager.
    const workers = [1, 2, 3, 4, 5].map((n) =>
      makeWorker({
        tokenServerUrl: tokenServer.url,
        secret,
        name: `worker-${n}`,
        sourceAddress: `127.0.0.${n + 1}`,
        swarm: { nodesFile, hostname: `worker-${n}`, address: `10.0.0.${10 + n}` },
      }),
    );
    const workerRuns = workers.map((worker) => worker.run());
    const registration = runRegistration(managerRoot, nodesFile);
    const bootstrap = start("bash", [path.join(managerRoot, MANAGER_BOOTSTRAP)], hostEnv(managerRoot));
    expect((await bootstrap.done).code).toBe(0);
    for (const exit of await Promise.all(workerRuns.map((run) => run.done))) expect(exit.code).toBe(0);
    await waitFor(() => fake.servers.length === 5, "five registrations");
    // A few more passes must not register anything again.
    const passes = fake.calls.filter((call) => call.proc === "server.all").length;
    await waitFor(() => fake.calls.filter((call) => call.proc === "server.all").length >= passes + 3, "three more passes");
    const registrationExit = await registration.kill();

    const apiKey = fake.apiKeys[0].key;
    const publicKey = fake.sshKeys[0].publicKey;
    expect(fake.servers.map((server) => [server.name, server.ipAddress, server.sshKeyId]).sort()).toEqual(
      [1, 2, 3, 4, 5].map((n) => [`worker-${n}`, `10.0.0.${10 + n}`, fake.sshKeys[0].sshKeyId]),
    );
    expect(fake.calls.filter((call) => call.proc === "server.create")).toHaveLength(5);
    expect(fake.calls.some((call) => call.proc === "server.setup")).toBe(false);
    for (const worker of workers) {
      expect(worker.exists(WORKER_MARKER)).toBe(true);
      expect(worker.read(AUTHORIZED_KEYS)).toBe(`${publicKey}\n`);
      // The API key is nowhere on a worker: no file under its root (logs included) holds it.
      for (const file of fs.readdirSync(worker.root, { recursive: true, withFileTypes: true })) {
        if (file.isFile()) expect(fs.readFileSync(path.join(file.parentPath ?? file.path, file.name), "utf8")).not.toContain(apiKey);
      }
      expect(worker.read(WORKER_LOG)).not.toContain(secret);
    }
    for (const exit of await Promise.all(workerRuns.map((run) => run.done))) expect(exit.output).not.toContain(apiKey);
    expect(registrationExit.output).not.toContain(apiKey);
    expect(registrationExit.output).toContain("waiting for");
    expect(tokenServer.logs()).not.toContain(apiKey);
    expect(fs.readFileSync(path.join(tokenServer.stateDir, "credentials.json"), "utf8")).not.toContain(apiKey);
  }, CHAIN_TEST_LIMIT_MS);
});

/** An HTTP proxy to `target` that forwards every request but never answers the `nth` server.create (its
 * connection stays open), like a manager that dies between Dokploy's commit and reading the answer. */
async function startSwallowingProxy(target: string, nth: number): Promise<{ url: string; swallowed(): number }> {
  let creates = 0;
  let swallowed = 0;
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const upstream = http.request(`${target}${request.url}`, { method: request.method, headers: request.headers }, (answer) => {
        const body: Buffer[] = [];
        answer.on("data", (chunk: Buffer) => body.push(chunk));
        answer.on("end", () => {
          if (request.url?.startsWith("/api/trpc/server.create") && ++creates === nth) {
            swallowed++;
            return;
          }
          response.writeHead(answer.statusCode ?? 502, answer.headers).end(Buffer.concat(body));
        });
      });
      upstream.end(Buffer.concat(chunks));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`, swallowed: () => swallowed };
}
