/**
 * The manager's real host programs against the real Dokploy v0.30.2 (harness/real-dokploy.ts: built from source,
 * PostgreSQL + dev server in a loopback-only network namespace). templates/manager/bootstrap.sh and
 * register-workers.py run unchanged inside that namespace, with the same stub docker / installer / systemctl as the
 * behaviour tests; `npm run status` runs with the status tests' stub ssh, also inside the namespace.
 * Each test starts from an empty Dokploy (a fresh copy of the migrated database).
 *
 * Needs root and `bash __tests__/real-dokploy/prepare.sh` first (.ci/run does both); fails, never skips, without.
 *
 * What the real Dokploy v0.30.2 answered, and which of these tests relies on it:
 *
 * | request                                         | real answer                                                  | test |
 * |-------------------------------------------------|--------------------------------------------------------------|------|
 * | GET settings.health (no auth)                   | 200 `[{"result":{"data":{"json":{"status":"ok"}}}}]`         | fresh |
 * | POST sign-up, first time                        | 200 `{token, user}` + session cookie; with no reply to the public-IP lookup it takes 143 s | fresh, lost answer |
 * | POST sign-up, same email again                  | 422 `{"message":"User already exists. Use another email.","code":"USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"}` | steps, lost answer |
 * | POST sign-up, another email once an owner exists | 400 `{"message":"Admin is already created"}` (no code)      | fresh |
 * | POST sign-up with each address EMAIL accepts (254 characters, 63-character labels, `+`, capitals) | 200, stored in lowercase | email |
 * | POST sign-in, wrong password                    | 401 `{"message":"Invalid email or password","code":"INVALID_EMAIL_OR_PASSWORD"}` | fresh |
 * | GET organization.all between the user row and the end of sign-up's hook | 200, `json: []`                  | lost answer |
 * | tRPC call without session or key                | 401 `[{"error":{"json":{"message":"UNAUTHORIZED","code":-32001,"data":{"code":"UNAUTHORIZED","httpStatus":401,...}}}}]` | fresh |
 * | user.createApiKey without rateLimitEnabled      | row with `rateLimitEnabled: true, rateLimitMax: 10, rateLimitTimeWindow: 86400000`; calls 1-10 answer 200, the 11th and later 401 UNAUTHORIZED | old key |
 * | user.createApiKey with rateLimitEnabled: false  | never limited (requestCount is not even counted)             | registration |
 * | sshKey.all                                      | full rows, **including privateKey**                          | fresh |
 * | sshKey.create                                   | 200, `json: null`                                            | fresh |
 * | server.remove of a server without services      | 200, the row removed (the fake answers the same)              | registration |
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { TESTED_DOKPLOY_VERSION } from "../../constructs/oci/dokploy-manager";
import { BackupsHostConfig, NODE_CONFIG_PATH, TOKEN_SERVER_STATE_DIR } from "../../lib/host-contract";
import { EMAIL } from "../../lib/rules";
import { WORKERS_TAG_KEY } from "../../lib/worker-identity";
import { ACCEPTED_EMAILS } from "../helpers/email-addresses";
import { NULL_INPUT, RealDokploy, START_LIMIT_MS, startRealDokploy } from "../harness/real-dokploy";
import { S3Server, startS3Server } from "../harness/s3-server";
import { cleanupWorkers, HOST_STUBS, hostEnv, REGISTER_WORKERS, Running, start, startDockerApi, SwarmNode, writeRegistrationConfig, writeSwarmNodes } from "../../sandbox/worker";
import { waitFor } from "../../sandbox/wait";
import { installManager, MANAGER_BACKUPS, MANAGER_BOOTSTRAP, managerNodeConfig } from "../../sandbox/manager";

// Dokploy's first start compiles its API (about a minute idle, more on a busy machine); one test waits out the
// real slow sign-up (about 2.5 minutes).
jest.setTimeout(15 * 60_000);

const REPO = path.resolve(__dirname, "../..");
const STATUS_STUBS = path.join(REPO, "__tests__/harness/status-stubs");
const BOOTSTRAP = MANAGER_BOOTSTRAP;
const CREDENTIALS = "opt/dokploy-credentials.json";
const MARKER = "opt/dokploy-manager-setup-complete";
const STEPS = "var/lib/dokploy-oci/manager-steps";
const SETUP_LOG = "var/log/dokploy-manager-setup.log";
/** bootstrap.sh's steps, in order. */
const STEP_NAMES = ["harden", "install-dokploy", "publish-join-token", "admin", "api-key", "restore", "ssh-key", "credentials", "publish-credentials", "backups"];
const ADMIN = { email: "admin@example.com", password: `Pa"ss\\w0rd $HOME 'x'`, name: "Admin" };
const MANAGER_IP = "10.0.0.10";
const MANAGER_PUBLIC_IP = "203.0.113.10";
const PYTHON_DIR = path.dirname(spawnSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).stdout.trim());

let dokploy: RealDokploy;
const roots: string[] = [];

beforeAll(async () => {
  dokploy = await startRealDokploy();
}, START_LIMIT_MS);

afterAll(async () => {
  await dokploy?.stop();
});

afterEach(async () => {
  await cleanupWorkers();
  for (const root of roots.splice(0)) fs.rmSync(root, { recursive: true, force: true });
});

interface Host {
  root: string;
  path(hostPath: string): string;
  read(hostPath: string): string;
  credentials(): Record<string, string>;
  log(): string;
  bootstrap(): Running;
  register(nodes: SwarmNode[], args?: string[]): Running;
  /** Writes the manager's instance document with this workers tag, as IMDS would serve it. */
  setTag(value: string): void;
}

/**
 * A manager host; `dokployUrl` is where its programs reach Dokploy (a proxy in front of it, say). Its engine API is
 * the fake (sandbox/docker-api.py), answering from the node list `register` writes.
 */
async function makeHost(dokployUrl = dokploy.url): Promise<Host> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "real-dokploy-manager-"));
  roots.push(root);
  const host: Host = {
    root,
    path: (hostPath) => path.join(root, hostPath),
    read: (hostPath) => fs.readFileSync(host.path(hostPath), "utf8"),
    credentials: () => JSON.parse(host.read(CREDENTIALS)),
    log: () => (fs.existsSync(host.path(SETUP_LOG)) ? host.read(SETUP_LOG) : ""),
    bootstrap: () =>
      start("ip", ["netns", "exec", dokploy.namespace, "bash", host.path(BOOTSTRAP)], {
        ...process.env,
        PATH: `${HOST_STUBS}:${PYTHON_DIR}:${process.env.PATH}`,
        DOKPLOY_OCI_ROOT: root,
        TMPDIR: host.path("tmp"),
      }),
    setTag: (value) => fs.writeFileSync(host.path("instance.json"), JSON.stringify({ freeformTags: { [WORKERS_TAG_KEY]: value } })),
    register(nodes, args = ["--once"]) {
      const nodesFile = host.path("swarm-nodes.json");
      writeSwarmNodes(nodesFile, nodes);
      return start("ip", ["netns", "exec", dokploy.namespace, "python3", REGISTER_WORKERS, ...args], hostEnv(root, { STUB_SWARM_NODES: nodesFile }));
    },
  };
  installManager(
    root,
    managerNodeConfig({
      privateIp: MANAGER_IP,
      dokployUrl,
      version: dokploy.version,
      // curl reads file:// too; the namespace has no route to an HTTP server outside it.
      installerUrl: `file://${path.join(HOST_STUBS, "installer/install.sh")}`,
      admin: ADMIN,
      // Up to about 7 minutes of checks: covers the real slow sign-up.
      wait: { stepSeconds: 1, maxDelaySeconds: 5, maxAttempts: 90 },
      hostPorts: [{ protocol: "tcp", port: 80, sources: ["0.0.0.0/0"] }],
      tokenServer: { secret: "0".repeat(64), stateDir: TOKEN_SERVER_STATE_DIR },
    }),
  );
  fs.mkdirSync(host.path("tmp"));
  // The namespace has only loopback: the manager's instance document (its workers tag) is read from a file:// URL.
  host.setTag("worker:5");
  writeRegistrationConfig(root, {
    serverType: "deploy",
    username: "root",
    sshPort: 22,
    intervalSeconds: 0.2,
    dokployUrl,
    enableDockerCleanup: true,
    instanceMetadataUrl: `file://${host.path("instance.json")}`,
  });
  await startDockerApi(root, host.path("swarm-nodes.json"));
  return host;
}

const count = (table: string) => Number(dokploy.sql(`SELECT count(*) FROM ${table}`));
const counts = () => ({ users: count('"user"'), organizations: count("organization"), apiKeys: count("apikey"), sshKeys: count('"ssh-key"'), servers: count("server") });

/** Each check is an SQL query through psql: every half second is plenty. */
const poll = (condition: () => boolean, what: string, timeoutMs: number) => waitFor(condition, what, timeoutMs, 500);

async function expectSuccess(running: Running, host: Host): Promise<void> {
  const exit = await running.done;
  if (exit.code !== 0) throw new Error(`exit ${exit.code}:\n${exit.output}\n--- Dokploy log tail:\n${dokploy.serverLog().slice(-3000)}`);
  expect(host.log()).not.toContain(ADMIN.password);
  // A bootstrap that succeeded has saved its API key: the key-leak check always has a key to look for.
  expect(fs.existsSync(host.path(CREDENTIALS))).toBe(true);
  const key = host.credentials().api_key;
  expect(key).toMatch(/\S{16,}/);
  expect(`${host.log()}${exit.output}`).not.toContain(key);
}

/** An empty Dokploy that answers sign-up's public-IP lookup, and a manager bootstrapped against it. */
async function freshCluster(): Promise<Host> {
  dokploy.reset();
  await dokploy.publicIpLookup(true);
  const host = await makeHost();
  await expectSuccess(host.bootstrap(), host);
  return host;
}

const LOSE_ANSWER_PROXY = path.join(__dirname, "lose-answer-proxy.py");

/**
 * A proxy in the namespace, in front of Dokploy, that lets Dokploy act on the first `times` requests starting with
 * `match` ("POST /api/trpc/sshKey.create") and then drops their answers; `lost()` lists the request lines it dropped.
 */
async function losingAnswers(match: string, times: number, port = 3001) {
  const record = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "lost-answers-")), "lost.log");
  roots.push(path.dirname(record));
  const [command, ...args] = dokploy.inNamespace(["python3", LOSE_ANSWER_PROXY, String(port), "3000", match, String(times), record]);
  const proxy = start(command, args, process.env);
  await waitFor(() => proxy.output().includes("proxying"), "the lose-answer proxy to listen");
  return {
    url: `http://127.0.0.1:${port}`,
    lost: () => (fs.existsSync(record) ? fs.readFileSync(record, "utf8").trim().split("\n") : []),
    stop: () => proxy.kill(),
  };
}

const get = (procedure: string, apiKey: string) => dokploy.request("GET", `/api/trpc/${procedure}?batch=1&input=${NULL_INPUT}`, { apiKey });
const worker = (n: number): SwarmNode => ({ ID: `node${n}${"x".repeat(20)}`, Hostname: `worker-${n}`, Role: "worker", State: "ready", Addr: `10.0.0.${10 + n}` });
const MANAGER_NODE: SwarmNode = { ID: "manager0xxxxxxxxxxxxxxxxx", Hostname: "manager", Role: "manager", State: "ready", Addr: MANAGER_IP };

describe(`manager programs against the real Dokploy`, () => {
  test("the Dokploy under test is the version the constructs install by default", () => {
    expect(dokploy.version).toBe(TESTED_DOKPLOY_VERSION);
  });

  test("fresh bootstrap: one admin, one unlimited API key bound to the organization, one SSH key", async () => {
    const host = await freshCluster();
    expect(fs.existsSync(host.path(MARKER))).toBe(true);
    expect(counts()).toEqual({ users: 1, organizations: 1, apiKeys: 1, sshKeys: 1, servers: 0 });
    const organizationId = dokploy.sql("SELECT id FROM organization");
    expect(dokploy.sql("SELECT name, rate_limit_enabled, metadata FROM apikey")).toBe(`dokploy-oci|f|{"organizationId":"${organizationId}"}`);

    const credentials = host.credentials();
    expect(credentials).toMatchObject({ admin_email: ADMIN.email, organization_id: organizationId, api_key_id: dokploy.sql("SELECT id FROM apikey") });
    expect(credentials.ssh_key_id).toBe(dokploy.sql('SELECT "sshKeyId" FROM "ssh-key"'));
    expect(host.log()).toContain("the saved API key works");

    // Real answers the scripts and the fake rely on.
    expect(dokploy.request("GET", `/api/trpc/settings.health?batch=1&input=${NULL_INPUT}`).body).toEqual([{ result: { data: { json: { status: "ok" } } } }]);
    const keys = get("sshKey.all", credentials.api_key);
    expect(keys.status).toBe(200);
    expect(keys.body[0].result.data.json).toEqual([
      expect.objectContaining({ name: "dokploy-oci-workers", privateKey: host.read("etc/dokploy-oci/ssh/dokploy_ed25519"), organizationId }),
    ]);
    const anonymous = dokploy.request("GET", `/api/trpc/server.all?batch=1&input=${NULL_INPUT}`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body[0].error.json).toMatchObject({ message: "UNAUTHORIZED", code: -32001, data: { code: "UNAUTHORIZED", httpStatus: 401 } });
    const secondAdmin = dokploy.request("POST", "/api/auth/sign-up/email", { body: { email: "other@example.com", password: "another password", name: "Other" } });
    expect([secondAdmin.status, secondAdmin.body]).toEqual([400, { message: "Admin is already created" }]);
    const wrongPassword = dokploy.request("POST", "/api/auth/sign-in/email", { body: { email: ADMIN.email, password: "not the password" } });
    expect([wrongPassword.status, wrongPassword.body]).toEqual([401, { message: "Invalid email or password", code: "INVALID_EMAIL_OR_PASSWORD" }]);
  });

  test("every address the EMAIL rule accepts signs up in the real Dokploy (each in an empty Dokploy)", async () => {
    await dokploy.publicIpLookup(true);
    const answers = ACCEPTED_EMAILS.map(([, email]) => {
      expect(EMAIL.test(email)).toBe(true);
      dokploy.reset();
      const signUp = dokploy.request("POST", "/api/auth/sign-up/email", { body: { email, password: ADMIN.password, name: ADMIN.name } });
      return { email, status: signUp.status, stored: dokploy.sql('SELECT email FROM "user"') };
    });
    // better-auth stores the address in lowercase.
    expect(answers).toEqual(ACCEPTED_EMAILS.map(([, email]) => ({ email, status: 200, stored: email.toLowerCase() })));
  });

  test("every step's marker lost after its effect: each re-run finishes and creates nothing twice", async () => {
    const host = await freshCluster();
    const before = counts();
    const credentials = host.credentials();
    for (const step of ["publish-credentials", "credentials", "ssh-key", "api-key", "admin"]) {
      // The worst case of a crash or reboot: the step did its work, but neither its .done file nor any later one
      // (nor the final marker) was written.
      fs.rmSync(host.path(MARKER), { force: true });
      for (const later of STEP_NAMES.slice(STEP_NAMES.indexOf(step))) fs.rmSync(host.path(`${STEPS}/${later}.done`), { force: true });
      const logBefore = host.log().length;
      await expectSuccess(host.bootstrap(), host);
      const rerunLog = host.log().slice(logBefore);
      expect(counts()).toEqual(before);
      expect(host.credentials()).toEqual(credentials);
      expect(fs.existsSync(host.path(MARKER))).toBe(true);
      if (step === "admin") {
        // The lost sign-up answer: the real Dokploy says 422 for the same email, and the run signs in.
        expect(rerunLog).toContain(`Dokploy already has a user ${ADMIN.email} (an earlier sign-up finished): signing in instead`);
        expect(rerunLog).toContain(`signed in to Dokploy as ${ADMIN.email}`);
      }
      if (step === "api-key") expect(rerunLog).toContain("API key already saved");
      if (step === "ssh-key") expect(rerunLog).toContain("SSH key 'dokploy-oci-workers' already registered in Dokploy; not creating another");
    }
    expect(host.read("stub-calls.log").match(/^install\.sh /gm)).toHaveLength(1);
  });

  test("a sign-up whose answer is lost while the real public-IP lookup times out: the re-run signs in and waits for the organization", async () => {
    dokploy.reset();
    await dokploy.publicIpLookup(false);
    const host = await makeHost();
    const first = host.bootstrap();
    // The user row exists as soon as sign-up starts; its organization only after the lookup gave up (minutes).
    await poll(() => count('"user"') === 1, "the sign-up to create the user", 5 * 60_000);
    await first.kill();
    expect(count("organization")).toBe(0);
    expect(fs.existsSync(host.path(`${STEPS}/admin.done`))).toBe(false);

    await expectSuccess(host.bootstrap(), host);
    const log = host.log();
    expect(log).toContain(`Dokploy already has a user ${ADMIN.email} (an earlier sign-up finished): signing in instead`);
    expect(log).toMatch(/the admin's organization: organization\.all is empty: Dokploy's sign-up has not created it yet; attempt 1\/\d+, next in \d/);
    expect(log).toContain("the admin's organization exists now");
    expect(counts()).toEqual({ users: 1, organizations: 1, apiKeys: 1, sshKeys: 1, servers: 0 });
    expect(fs.existsSync(host.path(MARKER))).toBe(true);
  });

  test("registration: five workers registered once, then more than 50 calls with the same key, then npm run status", async () => {
    const host = await freshCluster();
    const apiKey = host.credentials().api_key;
    // The long-running loop, with workers joining while it runs.
    const loop = host.register([MANAGER_NODE, worker(1), worker(2)], []);
    await poll(() => count("server") === 2, "2 servers", 120_000);
    writeSwarmNodes(host.path("swarm-nodes.json"), [MANAGER_NODE, ...[1, 2, 3, 4, 5].map(worker)]);
    await poll(() => count("server") === 5, "5 servers", 120_000);
    await loop.kill("SIGTERM");
    expect(loop.output().match(/registered worker-\d \(10\.0\.0\.1\d\) as a Dokploy deploy server/g)).toHaveLength(5);

    // 50 more passes: each lists server.all with the key and creates nothing. A rate-limited key would fail at the
    // 11th request of its life.
    for (let pass = 0; pass < 50; pass++) {
      const once = await host.register([MANAGER_NODE, ...[1, 2, 3, 4, 5].map(worker)]).done;
      expect(once.code).toBe(0);
      expect(once.output).not.toMatch(/registered|401|rejected/);
    }
    expect(count("server")).toBe(5);
    const rows = dokploy.sql('SELECT name, "ipAddress", port, username, "serverType" FROM server ORDER BY name').split("\n");
    expect(rows).toEqual([1, 2, 3, 4, 5].map((n) => `worker-${n}|10.0.0.${10 + n}|22|root|deploy`));
    expect(get("server.all", apiKey).status).toBe(200);

    // Shrunk to 3: the real server.remove takes the two retired servers away (their nodes are down).
    host.setTag("worker:3");
    const down = (n: number) => ({ ...worker(n), State: "down" as const });
    const shrink = await host.register([MANAGER_NODE, ...[1, 2, 3].map(worker), down(4), down(5)]).done;
    expect(shrink.code).toBe(0);
    expect(shrink.output).toMatch(/removed Dokploy server worker-4 \(10\.0\.0\.14, serverId \S+\): no longer expected/);
    expect(dokploy.sql("SELECT name FROM server ORDER BY name").split("\n")).toEqual(["worker-1", "worker-2", "worker-3"]);
    host.setTag("worker:5");
    const regrow = await host.register([MANAGER_NODE, ...[1, 2, 3, 4, 5].map(worker)]).done;
    expect(regrow.output.match(/registered worker-\d/g)).toEqual(["registered worker-4", "registered worker-5"]);
    expect(count("server")).toBe(5);

    // npm run status, its ssh replaced by the stub that runs each command "on" a host dir, inside the namespace.
    const hosts = fs.mkdtempSync(path.join(os.tmpdir(), "real-dokploy-status-"));
    roots.push(hosts);
    const files = (name: string, entries: Record<string, string>) => {
      for (const [file, text] of Object.entries(entries)) {
        fs.mkdirSync(path.dirname(path.join(hosts, name, file)), { recursive: true });
        fs.writeFileSync(path.join(hosts, name, file), text, { mode: 0o600 });
      }
    };
    // What `df -P -B1 /` prints on each host (the status stub's df answers from this file).
    const df = "Filesystem 1-blocks Used Available Capacity Mounted on\n/dev/sda1 100000000000 20000000000 80000000000 20% /\n";
    files(MANAGER_PUBLIC_IP, {
      "cloud-init-status": "status: done\n",
      df,
      [SETUP_LOG]: host.log(),
      "var/lib/dokploy-oci/token-server/server-state.json": "{}\n",
      [CREDENTIALS]: host.read(CREDENTIALS),
      // `docker node inspect` records, as the status stub's docker answers them.
      "nodes.json": JSON.stringify([
        { ID: "m", Spec: { Role: "manager", Availability: "active" }, Description: { Hostname: "manager" }, Status: { State: "ready", Addr: MANAGER_IP } },
        ...[1, 2, 3, 4, 5].map((n) => ({
          ID: `w${n}`,
          Spec: { Role: "worker", Availability: "active" },
          Description: { Hostname: `worker-${n}` },
          Status: { State: "ready", Addr: `10.0.0.${10 + n}` },
        })),
      ]),
    });
    for (const n of [1, 2, 3, 4, 5]) files(`10.0.0.${10 + n}`, { "cloud-init-status": "status: done\n", df, "var/log/dokploy-worker-setup.log": "worker ready\n" });
    const ssh = path.join(hosts, "ssh");
    fs.writeFileSync(ssh, `#!/usr/bin/env bash\nSTATUS_HOSTS_DIR='${hosts}' exec ip netns exec '${dokploy.namespace}' '${path.join(STATUS_STUBS, "ssh")}' "$@"\n`, { mode: 0o755 });
    const status = spawnSync("npx", ["ts-node", "--transpile-only", "scripts/status.ts", MANAGER_PUBLIC_IP, "--dokploy-url", dokploy.url], {
      cwd: REPO,
      encoding: "utf8",
      env: { ...process.env, DOKPLOY_OCI_SSH: ssh },
      timeout: 300_000,
    });
    if (status.status !== 0) throw new Error(`npm run status exited ${status.status}:\n${status.stdout}${status.stderr}`);
    for (const n of [1, 2, 3, 4, 5]) expect(status.stdout).toMatch(new RegExp(`worker-${n} +10\\.0\\.0\\.${10 + n} +deploy`));
    expect(fs.readFileSync(path.join(hosts, "ssh-calls.log"), "utf8")).not.toContain(apiKey);
    expect(fs.readFileSync(path.join(hosts, "argv.log"), "utf8")).not.toContain(apiKey);
  });

  test("a key from an older bootstrap (rate-limited, 401) is replaced once, logged; a rejected replacement stops the run", async () => {
    const host = await freshCluster();
    // What the older bootstrap did: createApiKey without rateLimitEnabled, saved as the cluster's key.
    const jar = host.path("tmp/cookies");
    expect(dokploy.request("POST", "/api/auth/sign-in/email", { body: { email: ADMIN.email, password: ADMIN.password }, cookieJar: jar }).status).toBe(200);
    const organizationId = host.credentials().organization_id;
    const created = dokploy.request("POST", "/api/trpc/user.createApiKey?batch=1", { body: { 0: { json: { name: "dokploy-oci", metadata: { organizationId } } } }, cookieJar: jar });
    expect(created.status).toBe(200);
    const oldKey = created.body[0].result.data.json;
    expect(oldKey).toMatchObject({ rateLimitEnabled: true, rateLimitMax: 10, rateLimitTimeWindow: 86_400_000 });
    dokploy.sql(`DELETE FROM apikey WHERE id <> '${oldKey.id}'`);
    const credentials = { ...host.credentials(), api_key: oldKey.key, api_key_id: oldKey.id };
    fs.writeFileSync(host.path(CREDENTIALS), JSON.stringify(credentials), { mode: 0o600 });
    // Ten calls answer; the eleventh is the 401 every later call gets for a day.
    for (let call = 1; call <= 10; call++) expect(get("server.all", oldKey.key).status).toBe(200);
    expect(get("server.all", oldKey.key).status).toBe(401);
    const refused = await host.register([MANAGER_NODE, worker(1)]).done;
    expect(refused.output).toContain("server.all: API key rejected (HTTP 401; rate-limited or revoked: re-running the manager bootstrap replaces it)");

    fs.rmSync(host.path(MARKER));
    await expectSuccess(host.bootstrap(), host);
    let log = host.log();
    expect(log).toContain(`the saved API key (id ${oldKey.id}) is rejected with HTTP 401 (rate-limited: created without rateLimitEnabled: false, or revoked); replacing it once`);
    const replaced = host.credentials();
    expect(log).toContain(`API key replaced: new id ${replaced.api_key_id}, old key ${oldKey.id} deleted`);
    expect(dokploy.sql("SELECT id, rate_limit_enabled FROM apikey")).toBe(`${replaced.api_key_id}|f`);
    expect(fs.existsSync(host.path(MARKER))).toBe(true);
    expect((await host.register([MANAGER_NODE, worker(1)]).done).output).toContain("registered worker-1");

    // Once replaced, a later run keeps the key.
    fs.rmSync(host.path(MARKER));
    await expectSuccess(host.bootstrap(), host);
    expect(host.log().slice(log.length)).toContain("the saved API key works");
    expect(count("apikey")).toBe(1);

    // The replacement revoked behind the bootstrap's back: it stops with words instead of replacing keys forever.
    dokploy.sql("DELETE FROM apikey");
    fs.rmSync(host.path(MARKER));
    log = host.log();
    const stopped = await host.bootstrap().done;
    expect(stopped.code).not.toBe(0);
    expect(host.log().slice(log.length)).toContain(`created by this script as a replacement) is rejected with HTTP 401; not replacing it again`);
    expect(count("apikey")).toBe(0);
    expect(fs.existsSync(host.path(MARKER))).toBe(false);
  });
});

describe("a create whose answer is lost after the real Dokploy committed it: nothing twice, nothing orphaned", () => {
  async function bootstrapThrough(match: string, times: number) {
    dokploy.reset();
    await dokploy.publicIpLookup(true);
    const proxy = await losingAnswers(match, times);
    const host = await makeHost(proxy.url);
    return { host, proxy, run: host.bootstrap() };
  }

  test("user.createApiKey: the key whose secret was lost is deleted, one key is saved and works", async () => {
    const { host, proxy, run } = await bootstrapThrough("POST /api/trpc/user.createApiKey", 1);
    await expectSuccess(run, host);
    expect(proxy.lost()).toEqual([expect.stringMatching(/^POST \/api\/trpc\/user\.createApiKey\?batch=1 HTTP/)]);
    expect(counts()).toEqual({ users: 1, organizations: 1, apiKeys: 1, sshKeys: 1, servers: 0 });
    const saved = host.credentials();
    expect(dokploy.sql("SELECT id FROM apikey")).toBe(saved.api_key_id);
    expect(host.log()).toMatch(/user\.createApiKey: no answer \(.*\) \(Dokploy may have created it: looked for first\); attempt 1\/\d+/);
    expect(host.log()).toMatch(/deleted API key \S+ named 'dokploy-oci': an interrupted create made it and its secret was never saved/);
    expect(get("server.all", saved.api_key).status).toBe(200);
    // The answer the bootstrap (and the fake) read the keys from: the membership row, its user, the user's keys.
    expect(get("user.get", saved.api_key).body[0].result.data.json).toMatchObject({
      organizationId: saved.organization_id,
      role: "owner",
      user: { email: ADMIN.email, apiKeys: [expect.objectContaining({ id: saved.api_key_id, name: "dokploy-oci", enabled: true })] },
    });
  });

  test("user.createApiKey lost on every attempt: the run stops; the next run deletes the orphan and saves one key", async () => {
    const { host, proxy, run } = await bootstrapThrough("POST /api/trpc/user.createApiKey", 1000);
    const stopped = await run.done;
    expect(stopped.code).not.toBe(0);
    expect(host.log()).toMatch(/user\.createApiKey: no answer .*; gave up after \d+ attempts/);
    // Every attempt's key was committed and the next attempt deleted the one before: the last one is left.
    expect(count("apikey")).toBe(1);
    const orphan = dokploy.sql("SELECT id FROM apikey");
    expect(fs.existsSync(host.path(CREDENTIALS)) && host.credentials().api_key).toBeFalsy();

    // Dokploy's answers arrive again (a proxy that loses none, on the same port).
    await proxy.stop();
    await losingAnswers("POST /api/trpc/user.createApiKey", 0);
    await expectSuccess(host.bootstrap(), host);
    expect(counts()).toEqual({ users: 1, organizations: 1, apiKeys: 1, sshKeys: 1, servers: 0 });
    expect(dokploy.sql("SELECT id FROM apikey")).toBe(host.credentials().api_key_id);
    expect(host.log()).toContain(`deleted API key ${orphan} named 'dokploy-oci'`);
  });

  test("sshKey.create: the key Dokploy made is found and used, not created again", async () => {
    const { host, proxy, run } = await bootstrapThrough("POST /api/trpc/sshKey.create", 1);
    await expectSuccess(run, host);
    expect(proxy.lost()).toHaveLength(1);
    expect(counts()).toEqual({ users: 1, organizations: 1, apiKeys: 1, sshKeys: 1, servers: 0 });
    expect(host.log()).toContain("SSH key 'dokploy-oci-workers' is in Dokploy after all (the create's answer was lost): using it");
    expect(host.credentials().ssh_key_id).toBe(dokploy.sql('SELECT "sshKeyId" FROM "ssh-key"'));
  });

  test("server.create (the reconciler): the next pass finds the server and registers nothing twice", async () => {
    const host = await freshCluster();
    const proxy = await losingAnswers("POST /api/trpc/server.create", 1, 3002);
    writeRegistrationConfig(host.root, {
      serverType: "deploy", username: "root", sshPort: 22, intervalSeconds: 0.2, dokployUrl: proxy.url, enableDockerCleanup: true,
      instanceMetadataUrl: `file://${host.path("instance.json")}`,
    });
    host.setTag("worker:1");
    const first = await host.register([MANAGER_NODE, worker(1)]).done;
    expect(proxy.lost()).toHaveLength(1);
    expect(first.output).toMatch(/server\.create for worker-1 \(10\.0\.0\.11\): no answer/);
    expect(count("server")).toBe(1);
    const second = await host.register([MANAGER_NODE, worker(1)]).done;
    expect(second.code).toBe(0);
    expect(second.output).not.toContain("registered worker-1");
    expect(count("server")).toBe(1);
  });
});

/**
 * Dokploy's web-server backup and restore, run by Dokploy's own code (pg_dump, zip, rclone; the dump and the
 * restore are the real PostgreSQL's, reached through the docker stub in harness/dokploy-docker-stub) against an S3
 * server on the namespace's loopback (harness/s3-server.ts), driven by templates/manager/backups.py.
 */
describe("backups to a loopback S3 bucket and restore, through the real Dokploy", () => {
  const BUCKET = "dokploy-oci-backups";
  const KEYS = { accessKey: "ocid1credential.test-access-key", secretKey: "test-secret-Kx9/+q=" };
  let s3: S3Server;

  beforeAll(async () => {
    s3 = await startS3Server(dokploy.inNamespace, BUCKET, KEYS);
  });
  afterAll(async () => {
    await s3?.destroy();
  });

  const backupsConfig = (keys = KEYS): BackupsHostConfig => ({
    enabled: true,
    restoreAtFirstBoot: true,
    destinationName: "dokploy-oci",
    bucket: BUCKET,
    endpoint: s3.endpoint,
    region: "eu-frankfurt-1",
    accessKey: keys.accessKey,
    secretKey: keys.secretKey,
    schedule: "0 3 * * *",
    keepLatestCount: 2,
  });
  const withBackups = (host: Host, keys = KEYS, changes: Partial<BackupsHostConfig> = {}) => {
    const file = host.path(NODE_CONFIG_PATH);
    fs.writeFileSync(file, JSON.stringify({ ...JSON.parse(fs.readFileSync(file, "utf8")), backups: { ...backupsConfig(keys), ...changes } }), { mode: 0o600 });
  };
  const backups = async (host: Host, ...args: string[]) => {
    const exit = await start("ip", ["netns", "exec", dokploy.namespace, "python3", host.path(MANAGER_BACKUPS), ...args], hostEnv(host.root)).done;
    expect(exit.output).not.toContain(KEYS.secretKey);
    // Dokploy's errors repeat its rclone command line: the program hides the credentials in it.
    expect(exit.output).not.toMatch(/--s3-(access-key-id|secret-access-key)=(?!\(hidden\))/);
    expect(exit.output).not.toContain(host.credentials().api_key);
    return exit;
  };
  const zips = () => s3.objects().filter((object) => object.key.endsWith(".zip"));
  const projects = () => dokploy.sql("SELECT name FROM project ORDER BY name");
  const servers = () => dokploy.sql("SELECT name FROM server ORDER BY name");
  const backupRuns = () => dokploy.sql(`SELECT status FROM deployment WHERE "backupId" IS NOT NULL ORDER BY "createdAt"`);

  test("configure once, back up, keep the latest 2, wipe, restore into a fresh Dokploy: projects, servers and files come back", async () => {
    const host = await freshCluster();
    withBackups(host);
    // The bucket is still empty: a restore says so (the bootstrap then goes on with an empty Dokploy).
    const empty = await backups(host, "restore");
    expect([empty.code, empty.output]).toEqual([3, expect.stringContaining(`no Dokploy backup (webserver-backup-*.zip) in bucket ${BUCKET}: nothing to restore`)]);

    for (let run = 0; run < 2; run++) expect((await backups(host, "configure")).code).toBe(0);
    expect(dokploy.sql("SELECT name, bucket, endpoint, region FROM destination")).toBe(`dokploy-oci|${BUCKET}|${s3.endpoint}|eu-frankfurt-1`);
    expect(dokploy.sql(`SELECT "databaseType", schedule, "keepLatestCount", enabled FROM backup`)).toBe("web-server|0 3 * * *|2|t");

    // What a cluster has: projects, registered servers, files under /etc/dokploy.
    const apiKey = host.credentials().api_key;
    for (const name of ["shop", "blog"]) {
      expect(dokploy.request("POST", "/api/trpc/project.create?batch=1", { apiKey, body: { 0: { json: { name, description: "" } } } }).status).toBe(200);
    }
    expect((await host.register([MANAGER_NODE, worker(1), worker(2)]).done).code).toBe(0);
    fs.mkdirSync(path.join(dokploy.basePath, "traefik/dynamic"), { recursive: true });
    fs.writeFileSync(path.join(dokploy.basePath, "traefik/dynamic/shop.yml"), "http: {}\n");

    for (let run = 1; run <= 3; run++) {
      const started = Date.now();
      const backup = await backups(host, "run");
      if (backup.code !== 0) throw new Error(`backups.py run failed:\n${backup.output}\n${dokploy.serverLog().slice(-3000)}`);
      process.stdout.write(`real Dokploy backup ${run}: ${Date.now() - started} ms, ${zips().map((zip) => zip.size).join(", ")} bytes\n`);
    }
    // Dokploy's retention kept the latest two.
    expect(zips()).toHaveLength(2);
    expect(backupRuns()).toBe("done\ndone\ndone");
    expect(dokploy.dockerCalls()).toContain("exec dokploy-postgres-stub pg_dump -v -Fc -U dokploy -d dokploy -f /tmp/database.sql");
    const status = JSON.parse((await backups(host, "status")).output);
    expect(status).toMatchObject({ schedule: "0 3 * * *", keepLatestCount: 2, files: 2, totalBytes: zips()[0].size + zips()[1].size, lastRun: { status: "done" }, latestFile: { size: zips()[1].size } });

    // The manager is lost: an empty Dokploy and /etc/dokploy on a new one, whose first boot restores the newest
    // backup (restoreAtFirstBoot), makes a new API key in the restored Dokploy and configures the schedule again.
    dokploy.reset();
    fs.rmSync(dokploy.basePath, { recursive: true, force: true });
    fs.mkdirSync(dokploy.basePath);
    const replacement = await makeHost();
    withBackups(replacement);
    const started = Date.now();
    await expectSuccess(replacement.bootstrap(), replacement);
    process.stdout.write(`real Dokploy first boot with restore: ${Date.now() - started} ms\n`);
    const log = replacement.log();
    expect(log).toContain(`restoring ${zips()[1].key} with Dokploy's restore`);
    expect(log).toContain("Dokploy: Restore completed successfully!");
    expect(log).toContain("restored; new API key");
    expect(log).toContain("SSH key 'dokploy-oci-workers' already registered in Dokploy; not creating another");
    expect(log).not.toContain(KEYS.secretKey);
    expect([projects(), servers()]).toEqual(["blog\nshop", "worker-1\nworker-2"]);
    expect(fs.readFileSync(path.join(dokploy.basePath, "traefik/dynamic/shop.yml"), "utf8")).toBe("http: {}\n");
    // The workers keep trusting the restored key: the manager publishes the old manager's public key.
    expect(replacement.credentials().ssh_public_key).toBe(host.credentials().ssh_public_key);
    expect(get("server.all", replacement.credentials().api_key).status).toBe(200);
    expect((await replacement.register([MANAGER_NODE, worker(1), worker(2), worker(3)]).done).output).toContain("registered worker-3");
    expect(Number(dokploy.sql("SELECT count(*) FROM backup"))).toBe(1);
    expect(Number(dokploy.sql("SELECT count(*) FROM destination"))).toBe(1);
  });

  test("faults: revoked key and unreachable bucket fail the backup visibly and break nothing; a corrupt backup is refused before anything is overwritten", async () => {
    const host = await freshCluster();
    withBackups(host);
    expect((await backups(host, "configure")).code).toBe(0);
    expect((await backups(host, "run")).code).toBe(0);
    const apiKey = host.credentials().api_key;
    expect(dokploy.request("POST", "/api/trpc/project.create?batch=1", { apiKey, body: { 0: { json: { name: "kept", description: "" } } } }).status).toBe(200);
    const before = zips();

    // The key deleted in OCI: its access key is unknown and S3 answers 403 InvalidAccessKeyId to rclone.
    await s3.restart({ accessKey: "ocid1credential.another-key", secretKey: KEYS.secretKey });
    const revoked = await backups(host, "run");
    expect(revoked.code).toBe(1);
    expect(revoked.output).toContain("run failed: backup.manualBackupWebServer");
    // Unreachable: nothing listens any more.
    await s3.stop();
    const unreachable = await backups(host, "run");
    expect(unreachable.code).toBe(1);
    expect(backupRuns()).toBe("done\nerror\nerror");
    expect(get("project.all", apiKey).status).toBe(200);
    await s3.restart(KEYS);
    expect(JSON.parse((await backups(host, "status")).output).lastRun.status).toBe("error");
    expect(zips()).toEqual(before);

    // Newer backups that are damaged: each is refused after its download, before Dokploy's restore runs.
    const folder = path.dirname(before[0].key);
    const cut = path.join(host.root, "tmp/cut.zip");
    fs.writeFileSync(cut, Buffer.from("PK\u0003\u0004 cut short"));
    s3.put(`${folder}/webserver-backup-2999-01-01T00-00-00-000Z.zip`, cut);
    const notDump = path.join(host.root, "tmp/not-a-dump");
    fs.mkdirSync(path.join(notDump, "filesystem"), { recursive: true });
    fs.writeFileSync(path.join(notDump, "database.sql"), "SELECT 1;\n");
    fs.writeFileSync(path.join(notDump, "filesystem/x"), "x\n");
    expect(spawnSync("zip", ["-qr", "../not-a-dump.zip", "database.sql", "filesystem"], { cwd: notDump }).status).toBe(0);
    const callsBefore = dokploy.dockerCalls().length;
    let refused = await backups(host, "restore");
    expect([refused.code, refused.output]).toEqual([1, expect.stringContaining(`${folder}/webserver-backup-2999-01-01T00-00-00-000Z.zip is not a whole zip file`)]);
    s3.put(`${folder}/webserver-backup-3000-01-01T00-00-00-000Z.zip`, path.join(host.root, "tmp/not-a-dump.zip"));
    refused = await backups(host, "restore");
    expect([refused.code, refused.output]).toEqual([1, expect.stringContaining("database.sql is not a pg_dump custom-format dump; nothing was restored")]);
    expect(dokploy.dockerCalls().slice(callsBefore)).toEqual([]);
    expect(projects()).toBe("kept");
  });

  // The bootstrap's last step runs `backups.py configure` through a proxy that loses the create's answer once after
  // the real Dokploy committed it: that run stops, and the next (systemd starts the setup again) finds what the
  // lost create made by its name (the destination) or its destination (the schedule) instead of making another.
  test.each([
    ["destination.create", "destination"],
    ["backup.create", "backup"],
  ])("%s answer lost: the setup's next run adopts it; one destination, one schedule, and a backup runs", async (procedure, table) => {
    dokploy.reset();
    await dokploy.publicIpLookup(true);
    const proxy = await losingAnswers(`POST /api/trpc/${procedure}`, 1);
    const host = await makeHost(proxy.url);
    // The shared bucket may hold other tests' backups: no restore at this first boot.
    withBackups(host, KEYS, { restoreAtFirstBoot: false });
    const stopped = await host.bootstrap().done;
    expect(proxy.lost()).toEqual([expect.stringMatching(new RegExp(`^POST /api/trpc/${procedure.replace(".", "\\.")}\\?batch=1 HTTP`))]);
    expect(stopped.code).not.toBe(0);
    expect(host.log()).toContain(`configure failed: ${procedure}: no answer`);
    expect(count(table)).toBe(1);

    await expectSuccess(host.bootstrap(), host);
    expect(host.log()).not.toContain(KEYS.secretKey);
    expect(dokploy.sql("SELECT name, bucket, endpoint FROM destination")).toBe(`dokploy-oci|${BUCKET}|${s3.endpoint}`);
    expect(dokploy.sql(`SELECT "databaseType", schedule, "keepLatestCount", enabled, "destinationId" = (SELECT "destinationId" FROM destination) FROM backup`)).toBe("web-server|0 3 * * *|2|t|t");
    const before = zips().length;
    const backup = await backups(host, "run");
    if (backup.code !== 0) throw new Error(`backups.py run failed:\n${backup.output}\n${dokploy.serverLog().slice(-3000)}`);
    expect(zips()).toHaveLength(before + 1);
    expect(backupRuns()).toBe("done");
  });
});
