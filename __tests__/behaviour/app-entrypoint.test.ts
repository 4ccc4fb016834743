/**
 * Behaviour of templates/app-entrypoint/entrypoint.sh, run by dash (POSIX sh) in a temp root. PATH holds only the
 * stubs of harness/entrypoint-stubs (id, getent, stat, chown, the group tools, su-exec/gosu/setpriv) and the real
 * cp, mkdir and cut, so any other command the script called would fail. The stubs record their calls; getent
 * answers from the temp root's etc/passwd and etc/group; stat reports the socket's group as $STUB_SOCKET_GID.
 * The drop-privilege stubs exec the app in the same process, so the app's PID shows whether the script exec'ed.
 */
import { spawnSync, SpawnSyncReturns } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const REPO = path.resolve(__dirname, "../..");
const ENTRYPOINT = path.join(REPO, "templates/app-entrypoint/entrypoint.sh");
const STUBS = path.join(REPO, "__tests__/harness/entrypoint-stubs");
const REAL_TOOLS = ["cp", "mkdir", "cut"];
const SHADOW_TOOLS = new Set(["groupmod", "groupadd", "usermod"]);
const PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1001:1001:App:/home/app:/bin/sh\n";
/** The app: prints its PID, HOME and each argument, then exits with $APP_EXIT. */
const APP = ["/bin/sh", "-c", 'printf "pid=%s home=%s\\n" "$$" "$HOME"; printf "arg=%s\\n" "$@"; exit "${APP_EXIT:-0}"', "app"];

interface HostOptions {
  /** "busybox": no groupmod/groupadd/usermod on PATH, like plain Alpine. Default "shadow". */
  groupTools?: "shadow" | "busybox";
  /** etc/group of the image; default: root, app and a docker group with GID 999. */
  groups?: string;
  /** The GID the "host" gave the socket; null: no socket mounted. Default 998. */
  socketGid?: number | null;
  /** Files in the upload mount, by relative path. */
  uploads?: Record<string, string>;
}

interface Host {
  root: string;
  at(relative: string): string;
  run(args: string[], env?: Record<string, string>): SpawnSyncReturns<string>;
  /** Every stub call, in order: the command, then each argument. */
  calls(): string[][];
}

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) fs.rmSync(root, { recursive: true, force: true });
});

function realTool(name: string): string {
  const found = spawnSync("/bin/sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  if (found.status !== 0) throw new Error(`${name} is not installed`);
  return found.stdout.trim();
}

function makeHost(options: HostOptions = {}): Host {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "app-entrypoint-"));
  roots.push(root);
  const at = (relative: string) => path.join(root, relative);
  const bin = at("bin");
  fs.mkdirSync(bin);
  for (const stub of fs.readdirSync(STUBS)) {
    if (options.groupTools === "busybox" && SHADOW_TOOLS.has(stub)) continue;
    fs.symlinkSync(path.join(STUBS, stub), path.join(bin, stub));
  }
  for (const tool of REAL_TOOLS) fs.symlinkSync(realTool(tool), path.join(bin, tool));
  fs.mkdirSync(at("etc"));
  fs.writeFileSync(at("etc/passwd"), PASSWD);
  fs.writeFileSync(at("etc/group"), options.groups ?? "root:x:0:\napp:x:1001:\ndocker:x:999:\n");
  fs.mkdirSync(at("uploads"));
  for (const [relative, content] of Object.entries(options.uploads ?? {})) {
    fs.mkdirSync(path.dirname(at(`uploads/${relative}`)), { recursive: true });
    fs.writeFileSync(at(`uploads/${relative}`), content);
  }
  const socketGid = options.socketGid === undefined ? 998 : options.socketGid;
  if (socketGid !== null) {
    fs.mkdirSync(at("var/run"), { recursive: true });
    // A real unix socket: the script tests it with [ -S ].
    const made = spawnSync("python3", ["-c", "import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", at("var/run/docker.sock")]);
    if (made.status !== 0) throw new Error(`could not create the socket: ${made.stderr}`);
  }
  return {
    root,
    at,
    run: (args, env = {}) =>
      spawnSync("/bin/sh", [ENTRYPOINT, ...args], {
        encoding: "utf8",
        env: {
          PATH: bin,
          STUB_LOG: at("stub-calls.log"),
          STUB_ETC: at("etc"),
          STUB_SOCKET_GID: String(socketGid ?? ""),
          UPLOAD_DIR: at("uploads"),
          DOCKER_SOCKET: at("var/run/docker.sock"),
          ...env,
        },
      }),
    calls: () =>
      fs.existsSync(at("stub-calls.log"))
        ? fs.readFileSync(at("stub-calls.log"), "utf8").split("\n").filter((line) => line !== "").map((line) => line.split("\t"))
        : [],
  };
}

const named = (calls: string[][], ...commands: string[]) => calls.filter(([command]) => commands.includes(command));
const GROUP_COMMANDS = ["groupmod", "groupadd", "usermod", "addgroup", "delgroup"];

describe("uploaded files", () => {
  const uploads = { ".credentials.json": '{"token":"new"}', "settings.json": "{}", "skills/review/SKILL.md": "# review" };

  test("are copied into the volume, dotfiles and directories included, each owned by the app user", () => {
    const host = makeHost({ uploads });
    const target = host.at("volumes/claude-config");
    fs.mkdirSync(target, { recursive: true });
    fs.writeFileSync(path.join(target, ".credentials.json"), '{"token":"old"}');
    fs.writeFileSync(path.join(target, "history.jsonl"), "kept");

    const result = host.run(APP, { UPLOAD_TARGET: target });

    expect(result.status).toBe(0);
    expect(fs.readFileSync(path.join(target, ".credentials.json"), "utf8")).toBe('{"token":"new"}');
    expect(fs.readFileSync(path.join(target, "skills/review/SKILL.md"), "utf8")).toBe("# review");
    expect(fs.readFileSync(path.join(target, "history.jsonl"), "utf8")).toBe("kept");
    expect(named(host.calls(), "chown")).toEqual([
      ["chown", "1001:1001", target],
      ["chown", "-hR", "1001:1001", path.join(target, "settings.json")],
      ["chown", "-hR", "1001:1001", path.join(target, "skills")],
      ["chown", "-hR", "1001:1001", path.join(target, ".credentials.json")],
    ]);
    expect(fs.readFileSync(host.at("uploads/.credentials.json"), "utf8")).toBe('{"token":"new"}');
    expect(result.stderr).toContain(`copied .credentials.json into ${target} for app`);
  });

  test("a target that does not exist yet is created and given to the app user", () => {
    const host = makeHost({ uploads: { "a.txt": "a" } });
    const target = host.at("volumes/new/config");
    expect(host.run(APP, { UPLOAD_TARGET: target }).status).toBe(0);
    expect(fs.readFileSync(path.join(target, "a.txt"), "utf8")).toBe("a");
    expect(named(host.calls(), "chown")[0]).toEqual(["chown", "1001:1001", target]);
  });

  test("an uploaded symlink is copied as a link and chowned with -h, never followed", () => {
    const host = makeHost();
    fs.symlinkSync("/etc/shadow", host.at("uploads/sneaky"));
    const target = host.at("volumes/config");
    expect(host.run(APP, { UPLOAD_TARGET: target }).status).toBe(0);
    expect(fs.readlinkSync(path.join(target, "sneaky"))).toBe("/etc/shadow");
    expect(named(host.calls(), "chown")).toContainEqual(["chown", "-hR", "1001:1001", path.join(target, "sneaky")]);
  });

  test("without UPLOAD_TARGET, or without the upload mount, nothing is copied and nothing chowned", () => {
    const host = makeHost({ uploads });
    expect(host.run(APP).status).toBe(0);
    expect(named(host.calls(), "chown")).toEqual([]);

    const missing = host.run(APP, { UPLOAD_DIR: host.at("no-such-dir"), UPLOAD_TARGET: host.at("volumes/x") });
    expect(missing.status).toBe(0);
    expect(missing.stderr).toContain("nothing to copy");
    expect(fs.existsSync(host.at("volumes/x"))).toBe(false);
  });
});

describe("the Docker socket's group (shadow tools: groupmod, groupadd, usermod)", () => {
  test("the docker group takes the socket's GID and the app user joins it", () => {
    const host = makeHost({ socketGid: 998 });
    const result = host.run(APP);
    expect(result.status).toBe(0);
    expect(named(host.calls(), ...GROUP_COMMANDS)).toEqual([
      ["groupmod", "-g", "998", "docker"],
      ["usermod", "-aG", "docker", "app"],
    ]);
    expect(result.stderr).toContain("app is in group docker (GID 998)");
  });

  test("a group that already has the socket's GID keeps its name", () => {
    const host = makeHost({ socketGid: 42, groups: "root:x:0:\napp:x:1001:\nping:x:42:\ndocker:x:999:\n" });
    expect(host.run(APP).status).toBe(0);
    expect(named(host.calls(), ...GROUP_COMMANDS)).toEqual([["usermod", "-aG", "ping", "app"]]);
  });

  test("without a docker group one is created with the socket's GID", () => {
    const host = makeHost({ socketGid: 998, groups: "root:x:0:\napp:x:1001:\n" });
    expect(host.run(APP).status).toBe(0);
    expect(named(host.calls(), ...GROUP_COMMANDS)).toEqual([
      ["groupadd", "-g", "998", "docker"],
      ["usermod", "-aG", "docker", "app"],
    ]);
  });

  test("DOCKER_GROUP names the group to create or renumber", () => {
    const host = makeHost({ socketGid: 998 });
    expect(host.run(APP, { DOCKER_GROUP: "dockersock" }).status).toBe(0);
    expect(named(host.calls(), ...GROUP_COMMANDS)).toEqual([
      ["groupadd", "-g", "998", "dockersock"],
      ["usermod", "-aG", "dockersock", "app"],
    ]);
  });

  test("on a restart (the group already has the GID and the user) nothing changes", () => {
    const host = makeHost({ socketGid: 998, groups: "root:x:0:\napp:x:1001:\ndocker:x:998:web,app\n" });
    expect(host.run(APP).status).toBe(0);
    expect(named(host.calls(), ...GROUP_COMMANDS)).toEqual([]);
  });

  test("a socket owned by GID 0 is left alone: the app user is never added to root's group", () => {
    const host = makeHost({ socketGid: 0 });
    const result = host.run(APP);
    expect(result.status).toBe(0);
    expect(named(host.calls(), ...GROUP_COMMANDS)).toEqual([]);
    expect(result.stderr).toContain("belongs to group root (GID 0)");
  });

  test("a socket in the app user's own primary group needs nothing", () => {
    const host = makeHost({ socketGid: 1001 });
    expect(host.run(APP).status).toBe(0);
    expect(named(host.calls(), ...GROUP_COMMANDS)).toEqual([]);
  });

  test("no socket mounted: no group change", () => {
    const host = makeHost({ socketGid: null });
    const result = host.run(APP);
    expect(result.status).toBe(0);
    expect(named(host.calls(), ...GROUP_COMMANDS, "stat")).toEqual([]);
    expect(result.stderr).toContain("no Docker socket at");
  });
});

describe("the Docker socket's group (busybox: addgroup, delgroup)", () => {
  test("the docker group is recreated with the socket's GID and the app user joins it", () => {
    const host = makeHost({ groupTools: "busybox", socketGid: 998 });
    expect(host.run(APP).status).toBe(0);
    expect(named(host.calls(), ...GROUP_COMMANDS)).toEqual([
      ["delgroup", "docker"],
      ["addgroup", "-g", "998", "docker"],
      ["addgroup", "app", "docker"],
    ]);
  });

  test("without a docker group one is created", () => {
    const host = makeHost({ groupTools: "busybox", socketGid: 998, groups: "root:x:0:\napp:x:1001:\n" });
    expect(host.run(APP).status).toBe(0);
    expect(named(host.calls(), ...GROUP_COMMANDS)).toEqual([
      ["addgroup", "-g", "998", "docker"],
      ["addgroup", "app", "docker"],
    ]);
  });
});

describe("dropping privileges", () => {
  const args = ["--port", "3000", "two words", ""];

  test("su-exec by default: the app runs as the app user with its arguments, in the entrypoint's own process", () => {
    const host = makeHost({ uploads: { "a.txt": "a" } });
    const result = host.run([...APP, ...args], { UPLOAD_TARGET: host.at("volumes/config") });
    expect(result.status).toBe(0);
    const calls = host.calls();
    expect(calls[calls.length - 1]).toEqual(["su-exec", "app", ...APP, ...args]);
    // Prepared first, then dropped: the copy and the group change happen as root, before the exec.
    expect(calls.map(([command]) => command)).toEqual(["chown", "chown", "groupmod", "usermod", "su-exec"]);
    expect(result.stdout).toBe(`pid=${result.pid} home=/home/app\narg=--port\narg=3000\narg=two words\narg=\n`);
  });

  test("the app's exit status is the container's", () => {
    const host = makeHost();
    expect(host.run(APP, { APP_EXIT: "7" }).status).toBe(7);
  });

  test("gosu", () => {
    const host = makeHost();
    const result = host.run([...APP, ...args], { PRIVILEGE_DROP: "gosu" });
    expect(result.status).toBe(0);
    expect(named(host.calls(), "gosu", "su-exec", "setpriv")).toEqual([["gosu", "app", ...APP, ...args]]);
    expect(result.stdout).toContain(`pid=${result.pid} `);
  });

  test("setpriv: numeric IDs, supplementary groups from /etc/group, HOME set by the script", () => {
    const host = makeHost();
    const result = host.run([...APP, ...args], { PRIVILEGE_DROP: "setpriv" });
    expect(result.status).toBe(0);
    expect(named(host.calls(), "gosu", "su-exec", "setpriv")).toEqual([
      ["setpriv", "--reuid=1001", "--regid=1001", "--init-groups", "--", ...APP, ...args],
    ]);
    expect(result.stdout).toContain(`pid=${result.pid} home=/home/app\n`);
  });

  test("not started as root: the app runs as it is, with nothing copied or changed", () => {
    const host = makeHost({ uploads: { "a.txt": "a" } });
    const result = host.run(APP, { STUB_UID: "1001", UPLOAD_TARGET: host.at("volumes/config") });
    expect(result.status).toBe(0);
    expect(host.calls()).toEqual([]);
    expect(result.stdout).toContain(`pid=${result.pid} `);
    expect(result.stderr).toContain("not root");
  });
});

describe("refusals, before anything changes", () => {
  test.each([
    [{ PRIVILEGE_DROP: "sudo" }, /PRIVILEGE_DROP: 'sudo' is not one of su-exec, gosu, setpriv/],
    [{ APP_USER: "nobody-here" }, /APP_USER: this image has no user 'nobody-here'/],
  ])("%j", (env, message) => {
    const host = makeHost({ uploads: { "a.txt": "a" } });
    const result = host.run(APP, { ...env, UPLOAD_TARGET: host.at("volumes/config") });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(host.calls()).toEqual([]);
  });

  test("a drop tool the image lacks", () => {
    const host = makeHost();
    fs.unlinkSync(host.at("bin/su-exec"));
    const result = host.run(APP);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("su-exec is not installed in this image: install it or set PRIVILEGE_DROP");
    expect(host.calls()).toEqual([]);
  });

  test("no command", () => {
    const result = makeHost().run([]);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain("no command: pass the app's command as arguments");
  });
});
