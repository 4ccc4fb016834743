/**
 * The real Dokploy (v0.30.2 from source, prepared by __tests__/real-dokploy/prepare.sh) for tests: PostgreSQL with
 * its own data dir and Dokploy's dev server (`tsx server/server.ts`, what `pnpm dev` runs), both inside a network
 * namespace that has only loopback, so nothing either does can leave the machine. Programs under test run in the
 * same namespace (`inNamespace`) and reach Dokploy at http://127.0.0.1:3000; the test process itself reaches
 * PostgreSQL through its unix socket (the filesystem is shared) and Dokploy through curl in the namespace.
 *
 * Sign-up awaits a public-IP lookup; with no route it times out after minutes. `publicIpLookup(true)` answers it
 * from a DNS responder on the namespace's loopback (__tests__/real-dokploy/public-ip-dns.py).
 * Needs root (ip netns). Everything started here is stopped by `stop()`, by process group, and the namespace and
 * temp dir are removed.
 *
 * One instance per machine: the dev server writes its build (.next) into the shared prepared app directory, so a
 * second run (another `npm test` beside this one) waits for the first to finish (`holdMachineLock`).
 */
import { ChildProcess, spawn, spawnSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

const REPO = path.resolve(__dirname, "../..");
const PREPARE = "bash __tests__/real-dokploy/prepare.sh";
const CACHE = process.env.DOKPLOY_OCI_CACHE ?? "/var/cache/dokploy-oci";
const MANIFEST = path.join(CACHE, "real-dokploy.json");
const PUBLIC_IP_DNS = path.join(REPO, "__tests__/real-dokploy/public-ip-dns.py");
/** Dokploy's `docker` here: its web-server backup and restore run the real pg_dump / pg_restore (see the stub). */
const DOCKER_STUB_DIR = path.join(REPO, "__tests__/harness/dokploy-docker-stub");
/** The first server public-ip asks (myip.opendns.com A); it is put on the namespace's loopback. */
const PUBLIC_IP_RESOLVER = "208.67.222.222";
/** What the responder answers: TEST-NET-1, never routed. */
export const FAKE_PUBLIC_IP = "192.0.2.10";
const DOKPLOY_PORT = 3000;
const POSTGRES_PORT = 5432;
const DATABASE = "dokploy";
/** The migrated, never-used database each `reset()` copies. */
const TEMPLATE_DATABASE = "dokploy_migrated";
/** A cold Next.js dev compile on a busy 2-core machine: measured 55 s idle; generous on purpose. */
const START_TIMEOUT_MS = 15 * 60_000;
const LOCK_FILE = path.join(CACHE, "real-dokploy.lock");
/** A whole real-Dokploy suite under load: what a second run may wait for the first. */
const LOCK_TIMEOUT_MS = 30 * 60_000;
/** What a suite's beforeAll may take: waiting for the lock, then a cold start. */
export const START_LIMIT_MS = LOCK_TIMEOUT_MS + START_TIMEOUT_MS;
export const NULL_INPUT = "%7B%220%22%3A%7B%22json%22%3Anull%7D%7D";

interface Manifest {
  version: string;
  appDir: string;
  node: string;
  postgresBin: string;
}

export interface Answer {
  status: number;
  text: string;
  /** Parsed JSON, or undefined when the body is not JSON. */
  body: any;
}

export interface RequestOptions {
  body?: unknown;
  /** Sent as `x-api-key` (through a 0600 curl config file, never argv). */
  apiKey?: string;
  /** A curl cookie jar: sent, and updated from Set-Cookie. */
  cookieJar?: string;
}

export interface RealDokploy {
  readonly version: string;
  readonly namespace: string;
  /** As seen from inside the namespace. */
  readonly url: string;
  /** The argv that runs `argv` inside the namespace. */
  inNamespace(argv: string[]): string[];
  request(method: "GET" | "POST", urlPath: string, options?: RequestOptions): Answer;
  /** Runs SQL on Dokploy's database; rows as psql -At prints them. */
  sql(query: string): string;
  /** Empties Dokploy: a fresh copy of the migrated database (Dokploy reconnects by itself). */
  reset(): void;
  /**
   * Dokploy's BASE_PATH (/etc/dokploy in production; `<app>/.docker` in development, here a link to a directory of
   * this run): what its web-server backup copies besides the database.
   */
  readonly basePath: string;
  /** The `docker` invocations Dokploy made (the stub's log), one a line. */
  dockerCalls(): string[];
  /** true: sign-up's public-IP lookup is answered at once; false: it waits out its timeouts, as with no internet. */
  publicIpLookup(answered: boolean): Promise<void>;
  serverLog(): string;
  stop(): Promise<void>;
}

function readManifest(): Manifest {
  if (!fs.existsSync(MANIFEST)) {
    throw new Error(
      `\n\n*** The real Dokploy is NOT prepared (${MANIFEST} is missing). ***\n` +
        `Run \`${PREPARE}\` as root (it needs ../shared/dokploy/ and PostgreSQL; .ci/run does it), then the tests again.\n`,
    );
  }
  return JSON.parse(fs.readFileSync(MANIFEST, "utf8")) as Manifest;
}

function run(argv: string[], options: { input?: string; env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}) {
  const result = spawnSync(argv[0], argv.slice(1), {
    encoding: "utf8",
    input: options.input,
    env: options.env ?? process.env,
    cwd: options.cwd,
    timeout: options.timeoutMs ?? 120_000,
  });
  if (result.error) throw result.error;
  return result;
}

function must(argv: string[], options: Parameters<typeof run>[1] = {}): string {
  const result = run(argv, options);
  if (result.status !== 0) throw new Error(`${argv.join(" ")} failed (${result.status}): ${result.stderr}${result.stdout}`);
  return result.stdout;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export function tail(file: string, lines = 40): string {
  return fs.existsSync(file) ? fs.readFileSync(file, "utf8").trim().split("\n").slice(-lines).join("\n") : "(no log)";
}

/** Starts a long-running program in its own process group, output to `log`. */
export function startProgram(argv: string[], log: string, options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): ChildProcess {
  const out = fs.openSync(log, "a");
  const child = spawn(argv[0], argv.slice(1), { detached: true, stdio: ["ignore", out, out], env: options.env, cwd: options.cwd });
  fs.closeSync(out);
  return child;
}

/** Signals the group, waits for the leader's exit, then kills what is left. */
export async function stopProgram(child: ChildProcess | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!child || child.pid === undefined) return;
  const exited = child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const group = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      // the group is gone
    }
  };
  group(signal);
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, 20_000)))]);
  clearTimeout(timer);
  group("SIGKILL");
}

/**
 * Takes the machine-wide lock through flock(1), held by a child whose stdin is our pipe: the lock goes when the
 * returned release closes it, or when this process dies, so a crashed run never leaves it taken.
 */
async function holdMachineLock(): Promise<() => Promise<void>> {
  const holder = spawn("flock", ["--exclusive", "--timeout", String(LOCK_TIMEOUT_MS / 1000), LOCK_FILE, "sh", "-c", "echo held; exec cat >/dev/null"], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  let stderr = "";
  holder.stderr!.on("data", (chunk) => (stderr += chunk));
  const exited = new Promise<number | null>((resolve) => holder.once("exit", (code) => resolve(code)));
  const held = new Promise<boolean>((resolve) => holder.stdout!.once("data", () => resolve(true)));
  let waiting: NodeJS.Timeout | undefined = setTimeout(
    () => process.stderr.write(`real Dokploy: another run holds ${LOCK_FILE}; waiting for it (at most ${LOCK_TIMEOUT_MS / 60_000} min)\n`),
    5_000,
  );
  const outcome = await Promise.race([held, exited.then(() => false)]);
  clearTimeout(waiting);
  waiting = undefined;
  if (!outcome) throw new Error(`could not take ${LOCK_FILE} within ${LOCK_TIMEOUT_MS / 60_000} min: ${stderr.trim()}`);
  return async () => {
    holder.stdin!.end();
    await exited;
  };
}

function linkTarget(file: string): string | undefined {
  try {
    return fs.readlinkSync(file);
  } catch {
    return undefined;
  }
}

export async function startRealDokploy(): Promise<RealDokploy> {
  const manifest = readManifest();
  if (process.getuid?.() !== 0) throw new Error("the real Dokploy suite needs root (it creates a network namespace)");
  const releaseLock = await holdMachineLock();
  const namespace = `dkreal${process.pid}`;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "real-dokploy-"));
  const pgData = path.join(work, "pgdata");
  const socketDir = path.join(work, "socket");
  const secretsDir = path.join(work, "secrets");
  const basePath = path.join(work, "dokploy-base");
  const basePathLink = path.join(manifest.appDir, ".docker");
  const containerRoot = path.join(work, "postgres-container");
  const logs = { postgres: path.join(work, "postgres.log"), migrate: path.join(work, "migrate.log"), dokploy: path.join(work, "dokploy.log"), dns: path.join(work, "dns.log") };
  fs.mkdirSync(secretsDir, { mode: 0o700 });
  let postgres: ChildProcess | undefined;
  let dokploy: ChildProcess | undefined;
  let dns: ChildProcess | undefined;
  let namespaceCreated = false;
  const inNamespace = (argv: string[]) => ["ip", "netns", "exec", namespace, ...argv];
  const asPostgres = (argv: string[]) => ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", ...argv];
  const url = `http://127.0.0.1:${DOKPLOY_PORT}`;
  const databaseUrl = (database: string) => `postgres://dokploy@127.0.0.1:${POSTGRES_PORT}/${database}`;
  const psql = (database: string, query: string) =>
    must([path.join(manifest.postgresBin, "psql"), "-h", socketDir, "-p", String(POSTGRES_PORT), "-U", "dokploy", "-d", database, "-v", "ON_ERROR_STOP=1", "-At", "-c", query]);

  const stop = async () => {
    await stopProgram(dns);
    await stopProgram(dokploy);
    await stopProgram(postgres, "SIGINT");
    if (namespaceCreated) run(["ip", "netns", "delete", namespace]);
    if (linkTarget(basePathLink) === basePath) fs.rmSync(basePathLink);
    fs.rmSync(work, { recursive: true, force: true });
    await releaseLock();
  };

  try {
    must(["ip", "netns", "add", namespace]);
    namespaceCreated = true;
    must(inNamespace(["ip", "link", "set", "lo", "up"]));
    must(inNamespace(["ip", "address", "add", `${PUBLIC_IP_RESOLVER}/32`, "dev", "lo"]));

    // PostgreSQL: trust auth is enough, nothing outside the namespace can reach it.
    for (const dir of [pgData, socketDir]) fs.mkdirSync(dir, { mode: 0o700 });
    fs.chmodSync(work, 0o755);
    must(["chown", "postgres:postgres", pgData, socketDir]);
    must(asPostgres([path.join(manifest.postgresBin, "initdb"), "-D", pgData, "-U", "dokploy", "--auth=trust", "-E", "UTF8"]));
    postgres = startProgram(
      inNamespace(asPostgres([path.join(manifest.postgresBin, "postgres"), "-D", pgData, "-k", socketDir, "-p", String(POSTGRES_PORT), "-c", "listen_addresses=127.0.0.1"])),
      logs.postgres,
    );
    for (const deadline = Date.now() + 120_000; ; await sleep(200)) {
      if (run([path.join(manifest.postgresBin, "pg_isready"), "-h", socketDir, "-p", String(POSTGRES_PORT)]).status === 0) break;
      if (postgres.exitCode !== null || Date.now() > deadline) throw new Error(`PostgreSQL did not start:\n${tail(logs.postgres)}`);
    }
    psql("postgres", `CREATE DATABASE ${TEMPLATE_DATABASE}`);

    // The machine lock makes this run the only one using the prepared app directory: a link left by a crashed run
    // is replaced.
    fs.mkdirSync(basePath, { mode: 0o700 });
    fs.mkdirSync(path.join(containerRoot, "tmp"), { recursive: true, mode: 0o700 });
    fs.rmSync(basePathLink, { recursive: true, force: true });
    fs.symlinkSync(basePath, basePathLink);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      PATH: `${DOCKER_STUB_DIR}:${path.dirname(manifest.node)}:${process.env.PATH}`,
      STUB_PG_BIN: manifest.postgresBin,
      STUB_PG_SOCKET: socketDir,
      STUB_PG_PORT: String(POSTGRES_PORT),
      STUB_CONTAINER_ROOT: containerRoot,
      NODE_ENV: "development",
      PORT: String(DOKPLOY_PORT),
      NEXT_TELEMETRY_DISABLED: "1",
      BETTER_AUTH_SECRET: randomBytes(32).toString("hex"),
    };
    // rclone 1.60 (Debian 12) refuses every S3 remote when AWS_CA_BUNDLE is set ("LoadCustomCABundleError");
    // a manager's Dokploy container has none, and the suite's S3 server is plain http on loopback.
    delete env.AWS_CA_BUNDLE;
    const tsx = path.join(manifest.appDir, "node_modules/.bin/tsx");
    // Dokploy's migration.ts logs a failure and still exits 0: its last line says which.
    const migrated = run(inNamespace([tsx, "migration.ts"]), { cwd: manifest.appDir, env: { ...env, DATABASE_URL: databaseUrl(TEMPLATE_DATABASE) }, timeoutMs: 600_000 });
    fs.writeFileSync(logs.migrate, `${migrated.stdout}${migrated.stderr}`);
    if (migrated.status !== 0 || !migrated.stdout.includes("Migration complete")) throw new Error(`Dokploy's migrations failed:\n${tail(logs.migrate)}`);
    psql("postgres", `CREATE DATABASE ${DATABASE} TEMPLATE ${TEMPLATE_DATABASE}`);

    dokploy = startProgram(inNamespace([tsx, "server/server.ts"]), logs.dokploy, { cwd: manifest.appDir, env: { ...env, DATABASE_URL: databaseUrl(DATABASE) } });
    const started = Date.now();
    for (;;) {
      const health = run(inNamespace(["curl", "-s", "-m", "60", "-o", "/dev/null", "-w", "%{http_code}", `${url}/api/trpc/settings.health?batch=1&input=${NULL_INPUT}`]), { timeoutMs: 90_000 });
      if (health.stdout === "200") break;
      if (dokploy.exitCode !== null) throw new Error(`Dokploy exited (${dokploy.exitCode}):\n${tail(logs.dokploy)}`);
      if (Date.now() - started > START_TIMEOUT_MS) throw new Error(`Dokploy did not answer settings.health in ${START_TIMEOUT_MS / 1000}s:\n${tail(logs.dokploy)}`);
      await sleep(1000);
    }
  } catch (error) {
    await stop();
    throw error;
  }

  let requests = 0;
  return {
    version: manifest.version,
    namespace,
    url,
    inNamespace,
    request(method, urlPath, options = {}) {
      const id = ++requests;
      const config = path.join(secretsDir, `curl-${id}.conf`);
      const bodyFile = path.join(secretsDir, `body-${id}.json`);
      const lines = [`request = "${method}"`, `url = "${url}${urlPath}"`, `output = "${bodyFile}"`, 'write-out = "%{http_code}"', "silent", 'max-time = 600'];
      if (options.apiKey !== undefined) lines.push(`header = "x-api-key: ${options.apiKey}"`);
      if (options.cookieJar !== undefined) lines.push(`cookie = "${options.cookieJar}"`, `cookie-jar = "${options.cookieJar}"`);
      if (options.body !== undefined) {
        const input = path.join(secretsDir, `input-${id}.json`);
        fs.writeFileSync(input, JSON.stringify(options.body), { mode: 0o600 });
        lines.push('header = "Content-Type: application/json"', `data-binary = "@${input}"`);
      }
      fs.writeFileSync(config, `${lines.join("\n")}\n`, { mode: 0o600 });
      const status = Number(must(inNamespace(["curl", "-K", config]), { timeoutMs: 660_000 }));
      const text = fs.existsSync(bodyFile) ? fs.readFileSync(bodyFile, "utf8") : "";
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      return { status, text, body };
    },
    sql: (query) => psql(DATABASE, query).trim(),
    reset() {
      psql("postgres", `DROP DATABASE ${DATABASE} WITH (FORCE)`);
      psql("postgres", `CREATE DATABASE ${DATABASE} TEMPLATE ${TEMPLATE_DATABASE}`);
    },
    async publicIpLookup(answered) {
      if (!answered) {
        await stopProgram(dns);
        dns = undefined;
        return;
      }
      if (dns) return;
      fs.rmSync(logs.dns, { force: true });
      dns = startProgram(inNamespace(["python3", PUBLIC_IP_DNS, PUBLIC_IP_RESOLVER, FAKE_PUBLIC_IP]), logs.dns);
      for (const deadline = Date.now() + 30_000; !fs.readFileSync(logs.dns, "utf8").includes("answering"); await sleep(100)) {
        if (dns.exitCode !== null || Date.now() > deadline) throw new Error(`the public-IP DNS responder did not start:\n${tail(logs.dns)}`);
      }
    },
    basePath,
    dockerCalls: () => (fs.existsSync(path.join(work, "docker-calls.log")) ? fs.readFileSync(path.join(work, "docker-calls.log"), "utf8").trim().split("\n") : []),
    serverLog: () => fs.readFileSync(logs.dokploy, "utf8"),
    stop,
  };
}
