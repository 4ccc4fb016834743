/**
 * End to end: a real OpenSSH sshd on 127.0.0.1 with the SSH proxy's sshd_config and authorized_keys exactly as
 * templates/ssh-proxy/render.sh renders them in the image (only the paths, the port, the listen address and the user
 * differ), the real validator as ForceCommand, a stub docker, and the real `ssh` client with throwaway ed25519 keys.
 *
 * The proxy's user here is the current user. When that is root (as on CI), the test's config adds one line before
 * the proxy's, `PermitRootLogin prohibit-password` (sshd keeps the first value); a separate test shows the proxy's
 * config alone refuses root. StrictModes stays on: the temp dir is under the home directory, not in /tmp.
 */
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { HEALTH_CHECK_PROGRAM } from "../../constructs/docker/ssh-proxy";
import { allowListDocument, nextcloudCommands, REFUSED_EXIT_CODE, UNAVAILABLE_EXIT_CODE } from "../../lib/ssh-allow-list";
import {
  fingerprint,
  freePort,
  makeKey,
  makeSafeTempDir,
  makeStubDocker,
  ProxySettings,
  render,
  run,
  SESSION_PATH,
  SSHD,
  Sshd,
  sshOptions,
  startBackground,
  startSshd,
  stopAllSshProcesses,
  StubDocker,
  VALIDATOR,
  waitForPort,
} from "../harness/ssh";
import { waitFor } from "../../sandbox/wait";

const CONTAINER = "7c1e5d2a90fb";
const USER = os.userInfo().username;
const AS_ROOT = process.getuid?.() === 0;

let root: string;
let settings: ProxySettings;
let stub: StubDocker;
let clientKey: string;
let strangerKey: string;
let proxyConfigPath: string;
let testConfigPath: string;
let sshd: Sshd;

beforeAll(async () => {
  root = makeSafeTempDir("ssh-proxy-e2e");
  const stateDir = path.join(root, "state");
  fs.mkdirSync(stateDir, { mode: 0o755 });
  const keyResult = spawnSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(stateDir, "ssh_host_ed25519_key")]);
  expect(keyResult.status).toBe(0);
  clientKey = makeKey(root, "client");
  strangerKey = makeKey(root, "stranger");
  stub = makeStubDocker(path.join(root, "bin"));
  const allowList = path.join(root, "allow-list.json");
  fs.writeFileSync(allowList, JSON.stringify(allowListDocument("nextcloud", "www-data", nextcloudCommands())));
  const auditLog = path.join(root, "audit.log");
  fs.writeFileSync(auditLog, "");
  settings = { port: await freePort(), listenAddress: "127.0.0.1", user: USER, stateDir, allowList, auditLog, docker: stub.path };

  const config = render(settings, "sshd-config");
  expect(config).toMatchObject({ code: 0, stderr: "" });
  const keys = render(settings, "authorized-keys", fs.readFileSync(`${clientKey}.pub`, "utf8"));
  expect(keys).toMatchObject({ code: 0, stderr: "" });
  fs.writeFileSync(path.join(stateDir, "authorized_keys"), keys.stdout, { mode: 0o644 });
  proxyConfigPath = path.join(root, "sshd_config.proxy");
  fs.writeFileSync(proxyConfigPath, config.stdout);
  testConfigPath = path.join(root, "sshd_config");
  fs.writeFileSync(testConfigPath, `${AS_ROOT ? "PermitRootLogin prohibit-password\n" : ""}${config.stdout}`);
  sshd = await startSshd(testConfigPath, settings.port);
});

afterAll(async () => {
  await stopAllSshProcesses();
  if (root) fs.rmSync(root, { recursive: true, force: true });
});

beforeEach(() => {
  stub.clearCalls();
  stub.setContainers([CONTAINER]);
  stub.setExecExitCode(0);
});

const target = () => `${USER}@127.0.0.1`;
const ssh = (args: string[], key = clientKey, env: NodeJS.ProcessEnv = process.env) =>
  run("ssh", [...sshOptions(settings.port, key), ...args], env);

function auditLines(): any[] {
  return fs.readFileSync(settings.auditLog, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

/** Effective settings as `sshd -T` prints them ("keyword value" lines). */
function effectiveConfig(configPath: string): Map<string, string[]> {
  const result = spawnSync(SSHD, ["-T", "-f", configPath, "-C", `user=${USER},host=client.example,addr=10.20.0.7`], { encoding: "utf8" });
  expect(result.stderr).toBe("");
  const settingsByKeyword = new Map<string, string[]>();
  for (const line of result.stdout.split("\n").filter(Boolean)) {
    const [keyword, ...value] = line.split(" ");
    settingsByKeyword.set(keyword, [...(settingsByKeyword.get(keyword) ?? []), value.join(" ")]);
  }
  return settingsByKeyword;
}

describe("the proxy's sshd configuration", () => {
  test("sshd -t accepts it, and sshd -T shows key-only login, no forwarding, no terminal, no tunnel, no sftp", () => {
    const check = spawnSync(SSHD, ["-t", "-f", proxyConfigPath], { encoding: "utf8" });
    expect({ status: check.status, stderr: check.stderr }).toEqual({ status: 0, stderr: "" });
    const effective = effectiveConfig(proxyConfigPath);
    const forcedCommand = `${VALIDATOR} --allow-list ${settings.allowList} --audit-log ${settings.auditLog} --docker ${settings.docker}`;
    const expected: Record<string, string> = {
      port: `${settings.port}`,
      allowusers: USER,
      permitrootlogin: "no",
      authenticationmethods: "publickey",
      pubkeyauthentication: "yes",
      pubkeyacceptedalgorithms: "ssh-ed25519",
      hostkeyalgorithms: "ssh-ed25519",
      passwordauthentication: "no",
      kbdinteractiveauthentication: "no",
      permitemptypasswords: "no",
      hostbasedauthentication: "no",
      disableforwarding: "yes",
      permittty: "no",
      permittunnel: "no",
      permituserenvironment: "no",
      permituserrc: "no",
      exposeauthinfo: "yes",
      forcecommand: forcedCommand,
      authorizedkeysfile: path.join(settings.stateDir, "authorized_keys"),
      maxauthtries: "3",
      strictmodes: "yes",
    };
    for (const [keyword, value] of Object.entries(expected)) expect([keyword, effective.get(keyword)]).toEqual([keyword, [value]]);
    expect(effective.has("subsystem")).toBe(false);
    expect(effective.has("acceptenv")).toBe(false);
  });

  test("each authorized_keys line restricts the key and forces the validator", () => {
    const lines = fs.readFileSync(path.join(settings.stateDir, "authorized_keys"), "utf8").trimEnd().split("\n");
    const publicKey = fs.readFileSync(`${clientKey}.pub`, "utf8").split(" ").slice(0, 2).join(" ");
    expect(lines).toEqual([
      `restrict,command="${VALIDATOR} --allow-list ${settings.allowList} --audit-log ${settings.auditLog} --docker ${settings.docker}" ${publicKey}`,
    ]);
  });
});

describe("render.sh", () => {
  const key = (name: string) => fs.readFileSync(`${name}.pub`, "utf8").split(" ").slice(0, 2).join(" ");

  test("keeps only ed25519 key lines from the secret, whatever else it holds", () => {
    const secret = [
      `${key(clientKey)} with a comment\r`,
      "",
      "# a comment",
      `command="/bin/sh" ${key(strangerKey)}`,
      "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 rsa@host",
      "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5;id",
      key(strangerKey), // last line without a newline
    ].join("\n");
    const result = render(settings, "authorized-keys", secret);
    expect(result.code).toBe(0);
    const forced = `restrict,command="${VALIDATOR} --allow-list ${settings.allowList} --audit-log ${settings.auditLog} --docker ${settings.docker}"`;
    expect(result.stdout).toBe(`${forced} ${key(clientKey)}\n${forced} ${key(strangerKey)}\n`);
    expect(result.stderr.match(/skipped a line/g)).toHaveLength(3);
  });

  test("fails when no ed25519 key is left, so the container stops instead of running keyless", () => {
    const result = render(settings, "authorized-keys", "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 rsa@host\n");
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("no ed25519 public key");
  });

  test.each<[string, Partial<ProxySettings>]>([
    ["a user with a space", { user: "a b" }],
    ["a path with a quote", { allowList: '/etc/x" y' }],
    ["a port out of range", { port: 70000 }],
  ])("refuses unsafe settings: %s", (_name, override) => {
    const result = render({ ...settings, ...override }, "sshd-config");
    expect(result.code).toBe(1);
    expect(result.stdout).toBe("");
  });
});

describe("commands over a real SSH connection", () => {
  test("an allowed command returns the stub's output, runs with the exact argv and no terminal, and is logged with the key", async () => {
    const result = await ssh([target(), "php", "occ", "status"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`stub docker exec: --user www-data ${CONTAINER} php occ status\n`);
    expect(result.stderr).toContain("stub docker exec stderr");
    expect(stub.calls()).toEqual([
      expect.objectContaining({ argv: ["ps", "--filter", "label=com.docker.swarm.service.name=nextcloud", "--filter", "status=running", "--format", "{{.ID}}"], tty: false }),
      expect.objectContaining({ argv: ["exec", "--user", "www-data", CONTAINER, "php", "occ", "status"], tty: false, agentKeys: null }),
    ]);
    expect(auditLines().pop()).toMatchObject({
      verdict: "allowed",
      client: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      key: fingerprint(`${clientKey}.pub`),
      command: "php occ status",
    });
  });

  test("the client's quoting is lost: words are what counts", async () => {
    const result = await ssh([target(), "php occ files:scan", "--path=/alice/files", "alice"]);
    expect(result.code).toBe(0);
    expect(stub.calls()[1].argv).toEqual(["exec", "--user", "www-data", CONTAINER, "php", "occ", "files:scan", "--path=/alice/files", "alice"]);
  });

  test("the command's own exit code reaches the client", async () => {
    stub.setExecExitCode(3);
    expect((await ssh([target(), "php occ status"])).code).toBe(3);
  });

  test.each([
    ["php occ status; id"],
    ["php occ files:scan $(id)"],
    ["php occ files:scan `id`"],
    ["--privileged php occ status"],
    ["php occ status\nid"],
    ["php occ files:scan --path=../../etc"],
    ["php occ user:delete admin"],
  ])(`%j is refused with exit code ${REFUSED_EXIT_CODE} and never reaches docker`, async (command) => {
    // "--": ssh itself would read a command starting with "-" as its own option.
    const result = await ssh(["--", target(), command]);
    expect(result.code).toBe(REFUSED_EXIT_CODE);
    expect(result.stderr).toMatch(/ssh-proxy: refused: /);
    expect(result.stdout).toBe("");
    expect(stub.calls()).toEqual([]);
    expect(auditLines().pop()).toMatchObject({ verdict: "refused", key: fingerprint(`${clientKey}.pub`) });
  });

  test("a login without a command (a shell) is refused", async () => {
    const result = await ssh([target()]);
    expect(result.code).toBe(REFUSED_EXIT_CODE);
    expect(result.stderr).toContain("never a shell");
    expect(stub.calls()).toEqual([]);
  });

  test(`no task of the target on this node: exit code ${UNAVAILABLE_EXIT_CODE}`, async () => {
    stub.setContainers([]);
    const result = await ssh([target(), "php occ status"]);
    expect(result.code).toBe(UNAVAILABLE_EXIT_CODE);
    expect(result.stderr).toContain("no running task of nextcloud on this node");
  });
});

describe("everything but running a command is refused", () => {
  test("a terminal (-tt) is refused", async () => {
    const linesBefore = auditLines().length;
    const result = await ssh(["-tt", target()]);
    expect(result.code).toBe(255);
    expect(result.stderr).toContain("PTY allocation request failed");
    // The client gives up at once, but its shell request was already sent: sshd runs the validator without a
    // terminal, which refuses the empty command. Waiting for that line keeps it out of the next tests.
    await waitFor(() => auditLines().length > linesBefore, "a new audit line");
    expect(auditLines().slice(linesBefore)).toEqual([expect.objectContaining({ verdict: "refused", command: "" })]);
  });

  test("local port forwarding (-L) is refused: nothing reaches the target port", async () => {
    let connections = 0;
    const server = net.createServer((socket) => {
      connections += 1;
      socket.end("secret service\n");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const targetPort = (server.address() as net.AddressInfo).port;
    const localPort = await freePort();
    const tunnel = startBackground("ssh", [...sshOptions(settings.port, clientKey), "-N", "-L", `${localPort}:127.0.0.1:${targetPort}`, target()]);
    try {
      await waitForPort(localPort);
      const received = await new Promise<string>((resolve) => {
        let data = "";
        const socket = net.connect(localPort, "127.0.0.1");
        socket.setEncoding("utf8").on("data", (chunk) => (data += chunk));
        socket.once("close", () => resolve(data));
        socket.once("error", () => resolve(data));
        setTimeout(() => socket.destroy(), 5_000);
      });
      expect(received).toBe("");
      await sshd.waitForLog(/refused local port forward: .* target 127\.0\.0\.1 port \d+/);
      expect(connections).toBe(0);
    } finally {
      await tunnel.stop();
      server.close();
    }
    expect(tunnel.output()).toContain("administratively prohibited");
  });

  test("remote port forwarding (-R) is refused", async () => {
    const result = await ssh(["-o", "ExitOnForwardFailure=yes", "-N", "-R", "0:127.0.0.1:9", target()]);
    expect(result.code).toBe(255);
    expect(result.stderr).toContain("remote port forwarding failed");
  });

  test("wrong key: permission denied, nothing runs", async () => {
    const result = await ssh([target(), "php occ status"], strangerKey);
    expect(result.code).toBe(255);
    expect(result.stderr).toContain("Permission denied (publickey)");
    expect(stub.calls()).toEqual([]);
    expect(auditLines().map((line) => line.key)).not.toContain(fingerprint(`${strangerKey}.pub`));
  });

  (AS_ROOT ? test : test.skip)("root with the right key is refused by the proxy's config alone (PermitRootLogin no)", async () => {
    const port = await freePort();
    const pure = path.join(root, "sshd_config.pure");
    fs.writeFileSync(pure, fs.readFileSync(proxyConfigPath, "utf8").replace(`Port ${settings.port}\n`, `Port ${port}\n`));
    await startSshd(pure, port);
    const result = await run("ssh", [...sshOptions(port, clientKey), target(), "php occ status"]);
    expect(result.code).toBe(255);
    expect(result.stderr).toContain("Permission denied (publickey)");
    expect(stub.calls()).toEqual([]);
  });
});

describe("agent forwarding and password login, each with a control that shows the check can fail", () => {
  let control: Sshd;
  let agentSocket: string;
  let agentEnv: NodeJS.ProcessEnv;

  beforeAll(async () => {
    // The control: the same config with forwarding and passwords switched back on (command-line -o wins) and a key
    // line without `restrict`.
    const controlKeys = path.join(settings.stateDir, "authorized_keys.control");
    fs.writeFileSync(controlKeys, fs.readFileSync(path.join(settings.stateDir, "authorized_keys"), "utf8").replace(/^restrict,/gm, ""), { mode: 0o644 });
    const port = await freePort();
    control = await startSshd(testConfigPath, port, [
      "-o", `Port=${port}`,
      "-o", `AuthorizedKeysFile=${controlKeys}`,
      "-o", "DisableForwarding=no",
      "-o", "AllowAgentForwarding=yes",
      "-o", "PasswordAuthentication=yes",
      "-o", "AuthenticationMethods=any",
    ]);
    agentSocket = path.join(root, "agent.sock");
    startBackground("ssh-agent", ["-D", "-a", agentSocket]);
    await waitFor(() => fs.existsSync(agentSocket), "the forwarded agent socket");
    agentEnv = { ...process.env, SSH_AUTH_SOCK: agentSocket };
    const added = await run("ssh-add", [clientKey], agentEnv);
    expect(added.code).toBe(0);
  });

  async function withForwardedAgent(port: number) {
    stub.clearCalls();
    const result = await run("ssh", [...sshOptions(port, clientKey), "-A", "-o", "ForwardAgent=yes", target(), "php occ status"], agentEnv);
    expect(result.code).toBe(0);
    return stub.calls().find((call) => call.argv[0] === "exec")!;
  }

  test("agent forwarding (-A): the session finds no forwarded agent; the control finds one with the key", async () => {
    expect((await withForwardedAgent(settings.port)).agentKeys).toBeNull();
    expect((await withForwardedAgent(control.port)).agentKeys).toBe(1);
  });

  /** Password login with an askpass program that leaves a marker when ssh asks it for a password. */
  async function tryPassword(port: number) {
    const marker = path.join(root, `askpass-called-${port}`);
    const askpass = path.join(root, `askpass-${port}.sh`);
    fs.writeFileSync(askpass, `#!/bin/sh\ntouch "${marker}"\necho not-the-password\n`, { mode: 0o755 });
    const env = { ...process.env, SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: "force", DISPLAY: ":0" };
    const options = sshOptions(port, clientKey).map((option) => (option === "BatchMode=yes" ? "BatchMode=no" : option));
    const passwordOnly = ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "NumberOfPasswordPrompts=1"];
    const result = await run("ssh", [...options, ...passwordOnly, target(), "php occ status"], env);
    return { result, asked: fs.existsSync(marker) };
  }

  test("password login: the proxy never even asks for a password; the control does", async () => {
    const proxy = await tryPassword(settings.port);
    expect(proxy.result.code).toBe(255);
    expect(proxy.result.stderr).toContain("Permission denied (publickey)");
    expect(proxy.asked).toBe(false);
    const permissive = await tryPassword(control.port);
    expect(permissive.result.code).toBe(255);
    expect(permissive.asked).toBe(true);
    expect(stub.calls().filter((call) => call.argv[0] === "exec")).toEqual([]);
  });
});

test("the service's health check passes on the SSH port and fails on a closed or non-SSH port", async () => {
  const healthCheck = async (port: number) => (await run("python3", ["-c", HEALTH_CHECK_PROGRAM, `${port}`], { PATH: SESSION_PATH })).code;
  expect(await healthCheck(settings.port)).toBe(0);
  expect(await healthCheck(await freePort())).not.toBe(0);
  const other = net.createServer((socket) => {
    socket.on("error", () => undefined); // the check hangs up after four bytes
    socket.end("HTTP/1.0 200 OK\r\n\r\n");
  });
  await new Promise<void>((resolve) => other.listen(0, "127.0.0.1", resolve));
  try {
    expect(await healthCheck((other.address() as net.AddressInfo).port)).not.toBe(0);
  } finally {
    other.close();
  }
});

