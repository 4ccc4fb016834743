/**
 * Every shell script that lands on a host (templates/**\/*.sh), the real-Dokploy preparation script, the real
 * machines' image recipe and lab installers (sandbox/vm), the test runner (scripts/*.sh) and every test stub (any *stubs directory in
 * __tests__/harness or sandbox) passes the real shellcheck.
 * A missing shellcheck fails the suite: a skipped lint would look green while checking nothing.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

const REPO = path.resolve(__dirname, "../..");
const STUB_PARENTS = [path.join(REPO, "__tests__/harness"), path.join(REPO, "sandbox")];

function filesUnder(dir: string, keep: (file: string) => boolean): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.join(entry.parentPath ?? entry.path, entry.name))
    .filter(keep)
    .sort();
}

const templateScripts = filesUnder(path.join(REPO, "templates"), (file) => file.endsWith(".sh"));
// Test tooling that runs as root on the CI machine (prepares the real Dokploy, builds the real machines' image) or on
// the real machines (the lab's installers).
const toolScripts = [path.join(REPO, "__tests__/real-dokploy"), path.join(REPO, "sandbox/vm"), path.join(REPO, "scripts")].flatMap((dir) => filesUnder(dir, (file) => file.endsWith(".sh")));
const stubScripts = STUB_PARENTS.flatMap((parent) =>
  fs
    .readdirSync(parent, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && entry.name.endsWith("stubs"))
    .flatMap((entry) => filesUnder(path.join(parent, entry.name), () => true)),
);

test("shellcheck is installed", () => {
  const probe = spawnSync("shellcheck", ["--version"], { encoding: "utf8" });
  if (probe.error) {
    throw new Error(
      "\n\n*** shellcheck is NOT installed: the host scripts cannot be checked. ***\n" +
        "Install it (Debian/Ubuntu: apt-get install shellcheck) and run the tests again.\n",
    );
  }
  expect(probe.status).toBe(0);
});

test("there are scripts to check", () => {
  expect(templateScripts.map((file) => path.relative(REPO, file))).toEqual(
    expect.arrayContaining(["templates/common/harden.sh", "templates/manager/bootstrap.sh"]),
  );
  expect(stubScripts.length).toBeGreaterThan(0);
  expect(toolScripts.map((file) => path.relative(REPO, file))).toEqual([
    "__tests__/real-dokploy/prepare.sh",
    "sandbox/vm/image/build.sh",
    "sandbox/vm/image/customize.sh",
    "sandbox/vm/installers/docker-install.sh",
    "sandbox/vm/installers/dokploy-install.sh",
    "scripts/test-all.sh",
  ]);
});

test.each([...templateScripts, ...toolScripts, ...stubScripts].map((file) => [path.relative(REPO, file)]))("shellcheck %s", (file) => {
  const result = spawnSync("shellcheck", ["--external-sources", path.join(REPO, file)], { encoding: "utf8" });
  if (result.error) throw new Error(`shellcheck could not run (${result.error.message}): is it installed?`);
  expect(result.stdout + result.stderr).toBe("");
  expect(result.status).toBe(0);
});
