/**
 * The programs and units in templates/ land on the nodes byte for byte, so a path or default that lib/ writes down
 * and a host program also needs is written there a second time (python, bash and systemd cannot import TypeScript).
 * The copies below are held to lib/'s: changing one side alone fails this file instead of a node. The python values
 * are read from the shipped source (its module-level constants, evaluated from literals alone, and its --config
 * default), the shell ones from its top-level assignments; no program is run. Patterns (the reconciler's pool entry,
 * hostnames) are left to the behaviour tests: two regex dialects cannot be compared by their text.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  DOCKER_SOCKET,
  DOKPLOY_PORT,
  HOST_LIBRARY_PATH,
  NODE_CONFIG_PATH,
  NODE_CONFIG_READER_PATH,
  RELEASE_STATE_PATH,
  TOKEN_SERVER_STATE_DIR,
  TRPC_NULL_INPUT,
  WORKER_SERVER_TYPES,
} from "../../lib/host-contract";
import { IHostRelease, LOADER_CONFIG_PATH, LOADER_PATH, releaseNodeConfig, RELEASES_HOME } from "../../lib/host-release";
import { MIN_SECRET_LENGTH } from "../../lib/secret";
import { readHostFile, templatePath } from "../../lib/templates";
import { MAX_POOL_WORKERS } from "../../lib/worker-identity";

/**
 * Prints a python file's module-level constants as JSON: each top-level `NAME = value` whose value can be computed
 * from literals and the constants before it (ROOT is "": DOKPLOY_OCI_ROOT is unset), patterns as their text, and the
 * default of its `--config` argument as "--config". Values computed by the program's functions are left out.
 */
const CONSTANTS_PROGRAM = `
import ast, json, os, re, sys, urllib.parse
source = ast.parse(open(sys.argv[1]).read())
scope = {"os": os, "re": re, "json": json, "urllib": urllib}
found = {}
def keep(name, node):
    try:
        value = eval(compile(ast.Expression(node), sys.argv[1], "eval"), scope)
    except Exception:
        return
    scope[name] = value
    value = value.pattern if isinstance(value, re.Pattern) else value
    try:
        json.dumps(value)
    except TypeError:
        return
    found[name] = value
for statement in source.body:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1 and isinstance(statement.targets[0], ast.Name):
        keep(statement.targets[0].id, statement.value)
for call in ast.walk(source):
    if isinstance(call, ast.Call) and getattr(call.func, "attr", None) == "add_argument" and call.args and getattr(call.args[0], "value", None) == "--config":
        keep("--config", next(keyword.value for keyword in call.keywords if keyword.arg == "default"))
print(json.dumps(found))
`;

function pythonConstants(file: string): Record<string, unknown> {
  const env = { ...process.env };
  delete env.DOKPLOY_OCI_ROOT;
  return JSON.parse(execFileSync("python3", ["-c", CONSTANTS_PROGRAM, file], { env, encoding: "utf8" }));
}

/** A shell script's top-level `NAME=value` assignments, `$ROOT` as "" (DOKPLOY_OCI_ROOT unset, as on a node). */
function shellAssignments(template: string): Record<string, string> {
  const found: Record<string, string> = {};
  for (const [, name, value] of readHostFile(template).matchAll(/^([A-Z_]+)=(\S*)$/gm)) found[name] = value.replace(/\$\{?ROOT\}?/g, "");
  return found;
}

/** A unit's `Key=` values, in order (the unit as it lands on a node). */
function unitValues(template: string, key: string): string[] {
  return readHostFile(template)
    .split("\n")
    .filter((line) => line.startsWith(`${key}=`))
    .map((line) => line.slice(key.length + 1));
}

/** [template, the name it uses (a dict's key after a dot), lib's name, lib's value]. */
const PYTHON_COPIES: ReadonlyArray<readonly [string, string, string, unknown]> = [
  ["common/release-agent.py", "CONFIG_FILE", "NODE_CONFIG_PATH", NODE_CONFIG_PATH],
  ["common/usage-sampler.py", "CONFIG_FILE", "NODE_CONFIG_PATH", NODE_CONFIG_PATH],
  ["manager/backups.py", "CONFIG_FILE", "NODE_CONFIG_PATH", NODE_CONFIG_PATH],
  ["manager/dokploy-setup.py", "CONFIG_FILE", "NODE_CONFIG_PATH", NODE_CONFIG_PATH],
  ["manager/register-workers.py", "--config", "NODE_CONFIG_PATH", NODE_CONFIG_PATH],
  ["manager/token-server.py", "--config", "NODE_CONFIG_PATH", NODE_CONFIG_PATH],
  ["common/release-agent.py", "STATE_FILE", "RELEASE_STATE_PATH", RELEASE_STATE_PATH],
  ["common/release-agent.py", "HOME", "RELEASES_HOME", RELEASES_HOME],
  ["manager/register-workers.py", "DOCKER_SOCKET", "DOCKER_SOCKET", DOCKER_SOCKET],
  ["manager/register-workers.py", "NULL_INPUT", "TRPC_NULL_INPUT", TRPC_NULL_INPUT],
  ["manager/register-workers.py", "MAX_POOL_SIZE", "MAX_POOL_WORKERS", MAX_POOL_WORKERS],
  ["manager/register-workers.py", "SERVER_TYPES", "WORKER_SERVER_TYPES", WORKER_SERVER_TYPES],
  ["manager/token-server.py", "MIN_SECRET_LENGTH", "MIN_SECRET_LENGTH", MIN_SECRET_LENGTH],
  ["manager/dokploy-setup.py", "DASHBOARD_PORT", "DOKPLOY_PORT", DOKPLOY_PORT],
  // The programs the agent may name in a unit it links: the release's bin/.
  ["common/release-agent.py", "PROGRAM", "RELEASES_HOME", `${RELEASES_HOME}/bin/([\\w.-]+)`],
  // The release agent's defaults, for a key node.json's "release" section leaves out: lib's section without the URL.
  ["common/release-agent.py", "DEFAULTS", "releaseNodeConfig", (({ url, ...defaults }) => defaults)(releaseNodeConfig({ url: "" } as IHostRelease))],
];

/** [template, the variable it assigns, lib's name, lib's value]. */
const SHELL_COPIES: ReadonlyArray<readonly [string, string, string, string]> = [
  ["common/host-lib.sh", "CONFIG_FILE", "NODE_CONFIG_PATH", NODE_CONFIG_PATH],
  ["common/host-lib.sh", "NODE_CONFIG", "NODE_CONFIG_READER_PATH", NODE_CONFIG_READER_PATH],
  ["common/loader.sh", "HOME_DIR", "RELEASES_HOME", RELEASES_HOME],
  ["common/loader.sh", "CONFIG", "LOADER_CONFIG_PATH", LOADER_CONFIG_PATH],
];

/** The scripts that source the shared library. */
const LIBRARY_USERS = ["common/harden.sh", "common/docker-cleanup.sh", "common/tailscale-up.sh", "manager/bootstrap.sh", "worker/bootstrap.sh"];

describe("the host programs' copies of lib/'s paths and defaults", () => {
  const constants = new Map<string, Record<string, unknown>>();
  const of = (template: string) => {
    if (!constants.has(template)) constants.set(template, pythonConstants(templatePath(template)));
    return constants.get(template)!;
  };

  test.each(PYTHON_COPIES)("%s: %s is lib's %s", (template, name, _libName, expected) => {
    const value = name.split(".").reduce<unknown>((found, key) => (found as Record<string, unknown> | undefined)?.[key], of(template));
    expect(value).toEqual(expected);
  });

  test.each(SHELL_COPIES)("%s: %s is lib's %s", (template, name, _libName, expected) => {
    expect(shellAssignments(template)[name]).toBe(expected);
  });

  test.each(LIBRARY_USERS)("%s sources the library at lib's HOST_LIBRARY_PATH", (template) => {
    expect(readHostFile(template).split("\n").filter((line) => line.startsWith("source "))).toEqual([`source "\${DOKPLOY_OCI_ROOT:-}${HOST_LIBRARY_PATH}"`]);
  });

  test("the first release's unit runs the loader until the agent's state file exists", () => {
    expect(unitValues("common/dokploy-release-install.service", "ConditionPathExists")).toEqual([`!${RELEASE_STATE_PATH}`]);
    expect(unitValues("common/dokploy-release-install.service", "ExecStart")).toEqual([LOADER_PATH]);
  });

  test("the token server's sandbox may write its state folder, and only that", () => {
    expect(unitValues("manager/dokploy-token-server.service", "ReadWritePaths")).toEqual([TOKEN_SERVER_STATE_DIR]);
  });

  test("the reconciler's sandbox may write the token server's folder (workers.json), its lock and its state", () => {
    const [writable, ...others] = unitValues("manager/dokploy-register-workers.service", "ReadWritePaths");
    expect(others).toEqual([]);
    const reconciler = of("manager/register-workers.py");
    for (const written of [TOKEN_SERVER_STATE_DIR, reconciler.LOCK_FILE, reconciler.STATE_FILE]) expect(`${written}`.startsWith(`${writable}/`)).toBe(true);
  });

  test("the Docker cleanup runs only where Docker's socket is", () => {
    expect(unitValues("common/dokploy-docker-cleanup.service", "ConditionPathExists")).toEqual([DOCKER_SOCKET]);
  });

  test("the reader can fail: a constant computed by the program is left out, a changed literal is read as written", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dokploy-oci-contract-"));
    try {
      const file = path.join(dir, "program.py");
      fs.writeFileSync(
        file,
        'import os\nROOT = os.environ.get("DOKPLOY_OCI_ROOT", "")\nSTATE_FILE = f"{ROOT}/var/lib/elsewhere.json"\n' +
          "NODE = load_config()\ndef main(parser):\n    parser.add_argument(\"--config\", default=ROOT + \"/etc/x.json\")\n",
      );
      expect(pythonConstants(file)).toEqual({
        ROOT: "",
        STATE_FILE: "/var/lib/elsewhere.json",
        "--config": "/etc/x.json",
      });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
