/**
 * The host release on one node, for real: the loader as user_data carries it (templates/common/loader.sh) fetches
 * a release built like the stack builds it from a stand-in Object Storage at a PAR path (sandbox/object-storage.ts),
 * and the release's agent (release-agent.py) links it, starts the units, then follows the instance's release tag
 * (a fake IMDS) through upgrades and rollbacks. The token server is the real program, started and restarted from
 * its unit file by the stub systemctl (sandbox/release-stubs); its health is checked over HTTP.
 */
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { FakeObjectStorage } from "../../sandbox/object-storage";
import {
  RELEASE_TAG_KEY,
  currentRelease,
  installLoader,
  releaseEnv,
  releaseState,
  releaseWith,
  runAgent,
  runLoader,
  unitPid,
} from "../../sandbox/release";
import { freePort, writeTokenServerConfig } from "../../sandbox/token-server";
import { CHAIN_TEST_LIMIT_MS, WAIT_LIMIT_MS, sleep, waitFor } from "../../sandbox/wait";
import { Running, cleanupWorkers, makeTempRoot, start } from "../../sandbox/worker";
import { shippedScript } from "../../sandbox/shipped";
import { readHostFile } from "../../lib/templates";
import { FakeImds } from "../harness/fake-imds";
import { LOADER_CONFIG_PATH } from "../../lib/host-release";

jest.setTimeout(CHAIN_TEST_LIMIT_MS);

const TOKEN_SERVER = "dokploy-token-server.service";
const A = releaseWith();
// B: a new token server (a changed line), everything else as in A.
const B = releaseWith({ "bin/token-server.py": (text) => text.replace(/^(import .*)$/m, "$1\nRELEASE = 'B'") });
// C: a token server that cannot start.
const C = releaseWith({ "bin/token-server.py": (text) => text.replace(/^(import .*)$/m, "$1\nraise SystemExit('broken release C')") });
/** B plus a unit the manager's role starts: how a new unit (the workers' rejoin timer, say) reaches running nodes. */
const ADDED_UNIT = "dokploy-lab-added.service";
const E = releaseWith({
  "bin/token-server.py": (text) => text.replace(/^(import .*)$/m, "$1\nRELEASE = 'E'"),
  [`systemd/${ADDED_UNIT}`]: "[Unit]\nDescription=a unit release E adds\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
  "roles/manager": (text) => `${text}${ADDED_UNIT}\n`,
});
const D = releaseWith({ "bin/register-workers.py": (text) => text.replace(/^(import .*)$/m, "$1\nRELEASE = 'D'") });

let storage: FakeObjectStorage;
let imds: FakeImds;
let root: string;
let env: NodeJS.ProcessEnv;
let tokenServerPort: number;

const log = () => fs.readFileSync(path.join(root, "var/log/dokploy-manager-setup.log"), "utf8");
const setTag = (sha: string) => (imds.freeformTags = { [RELEASE_TAG_KEY]: sha });
const tokenServerAnswers = async (port: number) => {
  try {
    await fetch(`http://127.0.0.1:${port}/`);
    return true;
  } catch {
    return false;
  }
};

beforeEach(async () => {
  storage = new FakeObjectStorage();
  await storage.start();
  imds = new FakeImds();
  await imds.start();
  for (const release of [A, B, C, D, E]) storage.put(release.objectName, release.bytes);
  root = makeTempRoot("dokploy-oci-release-");
  tokenServerPort = await freePort();
  writeTokenServerConfig({ root, secret: randomBytes(32).toString("hex"), port: tokenServerPort });
  installLoader(root, { sha256: A.sha256, url: storage.url, instanceMetadataUrl: imds.url, intervalSeconds: 0.2, healthSeconds: 20 });
  env = releaseEnv(root, [TOKEN_SERVER], { DOKPLOY_OCI_RETRY_WINDOW: "20" });
});

afterEach(async () => {
  await stopUnits();
  await cleanupWorkers();
  await storage.stop();
  await imds.stop();
});

async function stopUnits(): Promise<void> {
  const pid = root && unitPid(root, TOKEN_SERVER);
  if (pid) {
    try {
      process.kill(-pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
}

async function firstBoot(): Promise<void> {
  const exit = await runLoader(root, env).done;
  expect(exit).toMatchObject({ code: 0 });
}

describe("first boot", () => {
  test("the loader fetches the release release.conf names, checks it, and the agent links it and starts the role's units", async () => {
    // A key the loader does not read changes nothing.
    fs.appendFileSync(path.join(root, LOADER_CONFIG_PATH), "mirror=https://example.com/\n");
    await firstBoot();
    expect(currentRelease(root)).toBe(A.sha256);
    expect(fs.readlinkSync(path.join(root, "opt/dokploy-oci/bin"))).toBe("current/bin");
    expect(fs.readlinkSync(path.join(root, "etc/systemd/system", TOKEN_SERVER))).toBe(path.join(root, "opt/dokploy-oci/current/systemd", TOKEN_SERVER));
    expect(fs.existsSync(path.join(root, "etc/systemd/system/docker.service.d/dokploy-metadata-guard.conf"))).toBe(true);
    const calls = fs.readFileSync(path.join(root, "stub-calls.log"), "utf8").split("\n");
    // One enable for every unit (each enable makes systemd reload, which takes seconds on a small node), then each
    // unit started in the role's order: the token server before the setup that publishes through it.
    expect(calls.filter((call) => call.startsWith("systemctl enable"))).toEqual([
      `systemctl enable ${TOKEN_SERVER} dokploy-manager-setup.service dokploy-register-workers.service dokploy-docker-cleanup.timer dokploy-usage-sampler.service dokploy-release-agent.service`,
    ]);
    expect(calls.filter((call) => call.startsWith("systemctl start"))).toEqual([
      `systemctl start ${TOKEN_SERVER}`,
      "systemctl start --no-block dokploy-manager-setup.service",
      "systemctl start dokploy-register-workers.service",
      "systemctl start dokploy-docker-cleanup.timer",
      "systemctl start dokploy-usage-sampler.service",
      "systemctl start --no-block dokploy-release-agent.service",
    ]);
    expect(releaseState(root)).toMatchObject({ current: A.sha256, switching: null, failed: [] });
    expect(log()).toMatch(new RegExp(`release: release ${A.sha256.slice(0, 12)} verified and unpacked\n.*release: running release ${A.sha256.slice(0, 12)} \\(`));
    await waitFor(() => unitPid(root, TOKEN_SERVER) !== undefined, "the token server's start");
    // Only the release's object was asked for, at the PAR path.
    expect(storage.requests).toEqual([`${new URL(storage.url).pathname}${A.objectName}`]);
  });

  test("Object Storage unreachable: the loader says so and retries; nothing is unpacked until a verified download", async () => {
    await storage.stop();
    const loader = runLoader(root, env);
    await waitFor(() => fs.existsSync(path.join(root, "var/log/dokploy-manager-setup.log")) && /cannot download release/.test(log()), "the first failed download");
    expect(currentRelease(root)).toBeUndefined();
    expect(fs.readdirSync(path.join(root, "opt/dokploy-oci/releases")).filter((name) => !name.startsWith(".partial-"))).toEqual([]);
    storage.failures = 1;
    await storage.start();
    expect((await loader.done).code).toBe(0);
    expect(log()).toMatch(/Object Storage answered HTTP 503; retrying/);
    expect(currentRelease(root)).toBe(A.sha256);
    expect(fs.readdirSync(path.join(root, "opt/dokploy-oci/releases"))).toEqual([A.sha256]);
  });

  test("a download whose sha256 differs, or a release that does not exist, never runs: clear lines, then exit 1", async () => {
    storage.tamper = true;
    const tampered = await runLoader(root, { ...env, DOKPLOY_OCI_RETRY_WINDOW: "3" }).done;
    expect(tampered.code).toBe(1);
    expect(log()).toMatch(/the download's sha256 is [0-9a-f]{64}, not the one release\.conf names: refused, nothing of it runs/);
    expect(log()).toMatch(/ERROR: no verified release .* dokploy-release-install\.service tries again/);
    storage.tamper = false;
    storage.bucket.objects.delete(A.objectName);
    expect((await runLoader(root, { ...env, DOKPLOY_OCI_RETRY_WINDOW: "3" }).done).code).toBe(1);
    expect(log()).toMatch(/does not exist in the releases bucket \(HTTP 404\)/);
    expect(currentRelease(root)).toBeUndefined();
    expect(fs.existsSync(path.join(root, "stub-calls.log"))).toBe(false);
    expect(fs.readdirSync(path.join(root, "opt/dokploy-oci/releases"))).toEqual([]);
  });
});

describe("release.conf, what the loader reads", () => {
  const conf = () => path.join(root, LOADER_CONFIG_PATH);
  // Each case changes one line of the file cloud-init wrote; the loader names the key and the file and fetches nothing.
  test.each([
    ["sha256 missing", (text: string) => text.replace(/^sha256=.*\n/m, ""), "sha256 is missing"],
    ["sha256 in capitals", (text: string) => text.replace(/^sha256=(.*)$/m, (_, sha: string) => `sha256=${sha.toUpperCase()}`), "sha256 must match [0-9a-f]{64}"],
    ["sha256 one digit short", (text: string) => text.replace(/^(sha256=.*).$/m, "$1"), "sha256 must match [0-9a-f]{64}"],
    ["url without its trailing slash", (text: string) => text.replace(/^(url=.*)\/$/m, "$1"), "url must match https?://[^[:space:]]+/"],
    ["url not http(s)", (text: string) => text.replace(/^url=https?:/m, "url=ftp:"), "url must match https?://[^[:space:]]+/"],
    ["downloadTimeoutSeconds not a number", (text: string) => text.replace(/^downloadTimeoutSeconds=.*$/m, "downloadTimeoutSeconds=20s"), "downloadTimeoutSeconds must match"],
    ["maxBytes empty", (text: string) => text.replace(/^maxBytes=.*$/m, "maxBytes="), "maxBytes must match [1-9][0-9]{0,9}"],
  ])("%s: refused in the role's setup log, exit 1, nothing fetched", async (_, change, message) => {
    const url = /^url=(.*)$/m.exec(fs.readFileSync(conf(), "utf8"))![1];
    fs.writeFileSync(conf(), change(fs.readFileSync(conf(), "utf8")));
    const exit = await runLoader(root, env).done;
    expect(exit.code).toBe(1);
    expect(log()).toContain(`release: ERROR: ${conf()}: ${message}`);
    expect(log()).toContain("; nothing is fetched\n");
    // The pre-authenticated URL is a capability: never in a log.
    expect(exit.output + log()).not.toContain(new URL(url).pathname);
    expect(storage.requests).toEqual([]);
    expect(fs.existsSync(path.join(root, "opt/dokploy-oci/releases"))).toBe(false);
    expect(fs.existsSync(path.join(root, "stub-calls.log"))).toBe(false);
  });

  test("no role, an unknown role, no file: said on the loader's output (the unit's journal), nothing fetched", async () => {
    const text = fs.readFileSync(conf(), "utf8");
    for (const [changed, message] of [
      [text.replace(/^role=.*\n/m, ""), "role is missing"],
      [text.replace(/^role=.*$/m, "role=workers"), "role must match manager|worker"],
      [text.replace(/^role=/m, "role "), "role is missing"],
      [undefined, "cannot be read"],
    ] as const) {
      if (changed === undefined) fs.rmSync(conf());
      else fs.writeFileSync(conf(), changed);
      const exit = await runLoader(root, env).done;
      expect(exit).toMatchObject({ code: 1 });
      expect(exit.output).toMatch(new RegExp(`^\\S+ release: ERROR: ${conf()}: ${message.replace(/\|/g, "\\|")}; nothing is fetched\n$`));
    }
    expect(fs.existsSync(path.join(root, "var/log"))).toBe(false);
    expect(storage.requests).toEqual([]);
  });

  test("written as the stack writes it: the role and node.json's values, one key=value a line, 0600", () => {
    const nodeJson = JSON.parse(fs.readFileSync(path.join(root, "etc/dokploy-oci/node.json"), "utf8"));
    expect(fs.readFileSync(conf(), "utf8")).toBe(
      `role=manager\nsha256=${A.sha256}\nurl=${storage.url}\nmaxBytes=${nodeJson.release.maxBytes}\ndownloadTimeoutSeconds=${nodeJson.release.downloadTimeoutSeconds}\n`,
    );
    expect(fs.statSync(conf()).mode & 0o777).toBe(0o600);
  });
});

describe("upgrades in place, from the tag", () => {
  let agent: Running;

  beforeEach(async () => {
    await firstBoot();
    setTag(A.sha256);
    agent = runAgent(root, ["watch"], env);
  });

  afterEach(async () => {
    await agent.kill();
  });

  test("A -> B restarts only the token server; a broken C is rolled back to B; a missing or altered release changes nothing", async () => {
    await waitFor(() => unitPid(root, TOKEN_SERVER) !== undefined, "the token server");
    const pidA = unitPid(root, TOKEN_SERVER);
    setTag(B.sha256);
    await waitFor(() => releaseState(root)?.current === B.sha256, "the switch to B", CHAIN_TEST_LIMIT_MS);
    expect(currentRelease(root)).toBe(B.sha256);
    expect(unitPid(root, TOKEN_SERVER)).not.toBe(pidA);
    expect(await tokenServerAnswers(tokenServerPort)).toBe(true);
    expect(log()).toMatch(new RegExp(`switching from release ${A.sha256.slice(0, 12)} to ${B.sha256.slice(0, 12)} .*restarting: ${TOKEN_SERVER}\n`));
    expect(fs.readFileSync(path.join(root, "stub-calls.log"), "utf8")).not.toMatch(/restart dokploy-register-workers/);

    setTag(C.sha256);
    await waitFor(() => (releaseState(root)?.failed ?? []).includes(C.sha256), "the rollback from C", CHAIN_TEST_LIMIT_MS);
    expect(currentRelease(root)).toBe(B.sha256);
    expect(releaseState(root)).toMatchObject({ current: B.sha256, switching: null });
    expect(log()).toMatch(new RegExp(`ERROR: release ${C.sha256.slice(0, 12)} failed its health check \\(${TOKEN_SERVER} is not active\\); switched back to ${B.sha256.slice(0, 12)}\n`));
    await waitFor(() => /which failed its health check here; staying on/.test(log()), "the agent staying on B");
    expect(await tokenServerAnswers(tokenServerPort)).toBe(true);

    const missing = "f".repeat(64);
    setTag(missing);
    await waitFor(() => /release ffffffffffff does not exist in the releases bucket \(HTTP 404\)/.test(log()), "the missing release");
    expect(currentRelease(root)).toBe(B.sha256);
    // A download whose bytes are not the release the tag names is refused: nothing of it is unpacked or run.
    storage.tamper = true;
    setTag(D.sha256);
    await waitFor(() => new RegExp(`release ${D.sha256.slice(0, 12)}: the download's sha256 is [0-9a-f]{64}: refused, nothing of it runs`).test(log()), "the refused download");
    expect(currentRelease(root)).toBe(B.sha256);
    // Kept: the running release and the one before it.
    expect(fs.readdirSync(path.join(root, "opt/dokploy-oci/releases")).sort()).toEqual([A.sha256, B.sha256].sort());
  });

  test("an upgrade that adds a unit links it, enables and starts it (one enable), and restarts only what changed", async () => {
    const before = fs.readFileSync(path.join(root, "stub-calls.log"), "utf8").length;
    setTag(E.sha256);
    await waitFor(() => releaseState(root)?.current === E.sha256, "the switch to E", CHAIN_TEST_LIMIT_MS);
    expect(fs.readlinkSync(path.join(root, "etc/systemd/system", ADDED_UNIT))).toBe(path.join(root, "opt/dokploy-oci/current/systemd", ADDED_UNIT));
    const calls = fs.readFileSync(path.join(root, "stub-calls.log"), "utf8").slice(before).split("\n");
    expect(calls.filter((call) => /^systemctl (enable|start|restart) /.test(call))).toEqual([
      `systemctl restart ${TOKEN_SERVER}`,
      `systemctl enable ${ADDED_UNIT}`,
      `systemctl start ${ADDED_UNIT}`,
    ]);
    expect(releaseState(root)!.failed).toEqual([]);
  });

  test("two upgrades in a row end on the last; IMDS is read, Object Storage only asked when the tag changes", async () => {
    const before = storage.requests.length;
    await waitFor(() => imds.authorizations.length >= 5, "five tag reads");
    expect(storage.requests.length).toBe(before);
    setTag(B.sha256);
    await waitFor(() => storage.requests.length > before, "B's download");
    setTag(D.sha256);
    await waitFor(() => releaseState(root)?.current === D.sha256, "the switch to D", CHAIN_TEST_LIMIT_MS);
    expect(releaseState(root)!.failed).toEqual([]);
    expect(imds.authorizations.every((header) => header === "Bearer Oracle")).toBe(true);
  });

  test("a release.json a power loss left empty: the agent rebuilds it from the current link, says so, and still upgrades by the tag", async () => {
    // Seen on a real machine whose power was pulled minutes after its first boot: the file was there, 0 bytes.
    await agent.kill();
    fs.writeFileSync(path.join(root, "var/lib/dokploy-oci/release.json"), "");
    setTag(B.sha256);
    agent = runAgent(root, ["watch"], env);
    await waitFor(() => fs.statSync(path.join(root, "var/lib/dokploy-oci/release.json")).size > 0 && releaseState(root)?.current === B.sha256, "the switch to B", CHAIN_TEST_LIMIT_MS);
    expect(log()).toContain(`release.json was unreadable (a power loss while it was written?); rebuilt from the current link: release ${A.sha256.slice(0, 12)}\n`);
    expect(releaseState(root)).toMatchObject({ current: B.sha256, previous: A.sha256, switching: null, failed: [] });
  });

  test("a reboot in the middle of a switch: at the next start the agent goes back to the release it came from", async () => {
    await agent.kill();
    // What a power cut leaves between the switch and its check: the state says switching, current is the new one.
    const fetched = runAgent(root, ["upgrade", B.sha256], env);
    await waitFor(() => Boolean(releaseState(root)?.switching) && currentRelease(root) === B.sha256, "the switch to start");
    await fetched.kill();
    expect(currentRelease(root)).toBe(B.sha256);
    expect((await runAgent(root, ["recover"], env).done).code).toBe(0);
    expect(currentRelease(root)).toBe(A.sha256);
    expect(releaseState(root)).toMatchObject({ current: A.sha256, switching: null, failed: [] });
    expect(log()).toMatch(new RegExp(`a switch to release ${B.sha256.slice(0, 12)} was cut short; back on ${A.sha256.slice(0, 12)}`));
    // Not a failure of B: the tag still names it, so the agent installs it again.
    setTag(B.sha256);
    agent = runAgent(root, ["watch"], env);
    await waitFor(() => releaseState(root)?.current === B.sha256, "B again", CHAIN_TEST_LIMIT_MS);
  });
});

describe("a node set up by dokploy-oci 0.1.0 (programs and units from user_data, no release)", () => {
  test("the one-time adopt installs the release beside the old programs, restarts the running units, starts the agent", async () => {
    // The 0.1.0 layout: programs in /opt/dokploy-oci/bin, units as plain files, node.json without `release`.
    const config = JSON.parse(fs.readFileSync(path.join(root, "etc/dokploy-oci/node.json"), "utf8"));
    delete config.release;
    fs.writeFileSync(path.join(root, "etc/dokploy-oci/node.json"), JSON.stringify(config), { mode: 0o600 });
    fs.mkdirSync(path.join(root, "opt/dokploy-oci/bin"), { recursive: true });
    fs.copyFileSync(shippedScript("manager/token-server.py"), path.join(root, "opt/dokploy-oci/bin/token-server.py"));
    fs.mkdirSync(path.join(root, "etc/systemd/system"), { recursive: true });
    fs.writeFileSync(path.join(root, "etc/systemd/system", TOKEN_SERVER), readHostFile("manager/dokploy-token-server.service"));
    expect((await start("systemctl", ["start", TOKEN_SERVER], env).done).code).toBe(0);
    await waitFor(() => unitPid(root, TOKEN_SERVER) !== undefined, "the old token server");
    const oldPid = unitPid(root, TOKEN_SERVER);

    // What the README's command does: the verified release's own agent, run once.
    const unpacked = makeTempRoot("dokploy-oci-adopt-");
    fs.writeFileSync(path.join(unpacked, "release.tar.gz"), A.bytes);
    expect((await start("tar", ["-xzf", path.join(unpacked, "release.tar.gz"), "-C", unpacked], env).done).code).toBe(0);
    const adopt = await start("python3", [path.join(unpacked, "bin/release-agent.py"), "adopt", A.sha256, storage.url], env).done;
    expect(adopt.output).not.toMatch(/Traceback|ERROR/);
    expect(adopt).toMatchObject({ code: 0 });
    expect(currentRelease(root)).toBe(A.sha256);
    expect(fs.readlinkSync(path.join(root, "opt/dokploy-oci/bin"))).toBe("current/bin");
    expect(fs.existsSync(path.join(root, "opt/dokploy-oci/bin.before-release/token-server.py"))).toBe(true);
    expect(fs.lstatSync(path.join(root, "etc/systemd/system", TOKEN_SERVER)).isSymbolicLink()).toBe(true);
    expect(unitPid(root, TOKEN_SERVER)).not.toBe(oldPid);
    for (const deadline = Date.now() + WAIT_LIMIT_MS; !(await tokenServerAnswers(tokenServerPort)); await sleep(100)) {
      if (Date.now() > deadline) throw new Error("the release's token server never answered");
    }
    expect(fs.readFileSync(path.join(root, "stub-calls.log"), "utf8")).toContain("systemctl enable --now --no-block dokploy-release-agent.service");
    expect(releaseState(root)).toMatchObject({ current: A.sha256, switching: null });
    expect(log()).toMatch(new RegExp(`adopted release ${A.sha256.slice(0, 12)} \\(.*\\); restarted: ${TOKEN_SERVER}`));
    // Later upgrades fetch from the URL it was given (node.json has none).
    expect(JSON.parse(fs.readFileSync(path.join(root, "var/lib/dokploy-oci/release-source.json"), "utf8"))).toEqual({ url: storage.url });
  });
});
