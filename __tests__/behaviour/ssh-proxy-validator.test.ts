/**
 * Behaviour of templates/ssh-proxy/validate.py, run directly as sshd would run it (SSH_ORIGINAL_COMMAND,
 * SSH_CONNECTION, SSH_USER_AUTH), against the Nextcloud and PhotoPrism presets' allow-lists, with a stub `docker`
 * that records its argv. Hostile input must never reach docker, not even `docker ps`, and must be logged as refused.
 */
import { spawnSync } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import {
  allowListDocument,
  MAX_COMMAND_BYTES,
  nextcloudCommands,
  NEXTCLOUD_ID_PATTERN,
  photoprismCommands,
  PLAIN_PATH_PATTERN,
  REFUSED_EXIT_CODE,
  TOKEN_CHARACTERS,
  UNAVAILABLE_EXIT_CODE,
} from "../../lib/ssh-allow-list";
import { makeStubDocker, Result, runValidator, runValidatorWithBytes, StubDocker, ValidatorFiles } from "../harness/ssh";

const CONTAINER = "3f2a9c41b7de";
const CLIENT_KEY_BLOB = "AAAAC3NzaC1lZDI1NTE5AAAAIGJ8w0XqjJcbZ4U0kqR1Yh1zGm9ZQ0j2qZr7tT8qv8Yp";
const EXPECTED_FINGERPRINT = `SHA256:${createHash("sha256").update(Buffer.from(CLIENT_KEY_BLOB, "base64")).digest("base64").replace(/=+$/, "")}`;
const DOCKER_PS = ["ps", "--filter", "label=com.docker.swarm.service.name=nextcloud", "--filter", "status=running", "--format", "{{.ID}}"];

let root: string;
let stub: StubDocker;
let nextcloud: ValidatorFiles;
let photoprism: ValidatorFiles;
let sessionEnv: NodeJS.ProcessEnv;

beforeAll(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "ssh-proxy-validator-"));
  stub = makeStubDocker(path.join(root, "bin"));
  const writeAllowList = (name: string, document: unknown) => {
    const file = path.join(root, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify(document));
    return file;
  };
  const auditLog = path.join(root, "audit.log");
  fs.writeFileSync(auditLog, "");
  nextcloud = { allowList: writeAllowList("nextcloud", allowListDocument("nextcloud", "www-data", nextcloudCommands())), auditLog, docker: stub.path };
  photoprism = { ...nextcloud, allowList: writeAllowList("photoprism", allowListDocument("photoprism", undefined, photoprismCommands())) };
  // What sshd's ExposeAuthInfo writes for the session.
  const authInfo = path.join(root, "auth-info");
  fs.writeFileSync(authInfo, `publickey ssh-ed25519 ${CLIENT_KEY_BLOB}\n`);
  sessionEnv = { SSH_CONNECTION: "10.20.0.7 50122 10.20.0.9 2222", SSH_USER_AUTH: authInfo };
});

afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

beforeEach(() => {
  stub.clearCalls();
  stub.setContainers([CONTAINER]);
  stub.setPsExitCode(0);
  stub.setExecExitCode(0);
});

function auditLines(): any[] {
  return fs.readFileSync(nextcloud.auditLog, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

/** Runs one attempt and returns its result with the single audit line it wrote. */
function attempt(run: () => Result): { result: Result; line: any } {
  const before = auditLines().length;
  const result = run();
  const lines = auditLines().slice(before);
  expect(lines).toHaveLength(1);
  return { result, line: lines[0] };
}

const long = (length: number) => `php occ files:scan ${"a".repeat(length)}`;

/** Hostile or simply not allowed: each must be refused before docker is ever called. */
const HOSTILE: Array<[string, string]> = [
  ["command separator ;", "php occ status; id"],
  ["command separator ; without space", "php occ status;id"],
  ["and-list &&", "php occ status && id"],
  ["or-list ||", "php occ status || id"],
  ["pipe |", "php occ status | sh"],
  ["background &", "php occ status & id"],
  ["backticks", "php occ files:scan `id`"],
  ["command substitution $()", "php occ files:scan $(id)"],
  ["variable ${IFS}", "php occ files:scan${IFS}alice"],
  ["$IFS as the only separator", "php${IFS}occ${IFS}status"],
  ["plain variable", "php occ files:scan $USER"],
  ["newline", "php occ status\nid"],
  ["trailing newline", "php occ status\n"],
  ["carriage return", "php occ status\rid"],
  ["tab as separator", "php\tocc\tstatus"],
  ["escape sequence (log injection)", "php occ status \u001b[2J"],
  ["DEL", "php occ status\u007f"],
  ["docker flag --privileged before the program", "--privileged php occ status"],
  ["docker flag -u root before the program", "-u root php occ status"],
  ["docker flag --user=root before the program", "--user=root php occ status"],
  ["docker flag -e before the program", "-e LD_PRELOAD=/tmp/x.so php occ status"],
  ["docker flag -w before the program", "-w /etc php occ status"],
  ["docker exec spelled out", "docker exec -u root nextcloud sh"],
  ["--privileged after the subcommand", "php occ status --privileged"],
  ["-u root after the subcommand", "php occ files:scan -u root"],
  ["php option injection before occ", "php -d auto_prepend_file=/tmp/x occ status"],
  ["php -r", "php -r system(id)"],
  ["option injection as a positional", "php occ files:scan --all -alice"],
  ["unknown option", "php occ files:scan --unknown-option"],
  ["option abbreviation", "php occ files:scan --pa=/alice"],
  ["option given twice", "php occ files:scan --all --all"],
  ["flag given a value", "php occ files:scan --all=yes"],
  ["value option without a value", "php occ files:scan --path"],
  ["value option with an empty value", "php occ files:scan --path="],
  ["value option value starting with a dash", "php occ files:scan --path=-rf"],
  ["value in the next word (only --flag=VALUE)", "php occ files:scan --path /alice/files"],
  ["end of options --", "php occ files:scan -- alice"],
  ["path traversal ../", "php occ files:scan --path=../../etc/passwd"],
  ["path traversal in the middle", "php occ files:scan --path=/alice/files/../../../etc"],
  ["bare ..", "php occ files:scan .."],
  ["encoded traversal %2e%2e", "php occ files:scan --path=/%2e%2e/etc"],
  ["glob *", "php occ files:scan *"],
  ["glob ?", "php occ files:scan al?ce"],
  ["glob [ ]", "php occ files:scan [a]lice"],
  ["brace expansion", "php occ files:scan {alice,bob}"],
  ["tilde expansion", "php occ files:scan ~root"],
  ["history expansion !", "php occ files:scan !alice"],
  ["comment #", "php occ status #"],
  ["redirect >", "php occ status > /tmp/x"],
  ["redirect <", "php occ status < /etc/passwd"],
  ["single quotes", "php occ files:scan 'alice'"],
  ["double quotes", 'php occ files:scan "alice"'],
  ["backslash", "php occ files:scan alice\\"],
  ["fullwidth semicolon (unicode look-alike)", "php occ status；id"],
  ["Cyrillic о in occ (unicode look-alike)", "php \u043ecc status"],
  ["fullwidth hyphen-minus options (unicode look-alike)", "php occ files:scan \uff0d\uff0dall"],
  ["en dash as an option prefix", "php occ files:scan \u2013-all"],
  ["no-break space as separator", "php occ\u00a0status"],
  ["zero-width space inside a word", "php occ files:scan\u200b alice"],
  ["right-to-left override", "php occ files:scan \u202eecila"],
  ["over-long input", long(2000)],
  [`one byte over ${MAX_COMMAND_BYTES}`, long(MAX_COMMAND_BYTES - "php occ files:scan ".length + 1)],
  ["user id longer than 64", long(65)],
  ["user id with a character the rule forbids", "php occ files:scan alice%0aid"],
  ["extra positional", "php occ files:scan alice bob"],
  ["extra argument to a command without arguments", "php occ status extra"],
  ["prefix only", "php occ"],
  ["program only", "php"],
  ["subcommand not on the list", "php occ user:delete admin"],
  ["different case", "PHP OCC STATUS"],
  ["abbreviated subcommand", "php occ files:sc alice"],
  ["a shell", "sh -c id"],
  ["an absolute shell", "/bin/sh"],
  ["empty command", ""],
  ["only spaces", "     "],
];

describe(`hostile input (${HOSTILE.length} cases) never reaches docker`, () => {
  test("the corpus has at least 40 cases", () => {
    expect(HOSTILE.length).toBeGreaterThanOrEqual(40);
  });

  test.each(HOSTILE)("%s is refused and logged", (_name, command) => {
    const { result, line } = attempt(() => runValidator(nextcloud, command, sessionEnv));
    expect(result.code).toBe(REFUSED_EXIT_CODE);
    expect(result.stderr).toMatch(/^ssh-proxy: refused: .+\n$/);
    expect(result.stdout).toBe("");
    expect(stub.calls()).toEqual([]);
    expect(line).toMatchObject({ verdict: "refused", reason: expect.any(String), client: "10.20.0.7:50122", key: EXPECTED_FINGERPRINT });
    // The logged command is printable ASCII on one line, however hostile the input.
    expect(line.command).toMatch(/^[\x20-\x7e]*$/);
  });

  test("no command at all (an interactive shell request) is refused", () => {
    const { result, line } = attempt(() => runValidator(nextcloud, undefined, sessionEnv));
    expect(result.code).toBe(REFUSED_EXIT_CODE);
    expect(result.stderr).toContain("never a shell");
    expect(stub.calls()).toEqual([]);
    expect(line).toMatchObject({ verdict: "refused", command: "" });
  });

  test.each<[string, Buffer]>([
    ["NUL after an allowed command", Buffer.from("php occ status\0; id")],
    ["NUL inside a word", Buffer.from("php occ files:scan ali\0ce")],
    ["invalid UTF-8", Buffer.from([...Buffer.from("php occ files:scan "), 0xff, 0xfe])],
    ["overlong UTF-8 encoding of ;", Buffer.from([...Buffer.from("php occ status"), 0xc0, 0xbb, ...Buffer.from("id")])],
  ])("%s (raw bytes no environment can carry) is refused and logged", (_name, bytes) => {
    const { result, line } = attempt(() => runValidatorWithBytes(nextcloud, bytes, sessionEnv));
    expect(result.code).toBe(REFUSED_EXIT_CODE);
    expect(stub.calls()).toEqual([]);
    expect(line.verdict).toBe("refused");
    expect(line.command).toMatch(/^[\x20-\x7e]*$/);
  });

  test("the operating system itself refuses a NUL in SSH_ORIGINAL_COMMAND", () => {
    expect(() => runValidator(nextcloud, "php occ status\0; id")).toThrow(/null bytes/);
  });

  test("the log keeps over-long commands short and escapes every byte outside printable ASCII", () => {
    const { line } = attempt(() => runValidator(nextcloud, `${long(5000)}\u001b[2J`, sessionEnv));
    expect(line.command).toBe(`${long(5000).slice(0, 200)}...(truncated)`);
    const { line: escaped } = attempt(() => runValidator(nextcloud, "php occ status\nid \u001b[2J；", sessionEnv));
    expect(escaped.command).toBe("php occ status\\x0aid \\x1b[2J\\xef\\xbc\\x9b");
  });
});

/** [client's command, the exact docker exec argv after `exec`] */
const ALLOWED_NEXTCLOUD: Array<[string, string[]]> = [
  ["php occ status", ["php", "occ", "status"]],
  ["php occ status --output=json", ["php", "occ", "status", "--output=json"]],
  ["php occ files:scan --all", ["php", "occ", "files:scan", "--all"]],
  ["php occ files:scan alice", ["php", "occ", "files:scan", "alice"]],
  ["php occ files:scan jane.doe@example.com", ["php", "occ", "files:scan", "jane.doe@example.com"]],
  ["php occ files:scan --path=/alice/files/Photos --shallow", ["php", "occ", "files:scan", "--path=/alice/files/Photos", "--shallow"]],
  ["php occ files:scan --unscanned --output=plain bob", ["php", "occ", "files:scan", "--unscanned", "--output=plain", "bob"]],
  ["  php   occ  files:scan   alice  ", ["php", "occ", "files:scan", "alice"]],
  ["php occ memories:index", ["php", "occ", "memories:index"]],
  ["php occ memories:index --user=alice --folder=/Photos/2024 --force", ["php", "occ", "memories:index", "--user=alice", "--folder=/Photos/2024", "--force"]],
  ["php occ memories:index --group=family --retry --skip-cleanup", ["php", "occ", "memories:index", "--group=family", "--retry", "--skip-cleanup"]],
];

describe("allowed commands reach docker with exactly the expected argv", () => {
  test.each(ALLOWED_NEXTCLOUD)("%s", (command, words) => {
    const { result, line } = attempt(() => runValidator(nextcloud, command, sessionEnv));
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(`stub docker exec: ${["--user", "www-data", CONTAINER, ...words].join(" ")}\n`);
    expect(result.stderr).toBe("stub docker exec stderr\n");
    expect(stub.calls().map((call) => call.argv)).toEqual([DOCKER_PS, ["exec", "--user", "www-data", CONTAINER, ...words]]);
    expect(line).toMatchObject({ verdict: "allowed", container: CONTAINER, client: "10.20.0.7:50122", key: EXPECTED_FINGERPRINT });
    expect(line.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(JSON.stringify(line)).not.toContain(CLIENT_KEY_BLOB);
  });

  test.each<[string, string[]]>([
    ["photoprism status", ["photoprism", "status"]],
    ["photoprism index --cleanup 2024/holidays", ["photoprism", "index", "--cleanup", "2024/holidays"]],
    ["photoprism import --move --dest=/photoprism/originals/inbox /photoprism/import", ["photoprism", "import", "--move", "--dest=/photoprism/originals/inbox", "/photoprism/import"]],
  ])("PhotoPrism: %s (no --user: the image's default user)", (command, words) => {
    const result = runValidator(photoprism, command, sessionEnv);
    expect(result.code).toBe(0);
    expect(stub.calls().map((call) => call.argv)).toEqual([
      ["ps", "--filter", "label=com.docker.swarm.service.name=photoprism", "--filter", "status=running", "--format", "{{.ID}}"],
      ["exec", CONTAINER, ...words],
    ]);
  });

  test(`a command of exactly ${MAX_COMMAND_BYTES} bytes is accepted`, () => {
    const prefix = "php occ files:scan --path=";
    const pathValue = `/${"a".repeat(99)}`.repeat(9);
    const command = `${prefix}${pathValue}/${"k".repeat(MAX_COMMAND_BYTES - prefix.length - pathValue.length - 1)}`;
    expect(Buffer.byteLength(command)).toBe(MAX_COMMAND_BYTES);
    expect(runValidator(nextcloud, command, sessionEnv).code).toBe(0);
  });

  test("the command's own exit code passes through", () => {
    stub.setExecExitCode(3);
    expect(runValidator(nextcloud, "php occ status", sessionEnv).code).toBe(3);
    stub.setExecExitCode(REFUSED_EXIT_CODE + 1);
    expect(runValidator(nextcloud, "php occ status", sessionEnv).code).toBe(REFUSED_EXIT_CODE + 1);
  });

  test("with several local tasks it uses the first (docker ps lists the newest first)", () => {
    stub.setContainers(["aaaaaaaaaaaa", "bbbbbbbbbbbb"]);
    runValidator(nextcloud, "php occ status", sessionEnv);
    expect(stub.calls()[1].argv).toEqual(["exec", "--user", "www-data", "aaaaaaaaaaaa", "php", "occ", "status"]);
  });

  test("docker gets a fixed environment, nothing of the session's", () => {
    runValidator(nextcloud, "php occ status", { ...sessionEnv, LD_PRELOAD: "/tmp/evil.so", DOCKER_HOST: "tcp://203.0.113.1:2375" });
    expect(stub.calls().map((call) => call.environment)).toEqual([["PATH"], ["PATH"]]);
  });
});

describe("when the command cannot run here", () => {
  test(`no running task of the target on this node: exit ${UNAVAILABLE_EXIT_CODE}, no docker exec`, () => {
    stub.setContainers([]);
    const { result, line } = attempt(() => runValidator(nextcloud, "php occ status", sessionEnv));
    expect(result.code).toBe(UNAVAILABLE_EXIT_CODE);
    expect(result.stderr).toBe("ssh-proxy: unavailable: no running task of nextcloud on this node\n");
    expect(stub.calls().map((call) => call.argv)).toEqual([DOCKER_PS]);
    expect(line).toMatchObject({ verdict: "unavailable" });
  });

  test("docker ps output that is not a container ID is never passed to docker exec", () => {
    stub.setContainers(["--privileged", "-u root", "abc", "../../x"]);
    expect(runValidator(nextcloud, "php occ status", sessionEnv).code).toBe(UNAVAILABLE_EXIT_CODE);
    expect(stub.calls().map((call) => call.argv[0])).toEqual(["ps"]);
  });

  test("docker ps failing (daemon unreachable) is unavailable, not a crash", () => {
    stub.setPsExitCode(1);
    const result = runValidator(nextcloud, "php occ status", sessionEnv);
    expect(result.code).toBe(UNAVAILABLE_EXIT_CODE);
    expect(result.stderr).toBe("ssh-proxy: unavailable: docker ps failed on this node\n");
  });

  test.each<[string, string]>([
    ["missing", "/nonexistent/allow-list.json"],
    ["not JSON", "not-json"],
    ["a pattern Python cannot compile", "bad-pattern"],
    ["an unknown version", "bad-version"],
    ["an empty command list", "empty"],
  ])("an allow-list that is %s refuses everything", (_name, which) => {
    const documents: Record<string, string> = {
      "not-json": "{",
      "bad-pattern": JSON.stringify({ version: 1, targetService: "nextcloud", execUser: null, commands: [{ prefix: ["php", "occ", "status"], args: [{ kind: "pattern", pattern: "(" }] }] }),
      "bad-version": JSON.stringify({ ...allowListDocument("nextcloud", undefined, nextcloudCommands()), version: 2 }),
      empty: JSON.stringify({ version: 1, targetService: "nextcloud", execUser: null, commands: [] }),
    };
    const file = which in documents ? path.join(root, `${which}.json`) : which;
    if (which in documents) fs.writeFileSync(file, documents[which]);
    const { result, line } = attempt(() => runValidator({ ...nextcloud, allowList: file }, "php occ status", sessionEnv));
    expect(result.code).toBe(REFUSED_EXIT_CODE);
    expect(result.stderr).toBe("ssh-proxy: refused: the proxy's allow-list cannot be read\n");
    expect(stub.calls()).toEqual([]);
    expect(line.verdict).toBe("refused");
  });

  test("an audit log that cannot be written refuses an allowed command before docker exec", () => {
    const result = runValidator({ ...nextcloud, auditLog: path.join(root, "missing-dir", "audit.log") }, "php occ status", sessionEnv);
    expect(result.code).toBe(REFUSED_EXIT_CODE);
    expect(result.stderr).toBe("ssh-proxy: refused: the audit log cannot be written\n");
    expect(stub.calls().map((call) => call.argv[0])).toEqual(["ps"]);
  });

  test("missing validator arguments refuse everything", () => {
    const result = runValidator(nextcloud, "php occ status", sessionEnv, ["--allow-list", nextcloud.allowList]);
    expect(result.code).toBe(REFUSED_EXIT_CODE);
    expect(stub.calls()).toEqual([]);
  });

  test("without SSH_CONNECTION and SSH_USER_AUTH the log says unknown", () => {
    const { line } = attempt(() => runValidator(nextcloud, "php occ status; id"));
    expect(line).toMatchObject({ client: "unknown", key: "unknown" });
  });
});

test("the presets' patterns mean the same in Python's re as in JavaScript", () => {
  const samples = ["alice", "jane.doe@example.com", "a".repeat(64), "a".repeat(65), "", "-x", "/alice/files", "alice/files/",
    "/a//b", "a b", "a;b", "é", "/Photos/2024", "x\n", "٣", "/" + "a".repeat(256)];
  const patterns = [NEXTCLOUD_ID_PATTERN, PLAIN_PATH_PATTERN, `[${TOKEN_CHARACTERS}]+`];
  const program = "import json, re, sys\nd = json.load(sys.stdin)\nprint(json.dumps([[re.fullmatch(p, s, re.ASCII) is not None for s in d['s']] for p in d['p']]))";
  const python = spawnSync("python3", ["-c", program], { input: JSON.stringify({ p: patterns, s: samples }), encoding: "utf8" });
  const javascript = patterns.map((pattern) => samples.map((sample) => new RegExp(`^(?:${pattern})$`).test(sample)));
  expect(JSON.parse(python.stdout)).toEqual(javascript);
});
