/**
 * The programs and units in templates/ land on the nodes byte for byte, so a path or default that lib/ writes down
 * and a host program also needs is written there a second time (python and systemd cannot import TypeScript). Each
 * such copy is held to lib/'s here: changing one side alone fails this file instead of a node. The python values are
 * read from the shipped source itself (its module-level constants and its --config default), never by running it.
 */
import { execFileSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { DOCKER_SOCKET, NODE_CONFIG_PATH, RELEASE_STATE_PATH, TOKEN_SERVER_STATE_DIR, TRPC_NULL_INPUT, WORKER_SERVER_TYPES } from "../../lib/host-contract";
import { LOADER_PATH, RELEASE_CHECK_INTERVAL_SECONDS, RELEASE_MAX_BYTES, RELEASE_TAG_KEY, RELEASES_HOME } from "../../lib/host-release";
import { MIN_SECRET_LENGTH } from "../../lib/secret";
import { readHostFile, templatePath } from "../../lib/templates";
import { INSTANCE_METADATA_URL, MAX_POOL_WORKERS } from "../../lib/worker-identity";


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
  // The release agent's defaults, for a key node.json's "release" section leaves out.
  ["common/release-agent.py", "DEFAULTS.maxBytes", "RELEASE_MAX_BYTES", RELEASE_MAX_BYTES],
  ["common/release-agent.py", "DEFAULTS.intervalSeconds", "RELEASE_CHECK_INTERVAL_SECONDS", RELEASE_CHECK_INTERVAL_SECONDS],
  ["common/release-agent.py", "DEFAULTS.tag", "RELEASE_TAG_KEY", RELEASE_TAG_KEY],
  ["common/release-agent.py", "DEFAULTS.instanceMetadataUrl", "INSTANCE_METADATA_URL", INSTANCE_METADATA_URL],
];

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

  test("the first release's unit runs the loader until the agent's state file exists", () => {
    expect(unitValues("common/dokploy-release-install.service", "ConditionPathExists")).toEqual([`!${RELEASE_STATE_PATH}`]);
    expect(unitValues("common/dokploy-release-install.service", "ExecStart")).toEqual([LOADER_PATH]);
  });

  test("the token server's sandbox may write its state folder, and only that", () => {
    expect(unitValues("manager/dokploy-token-server.service", "ReadWritePaths")).toEqual([TOKEN_SERVER_STATE_DIR]);
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
