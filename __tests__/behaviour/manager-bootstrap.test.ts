/**
 * Behaviour of templates/manager/bootstrap.sh and templates/common/harden.sh: the real scripts run with bash under
 * a temp root ($DOKPLOY_OCI_ROOT), stub docker/apt-get/systemctl/iptables/... first on PATH, real curl, python3
 * and ssh-keygen, against the fake Dokploy on 127.0.0.1. The installer URL points at a local server that serves
 * the stub installer (it records its environment and creates the stub swarm + dokploy service).
 */
import { ChildProcess, execFileSync, spawn } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as http from "http";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { FakeDokploy } from "../harness/fake-dokploy";
import { waitFor } from "../../sandbox/wait";
import { installManager, MANAGER_BOOTSTRAP, managerNodeConfig } from "../../sandbox/manager";
import { HARDEN, HOST_STUBS } from "../../sandbox/worker";

const REPO = path.resolve(__dirname, "../..");
const BOOTSTRAP = MANAGER_BOOTSTRAP;
const STATE_DIR = "/var/lib/dokploy-oci/token-server";
const PRIVATE_IP = "10.0.0.10";
const WORKER_TOKEN = "SWMTKN-1-49nj1cmql0jkz5s954yi3oex3nedyz0fb0xx14ie39trti4wxv-8vxv8rssmk743ojnwacrr2e7c";
const MANAGER_TOKEN = "SWMTKN-1-49nj1cmql0jkz5s954yi3oex3nedyz0fb0xx14ie39trti4wxv-2y4hd7kqmovnoqrg7qbotx3hl";
// Quotes, backslashes and `$` must reach Dokploy unchanged.
const ADMIN = { email: "admin@example.com", password: `Pa"ss\\w0rd $HOME 'x'`, name: "Admin" };
// The interpreter's own directory goes ahead of version-manager shims (a pyenv shim costs ~0.1 s per call).
const PYTHON_DIR = path.dirname(execFileSync("python3", ["-c", "import sys; print(sys.executable)"], { encoding: "utf8" }).trim());
const TIMESTAMPED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /;

interface Run {
  code: number | null;
  output: string;
}

interface Host {
  root: string;
  fake: FakeDokploy;
  bearerSecret: string;
  path(hostPath: string): string;
  read(hostPath: string): string;
  mode(hostPath: string): number;
  stubCalls(): string[];
  log(): string;
}

const cleanups: (() => Promise<void> | void)[] = [];
const children = new Set<ChildProcess>();

afterEach(async () => {
  for (const child of children) child.kill("SIGKILL");
  children.clear();
  while (cleanups.length > 0) await cleanups.pop()!();
});

/** Serves the stub installer the way dokploy.com serves install.sh. */
async function startInstallerServer(): Promise<string> {
  const script = fs.readFileSync(path.join(HOST_STUBS, "installer/install.sh"));
  const server = http.createServer((request, response) => {
    if (request.url === "/install.sh") response.writeHead(200, { "Content-Type": "text/plain" }).end(script);
    else response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/install.sh`;
}

type Wait = { stepSeconds: number; maxDelaySeconds: number; maxAttempts: number };

async function makeHost(options: { wait?: Partial<Wait>; config?: Record<string, unknown> } = {}): Promise<Host> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "dokploy-oci-manager-"));
  cleanups.push(() => fs.rmSync(root, { recursive: true, force: true }));
  const fake = new FakeDokploy();
  await fake.start();
  cleanups.push(() => fake.stop());
  const bearerSecret = randomBytes(32).toString("hex");
  const host: Host = {
    root,
    fake,
    bearerSecret,
    path: (hostPath) => path.join(root, hostPath),
    read: (hostPath) => fs.readFileSync(host.path(hostPath), "utf8"),
    mode: (hostPath) => fs.statSync(host.path(hostPath)).mode & 0o777,
    stubCalls: () => (fs.existsSync(host.path("stub-calls.log")) ? host.read("stub-calls.log").trim().split("\n") : []),
    log: () => host.read("var/log/dokploy-manager-setup.log"),
  };
  const config = {
    ...managerNodeConfig({
      privateIp: PRIVATE_IP,
      dokployUrl: fake.url,
      installerUrl: await startInstallerServer(),
      admin: ADMIN,
      wait: { stepSeconds: 0.02, maxDelaySeconds: 0.1, maxAttempts: 60, ...options.wait },
      hostPorts: [
        { protocol: "tcp", port: 80, sources: ["0.0.0.0/0"] },
        { protocol: "tcp", port: 2377, sources: ["10.0.0.0/24"] },
      ],
      tokenServer: { secret: bearerSecret, stateDir: STATE_DIR },
    }),
    ...options.config,
  };
  installManager(host.root, config);
  fs.mkdirSync(host.path("tmp"));
  return host;
}

/** Runs a script with bash, asynchronously so the in-process fake keeps answering. */
function runScript(host: Host, script: string, args: string[] = []): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn("bash", [host.path(script), ...args], {
      env: { ...process.env, PATH: `${HOST_STUBS}:${PYTHON_DIR}:${process.env.PATH}`, DOKPLOY_OCI_ROOT: host.root, TMPDIR: host.path("tmp") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    children.add(child);
    let output = "";
    child.stdout!.on("data", (chunk) => (output += chunk));
    child.stderr!.on("data", (chunk) => (output += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      children.delete(child);
      resolve({ code, output });
    });
  });
}

function expectSecretsAbsent(host: Host, ...texts: string[]): void {
  const secrets = [
    ADMIN.password,
    host.bearerSecret,
    WORKER_TOKEN,
    MANAGER_TOKEN,
    ...host.fake.apiKeys.map((apiKey) => apiKey.key),
    ...host.fake.sshKeys.map((sshKey) => sshKey.privateKey.trim()),
  ];
  for (const text of [host.log(), ...texts]) {
    for (const secret of secrets) expect(text).not.toContain(secret);
    expect(text).not.toContain("PRIVATE KEY");
  }
}

const logSoFar = (host: Host) => (fs.existsSync(host.path("var/log/dokploy-manager-setup.log")) ? host.log() : "");

const installerRuns = (host: Host) => host.stubCalls().filter((line) => line.startsWith("install.sh "));
const procCalls = (host: Host, proc: string) => host.fake.calls.filter((call) => call.proc === proc || call.path === proc);

describe("manager bootstrap", () => {
  test("fresh run: installs, publishes the worker join command, sets Dokploy up, saves credentials", async () => {
    const host = await makeHost();
    const run = await runScript(host, BOOTSTRAP);
    expect(run.code).toBe(0);
    expect(fs.existsSync(host.path("opt/dokploy-manager-setup-complete"))).toBe(true);

    // The installer ran once, with the environment it documents, and the bootstrap left the swarm to it.
    expect(installerRuns(host)).toEqual([
      `install.sh ADVERTISE_ADDR=${PRIVATE_IP} DOCKER_SWARM_INIT_ARGS=--default-addr-pool 10.20.0.0/16 --default-addr-pool-mask-length 24 DOKPLOY_VERSION=<unset>`,
    ]);
    const calls = host.stubCalls();
    expect(calls.filter((line) => line.startsWith("docker swarm init"))).toHaveLength(1);
    expect(calls.findIndex((line) => line.startsWith("docker swarm init"))).toBeGreaterThan(
      calls.findIndex((line) => line.startsWith("install.sh ")),
    );
    expect(calls).not.toContain("docker swarm join-token -q manager");

    // Dokploy: one owner, one API key bound to the organization, one SSH key in OpenSSH format.
    const { fake } = host;
    expect(fake.users.map((user) => user.email)).toEqual([ADMIN.email]);
    const signUp = procCalls(host, "/api/auth/sign-up/email")[0];
    expect((signUp.body as { password: string }).password).toBe(ADMIN.password);
    for (const call of fake.calls.filter((c) => c.path.startsWith("/api/auth/"))) expect(call.headers.cookie).toBeUndefined();
    expect(fake.apiKeys).toHaveLength(1);
    expect(fake.apiKeys[0]).toMatchObject({ name: "dokploy-oci", metadata: { organizationId: fake.organizations[0].id }, rateLimitEnabled: false });
    expect(fake.sshKeys).toHaveLength(1);
    const privateKey = host.read("etc/dokploy-oci/ssh/dokploy_ed25519");
    const publicKey = host.read("etc/dokploy-oci/ssh/dokploy_ed25519.pub").trim();
    expect(fake.sshKeys[0]).toMatchObject({ name: "dokploy-oci-workers", privateKey, publicKey, organizationId: fake.organizations[0].id });
    expect(privateKey).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----/);
    expect(host.mode("etc/dokploy-oci/ssh/dokploy_ed25519")).toBe(0o600);

    // Credentials: everything, 0600.
    expect(host.mode("opt/dokploy-credentials.json")).toBe(0o600);
    expect(JSON.parse(host.read("opt/dokploy-credentials.json"))).toEqual({
      admin_email: ADMIN.email,
      api_key: fake.apiKeys[0].key,
      api_key_id: fake.apiKeys[0].id,
      organization_id: fake.organizations[0].id,
      ssh_key_id: fake.sshKeys[0].sshKeyId,
      ssh_public_key: publicKey,
      dashboard_url: `http://${PRIVATE_IP}:3000`,
    });

    // What the token server serves: the worker join command and the public half of the SSH key, nothing else.
    expect(host.mode(STATE_DIR)).toBe(0o700);
    expect(host.read(`${STATE_DIR}/token`)).toBe(`docker swarm join --token ${WORKER_TOKEN} ${PRIVATE_IP}:2377\n`);
    expect(JSON.parse(host.read(`${STATE_DIR}/credentials.json`))).toEqual({ ssh_key_id: fake.sshKeys[0].sshKeyId, public_key: publicKey });
    expect(host.read(`${STATE_DIR}/public-key`)).toBe(`${publicKey}\n`);
    for (const file of ["token", "credentials.json", "public-key"]) expect(host.mode(`${STATE_DIR}/${file}`)).toBe(0o600);

    // The log: 0600, every line timestamped, no secret (nor in stdout/stderr); the session cookie is gone.
    expect(host.mode("var/log/dokploy-manager-setup.log")).toBe(0o600);
    const lines = host.log().trim().split("\n");
    for (const line of lines) expect(line).toMatch(TIMESTAMPED);
    expect(lines[lines.length - 1]).toMatch(/Dokploy manager ready$/);
    expectSecretsAbsent(host, run.output);
    expect(fs.existsSync(host.path("var/lib/dokploy-oci/dokploy-session.cookies"))).toBe(false);
  });

  test("Dokploy slow to come up: keeps polling with growing delays, then succeeds", async () => {
    const host = await makeHost();
    await host.fake.upAfterMs(Infinity);
    const running = runScript(host, BOOTSTRAP);
    await waitFor(() => logSoFar(host).includes("attempt 3/60"), "the third readiness check");
    await host.fake.upAfterMs(0);
    const run = await running;
    expect(run.code).toBe(0);
    const waits = host.log().split("\n").filter((line) => line.includes(`Dokploy at ${host.fake.url}: not ready`));
    expect(waits[0]).toMatch(/not ready \(HTTP 000\); attempt 1\/60, next in 0.02s$/);
    expect(waits[1]).toMatch(/not ready \(HTTP 000\); attempt 2\/60, next in 0.04s$/);
    expect(waits[2]).toMatch(/not ready \(HTTP 000\); attempt 3\/60, next in 0.06s$/);
    expect(host.log()).toContain("Dokploy is up");
    expect(host.fake.apiKeys).toHaveLength(1);
  });

  test("a 5xx in the middle is retried and creates exactly one API key", async () => {
    const host = await makeHost();
    host.fake.failNext("user.createApiKey", 500, 1);
    const run = await runScript(host, BOOTSTRAP);
    expect(run.code).toBe(0);
    expect(procCalls(host, "user.createApiKey")).toHaveLength(2);
    expect(host.fake.apiKeys).toHaveLength(1);
    expect(host.log()).toMatch(/user\.createApiKey: HTTP 500: Injected failure \(HTTP 500\) \(Dokploy may have created it: looked for first\); attempt 1\/8, next in 0.02s$/m);
    expect(JSON.parse(host.read("opt/dokploy-credentials.json")).api_key).toBe(host.fake.apiKeys[0].key);
  });

  test("a re-run after every step finished creates nothing twice and never re-runs the installer", async () => {
    const host = await makeHost();
    expect((await runScript(host, BOOTSTRAP)).code).toBe(0);
    // Worst case of a reboot or crash: the marker and every .done file are gone, only the host state remains.
    fs.rmSync(host.path("opt/dokploy-manager-setup-complete"));
    fs.rmSync(host.path("var/lib/dokploy-oci/manager-steps"), { recursive: true });
    fs.rmSync(host.path(`${STATE_DIR}/credentials.json`));

    const rerun = await runScript(host, BOOTSTRAP);
    expect(rerun.code).toBe(0);
    expect(fs.existsSync(host.path("opt/dokploy-manager-setup-complete"))).toBe(true);
    expect(installerRuns(host)).toHaveLength(1);
    expect(host.fake.users).toHaveLength(1);
    expect(host.fake.apiKeys).toHaveLength(1);
    expect(host.fake.sshKeys).toHaveLength(1);
    expect(procCalls(host, "/api/auth/sign-in/email")).toHaveLength(2);
    const log = host.log();
    expect(log).toContain("Dokploy is installed, not running its installer again");
    expect(log).toContain("Dokploy already has a user");
    expect(log).toContain("API key already saved");
    expect(log).toContain("SSH key 'dokploy-oci-workers' already registered in Dokploy; not creating another");
    expect(JSON.parse(host.read(`${STATE_DIR}/credentials.json`)).ssh_key_id).toBe(host.fake.sshKeys[0].sshKeyId);
    expectSecretsAbsent(host, rerun.output);
  });

  test("a re-run that only lacks the marker checks the saved key and creates nothing", async () => {
    const host = await makeHost();
    expect((await runScript(host, BOOTSTRAP)).code).toBe(0);
    const callsBefore = host.fake.calls.length;
    fs.rmSync(host.path("opt/dokploy-manager-setup-complete"));
    expect((await runScript(host, BOOTSTRAP)).code).toBe(0);
    const calls = host.fake.calls.slice(callsBefore);
    expect(calls.map((call) => `${call.method} ${call.proc}`)).toEqual(["GET settings.health", "GET organization.all"]);
    expect(calls[1].headers["x-api-key"]).toBe(host.fake.apiKeys[0].key);
    expect(host.log()).toContain("the saved API key works");
    expect(fs.existsSync(host.path("opt/dokploy-manager-setup-complete"))).toBe(true);
    // With the marker present the script stops at once.
    expect((await runScript(host, BOOTSTRAP)).code).toBe(0);
    expect(host.log()).toContain("manager setup already complete");
  });

  test("admin already signed up (answer lost): the 422 for the same email counts as done and the run signs in", async () => {
    const host = await makeHost();
    host.fake.seedAdmin(ADMIN);
    const run = await runScript(host, BOOTSTRAP);
    expect(run.code).toBe(0);
    expect(host.fake.users).toHaveLength(1);
    expect(host.log()).toContain(`Dokploy already has a user ${ADMIN.email} (an earlier sign-up finished): signing in instead`);
    expect(host.log()).toContain(`signed in to Dokploy as ${ADMIN.email}`);
    expect(host.fake.apiKeys).toHaveLength(1);
  });

  test("a 4xx stops the run with the status and Dokploy's message, and no secret", async () => {
    const host = await makeHost();
    // Another admin owns this Dokploy: sign-up says 400 'Admin is already created', then sign-in fails.
    host.fake.seedAdmin({ ...ADMIN, email: "someone@example.com" });
    const run = await runScript(host, BOOTSTRAP);
    expect(run.code).not.toBe(0);
    expect(host.log()).toContain("Dokploy admin already exists");
    expect(host.log()).toContain(`ERROR: sign-in as ${ADMIN.email} failed: HTTP 401: Invalid email or password`);
    expect(fs.existsSync(host.path("opt/dokploy-manager-setup-complete"))).toBe(false);
    expect(host.fake.apiKeys).toHaveLength(0);
    expectSecretsAbsent(host, run.output);
  });

  test("a command that fails where nothing expects it (the SSH key's folder is a file) stops the run in that step, unmarked", async () => {
    const host = await makeHost();
    fs.mkdirSync(host.path("etc/dokploy-oci"), { recursive: true });
    fs.writeFileSync(host.path("etc/dokploy-oci/ssh"), "");
    const run = await runScript(host, BOOTSTRAP);
    expect(run.code).not.toBe(0);
    expect(host.log()).toMatch(/ERROR: line \d+: 'mkdir -p "\$\(dirname "\$SSH_KEY"\)"' failed with exit status 1\n/);
    // Nothing after the failed command ran: no SSH key call, no step marked done, no marker.
    expect(procCalls(host, "sshKey.all")).toHaveLength(0);
    expect(fs.existsSync(host.path("var/lib/dokploy-oci/manager-steps/ssh-key.done"))).toBe(false);
    expect(fs.existsSync(host.path("opt/dokploy-manager-setup-complete"))).toBe(false);
    fs.rmSync(host.path("etc/dokploy-oci/ssh"));
    expect((await runScript(host, BOOTSTRAP)).code).toBe(0);
    expect(host.log()).toContain("step admin: already done");
    expect(host.fake.sshKeys).toHaveLength(1);
  });

  test("a saved key that answers 401 is replaced once and deleted; a rejected replacement is never replaced again", async () => {
    const host = await makeHost();
    expect((await runScript(host, BOOTSTRAP)).code).toBe(0);
    const { fake } = host;
    // An older bootstrap's key: rate-limited and used up.
    const old = fake.seedApiKey({ name: "dokploy-oci", organizationId: fake.organizations[0].id });
    old.requestCount = old.rateLimitMax;
    fake.apiKeys.splice(0, 1);
    const credentials = JSON.parse(host.read("opt/dokploy-credentials.json"));
    fs.writeFileSync(host.path("opt/dokploy-credentials.json"), JSON.stringify({ ...credentials, api_key: old.key, api_key_id: old.id }), { mode: 0o600 });

    fs.rmSync(host.path("opt/dokploy-manager-setup-complete"));
    const run = await runScript(host, BOOTSTRAP);
    expect(run.code).toBe(0);
    expect(fake.apiKeys).toHaveLength(1);
    expect(fake.apiKeys[0]).toMatchObject({ rateLimitEnabled: false });
    const saved = JSON.parse(host.read("opt/dokploy-credentials.json"));
    expect(saved).toMatchObject({ api_key: fake.apiKeys[0].key, api_key_id: fake.apiKeys[0].id });
    expect(host.log().match(/is rejected with HTTP 401 .*; replacing it once$/gm)).toHaveLength(1);
    expect(host.log()).toContain(`API key replaced: new id ${fake.apiKeys[0].id}, old key ${old.id} deleted`);
    expectSecretsAbsent(host, run.output);

    // The replacement revoked: the run stops, in words, and creates no third key.
    fake.apiKeys.splice(0);
    fs.rmSync(host.path("opt/dokploy-manager-setup-complete"));
    const stopped = await runScript(host, BOOTSTRAP);
    expect(stopped.code).not.toBe(0);
    expect(host.log()).toContain("created by this script as a replacement) is rejected with HTTP 401; not replacing it again");
    expect(fake.apiKeys).toHaveLength(0);
    expect(procCalls(host, "user.createApiKey")).toHaveLength(2);
  });

  test("the worker join command is published before any Dokploy API call", async () => {
    const host = await makeHost();
    await host.fake.upAfterMs(Infinity);
    const running = runScript(host, BOOTSTRAP);
    await waitFor(() => logSoFar(host).includes("attempt 1/"), "the first readiness check");
    expect(host.read(`${STATE_DIR}/token`)).toContain(WORKER_TOKEN);
    expect(host.fake.calls).toHaveLength(0);
    await host.fake.upAfterMs(0);
    expect((await running).code).toBe(0);
    const log = host.log();
    expect(log.indexOf("step publish-join-token: done")).toBeLessThan(log.indexOf("step admin: start"));
  });

  test("Dokploy never comes up: the run fails after the configured budget, with a clear line and no marker", async () => {
    const host = await makeHost({ wait: { maxAttempts: 4 } });
    host.fake.setReady(false);
    const run = await runScript(host, BOOTSTRAP);
    expect(run.code).not.toBe(0);
    expect(procCalls(host, "settings.health")).toHaveLength(4);
    expect(host.log()).toContain(`ERROR: Dokploy at ${host.fake.url}: not ready (HTTP 502); gave up after 4 attempts`);
    expect(fs.existsSync(host.path("opt/dokploy-manager-setup-complete"))).toBe(false);
    // Workers could already join the swarm.
    expect(fs.existsSync(host.path(`${STATE_DIR}/token`))).toBe(true);
    expect(host.fake.users).toHaveLength(0);
  });

  test("a node.json without a required key stops the run at once with a line naming the key", async () => {
    const host = await makeHost({ config: { swarm: { defaultAddrPoolMaskLength: 24 } } });
    const run = await runScript(host, BOOTSTRAP);
    expect(run.code).not.toBe(0);
    expect(host.log()).toMatch(/ERROR: \S+node\.json: swarm\.defaultAddrPool is missing or invalid\n/);
    expect(host.stubCalls()).toEqual([]);
  });

  test("a pinned Dokploy version reaches the installer", async () => {
    const host = await makeHost();
    const config = JSON.parse(host.read("etc/dokploy-oci/node.json"));
    config.dokploy.version = "v0.30.1";
    fs.writeFileSync(host.path("etc/dokploy-oci/node.json"), JSON.stringify(config));
    expect((await runScript(host, BOOTSTRAP)).code).toBe(0);
    expect(installerRuns(host)[0]).toMatch(/ DOKPLOY_VERSION=v0\.30\.1$/);
  });

  test("control characters in a value (here the admin email in node.json) reach the log escaped, never raw", async () => {
    const host = await makeHost();
    const config = JSON.parse(host.read("etc/dokploy-oci/node.json"));
    // An ESC sequence that would clear a terminal, an OSC title with a BEL, DEL: as if the rule had been bypassed.
    config.dokploy.adminEmail = "\u001b[2J\u001b]0;pwned\u0007ad\u007fmin@example.com";
    fs.writeFileSync(host.path("etc/dokploy-oci/node.json"), JSON.stringify(config));
    const run = await runScript(host, BOOTSTRAP);
    expect(run.code).toBe(0);
    for (const text of [host.log(), run.output]) {
      expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f]/);
      // (bash shows DEL as \001\177: its own quoting byte, escaped too)
      expect(text).toMatch(/\$'Dokploy admin \\E\[2J\\E\]0;pwned\\aad(\\001)?\\177min@example\.com created'/);
    }
    // Lines without control characters are unchanged.
    expect(host.log()).toMatch(/Z Dokploy manager ready\n/);
  });

  test("the systemd unit runs the bootstrap at every boot until the marker exists", () => {
    const unit = fs.readFileSync(path.join(REPO, "templates/manager/dokploy-manager-setup.service"), "utf8");
    expect(unit).toContain("ConditionPathExists=!/opt/dokploy-manager-setup-complete");
    expect(unit).toContain(`ExecStart=/${BOOTSTRAP}`);
    expect(unit).toMatch(/^Type=oneshot$/m);
    expect(unit).toMatch(/^WantedBy=multi-user.target$/m);
  });
});

describe("harden.sh", () => {
  // The INPUT rules these ports become, on the real iptables with real connections: __tests__/firewall/host-ports.test.ts.
  const hostPorts = [
    { protocol: "tcp", port: 80, sources: ["0.0.0.0/0"] },
    { protocol: "tcp", port: 2377, sources: ["10.0.0.0/24"] },
    { protocol: "udp", port: 4789, sources: ["10.0.0.0/24"] },
    { protocol: "udp", port: 7946, sources: ["10.0.0.0/24", "10.0.1.0/24"] },
    { protocol: "esp", sources: ["10.0.0.0/24"] },
  ];
  const chain = (host: Host, name: string) => host.read(`.stub-state/iptables/${name}`).trim().split("\n");
  const METADATA_JUMP = "-d 169.254.169.254/32 -p tcp ! --dport 53 -m comment --comment dokploy-oci -j DOKPLOY-METADATA";
  const REFUSE_USERS = "-p tcp -m owner --socket-exists ! --uid-owner 0 -j REJECT --reject-with tcp-reset";
  const REFUSE_CONTAINERS = "-p tcp -m cgroup --path /dokploy_containers.slice -j REJECT --reject-with tcp-reset";
  const REFUSE_BRIDGED = "-d 169.254.169.254/32 -p tcp ! --dport 53 -m comment --comment dokploy-oci -j REJECT --reject-with tcp-reset";

  test("twice: no duplicates, same files, metadata blocked, sshd key-only", async () => {
    const host = await makeHost({ config: { hostPorts } });
    const first = await runScript(host, HARDEN);
    expect(first.code).toBe(0);
    expect(first.output).toContain("iptables: INPUT accepts esp/- from 10.0.0.0/24");
    // The metadata service: our jump before the image's InstanceServices (which accepts it for all), users refused
    // by owner, host-network containers by their slice, bridged ones in DOCKER-USER; DNS (port 53) left alone.
    expect(chain(host, "OUTPUT")).toEqual([METADATA_JUMP, "-d 169.254.0.0/16 -j InstanceServices"]);
    expect(chain(host, "DOKPLOY-METADATA")).toEqual([REFUSE_USERS, REFUSE_CONTAINERS]);
    expect(chain(host, "DOCKER-USER")).toEqual([REFUSE_BRIDGED]);
    // The slice exists before its cgroup rule, and Docker starts every container under it.
    const calls = host.stubCalls();
    expect(calls.indexOf("systemctl start dokploy_containers.slice")).toBeLessThan(calls.findIndex((line) => line.includes("-A DOKPLOY-METADATA -p tcp -m cgroup")));
    expect(JSON.parse(host.read("etc/docker/daemon.json"))).toEqual({ "cgroup-parent": "dokploy_containers.slice" });
    expect(calls).toContain("systemctl enable dokploy-metadata-guard.service");
    expect(host.stubCalls()).toContain("netfilter-persistent save");
    expect(fs.readdirSync(host.path(".stub-state/iptables.saved")).sort()).toEqual(["DOCKER-USER", "DOKPLOY-METADATA", "FORWARD", "INPUT", "InstanceServices", "OUTPUT"]);
    const dropIn = host.read("etc/ssh/sshd_config.d/00-hardening.conf");
    for (const line of [
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "AuthenticationMethods publickey",
      "PermitRootLogin prohibit-password",
      "MaxAuthTries 3",
      "X11Forwarding no",
    ]) {
      expect(dropIn.split("\n")).toContain(line);
    }
    expect(host.stubCalls()).toEqual(expect.arrayContaining(["sshd -t", "systemctl try-reload-or-restart ssh", "systemctl enable fail2ban", "systemctl start fail2ban"]));
    expect(first.output).toContain("fail2ban: running");

    const dropInMtime = fs.statSync(host.path("etc/ssh/sshd_config.d/00-hardening.conf")).mtimeMs;
    const callsAfterFirst = host.stubCalls().length;
    const second = await runScript(host, HARDEN);
    expect(second.code).toBe(0);
    expect(chain(host, "DOCKER-USER")).toHaveLength(1);
    expect(chain(host, "OUTPUT")).toHaveLength(2);
    expect(chain(host, "DOKPLOY-METADATA")).toHaveLength(2);
    const secondCalls = host.stubCalls().slice(callsAfterFirst);
    expect(secondCalls.filter((line) => / -[IAN] /.test(line))).toEqual([]);
    expect(secondCalls).not.toContain("netfilter-persistent save");
    expect(secondCalls).not.toContain("systemctl try-reload-or-restart ssh");
    // Enabled already: not enabled again (each enable reloads systemd), only made sure it runs.
    expect(secondCalls.filter((line) => line.includes("fail2ban") && line.startsWith("systemctl "))).toEqual(["systemctl is-enabled --quiet fail2ban", "systemctl start fail2ban"]);
    expect(fs.statSync(host.path("etc/ssh/sshd_config.d/00-hardening.conf")).mtimeMs).toBe(dropInMtime);
    expect(second.output).toContain("iptables: nothing to change");

    // Never a flush, never the boot volume's InstanceServices chain, never UFW.
    for (const line of host.stubCalls()) expect(line).not.toMatch(/ -F|-X|InstanceServices|ufw/);
    for (const line of `${first.output}${second.output}`.trim().split("\n")) expect(line).toMatch(TIMESTAMPED);
  });

  test("containers keep the metadata service when blockContainerMetadata is off; unprivileged users do not", async () => {
    const host = await makeHost({ config: { blockContainerMetadata: false } });
    expect((await runScript(host, HARDEN)).code).toBe(0);
    expect(fs.existsSync(host.path(".stub-state/iptables/DOCKER-USER"))).toBe(false);
    expect(fs.existsSync(host.path("etc/docker/daemon.json"))).toBe(false);
    expect(chain(host, "OUTPUT")[0]).toBe(METADATA_JUMP);
    expect(chain(host, "DOKPLOY-METADATA")).toEqual([REFUSE_USERS]);
  });

  test("at boot (--metadata-only): only the metadata rules, saved; Docker's other settings kept; again changes nothing", async () => {
    const host = await makeHost();
    fs.mkdirSync(host.path("etc/docker"), { recursive: true });
    fs.writeFileSync(host.path("etc/docker/daemon.json"), JSON.stringify({ "log-driver": "journald" }));
    const first = await runScript(host, HARDEN, ["--metadata-only"]);
    expect(first.code).toBe(0);
    expect(chain(host, "OUTPUT")).toEqual([METADATA_JUMP, "-d 169.254.0.0/16 -j InstanceServices"]);
    expect(chain(host, "DOKPLOY-METADATA")).toEqual([REFUSE_USERS, REFUSE_CONTAINERS]);
    expect(chain(host, "DOCKER-USER")).toEqual([REFUSE_BRIDGED]);
    expect(JSON.parse(host.read("etc/docker/daemon.json"))).toEqual({ "log-driver": "journald", "cgroup-parent": "dokploy_containers.slice" });
    expect(host.stubCalls()).toContain("netfilter-persistent save");
    // Nothing else of the hardening: no sshd, no apt, no INPUT rule.
    expect(host.stubCalls().filter((line) => /sshd|apt-get|fail2ban|INPUT/.test(line))).toEqual([]);
    const before = host.stubCalls().length;
    expect((await runScript(host, HARDEN, ["--metadata-only"])).code).toBe(0);
    expect(host.stubCalls().slice(before).filter((line) => / -[IAN] |persistent save/.test(line))).toEqual([]);
  });

  test("a host without cgroup v2 fails loudly, with unprivileged users already refused", async () => {
    const host = await makeHost();
    fs.mkdirSync(host.path(".stub-state/systemctl"), { recursive: true });
    fs.writeFileSync(host.path(".stub-state/systemctl/dokploy_containers.slice.broken"), "");
    const run = await runScript(host, HARDEN);
    expect(run.code).not.toBe(0);
    expect(run.output).toContain("ERROR: containers cannot be kept from the metadata service: this host does not use cgroup v2");
    expect(chain(host, "OUTPUT")[0]).toBe(METADATA_JUMP);
    expect(chain(host, "DOKPLOY-METADATA")).toEqual([REFUSE_USERS]);
  });

  test("fail2ban that crashes at start (Ubuntu 24.04 + Python 3.12) is a loud warning, not a failure", async () => {
    const host = await makeHost();
    fs.mkdirSync(host.path(".stub-state/systemctl"), { recursive: true });
    fs.writeFileSync(host.path(".stub-state/systemctl/fail2ban.broken"), "");
    const run = await runScript(host, HARDEN);
    expect(run.code).toBe(0);
    expect(run.output).toMatch(/WARNING: fail2ban is installed but NOT running/);
    expect(run.output).toContain("hardening done");
  });

  test("an image without /etc/iptables (some Ubuntu 24.04 images): created, and the rules saved into it", async () => {
    const host = await makeHost();
    expect(fs.existsSync(host.path("etc/iptables"))).toBe(false);
    const run = await runScript(host, HARDEN);
    expect(run.code).toBe(0);
    expect(run.output).toContain("iptables: rules saved for the next boot");
    expect(fs.readdirSync(host.path("etc/iptables")).sort()).toEqual(["rules.v4", "rules.v6"]);
  });

  test("an sshd drop-in that sshd rejects is removed and fails the run", async () => {
    const host = await makeHost();
    fs.mkdirSync(host.path(".stub-state"), { recursive: true });
    fs.writeFileSync(host.path(".stub-state/sshd-invalid"), "");
    const run = await runScript(host, HARDEN);
    expect(run.code).not.toBe(0);
    expect(fs.existsSync(host.path("etc/ssh/sshd_config.d/00-hardening.conf"))).toBe(false);
    expect(host.stubCalls()).not.toContain("systemctl try-reload-or-restart ssh");
    expect(run.output).toContain("ERROR: sshd rejected");
  });
});
