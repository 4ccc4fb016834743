/**
 * A fake Dokploy HTTP API on 127.0.0.1 for behaviour tests. It enforces the request shapes and auth rules the
 * bootstrap scripts depend on (../shared/research/dokploy.md): better-auth sign-up/sign-in with a session cookie,
 * tRPC batched GET/POST, `x-api-key` keys that only count when created with `metadata.organizationId`, zod-like
 * validation (optional fields must be omitted, not null), and `sshKey.create` returning nothing.
 * Answers are shaped as the real Dokploy v0.30.2 gave them (__tests__/real-dokploy/manager.test.ts records them):
 * health `{status: "ok"}`, 422 for a second sign-up with the same email, `sshKey.all` with the private key, and API
 * keys limited to 10 requests (then 401) unless created with `rateLimitEnabled: false`. server.all and server.remove
 * follow v0.30.2's router (apps/dokploy/server/api/routers/server.ts): rows carry totalSum, newest first, and
 * remove refuses a server with services ("Server has active services, please delete them first").
 *
 * Faults: `upAfterMs` (nothing listening, connections refused), `setReady(false)` (502 like the proxy in front of a
 * starting app) and `failNext` (a chosen status for the next calls to one procedure or path).
 * Nothing is ever printed: bodies and headers (passwords, keys) stay in `calls` for the test to inspect.
 */
import { randomBytes, randomUUID } from "crypto";
import * as http from "http";
import * as net from "net";

export interface FakeCall {
  method: string;
  /** URL path without the query string, e.g. `/api/trpc/user.createApiKey`. */
  path: string;
  /** tRPC procedure name for `/api/trpc/...` calls. */
  proc?: string;
  /** Parsed JSON body (POST) or parsed `input` query parameter (GET); undefined when there is none. */
  body: unknown;
  headers: http.IncomingHttpHeaders;
  /** `Date.now()` when the request arrived. */
  at: number;
}

export interface FakeUser {
  id: string;
  email: string;
  name: string;
  lastName?: string;
}

export interface FakeOrganization {
  id: string;
  name: string;
  ownerId: string;
}

export interface FakeApiKey {
  id: string;
  name: string;
  key: string;
  userId: string;
  /** A key created without `organizationId` here does not authenticate (Dokploy's rule). */
  metadata: { organizationId?: string };
  prefix?: string;
  expiresIn?: number;
  /** better-auth's default: true, 10 requests per 24 hours; the 11th and later are answered 401. */
  rateLimitEnabled: boolean;
  rateLimitMax: number;
  requestCount: number;
}

export interface FakeSshKey {
  sshKeyId: string;
  name: string;
  description?: string;
  publicKey: string;
  privateKey: string;
  organizationId: string;
  createdAt: string;
}

export interface FakeServer {
  serverId: string;
  name: string;
  description: string;
  ipAddress: string;
  port: number;
  username: string;
  sshKeyId: string;
  serverType: "deploy" | "build";
  enableDockerCleanup: boolean;
  organizationId: string;
  serverStatus: "active";
  createdAt: string;
}

export const SESSION_COOKIE = "better-auth.session_token";
/** What a self-hosted Dokploy names the owner's organization at sign-up. */
export const FIRST_ORGANIZATION_NAME = "My Organization";
/** better-auth api-key plugin's default limit, per key and 24 hours, unless created with rateLimitEnabled: false. */
export const API_KEY_RATE_LIMIT_MAX = 10;

// ---------------------------------------------------------------------------------------------------------------
// zod-like validation: just the rules the Dokploy procedures below use, with zod's issue shapes and messages.

type Rule =
  | { kind: "string"; min?: number; max?: number; prefixes?: { values: string[]; message: string }; optional?: true }
  | { kind: "number"; optional?: true }
  | { kind: "boolean"; optional?: true }
  | { kind: "enum"; values: string[]; optional?: true }
  | { kind: "object"; fields: Record<string, Rule>; optional?: true };

interface Issue {
  code: string;
  path: (string | number)[];
  message: string;
  [detail: string]: unknown;
}

function typeName(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** Returns the value with unknown object keys stripped (zod's default), collecting issues on the way. */
function check(rule: Rule, value: unknown, path: (string | number)[], issues: Issue[]): unknown {
  if (value === undefined) {
    if (!rule.optional) issues.push({ code: "invalid_type", expected: rule.kind, received: "undefined", path, message: "Required" });
    return undefined;
  }
  if (rule.kind === "enum") {
    if (typeof value !== "string" || !rule.values.includes(value)) {
      const options = rule.values.map((v) => `'${v}'`).join(" | ");
      issues.push({ code: "invalid_enum_value", options: rule.values, received: value, path,
        message: `Invalid enum value. Expected ${options}, received '${String(value)}'` });
    }
    return value;
  }
  const received = typeName(value);
  if (received !== rule.kind) {
    issues.push({ code: "invalid_type", expected: rule.kind, received, path, message: `Expected ${rule.kind}, received ${received}` });
    return value;
  }
  if (rule.kind === "string") {
    const text = value as string;
    if (rule.min !== undefined && text.length < rule.min) {
      issues.push({ code: "too_small", minimum: rule.min, type: "string", inclusive: true, exact: false, path,
        message: `String must contain at least ${rule.min} character(s)` });
    }
    if (rule.max !== undefined && text.length > rule.max) {
      issues.push({ code: "too_big", maximum: rule.max, type: "string", inclusive: true, exact: false, path,
        message: `String must contain at most ${rule.max} character(s)` });
    }
    if (rule.prefixes && !rule.prefixes.values.some((prefix) => text.startsWith(prefix))) {
      issues.push({ code: "custom", path, message: rule.prefixes.message });
    }
  }
  if (rule.kind === "object") {
    const input = value as Record<string, unknown>;
    const output: Record<string, unknown> = {};
    for (const [field, fieldRule] of Object.entries(rule.fields)) {
      const checked = check(fieldRule, input[field], [...path, field], issues);
      if (checked !== undefined) output[field] = checked;
    }
    return output;
  }
  return value;
}

const str = (extra: Omit<Extract<Rule, { kind: "string" }>, "kind"> = {}): Rule => ({ kind: "string", ...extra });

const API_KEY_INPUT: Rule = {
  kind: "object",
  fields: {
    name: str({ min: 1, max: 32 }),
    prefix: str({ optional: true }),
    expiresIn: { kind: "number", optional: true },
    metadata: { kind: "object", fields: { organizationId: str({ min: 1 }) } },
    rateLimitEnabled: { kind: "boolean", optional: true },
    rateLimitMax: { kind: "number", optional: true },
  },
};

const SSH_KEY_INPUT: Rule = {
  kind: "object",
  fields: {
    name: str({ min: 1 }),
    description: str({ optional: true }),
    publicKey: str({ prefixes: { values: ["ssh-rsa ", "ssh-ed25519 "], message: "Invalid public key format" } }),
    privateKey: str({
      prefixes: {
        values: ["-----BEGIN OPENSSH PRIVATE KEY-----", "-----BEGIN RSA PRIVATE KEY-----"],
        message: "Invalid private key format",
      },
    }),
    organizationId: str({ min: 1 }),
  },
};

const SERVER_INPUT: Rule = {
  kind: "object",
  fields: {
    name: str({ min: 1 }),
    description: str(),
    ipAddress: str({ min: 1 }),
    port: { kind: "number" },
    username: str({ min: 1 }),
    sshKeyId: str({ min: 1 }),
    serverType: { kind: "enum", values: ["deploy", "build"] },
    enableDockerCleanup: { kind: "boolean" },
  },
};

// ---------------------------------------------------------------------------------------------------------------

/** An error a handler throws; the transport turns it into a tRPC or better-auth error body. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TRPC_ERROR_CODES: Record<number, [string, number]> = {
  400: ["BAD_REQUEST", -32600],
  401: ["UNAUTHORIZED", -32001],
  403: ["FORBIDDEN", -32003],
  404: ["NOT_FOUND", -32004],
  405: ["METHOD_NOT_SUPPORTED", -32005],
  409: ["CONFLICT", -32009],
  500: ["INTERNAL_SERVER_ERROR", -32603],
};

interface Caller {
  userId: string;
  organizationId: string;
}

interface Procedure {
  type: "query" | "mutation";
  /** false: answers without a session or key (Dokploy's publicProcedure). */
  auth: boolean;
  run(input: unknown, caller: Caller | undefined): unknown;
}

interface Injected {
  status: number;
  remaining: number;
}

export class FakeDokploy {
  readonly calls: FakeCall[] = [];
  readonly users: FakeUser[] = [];
  readonly organizations: FakeOrganization[] = [];
  readonly apiKeys: FakeApiKey[] = [];
  readonly sshKeys: FakeSshKey[] = [];
  readonly servers: FakeServer[] = [];
  /** serverId -> how many applications, databases and composes are deployed to it (server.all's totalSum). */
  readonly servicesOn = new Map<string, number>();

  private readonly server = http.createServer((request, response) => this.handle(request, response));
  private readonly passwords = new Map<string, string>();
  /** session token -> user id */
  private readonly sessions = new Map<string, string>();
  private readonly injected = new Map<string, Injected>();
  private ready = true;
  private port = 0;
  private resumeTimer?: NodeJS.Timeout;

  private readonly procedures: Record<string, Procedure> = {
    "settings.health": { type: "query", auth: false, run: () => ({ status: "ok" }) },
    "organization.all": {
      type: "query",
      auth: true,
      run: (_input, caller) => this.organizations.filter((org) => org.ownerId === caller!.userId),
    },
    // The caller's membership row with its user and the user's API keys (no secrets), as the real query answers.
    "user.get": {
      type: "query",
      auth: true,
      run: (_input, caller) => {
        const user = this.users.find((candidate) => candidate.id === caller!.userId)!;
        const apiKeys = this.apiKeys
          .filter((apiKey) => apiKey.userId === user.id)
          .map((apiKey) => ({ id: apiKey.id, name: apiKey.name, prefix: apiKey.prefix ?? null, enabled: true, expiresAt: null }));
        return { organizationId: caller!.organizationId, userId: user.id, role: "owner", user: { id: user.id, email: user.email, apiKeys } };
      },
    },
    "user.createApiKey": { type: "mutation", auth: true, run: (input, caller) => this.createApiKey(input, caller!) },
    "user.deleteApiKey": { type: "mutation", auth: true, run: (input, caller) => this.deleteApiKey(input, caller!) },
    "sshKey.create": { type: "mutation", auth: true, run: (input) => this.createSshKey(input) },
    "sshKey.all": {
      type: "query",
      auth: true,
      // Full rows, private key included, as the real one answers.
      run: (_input, caller) => this.sshKeys.filter((key) => key.organizationId === caller!.organizationId),
    },
    "server.create": { type: "mutation", auth: true, run: (input, caller) => this.createServer(input, caller!) },
    "server.all": {
      type: "query",
      auth: true,
      // Newest first, each row with totalSum (its services), as the real query orders and counts them.
      run: (_input, caller) =>
        this.servers
          .filter((row) => row.organizationId === caller!.organizationId)
          .map((row) => ({ ...row, totalSum: this.servicesOn.get(row.serverId) ?? 0 }))
          .reverse(),
    },
    "server.remove": { type: "mutation", auth: true, run: (input, caller) => this.removeServer(input, caller!) },
  };

  /** e.g. `http://127.0.0.1:40123` (no trailing slash); valid once `start()` resolved. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Listens on a free port of 127.0.0.1. */
  async start(): Promise<void> {
    await this.listen(0);
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Stops listening now (connections are refused, as before Dokploy publishes :3000) and listens again on the
   * same port after `ms`; `Infinity` keeps it down. */
  async upAfterMs(ms: number): Promise<void> {
    await this.close();
    if (Number.isFinite(ms)) this.resumeTimer = setTimeout(() => void this.listen(this.port), ms);
  }

  /** false: every request answers 502 Bad Gateway, like a proxy whose backend is not up yet. */
  setReady(ready: boolean): void {
    this.ready = ready;
  }

  /** The next `times` calls to `target` (a procedure such as `user.createApiKey`, or a path such as
   * `/api/auth/sign-up/email`) answer `status` without doing anything. */
  failNext(target: string, status: number, times = 1): void {
    this.injected.set(target, { status, remaining: times });
  }

  /** Creates the owner and "My Organization" directly, as if sign-up had already happened. */
  seedAdmin(admin: { email: string; password: string; name: string }): { user: FakeUser; organization: FakeOrganization } {
    const user: FakeUser = { id: randomUUID(), email: admin.email, name: admin.name };
    const organization: FakeOrganization = { id: randomUUID(), name: FIRST_ORGANIZATION_NAME, ownerId: user.id };
    this.users.push(user);
    this.organizations.push(organization);
    this.passwords.set(user.id, admin.password);
    return { user, organization };
  }

  /** Adds an API key for the owner without going through `user.createApiKey` (which insists on
   * `metadata.organizationId`), e.g. to show that a key without it does not authenticate. */
  seedApiKey(options: { name: string; organizationId?: string; rateLimitEnabled?: boolean }): FakeApiKey {
    const owner = this.users[0];
    if (!owner) throw new Error("seedApiKey needs an admin: call seedAdmin or sign up first");
    const apiKey: FakeApiKey = {
      id: randomUUID(),
      name: options.name,
      key: `fake_${randomBytes(24).toString("hex")}`,
      userId: owner.id,
      metadata: options.organizationId === undefined ? {} : { organizationId: options.organizationId },
      rateLimitEnabled: options.rateLimitEnabled ?? true,
      rateLimitMax: API_KEY_RATE_LIMIT_MAX,
      requestCount: 0,
    };
    this.apiKeys.push(apiKey);
    return apiKey;
  }

  async stop(): Promise<void> {
    clearTimeout(this.resumeTimer);
    await this.close();
  }

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, "127.0.0.1", () => {
        this.server.off("error", reject);
        resolve();
      });
    });
  }

  private close(): Promise<void> {
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // -------------------------------------------------------------------------------------------------------------
  // transport

  private handle(request: http.IncomingMessage, response: http.ServerResponse): void {
    let raw = "";
    request.setEncoding("utf8");
    request.on("data", (chunk: string) => (raw += chunk));
    request.on("end", () => {
      const url = new URL(request.url ?? "/", "http://fake");
      const proc = url.pathname.startsWith("/api/trpc/") ? url.pathname.slice("/api/trpc/".length) : undefined;
      let body: unknown;
      let badJson = false;
      try {
        const text = request.method === "GET" ? url.searchParams.get("input") : raw;
        body = text ? JSON.parse(text) : undefined;
      } catch {
        badJson = true;
      }
      this.calls.push({ method: request.method ?? "", path: url.pathname, proc, body, headers: request.headers, at: Date.now() });

      if (!this.ready) {
        response.writeHead(502, { "Content-Type": "text/plain" }).end("Bad Gateway");
        return;
      }
      const injected = this.takeInjected(proc ?? url.pathname);
      if (proc !== undefined) {
        this.handleTrpc(request, response, proc, url, body, badJson, injected);
      } else if (url.pathname.startsWith("/api/auth/")) {
        this.handleAuth(request, response, url.pathname, body, badJson, injected);
      } else {
        sendJson(response, 404, { message: "Not found" });
      }
    });
  }

  private takeInjected(target: string): number | undefined {
    const injected = this.injected.get(target);
    if (!injected) return undefined;
    if (--injected.remaining <= 0) this.injected.delete(target);
    return injected.status;
  }

  private handleTrpc(
    request: http.IncomingMessage,
    response: http.ServerResponse,
    proc: string,
    url: URL,
    body: unknown,
    badJson: boolean,
    injected: number | undefined,
  ): void {
    const batched = url.searchParams.get("batch") === "1";
    const reply = (status: number, item: unknown) => sendJson(response, status, batched ? [item] : item);
    const fail = (error: ApiError) => {
      const [name, jsonRpcCode] = TRPC_ERROR_CODES[error.status] ?? [error.code, -32603];
      reply(error.status, {
        error: { json: { message: error.message, code: jsonRpcCode, data: { code: name, httpStatus: error.status, path: proc } } },
      });
    };
    try {
      if (injected !== undefined) throw new ApiError(injected, "INJECTED", `Injected failure (HTTP ${injected})`);
      const procedure = this.procedures[proc];
      if (!procedure) throw new ApiError(404, "NOT_FOUND", `No "query"-procedure on path "${proc}"`);
      const wanted = procedure.type === "query" ? "GET" : "POST";
      if (request.method !== wanted) {
        throw new ApiError(405, "METHOD_NOT_SUPPORTED", `Unsupported ${request.method}-request to ${procedure.type} procedure at path "${proc}"`);
      }
      if (badJson) throw new ApiError(400, "PARSE_ERROR", "Invalid JSON");
      const caller = this.authenticate(request);
      if (procedure.auth && !caller) throw new ApiError(401, "UNAUTHORIZED", "UNAUTHORIZED");
      const envelope = batched ? (body as Record<string, unknown> | undefined)?.["0"] : body;
      const input = (envelope as { json?: unknown } | undefined)?.json;
      const data = procedure.run(input, caller);
      reply(200, { result: { data: { json: data === undefined ? null : data } } });
    } catch (error) {
      fail(error instanceof ApiError ? error : new ApiError(500, "INTERNAL_SERVER_ERROR", "Internal server error"));
    }
  }

  /** Session cookie first, then `x-api-key`; a key only counts when it carries `metadata.organizationId` and is
   * within its rate limit (Dokploy turns better-auth's RATE_LIMITED into "no caller", hence 401). */
  private authenticate(request: http.IncomingMessage): Caller | undefined {
    const token = parseCookies(request.headers.cookie)[SESSION_COOKIE];
    const sessionUser = token === undefined ? undefined : this.sessions.get(token);
    if (sessionUser !== undefined) {
      const organization = this.organizations.find((org) => org.ownerId === sessionUser);
      if (organization) return { userId: sessionUser, organizationId: organization.id };
    }
    const header = request.headers["x-api-key"];
    const apiKey = this.apiKeys.find((candidate) => candidate.key === header);
    if (!apiKey) return undefined;
    if (apiKey.rateLimitEnabled) {
      if (apiKey.requestCount >= apiKey.rateLimitMax) return undefined;
      apiKey.requestCount++;
    }
    if (apiKey.metadata.organizationId) return { userId: apiKey.userId, organizationId: apiKey.metadata.organizationId };
    return undefined;
  }

  private handleAuth(
    request: http.IncomingMessage,
    response: http.ServerResponse,
    path: string,
    body: unknown,
    badJson: boolean,
    injected: number | undefined,
  ): void {
    const fail = (status: number, code: string | undefined, message: string) => sendJson(response, status, code === undefined ? { message } : { message, code });
    if (injected !== undefined) return fail(injected, "INJECTED", `Injected failure (HTTP ${injected})`);
    if (request.method !== "POST") return fail(404, "NOT_FOUND", "Not found");
    // better-auth's origin check: a POST that carries cookies must come from a trusted Origin (CSRF guard).
    if (request.headers.cookie !== undefined && request.headers.origin !== this.url) {
      return fail(403, "INVALID_ORIGIN", "Invalid origin");
    }
    if (badJson || typeof body !== "object" || body === null) return fail(400, "VALIDATION_ERROR", "Invalid body");
    const fields = body as Record<string, unknown>;
    if (path === "/api/auth/sign-up/email") return this.signUp(response, fields, fail);
    if (path === "/api/auth/sign-in/email") return this.signIn(response, fields, fail);
    return fail(404, "NOT_FOUND", "Not found");
  }

  private signUp(
    response: http.ServerResponse,
    fields: Record<string, unknown>,
    fail: (status: number, code: string | undefined, message: string) => void,
  ): void {
    const { email, password, name, lastName } = fields;
    if (typeof email !== "string" || !/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email)) return fail(400, "INVALID_EMAIL", "Invalid email");
    if (typeof password !== "string") return fail(400, "VALIDATION_ERROR", "password: Required");
    if (password.length < 8) return fail(400, "PASSWORD_TOO_SHORT", "Password too short");
    if (typeof name !== "string" || name.length === 0) return fail(400, "VALIDATION_ERROR", "name: Required");
    if (lastName !== undefined && typeof lastName !== "string") return fail(400, "VALIDATION_ERROR", "lastName: Expected string");
    // better-auth's own check comes first, then Dokploy's database hook (which sends no code).
    if (this.users.some((user) => user.email === email)) {
      return fail(422, "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL", "User already exists. Use another email.");
    }
    if (this.organizations.length > 0) return fail(400, undefined, "Admin is already created");
    const { user } = this.seedAdmin({ email, password, name });
    if (lastName !== undefined) user.lastName = lastName;
    this.sendSession(response, user);
  }

  private signIn(
    response: http.ServerResponse,
    fields: Record<string, unknown>,
    fail: (status: number, code: string | undefined, message: string) => void,
  ): void {
    const { email, password } = fields;
    if (typeof email !== "string" || typeof password !== "string") return fail(400, "VALIDATION_ERROR", "email and password are required");
    const user = this.users.find((candidate) => candidate.email === email);
    if (!user || this.passwords.get(user.id) !== password) return fail(401, "INVALID_EMAIL_OR_PASSWORD", "Invalid email or password");
    this.sendSession(response, user);
  }

  private sendSession(response: http.ServerResponse, user: FakeUser): void {
    const token = randomBytes(24).toString("hex");
    this.sessions.set(token, user.id);
    response.setHeader("Set-Cookie", `${SESSION_COOKIE}=${token}; Max-Age=604800; Path=/; HttpOnly; SameSite=Lax`);
    sendJson(response, 200, { token, user: { id: user.id, email: user.email, name: user.name } });
  }

  // -------------------------------------------------------------------------------------------------------------
  // procedures

  private validate(rule: Rule, input: unknown): Record<string, unknown> {
    const issues: Issue[] = [];
    const value = check(rule, input, [], issues);
    // tRPC puts a zod error's issue list, as JSON, in the message.
    if (issues.length > 0) throw new ApiError(400, "BAD_REQUEST", JSON.stringify(issues, null, 2));
    return value as Record<string, unknown>;
  }

  private requireOrganization(id: string): void {
    if (!this.organizations.some((org) => org.id === id)) throw new ApiError(400, "BAD_REQUEST", "Organization not found");
  }

  private createApiKey(input: unknown, caller: Caller): unknown {
    const valid = this.validate(API_KEY_INPUT, input) as {
      name: string;
      prefix?: string;
      expiresIn?: number;
      metadata: { organizationId: string };
      rateLimitEnabled?: boolean;
      rateLimitMax?: number;
    };
    this.requireOrganization(valid.metadata.organizationId);
    const apiKey: FakeApiKey = {
      id: randomUUID(),
      name: valid.name,
      key: `${valid.prefix ?? ""}${randomBytes(32).toString("base64url")}`,
      userId: caller.userId,
      metadata: { organizationId: valid.metadata.organizationId },
      ...(valid.prefix !== undefined && { prefix: valid.prefix }),
      ...(valid.expiresIn !== undefined && { expiresIn: valid.expiresIn }),
      rateLimitEnabled: valid.rateLimitEnabled ?? true,
      rateLimitMax: valid.rateLimitMax ?? API_KEY_RATE_LIMIT_MAX,
      requestCount: 0,
    };
    this.apiKeys.push(apiKey);
    // The real row has more columns; these are the ones anything here reads.
    return { key: apiKey.key, id: apiKey.id, name: apiKey.name, rateLimitEnabled: apiKey.rateLimitEnabled, rateLimitMax: apiKey.rateLimitMax };
  }

  private deleteApiKey(input: unknown, caller: Caller): boolean {
    const valid = this.validate({ kind: "object", fields: { apiKeyId: str() } }, input) as { apiKeyId: string };
    const index = this.apiKeys.findIndex((apiKey) => apiKey.id === valid.apiKeyId);
    if (index < 0) throw new ApiError(404, "NOT_FOUND", "API key not found");
    if (this.apiKeys[index].userId !== caller.userId) throw new ApiError(401, "UNAUTHORIZED", "You are not authorized to delete this API key");
    this.apiKeys.splice(index, 1);
    return true;
  }

  private createSshKey(input: unknown): undefined {
    const valid = this.validate(SSH_KEY_INPUT, input) as Omit<FakeSshKey, "sshKeyId" | "createdAt">;
    this.requireOrganization(valid.organizationId);
    this.sshKeys.push({ ...valid, sshKeyId: randomUUID(), createdAt: new Date().toISOString() });
    return undefined;
  }

  /** server.remove as v0.30.2 answers it: NOT_FOUND, another organization's server, or one with services, refused. */
  private removeServer(input: unknown, caller: Caller): FakeServer {
    const valid = this.validate({ kind: "object", fields: { serverId: str() } }, input) as { serverId: string };
    const index = this.servers.findIndex((row) => row.serverId === valid.serverId);
    if (index < 0) throw new ApiError(404, "NOT_FOUND", "Server not found");
    if (this.servers[index].organizationId !== caller.organizationId) {
      throw new ApiError(401, "UNAUTHORIZED", "You are not authorized to delete this server");
    }
    if ((this.servicesOn.get(valid.serverId) ?? 0) > 0) {
      throw new ApiError(400, "BAD_REQUEST", "Server has active services, please delete them first");
    }
    return this.servers.splice(index, 1)[0];
  }

  private createServer(input: unknown, caller: Caller): FakeServer {
    const valid = this.validate(SERVER_INPUT, input) as Omit<FakeServer, "serverId" | "organizationId" | "serverStatus" | "createdAt">;
    if (!this.sshKeys.some((key) => key.sshKeyId === valid.sshKeyId)) throw new ApiError(400, "BAD_REQUEST", "SSH key not found");
    const row: FakeServer = {
      ...valid,
      serverId: randomUUID(),
      organizationId: caller.organizationId,
      serverStatus: "active",
      createdAt: new Date().toISOString(),
    };
    this.servers.push(row);
    return row;
  }
}

function sendJson(response: http.ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "Content-Type": "application/json" }).end(JSON.stringify(body));
}

function parseCookies(header: string | undefined): Record<string, string> {
  const cookies: Record<string, string> = {};
  for (const part of (header ?? "").split(";")) {
    const separator = part.indexOf("=");
    if (separator > 0) cookies[part.slice(0, separator).trim()] = part.slice(separator + 1).trim();
  }
  return cookies;
}
