/**
 * Behaviour of templates/common/tailscale-up.sh: the real script under a temp root, with stub tailscale,
 * tailscaled and systemctl first on PATH (harness/tailscale-stubs) and real curl, python3 and sed. The stub
 * installer is served over HTTP on 127.0.0.1, like Tailscale's install.sh would be.
 */
import { createHash, randomBytes } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { cleanupWorkers, makeTempRoot, Running, start, startFileServer } from "../../sandbox/worker";
import { waitFor } from "../../sandbox/wait";
import { installHostLibrary, shippedScript } from "../../sandbox/shipped";


const REPO = path.resolve(__dirname, "../..");
const STUBS = path.join(REPO, "__tests__/harness/tailscale-stubs");
const SCRIPT = shippedScript("common/tailscale-up.sh");
const KEY_FILE = "/etc/dokploy-oci/tailscale.key";
const LOG = "var/log/dokploy-tailscale-up.log";
const TIMESTAMPED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ tailscale: /;
const INSTALLER = fs.readFileSync(path.join(STUBS, "installer/install.sh"), "utf8");
/** Small enough for tests; production uses 5 and 60. */
const FAST_RETRY = { delaySeconds: 0.05, maxDelaySeconds: 0.2 };

afterEach(cleanupWorkers);

interface NodeOptions {
  key?: string;
  keyMode?: number;
  installed?: boolean;
  /** How many `tailscale up` calls fail before one succeeds. */
  upFailures?: number;
  installerUrl?: string;
  tailscale?: Record<string, unknown>;
}

interface UpCall {
  argv: string[];
  keyFile: string;
  keySha256: string;
}

const newKey = (kind = "auth") => `tskey-${kind}-k${randomBytes(6).toString("hex")}CNTRL-${randomBytes(16).toString("hex")}`;
const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

function makeNode(options: NodeOptions = {}) {
  const root = makeTempRoot("dokploy-oci-tailscale-");
  const at = (hostPath: string) => path.join(root, hostPath);
  const key = options.key ?? newKey();
  const config = {
    role: "worker",
    tailscale: {
      authKeyFile: KEY_FILE,
      hostname: "worker-1",
      tags: ["tag:dokploy", "tag:web"],
      ssh: true,
      installerUrl: options.installerUrl ?? "http://127.0.0.1:9/install.sh",
      retry: FAST_RETRY,
      ...options.tailscale,
    },
  };
  fs.mkdirSync(at("etc/dokploy-oci"), { recursive: true });
  fs.writeFileSync(at("etc/dokploy-oci/node.json"), JSON.stringify(config, null, 2), { mode: 0o600 });
  installHostLibrary(root);
  fs.writeFileSync(at(KEY_FILE), `${key}\n`, { mode: options.keyMode ?? 0o600 });
  fs.chmodSync(at(KEY_FILE), options.keyMode ?? 0o600);
  fs.mkdirSync(at(".stub-state/tailscale"), { recursive: true });
  if (options.installed === false) fs.writeFileSync(at(".stub-state/tailscale/not-installed"), "");
  if (options.upFailures) fs.writeFileSync(at(".stub-state/tailscale/up-failures"), `${options.upFailures}\n`);
  const read = (hostPath: string) => (fs.existsSync(at(hostPath)) ? fs.readFileSync(at(hostPath), "utf8") : "");
  const lines = (hostPath: string) => read(hostPath).split("\n").filter((line) => line !== "");
  return {
    root,
    key,
    path: at,
    log: () => read(LOG),
    ups: (): UpCall[] => lines(".stub-state/tailscale/ups.jsonl").map((line) => JSON.parse(line)),
    stubCalls: () => lines("stub-calls.log"),
    /** Every file the run left under the root, concatenated: the log, the stubs' records, state. */
    everything: () => listFiles(root).filter((file) => file !== at(KEY_FILE)).map((file) => fs.readFileSync(file, "utf8")).join("\n"),
    run: (): Running =>
      start("bash", [SCRIPT], { ...process.env, PATH: `${STUBS}:${process.env.PATH}`, DOKPLOY_OCI_ROOT: root, TMPDIR: at("tmp") }),
  };
}

function listFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath ?? entry.path, entry.name));
}

/** The command lines of every process on the host right now. */
function commandLines(): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      found.push(fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " "));
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/** Runs the script to its end and fails if the key ever showed on a command line meanwhile (visible in ps). */
async function runWatchingCommandLines(node: ReturnType<typeof makeNode>) {
  const run = node.run();
  const argvWithKey: string[] = [];
  const watcher = setInterval(() => argvWithKey.push(...commandLines().filter((line) => line.includes(node.key))), 5);
  const exit = await run.done.finally(() => clearInterval(watcher));
  expect(argvWithKey).toEqual([]);
  return exit;
}

function expectKeyNowhere(node: ReturnType<typeof makeNode>, output: string): void {
  const secretPart = node.key.slice("tskey-auth-".length);
  for (const text of [output, node.everything()]) {
    expect(text).not.toContain(node.key);
    expect(text).not.toContain(secretPart);
  }
}

describe("tailscale-up.sh", () => {
  test("fresh host: installs Tailscale, starts tailscaled, joins once with the key from its file, logs with timestamps", async () => {
    const installer = await startFileServer({ "/install.sh": INSTALLER });
    const node = makeNode({ installed: false, installerUrl: `${installer}/install.sh` });
    const exit = await runWatchingCommandLines(node);
    expect(exit.code).toBe(0);

    expect(node.ups()).toEqual([
      {
        argv: [
          "up",
          `--auth-key=file:${node.path(KEY_FILE)}`,
          "--hostname=worker-1",
          "--reset",
          "--timeout=120s",
          "--advertise-tags=tag:dokploy,tag:web",
          "--ssh",
        ],
        keyFile: node.path(KEY_FILE),
        keySha256: sha256(`${node.key}\n`),
      },
    ]);
    const calls = node.stubCalls();
    const install = calls.indexOf("install.sh");
    const enable = calls.indexOf("systemctl enable --now tailscaled");
    const up = calls.findIndex((line) => line.startsWith("tailscale up "));
    expect(install).toBeGreaterThan(-1);
    expect(enable).toBeGreaterThan(install);
    expect(up).toBeGreaterThan(enable);

    expect(fs.statSync(node.path(LOG)).mode & 0o777).toBe(0o600);
    const lines = node.log().trim().split("\n");
    for (const line of lines) expect(line).toMatch(TIMESTAMPED);
    expect(lines[lines.length - 1]).toMatch(/ joined the tailnet as worker-1 \(100\.101\.102\.103\)$/);
    expect(node.log()).toContain("tailscale up: hostname worker-1, tags tag:dokploy,tag:web, ssh true");
    expectKeyNowhere(node, exit.output);
    // The downloaded installer went with the work dir.
    expect(fs.readdirSync(node.path("tmp"))).toEqual([]);
  });

  test("`up` fails 3 times (printing the key): retries with doubling, capped delays, masks the key, then joins", async () => {
    const node = makeNode({ upFailures: 3 });
    const exit = await runWatchingCommandLines(node);
    expect(exit.code).toBe(0);

    expect(node.ups()).toHaveLength(4);
    for (const call of node.ups()) expect(call.keySha256).toBe(sha256(`${node.key}\n`));
    const log = node.log();
    expect(log.match(/tailscale up: backend error: invalid key: tskey-<masked> is not valid/g)).toHaveLength(3);
    const delays = [...log.matchAll(/attempt (\d+) did not join the tailnet; next attempt in ([\d.]+)s/g)].map((m) => [Number(m[1]), Number(m[2])]);
    expect(delays).toEqual([
      [1, 0.05],
      [2, 0.1],
      [3, 0.2],
    ]);
    expect(log).toMatch(/joined the tailnet as worker-1 \(100\.101\.102\.103\)\n$/);
    expectKeyNowhere(node, exit.output);
    // Not installed again: it was there from the start.
    expect(node.stubCalls()).not.toContain("install.sh");
  });

  test("enabled: false (the ORM form left the key empty): exits 0 at once, installs nothing, runs no `up`", async () => {
    const node = makeNode({ installed: false, tailscale: { enabled: false, hostname: "" } });
    const exit = await node.run().done;
    expect(exit.code).toBe(0);
    expect(node.ups()).toEqual([]);
    expect(node.stubCalls()).toEqual([]);
    expect(exit.output).toMatch(/not enabled for this node/);
  });

  test("re-run on a joined node: no second `up`, no install", async () => {
    const node = makeNode({ tailscale: { ssh: false } });
    expect((await node.run().done).code).toBe(0);
    expect(node.ups()).toHaveLength(1);

    const second = await node.run().done;
    expect(second.code).toBe(0);
    expect(node.ups()).toHaveLength(1);
    expect(node.log().match(/joined the tailnet as worker-1/g)).toHaveLength(2);
    expect(node.stubCalls().filter((line) => line.startsWith("tailscale up"))).toHaveLength(1);
    expectKeyNowhere(node, second.output);
  });

  test("without tags and ssh: neither --advertise-tags nor --ssh; hostname from node.json", async () => {
    const node = makeNode({ tailscale: { tags: [], ssh: false, hostname: "manager" } });
    expect((await node.run().done).code).toBe(0);
    expect(node.ups().map((call) => call.argv)).toEqual([
      ["up", `--auth-key=file:${node.path(KEY_FILE)}`, "--hostname=manager", "--reset", "--timeout=120s"],
    ]);
  });

  test("an OAuth client secret with attributes is passed through the file untouched and masked in output", async () => {
    const key = `${newKey("client")}?ephemeral=false&preauthorized=true`;
    const node = makeNode({ key, upFailures: 1 });
    const exit = await node.run().done;
    expect(exit.code).toBe(0);
    expect(node.ups().map((call) => call.keySha256)).toEqual([sha256(`${key}\n`), sha256(`${key}\n`)]);
    for (const text of [exit.output, node.everything()]) {
      expect(text).not.toContain(key.split("?")[0]);
    }
  });

  test("a key file readable by others is set to 0600 before use, with a warning", async () => {
    const node = makeNode({ keyMode: 0o644 });
    expect((await node.run().done).code).toBe(0);
    expect(fs.statSync(node.path(KEY_FILE)).mode & 0o777).toBe(0o600);
    expect(node.log()).toMatch(/WARNING: .*tailscale\.key was readable by others \(mode 644\); setting it to 0600/);
  });

  test.each([
    ["an OAuth client secret without tags", { key: newKey("client"), tailscale: { tags: [] } }, /holds an OAuth client secret, which can only register tagged nodes; set tailscale.tags/],
    ["a key file that holds no Tailscale key", { key: "not-a-key-0123456789abcdef" }, /does not hold a Tailscale auth key/],
    ["a hostname that is not a DNS label", { tailscale: { hostname: "bad_name" } }, /tailscale.hostname 'bad_name' is not a DNS label/],
    ["a tag without tag:", { tailscale: { tags: ["dokploy"] } }, /tailscale.tags must be a list of "tag:<name>"/],
  ])("refuses %s before any `up`, without showing the key", async (_name, options, message) => {
    const node = makeNode(options as NodeOptions);
    const exit = await node.run().done;
    expect(exit.code).toBe(1);
    expect(exit.output).toMatch(message);
    expect(node.ups()).toEqual([]);
    expect(exit.output + node.everything()).not.toContain(node.key);
  });

  test("missing key file: stops with a message naming it", async () => {
    const node = makeNode();
    fs.rmSync(node.path(KEY_FILE));
    const exit = await node.run().done;
    expect(exit.code).toBe(1);
    expect(node.log()).toMatch(/ERROR: the auth key file .*tailscale\.key is missing or empty/);
    expect(node.ups()).toEqual([]);
  });

  test("installer unreachable: keeps retrying and never runs `up`", async () => {
    const node = makeNode({ installed: false, installerUrl: "http://127.0.0.1:9/install.sh" });
    const run = node.run();
    await waitFor(() => (node.log().match(/did not join the tailnet/g) ?? []).length >= 2, "two failed install attempts");
    const exit = await run.kill();
    expect(exit.signal).toBe("SIGKILL");
    expect(node.log()).toMatch(/installing Tailscale with http:\/\/127\.0\.0\.1:9\/install\.sh/);
    expect(node.log()).toMatch(/curl: curl: \(7\) Failed to connect to 127\.0\.0\.1 port 9/);
    expect(node.ups()).toEqual([]);
  });

  test("a second run while one is running stops at once (flock)", async () => {
    const node = makeNode({ installed: false });
    const first = node.run();
    await waitFor(() => node.log().includes("installing Tailscale"), "the first run to start");
    const second = await node.run().done;
    expect(second.code).toBe(1);
    expect(second.output).toContain("another tailscale-up.sh is running");
    await first.kill();
  });
});
