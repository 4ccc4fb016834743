/**
 * The host scripts' shared parts one function at a time: a script is sourced (its main only runs when it is executed,
 * not sourced) under a temp root ($DOKPLOY_OCI_ROOT) holding the shipped library, and one function is called:
 * host-lib.sh's steps, backoff and node.json reader, and a check of the worker bootstrap.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { NODE_CONFIG_PATH } from "../../lib/host-contract";
import { installHostLibrary, shippedScript } from "../../sandbox/shipped";

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) fs.rmSync(root, { recursive: true, force: true });
});

function makeRoot(config: object = {}): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "dokploy-oci-steps-"));
  roots.push(root);
  installHostLibrary(root);
  fs.mkdirSync(path.join(root, path.dirname(NODE_CONFIG_PATH)), { recursive: true });
  fs.writeFileSync(path.join(root, NODE_CONFIG_PATH), JSON.stringify(config), { mode: 0o600 });
  return root;
}

/** Sources `script` (a shipped template, or the library) in strict mode and runs `body`; its exit code and output. */
function sourced(root: string, script: string, body: string): { code: number | null; output: string } {
  const file = script === "common/host-lib.sh" ? path.join(root, "opt/dokploy-oci/lib/host-lib.sh") : shippedScript(script);
  const run = spawnSync("bash", ["-c", `set -Eeuo pipefail\nsource "$1"\n${body}`, "test", file], {
    env: { ...process.env, DOKPLOY_OCI_ROOT: root },
    encoding: "utf8",
  });
  return { code: run.status, output: run.stdout + run.stderr };
}

const TIMESTAMPED = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ /;
const messages = (output: string) => output.trim().split("\n").map((line) => line.replace(TIMESTAMPED, ""));

describe("host-lib.sh", () => {
  test("run_step with STEPS_DIR: runs and marks a step, skips it once marked; a failed step stops the run unmarked", () => {
    const root = makeRoot();
    const steps = path.join(root, "steps");
    fs.mkdirSync(steps);
    const body = `STEPS_DIR=${steps}\nrun_step one echo ran one\nrun_step two false\necho not reached`;
    const first = sourced(root, "common/host-lib.sh", body);
    expect(first.code).toBe(1);
    expect(messages(first.output)).toEqual(["step one: start", "ran one", "step one: done", "step two: start"]);
    expect(fs.readdirSync(steps)).toEqual(["one.done"]);
    const second = sourced(root, "common/host-lib.sh", body);
    expect(messages(second.output)).toEqual(["step one: already done", "step two: start"]);
  });

  test("run_step without STEPS_DIR: the step runs every time and leaves no marker", () => {
    const root = makeRoot();
    for (let run = 0; run < 2; run++) {
      const out = sourced(root, "common/host-lib.sh", "run_step check echo checked the host");
      expect(out.code).toBe(0);
      expect(messages(out.output)).toEqual(["step check: start", "checked the host", "step check: done"]);
    }
  });

  test("config_read: a value by its dotted key, the default only when the key is absent, an error naming a missing key", () => {
    const root = makeRoot({ swarm: { managerAddress: "10.0.0.10" }, join: { waitSeconds: 0.5 }, empty: "" });
    const read = sourced(root, "common/host-lib.sh", 'config_read A swarm.managerAddress\nconfig_read B join.waitSeconds 55\nconfig_read C join.maxDelaySeconds 15\necho "$A|$B|$C"');
    expect(read).toEqual({ code: 0, output: "10.0.0.10|0.5|15\n" });
    for (const key of ["swarm.defaultAddrPool", "empty"]) {
      const missing = sourced(root, "common/host-lib.sh", `config_read A ${key}\necho not reached`);
      expect(missing.code).toBe(1);
      expect(messages(missing.output)).toEqual([`ERROR: ${path.join(root, NODE_CONFIG_PATH)}: ${key} is missing or invalid`]);
    }
  });

  test("backoff_delay: INITIAL doubling per attempt up to CAP; with jitter, uniform below that", () => {
    const root = makeRoot();
    const plain = sourced(root, "common/host-lib.sh", "for n in 1 2 3 4 5; do backoff_delay $n 0.05 0.5; done");
    expect(plain.output.trim().split("\n").map(Number)).toEqual([0.05, 0.1, 0.2, 0.4, 0.5]);
    // Attempt 3 of initial 1: at most 4 s; attempt 10 of initial 1, cap 15: at most 15 s (512 without the cap).
    const out = sourced(root, "common/host-lib.sh", "for i in $(seq 200); do backoff_delay 3 1 15 jitter; backoff_delay 10 1 15 jitter; done");
    const delays = out.output.trim().split("\n").map(Number);
    expect(delays).toHaveLength(400);
    const third = delays.filter((_, index) => index % 2 === 0);
    const tenth = delays.filter((_, index) => index % 2 === 1);
    for (const delay of third) expect(delay >= 0 && delay <= 4).toBe(true);
    for (const delay of tenth) expect(delay >= 0 && delay <= 15).toBe(true);
    // Jittered: spread over the range, not one fixed value.
    expect(Math.max(...tenth)).toBeGreaterThan(7.5);
    expect(new Set(tenth).size).toBeGreaterThan(100);
  });

  test("node-config.py reads JSON by key from stdin too, lists and booleans as JSON", () => {
    const root = makeRoot();
    const run = (input: string, ...args: string[]) =>
      spawnSync("python3", [path.join(root, "opt/dokploy-oci/lib/node-config.py"), "-", ...args], { input, encoding: "utf8" });
    expect(run('{"BackendState": "Running"}', "BackendState").stdout).toBe("Running\n");
    expect(run('{"t": {"tags": ["tag:a", "tag:b"], "ssh": true}}', "t.tags").stdout).toBe('["tag:a","tag:b"]\n');
    expect(run('{"t": {"ssh": true}}', "t.ssh").stdout).toBe("true\n");
    const missing = run("{}", "BackendState");
    expect([missing.status, missing.stderr]).toEqual([1, "-: BackendState is missing or invalid\n"]);
  });
});

describe("a bootstrap loaded alone", () => {
  const join = (address: string) => `docker swarm join --token SWMTKN-1-${"a".repeat(50)}-${"b".repeat(25)} ${address}:2377\n`;

  test("the worker's join_command_valid takes the token and address of its own manager's command only", () => {
    const root = makeRoot();
    const answer = path.join(root, "answer");
    fs.writeFileSync(answer, join("10.0.0.10"));
    const ours = sourced(root, "worker/bootstrap.sh", `MANAGER_ADDRESS=10.0.0.10\njoin_command_valid "${answer}"\necho "$JOIN_TOKEN $JOIN_ADDRESS"`);
    expect(ours).toEqual({ code: 0, output: `SWMTKN-1-${"a".repeat(50)}-${"b".repeat(25)} 10.0.0.10\n` });
    fs.writeFileSync(answer, join("10.0.0.99"));
    const theirs = sourced(root, "worker/bootstrap.sh", `MANAGER_ADDRESS=10.0.0.10\nif join_command_valid "${answer}"; then echo accepted; fi`);
    expect(theirs.code).toBe(0);
    expect(messages(theirs.output)).toEqual(["join command names 10.0.0.99, not this cluster's manager 10.0.0.10; not running it"]);
    // Sourcing ran no main: no log file, no marker.
    expect(fs.existsSync(path.join(root, "var/log/dokploy-worker-setup.log"))).toBe(false);
  });

  test("the manager's api_steps_pending: pending until the four API steps are marked", () => {
    const root = makeRoot();
    const steps = path.join(root, "var/lib/dokploy-oci/manager-steps");
    fs.mkdirSync(steps, { recursive: true });
    const pending = () => sourced(root, "manager/bootstrap.sh", "if api_steps_pending; then echo pending; else echo done; fi").output;
    for (const step of ["admin", "api-key", "restore"]) {
      fs.writeFileSync(path.join(steps, `${step}.done`), "");
      expect(pending()).toBe("pending\n");
    }
    fs.writeFileSync(path.join(steps, "ssh-key.done"), "");
    expect(pending()).toBe("done\n");
    expect(fs.existsSync(path.join(root, "var/log/dokploy-manager-setup.log"))).toBe(false);
  });
});
