/**
 * The fake Dokploy enforces the API contract of ../shared/research/dokploy.md, proven here with a plain HTTP
 * client: if the fake were lenient, the bootstrap tests would pass against requests real Dokploy refuses.
 */
import * as http from "http";
import { FakeDokploy, FIRST_ORGANIZATION_NAME, SESSION_COOKIE } from "../harness/fake-dokploy";
import { sleep, WAIT_LIMIT_MS } from "../../sandbox/wait";

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: any;
}

const ADMIN = { email: "admin@example.com", password: "correct horse battery", name: "Admin" };
const PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKq9kfpmB0vSFh0Wq1nQ8cXH0lJrQbq7ZP2v1d6S3Xyz dokploy-oci";
const PRIVATE_KEY = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";

let fake: FakeDokploy;

beforeEach(async () => {
  fake = new FakeDokploy();
  await fake.start();
});

afterEach(() => fake.stop());

function send(method: string, path: string, options: { body?: unknown; headers?: http.OutgoingHttpHeaders } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers = { ...(payload && { "Content-Type": "application/json" }), ...options.headers };
    const request = http.request(`${fake.url}${path}`, { method, headers, agent: false }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk) => (text += chunk));
      response.on("end", () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // not JSON (e.g. the proxy's 502 page)
        }
        resolve({ status: response.statusCode!, headers: response.headers, body });
      });
    });
    request.on("error", reject);
    request.end(payload);
  });
}

const signUp = (body: unknown) => send("POST", "/api/auth/sign-up/email", { body });
const signIn = (body: unknown) => send("POST", "/api/auth/sign-in/email", { body });

function sessionCookie(reply: Reply): string {
  const cookie = (reply.headers["set-cookie"] ?? []).find((line) => line.startsWith(`${SESSION_COOKIE}=`));
  if (!cookie) throw new Error("no session cookie");
  return cookie.split(";")[0];
}

type Auth = { cookie: string } | { "x-api-key": string } | Record<string, never>;

function query(proc: string, auth: Auth, input: unknown = null): Promise<Reply> {
  const encoded = encodeURIComponent(JSON.stringify({ 0: { json: input } }));
  return send("GET", `/api/trpc/${proc}?batch=1&input=${encoded}`, { headers: auth });
}

function mutation(proc: string, auth: Auth, input: unknown): Promise<Reply> {
  return send("POST", `/api/trpc/${proc}?batch=1`, { headers: auth, body: { 0: { json: input } } });
}

const data = (reply: Reply) => reply.body[0].result.data.json;
const errorMessage = (reply: Reply): string => reply.body[0].error.json.message;

async function signedUp(): Promise<{ cookie: string; organizationId: string }> {
  const cookie = sessionCookie(await signUp(ADMIN));
  const organizationId = data(await query("organization.all", { cookie }))[0].id;
  return { cookie, organizationId };
}

async function withSshKey(): Promise<{ cookie: string; organizationId: string; sshKeyId: string }> {
  const session = await signedUp();
  const auth = { cookie: session.cookie };
  await mutation("sshKey.create", auth, { name: "workers", publicKey: PUBLIC_KEY, privateKey: PRIVATE_KEY, organizationId: session.organizationId });
  return { ...session, sshKeyId: data(await query("sshKey.all", auth))[0].sshKeyId };
}

describe("better-auth endpoints", () => {
  test("sign-up validates the body's shape", async () => {
    expect((await signUp({ ...ADMIN, email: "not-an-email" })).status).toBe(400);
    expect((await signUp({ ...ADMIN, password: "short" })).status).toBe(400);
    expect((await signUp({ ...ADMIN, name: "" })).status).toBe(400);
    expect((await signUp({ email: ADMIN.email, password: ADMIN.password })).status).toBe(400);
    expect(fake.users).toHaveLength(0);
  });

  test("the first sign-up creates the owner and 'My Organization' and sets the session cookie", async () => {
    const reply = await signUp({ ...ADMIN, lastName: "Root" });
    expect(reply.status).toBe(200);
    expect(sessionCookie(reply)).toMatch(new RegExp(`^${SESSION_COOKIE}=[0-9a-f]+$`));
    expect(fake.users).toEqual([expect.objectContaining({ email: ADMIN.email, name: "Admin", lastName: "Root" })]);
    expect(fake.organizations).toEqual([expect.objectContaining({ name: FIRST_ORGANIZATION_NAME, ownerId: fake.users[0].id })]);
  });

  test("a second sign-up: same email 422 (better-auth), another email 400 'Admin is already created' (Dokploy)", async () => {
    await signUp(ADMIN);
    const same = await signUp(ADMIN);
    expect([same.status, same.body]).toEqual([422, { message: "User already exists. Use another email.", code: "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL" }]);
    const other = await signUp({ ...ADMIN, email: "other@example.com" });
    expect([other.status, other.body]).toEqual([400, { message: "Admin is already created" }]);
    expect(fake.users).toHaveLength(1);
  });

  test("sign-in: wrong password -> 401, right one -> session cookie", async () => {
    fake.seedAdmin(ADMIN);
    expect((await signIn({ email: ADMIN.email, password: "wrong password" })).status).toBe(401);
    expect((await signIn({ email: "nobody@example.com", password: ADMIN.password })).status).toBe(401);
    const reply = await signIn({ email: ADMIN.email, password: ADMIN.password });
    expect(reply.status).toBe(200);
    const cookie = sessionCookie(reply);
    expect((await query("organization.all", { cookie })).status).toBe(200);
  });

  test("an auth POST that carries cookies needs a trusted Origin (better-auth's CSRF check)", async () => {
    fake.seedAdmin(ADMIN);
    const body = { email: ADMIN.email, password: ADMIN.password };
    const withCookie = await send("POST", "/api/auth/sign-in/email", { body, headers: { cookie: `${SESSION_COOKIE}=stale` } });
    expect(withCookie.status).toBe(403);
    const withOrigin = await send("POST", "/api/auth/sign-in/email", { body, headers: { cookie: `${SESSION_COOKIE}=stale`, origin: fake.url } });
    expect(withOrigin.status).toBe(200);
  });
});

describe("tRPC transport and auth", () => {
  test("no session and no key -> 401; settings.health answers without auth", async () => {
    await signedUp();
    const reply = await query("organization.all", {});
    expect(reply.status).toBe(401);
    expect(reply.body[0].error.json.data.code).toBe("UNAUTHORIZED");
    expect((await query("organization.all", { cookie: `${SESSION_COOKIE}=forged` })).status).toBe(401);
    const health = await query("settings.health", {});
    expect(health.status).toBe(200);
    expect(data(health)).toEqual({ status: "ok" });
  });

  test("organization.all lists the owner's organization", async () => {
    const { cookie, organizationId } = await signedUp();
    const reply = await query("organization.all", { cookie });
    expect(reply.body).toEqual([{ result: { data: { json: [{ id: organizationId, name: FIRST_ORGANIZATION_NAME, ownerId: fake.users[0].id }] } } }]);
  });

  test("a query must be a GET and a mutation a POST", async () => {
    const { cookie } = await signedUp();
    expect((await send("POST", "/api/trpc/organization.all?batch=1", { headers: { cookie }, body: { 0: { json: null } } })).status).toBe(405);
    expect((await send("GET", "/api/trpc/user.createApiKey?batch=1", { headers: { cookie } })).status).toBe(405);
    expect((await query("no.such", { cookie })).status).toBe(404);
  });

  test("a non-batched call gets an unwrapped answer", async () => {
    const reply = await send("GET", `/api/trpc/settings.health?input=${encodeURIComponent(JSON.stringify({ json: null }))}`);
    expect(reply.body).toEqual({ result: { data: { json: { status: "ok" } } } });
  });

  test("an API key authenticates only when it was created with metadata.organizationId", async () => {
    const { cookie, organizationId } = await signedUp();
    const created = data(await mutation("user.createApiKey", { cookie }, { name: "ci", metadata: { organizationId } }));
    expect((await query("organization.all", { "x-api-key": created.key })).status).toBe(200);

    const withoutOrganization = fake.seedApiKey({ name: "legacy" });
    expect((await query("organization.all", { "x-api-key": withoutOrganization.key })).status).toBe(401);
    expect((await query("organization.all", { "x-api-key": "made-up" })).status).toBe(401);
  });

  test("an API key answers 10 requests, then 401, unless it was created with rateLimitEnabled: false", async () => {
    const { cookie, organizationId } = await signedUp();
    const limited = data(await mutation("user.createApiKey", { cookie }, { name: "limited", metadata: { organizationId } }));
    expect(limited).toMatchObject({ rateLimitEnabled: true, rateLimitMax: 10 });
    for (let call = 1; call <= 10; call++) expect((await query("server.all", { "x-api-key": limited.key })).status).toBe(200);
    expect((await query("server.all", { "x-api-key": limited.key })).status).toBe(401);

    const unlimited = data(await mutation("user.createApiKey", { cookie }, { name: "unlimited", metadata: { organizationId }, rateLimitEnabled: false }));
    for (let call = 1; call <= 30; call++) expect((await query("server.all", { "x-api-key": unlimited.key })).status).toBe(200);
  });
});

describe("procedures", () => {
  test("user.createApiKey returns {key, id, name} and stores the organization in the metadata", async () => {
    const { cookie, organizationId } = await signedUp();
    const reply = await mutation("user.createApiKey", { cookie }, { name: "dokploy-oci", metadata: { organizationId } });
    expect(reply.status).toBe(200);
    expect(data(reply)).toEqual({ key: fake.apiKeys[0].key, id: fake.apiKeys[0].id, name: "dokploy-oci", rateLimitEnabled: true, rateLimitMax: 10 });
    expect(fake.apiKeys[0].metadata).toEqual({ organizationId });
  });

  test("user.createApiKey: optional fields sent as null, a missing organization or a bad name -> 400 naming the field", async () => {
    const { cookie, organizationId } = await signedUp();
    const nullPrefix = await mutation("user.createApiKey", { cookie }, { name: "k", prefix: null, metadata: { organizationId } });
    expect(nullPrefix.status).toBe(400);
    expect(JSON.parse(errorMessage(nullPrefix))).toEqual([
      expect.objectContaining({ code: "invalid_type", received: "null", path: ["prefix"] }),
    ]);
    const nullExpiry = await mutation("user.createApiKey", { cookie }, { name: "k", expiresIn: null, metadata: { organizationId } });
    expect(errorMessage(nullExpiry)).toContain('"expiresIn"');

    const noMetadata = await mutation("user.createApiKey", { cookie }, { name: "k" });
    expect(noMetadata.status).toBe(400);
    expect(JSON.parse(errorMessage(noMetadata))[0]).toMatchObject({ path: ["metadata"], message: "Required" });
    const emptyMetadata = await mutation("user.createApiKey", { cookie }, { name: "k", metadata: {} });
    expect(JSON.parse(errorMessage(emptyMetadata))[0]).toMatchObject({ path: ["metadata", "organizationId"] });
    expect((await mutation("user.createApiKey", { cookie }, { name: "k", metadata: { organizationId: "nope" } })).status).toBe(400);

    expect((await mutation("user.createApiKey", { cookie }, { name: "", metadata: { organizationId } })).status).toBe(400);
    const tooLong = await mutation("user.createApiKey", { cookie }, { name: "x".repeat(33), metadata: { organizationId } });
    expect(JSON.parse(errorMessage(tooLong))[0]).toMatchObject({ code: "too_big", path: ["name"] });
    expect((await mutation("user.createApiKey", { cookie }, { name: "x".repeat(32), metadata: { organizationId } })).status).toBe(200);
    expect(fake.apiKeys).toHaveLength(1);
  });

  test("sshKey.create returns nothing; sshKey.all lists the full row, private key included", async () => {
    const { cookie, organizationId } = await signedUp();
    const reply = await mutation("sshKey.create", { cookie }, { name: "workers", publicKey: PUBLIC_KEY, privateKey: PRIVATE_KEY, organizationId });
    expect(reply.status).toBe(200);
    expect(data(reply)).toBeNull();
    const rows = data(await query("sshKey.all", { cookie }));
    expect(rows).toEqual([expect.objectContaining({ sshKeyId: fake.sshKeys[0].sshKeyId, name: "workers", publicKey: PUBLIC_KEY, privateKey: PRIVATE_KEY, organizationId })]);
  });

  test("sshKey.create refuses keys in the wrong format and a missing organizationId", async () => {
    const { cookie, organizationId } = await signedUp();
    const valid = { name: "workers", publicKey: PUBLIC_KEY, privateKey: PRIVATE_KEY, organizationId };
    const pkcs8 = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n";
    const badPrivate = await mutation("sshKey.create", { cookie }, { ...valid, privateKey: pkcs8 });
    expect(badPrivate.status).toBe(400);
    expect(JSON.parse(errorMessage(badPrivate))[0]).toMatchObject({ path: ["privateKey"] });
    const badPublic = await mutation("sshKey.create", { cookie }, { ...valid, publicKey: "ecdsa-sha2-nistp256 AAAA" });
    expect(JSON.parse(errorMessage(badPublic))[0]).toMatchObject({ path: ["publicKey"] });
    const { organizationId: _dropped, ...noOrganization } = valid;
    expect(JSON.parse(errorMessage(await mutation("sshKey.create", { cookie }, noOrganization)))[0]).toMatchObject({ path: ["organizationId"] });
    const rsaPem = "-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n";
    expect((await mutation("sshKey.create", { cookie }, { ...valid, privateKey: rsaPem, publicKey: "ssh-rsa AAAAB3Nza" })).status).toBe(200);
    expect(fake.sshKeys).toHaveLength(1);
  });

  test("server.create requires every field (description too), strips unknown keys, returns the row", async () => {
    const session = await withSshKey();
    const auth = { cookie: session.cookie };
    const valid = {
      name: "worker-1",
      description: "",
      ipAddress: "10.0.0.11",
      port: 22,
      username: "root",
      sshKeyId: session.sshKeyId,
      serverType: "deploy",
      enableDockerCleanup: true,
    };
    const { description: _description, ...noDescription } = valid;
    const missing = await mutation("server.create", auth, noDescription);
    expect(missing.status).toBe(400);
    expect(JSON.parse(errorMessage(missing))).toEqual([expect.objectContaining({ path: ["description"], message: "Required" })]);
    const { enableDockerCleanup: _cleanup, ...noCleanup } = valid;
    expect(errorMessage(await mutation("server.create", auth, noCleanup))).toContain('"enableDockerCleanup"');
    expect(errorMessage(await mutation("server.create", auth, { ...valid, port: "22" }))).toContain("Expected number, received string");
    expect(errorMessage(await mutation("server.create", auth, { ...valid, serverType: "worker" }))).toContain("Invalid enum value");
    expect(errorMessage(await mutation("server.create", auth, { ...valid, name: "" }))).toContain('"name"');
    expect((await mutation("server.create", auth, { ...valid, sshKeyId: "unknown" })).status).toBe(400);
    expect(fake.servers).toHaveLength(0);

    const created = await mutation("server.create", auth, { ...valid, setup: true });
    expect(created.status).toBe(200);
    expect(data(created)).toMatchObject({ ...valid, serverId: expect.any(String), organizationId: session.organizationId });
    expect(data(created)).not.toHaveProperty("setup");
    expect(data(await query("server.all", auth))).toEqual([{ ...data(created), totalSum: 0 }]);
  });

  test("server.remove answers as v0.30.2: the row, NOT_FOUND after, and BAD_REQUEST while services run on it", async () => {
    const session = await withSshKey();
    const auth = { cookie: session.cookie };
    const server = { name: "worker-1", description: "", ipAddress: "10.0.0.11", port: 22, username: "root", sshKeyId: session.sshKeyId, serverType: "deploy", enableDockerCleanup: true };
    const kept = data(await mutation("server.create", auth, server));
    const gone = data(await mutation("server.create", auth, { ...server, name: "worker-2", ipAddress: "10.0.0.12" }));
    fake.servicesOn.set(kept.serverId, 2);
    expect(data(await query("server.all", auth)).map((row: any) => [row.name, row.totalSum])).toEqual([["worker-2", 0], ["worker-1", 2]]);

    const busy = await mutation("server.remove", auth, { serverId: kept.serverId });
    expect(busy.status).toBe(400);
    expect(errorMessage(busy)).toBe("Server has active services, please delete them first");
    const removed = await mutation("server.remove", auth, { serverId: gone.serverId });
    expect(removed.status).toBe(200);
    expect(data(removed)).toMatchObject({ serverId: gone.serverId, name: "worker-2" });
    const again = await mutation("server.remove", auth, { serverId: gone.serverId });
    expect([again.status, errorMessage(again)]).toEqual([404, "Server not found"]);
    expect(errorMessage(await mutation("server.remove", auth, {}))).toContain('"serverId"');
    expect(fake.servers.map((row) => row.name)).toEqual(["worker-1"]);
  });
});

describe("faults and records", () => {
  test("failNext answers the chosen status the chosen number of times, then behaves", async () => {
    const { cookie, organizationId } = await signedUp();
    fake.failNext("user.createApiKey", 500, 2);
    const input = { name: "k", metadata: { organizationId } };
    expect((await mutation("user.createApiKey", { cookie }, input)).status).toBe(500);
    expect((await mutation("user.createApiKey", { cookie }, input)).status).toBe(500);
    expect(fake.apiKeys).toHaveLength(0);
    expect((await mutation("user.createApiKey", { cookie }, input)).status).toBe(200);

    fake.failNext("/api/auth/sign-in/email", 503);
    expect((await signIn({ email: ADMIN.email, password: ADMIN.password })).status).toBe(503);
    expect((await signIn({ email: ADMIN.email, password: ADMIN.password })).status).toBe(200);
  });

  test("setReady(false) answers 502 like a proxy in front of a starting app", async () => {
    fake.setReady(false);
    const reply = await query("settings.health", {});
    expect(reply.status).toBe(502);
    expect(reply.body).toBe("Bad Gateway");
    fake.setReady(true);
    expect((await query("settings.health", {})).status).toBe(200);
  });

  test("upAfterMs refuses connections, then listens again on the same port", async () => {
    const url = fake.url;
    await fake.upAfterMs(150);
    await expect(query("settings.health", {})).rejects.toMatchObject({ code: "ECONNREFUSED" });
    await sleep(300);
    expect(fake.url).toBe(url);
    // Listening again is asynchronous: on a busy machine it may come a little after the timer.
    const deadline = Date.now() + WAIT_LIMIT_MS;
    let reply = await query("settings.health", {}).catch((error) => error);
    while (reply.code === "ECONNREFUSED" && Date.now() < deadline) {
      await sleep(50);
      reply = await query("settings.health", {}).catch((error) => error);
    }
    expect(reply.status).toBe(200);
  });

  test("every call is recorded with method, path, procedure, parsed body and headers", async () => {
    const { cookie, organizationId } = await signedUp();
    await mutation("user.createApiKey", { cookie }, { name: "k", metadata: { organizationId } });
    const last = fake.calls[fake.calls.length - 1];
    expect(last).toMatchObject({
      method: "POST",
      path: "/api/trpc/user.createApiKey",
      proc: "user.createApiKey",
      body: { 0: { json: { name: "k", metadata: { organizationId } } } },
    });
    expect(last.headers.cookie).toBe(cookie);
    expect(fake.calls[0]).toMatchObject({ method: "POST", path: "/api/auth/sign-up/email", body: ADMIN });
    expect(fake.calls[1]).toMatchObject({ method: "GET", proc: "organization.all", body: { 0: { json: null } } });
  });
});
