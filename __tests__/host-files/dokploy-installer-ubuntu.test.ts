/**
 * Dokploy v0.30.2 accepts Ubuntu 24.04, proven on its own shell text. The manager's installer
 * (https://dokploy.com/install.sh) lives in Dokploy's website repository, not in the v0.30.2 source tarball
 * (../shared/dokploy); what the tarball ships is the setup script Dokploy runs on servers
 * (packages/server/src/setup/server-setup.ts, `defaultCommand`): its OS checks and its pinned Docker install,
 * the same pin (28.5.0 through get.docker.com) that install.sh uses (research/dokploy.md). This test cuts the OS
 * detection and the Docker step out of that file, unchanged but for the path of os-release, and runs them with bash
 * under stubs (curl, sudo, the get.docker.com script): the branch Ubuntu 24.04 takes installs the pinned Docker, and
 * the release Dokploy refuses (24.10) is refused, so the run tells the two apart.
 */
import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { UBUNTU_VERSIONS } from "../../lib/rules";

const TARBALL = path.join(__dirname, "..", "..", "..", "shared", "dokploy", "dokploy-v0.30.2-src.tar.gz");
const SETUP_FILE = "dokploy-v0.30.2/packages/server/src/setup/server-setup.ts";

let setupSource: string;
let root: string;
beforeAll(() => {
  if (!fs.existsSync(TARBALL)) throw new Error(`Dokploy's source is missing at ${TARBALL}; this test needs ../shared beside the repo`);
  setupSource = execFileSync("tar", ["-xzOf", TARBALL, SETUP_FILE], { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
  root = fs.mkdtempSync(path.join(os.tmpdir(), "dokploy-installer-"));
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/** The text of a template literal that interpolates nothing, from its opening line to the closing backtick. */
function literal(opening: RegExp, closing: string): string {
  const start = setupSource.search(opening);
  expect(start).toBeGreaterThanOrEqual(0);
  const body = setupSource.slice(setupSource.indexOf("`", start) + 1);
  const text = body.slice(0, body.indexOf(closing));
  // Without interpolation or escapes, the literal's text is the shell text Dokploy runs.
  expect(text).not.toMatch(/\$\{|\\|`/);
  return text;
}

/** defaultCommand from its start to where it first interpolates (the Docker version report). */
const osDetection = () => literal(/export const defaultCommand = /, "${reportDockerVersion()}");
const installDocker = () => literal(/const installDocker = \(\) => `/, "\n`;");

/** Runs the OS detection then the Docker step for an os-release, with only stubs and a few tools on PATH. */
function runFor(osRelease: string): { code: number | null; output: string; installerArgs: string } {
  const dir = fs.mkdtempSync(path.join(root, "run-"));
  const bin = path.join(dir, "bin");
  fs.mkdirSync(bin);
  for (const tool of ["grep", "cut", "tr", "uname", "sh", "chmod", "cat"]) {
    const found = execFileSync("bash", ["-c", `command -v ${tool}`], { encoding: "utf8" }).trim();
    fs.symlinkSync(found, path.join(bin, tool));
  }
  // sudo -n true answers yes; sudo CMD runs CMD.
  fs.writeFileSync(path.join(bin, "sudo"), '#!/bin/bash\nif [[ $1 == -n ]]; then shift; fi\nexec "$@"\n', { mode: 0o755 });
  // get.docker.com's script, stood in for: records its arguments and leaves a docker command behind.
  const getDocker = `echo "$*" > "${dir}/get-docker-args"; printf '#!/bin/sh\\necho docker' > "${bin}/docker"; chmod 755 "${bin}/docker"\n`;
  fs.writeFileSync(path.join(bin, "curl"), `#!/bin/bash\n[[ " $* " == *" https://get.docker.com "* ]] || exit 22\ncat <<'EOF'\n${getDocker}EOF\n`, { mode: 0o755 });
  fs.writeFileSync(path.join(dir, "os-release"), osRelease);
  const script = `${osDetection().split("/etc/os-release").join(`${dir}/os-release`)}\n${installDocker()}\n`;
  const run = spawnSync("/bin/bash", ["-c", script], { env: { PATH: bin, HOME: dir }, encoding: "utf8" });
  const argsFile = path.join(dir, "get-docker-args");
  return { code: run.status, output: `${run.stdout}${run.stderr}`, installerArgs: fs.existsSync(argsFile) ? fs.readFileSync(argsFile, "utf8").trim() : "" };
}

const ubuntu = (version: string, codename: string) =>
  `PRETTY_NAME="Ubuntu ${version}"\nNAME="Ubuntu"\nVERSION_ID="${version}"\nVERSION_CODENAME=${codename}\nID=ubuntu\nID_LIKE=debian\nUBUNTU_CODENAME=${codename}\n`;
const CODENAMES: Record<string, string> = { "24.04": "noble", "22.04": "jammy" };

describe("Dokploy v0.30.2's setup script on the Ubuntu releases the stack offers (its real text from the source tarball)", () => {
  test("it pins Docker 28.5.0", () => {
    expect(osDetection()).toMatch(/^DOCKER_VERSION=28\.5\.0$/m);
  });

  test.each(UBUNTU_VERSIONS.map((version) => [version]))("Ubuntu %s: detected as ubuntu, Docker 28.5.0 installed through get.docker.com", (version) => {
    const run = runFor(ubuntu(version, CODENAMES[version]));
    expect(run.output).toContain("Installing requirements for: OS: ubuntu");
    expect(run.output).not.toMatch(/only supports|not supported/);
    expect(run.installerArgs).toBe("--version 28.5.0");
    expect(run.output).toContain(" - Docker installed successfully.");
    expect(run.code).toBe(0);
  });

  test("Ubuntu 24.10, which Dokploy refuses, is refused: the run tells the releases apart", () => {
    const run = runFor(ubuntu("24.10", "oracular"));
    expect(run.output).toContain("Docker automated installation is not supported on Ubuntu 24.10");
    expect(run.installerArgs).toBe("");
    expect(run.code).toBe(1);
  });
});
