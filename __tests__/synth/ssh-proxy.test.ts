import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { TerraformOutput, TerraformStack, TerraformVariable, Testing } from "cdktf";
import { DockerProvider } from "@cdktf/provider-docker/lib/provider";
import { Service } from "@cdktf/provider-docker/lib/service";
import { ALLOW_LIST_FILE, AUTHORIZED_KEYS_SECRET_FILE, SshProxy, SshProxyProps } from "../../constructs/docker/ssh-proxy";
import { AllowedCommand, nextcloudCommands } from "../../lib/ssh-allow-list";
import { templatePath } from "../../lib/templates";
import { validateStack } from "../../scripts/lib/validate";
import { applyAndReadOutputs } from "../helpers/terraform";


const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ8w0XqjJcbZ4U0kqR1Yh1zGm9ZQ0j2qZr7tT8qv8Yp app@next-prism";
const OTHER_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHcLq1Y3ICqVUcHcXHS8OUWC/P6CsdkWDSs4TwUR7Tcy ops@laptop";
const RSA_KEY = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user@host";

function stackWithProvider(): TerraformStack {
  const stack = new TerraformStack(Testing.app(), "test");
  new DockerProvider(stack, "docker", { host: "ssh://ubuntu@203.0.113.10" });
  return stack;
}

function synthNextcloud(props: Partial<SshProxyProps> = {}) {
  const stack = stackWithProvider();
  const proxy = SshProxy.nextcloud(stack, "NextcloudProxy", { targetService: "nextcloud", authorizedKeys: [KEY], ...props });
  return { proxy, json: JSON.parse(Testing.synth(stack)) };
}

const only = (json: any, type: string): [string, any] => {
  const entries = Object.entries<any>(json.resource[type] ?? {});
  expect(entries).toHaveLength(1);
  return entries[0];
};
const decode = (data: string) => Buffer.from(data, "base64").toString("utf8");

describe("SshProxy synth", () => {
  test("a global service that is never published, with the socket, the keys secret, the allow-list config and a health check", () => {
    const { json } = synthNextcloud();
    const [, service] = only(json, "docker_service");
    const [secretName] = only(json, "docker_secret");
    const [configName] = only(json, "docker_config");
    const [networkName] = only(json, "docker_network");
    const [imageName] = only(json, "docker_image");
    expect(service.name).toBe("nextcloud-ssh-proxy");
    expect(service.mode).toEqual({ global: true });
    expect(service.endpoint_spec).toBeUndefined();
    const container = service.task_spec.container_spec;
    expect(container.image).toBe(`\${docker_image.${imageName}.name}`);
    expect(container.env).toEqual({ SSH_PROXY_PORT: "2222" });
    expect(container.mounts).toEqual([{ type: "bind", source: "/var/run/docker.sock", target: "/var/run/docker.sock" }]);
    expect(container.secrets).toEqual([
      {
        secret_id: `\${docker_secret.${secretName}.id}`,
        secret_name: `\${docker_secret.${secretName}.name}`,
        file_name: AUTHORIZED_KEYS_SECRET_FILE,
        file_uid: "0",
        file_gid: "0",
        file_mode: 0o400,
      },
    ]);
    expect(container.configs).toEqual([
      {
        config_id: `\${docker_config.${configName}.id}`,
        config_name: `\${docker_config.${configName}.name}`,
        file_name: ALLOW_LIST_FILE,
        file_uid: "0",
        file_gid: "0",
        file_mode: 0o444,
      },
    ]);
    expect(container.healthcheck).toEqual({
      test: ["CMD", "python3", "-c", expect.stringContaining("SSH-"), "2222"],
      interval: "30s",
      timeout: "10s",
      retries: 3,
      start_period: "15s",
    });
    expect(container.stop_grace_period).toBe("10s");
    expect(service.task_spec.networks_advanced).toEqual([{ name: `\${docker_network.${networkName}.id}` }]);
    expect(service.task_spec.resources).toEqual({ limits: { memory_bytes: 128 * 1024 * 1024, nano_cpus: 500_000_000 } });
    expect(service.task_spec.restart_policy).toEqual({ condition: "any", delay: "5s" });
    expect(service.task_spec.placement).toBeUndefined();
  });

  test("its own overlay network is encrypted, attachable and internal", () => {
    const stack = stackWithProvider();
    const proxy = SshProxy.nextcloud(stack, "NextcloudProxy", { targetService: "nextcloud", authorizedKeys: [KEY] });
    new TerraformOutput(stack, "network_id", { value: proxy.networkId });
    new TerraformOutput(stack, "network_name", { value: proxy.networkName });
    const json = JSON.parse(Testing.synth(stack));
    const [networkName, network] = only(json, "docker_network");
    expect(network).toEqual({ name: "nextcloud-ssh-proxy-net", driver: "overlay", attachable: true, internal: true, options: { encrypted: "true" } });
    expect(json.output.network_id.value).toBe(`\${docker_network.${networkName}.id}`);
    expect(json.output.network_name.value).toBe(`\${docker_network.${networkName}.name}`);
  });

  test("the keys secret holds the keys, one a line, named by a hash of its content and replaced before destroyed", () => {
    const { json } = synthNextcloud({ authorizedKeys: [KEY, ` ${OTHER_KEY} `] });
    const [, secret] = only(json, "docker_secret");
    const content = `${KEY}\n${OTHER_KEY}\n`;
    expect(decode(secret.data)).toBe(content);
    expect(secret.name).toBe(`nextcloud-ssh-proxy-keys-${createHash("sha256").update(content).digest("hex").slice(0, 12)}`);
    expect(secret.name.length).toBeLessThanOrEqual(64);
    expect(secret.lifecycle).toEqual({ create_before_destroy: true });
  });

  test("the allow-list config is the validator's JSON, named by a hash of its content", () => {
    const { json, proxy } = synthNextcloud();
    const [, config] = only(json, "docker_config");
    const document = JSON.parse(decode(config.data));
    expect(document).toEqual({ version: 1, targetService: "nextcloud", execUser: "www-data", commands: nextcloudCommands() });
    expect(document).toEqual(proxy.allowList);
    expect(config.name).toBe(`nextcloud-ssh-proxy-allow-${createHash("sha256").update(decode(config.data)).digest("hex").slice(0, 12)}`);
    expect(config.lifecycle).toEqual({ create_before_destroy: true });
  });

  test("a changed allow-list or key makes a new config or secret, and the same image", () => {
    const before = synthNextcloud().json;
    const commands: AllowedCommand[] = [{ prefix: ["php", "occ", "status"] }];
    const stack = stackWithProvider();
    new SshProxy(stack, "NextcloudProxy", { targetService: "nextcloud", authorizedKeys: [OTHER_KEY], commands, execUser: "www-data" });
    const after = JSON.parse(Testing.synth(stack));
    expect(only(after, "docker_config")[1].name).not.toBe(only(before, "docker_config")[1].name);
    expect(only(after, "docker_secret")[1].name).not.toBe(only(before, "docker_secret")[1].name);
    expect(only(after, "docker_image")[1]).toEqual(only(before, "docker_image")[1]);
  });

  test("the image is built from templates/ssh-proxy/ (absolute path), tagged with a hash of the directory", () => {
    const { json } = synthNextcloud();
    const [, image] = only(json, "docker_image");
    // Each file's name and content, in name order: a renamed file rebuilds too.
    const hash = createHash("sha256");
    for (const name of fs.readdirSync(templatePath("ssh-proxy")).sort()) {
      hash.update(`${name}\0`).update(fs.readFileSync(templatePath(`ssh-proxy/${name}`))).update("\0");
    }
    expect(image.name).toBe(`dokploy-oci/ssh-proxy:${hash.digest("hex").slice(0, 12)}`);
    expect(image.build).toEqual({ context: templatePath("ssh-proxy") });
    expect(path.isAbsolute(image.build.context)).toBe(true);
    expect(fs.readdirSync(image.build.context)).toEqual(expect.arrayContaining(["Dockerfile", "sshd_config", "render.sh", "entrypoint.sh", "validate.py"]));
    expect(image.name).toMatch(/^dokploy-oci\/ssh-proxy:[0-9a-f]{12}$/);
    expect(json.resource.docker_registry_image).toBeUndefined();
  });

  test("the image's files agree with the mounts the service gives it", () => {
    const entrypoint = fs.readFileSync(templatePath("ssh-proxy/entrypoint.sh"), "utf8");
    const dockerfile = fs.readFileSync(templatePath("ssh-proxy/Dockerfile"), "utf8");
    expect(entrypoint).toContain(`keys_secret=/run/secrets/${AUTHORIZED_KEYS_SECRET_FILE}\n`);
    expect(entrypoint).toContain(`export SSH_PROXY_ALLOW_LIST=${ALLOW_LIST_FILE}\n`);
    expect(entrypoint).toContain('export SSH_PROXY_PORT="${SSH_PROXY_PORT:-2222}"\n');
    expect(entrypoint).toContain("docker_socket=/var/run/docker.sock\n");
    expect(entrypoint).toContain("export SSH_PROXY_VALIDATOR=/usr/local/bin/ssh-proxy-validate\n");
    expect(dockerfile).toContain("COPY validate.py /usr/local/bin/ssh-proxy-validate\n");
    // Debian, buildable wherever Debian's mirror is (the swarm lab builds it too); trixie's docker-cli speaks API 1.45.
    expect(dockerfile).toMatch(/^FROM debian:trixie-slim$/m);
    expect(dockerfile).toMatch(/apt-get install -y --no-install-recommends openssh-server docker-cli python3 /);
  });

  test("with imageRepository the built image is pushed and the service pins its digest", () => {
    const { json } = synthNextcloud({ imageRepository: "registry.example.com/ops/ssh-proxy" });
    const [imageName, image] = only(json, "docker_image");
    const [pushName, push] = only(json, "docker_registry_image");
    expect(image.name).toMatch(/^registry\.example\.com\/ops\/ssh-proxy:[0-9a-f]{12}$/);
    expect(push).toEqual({ name: `\${docker_image.${imageName}.name}`, keep_remotely: true });
    const [, service] = only(json, "docker_service");
    expect(service.task_spec.container_spec.image).toBe(`\${docker_registry_image.${pushName}.name}@\${docker_registry_image.${pushName}.sha256_digest}`);
  });

  test("a given image and network are used as they are: nothing built, no network created", () => {
    const { json, proxy } = synthNextcloud({ image: "registry.example.com/ssh-proxy:1.0.0", network: "dokploy-network" });
    expect(json.resource.docker_image).toBeUndefined();
    expect(json.resource.docker_network).toBeUndefined();
    const [, service] = only(json, "docker_service");
    expect(service.task_spec.container_spec.image).toBe("registry.example.com/ssh-proxy:1.0.0");
    expect(service.task_spec.networks_advanced).toEqual([{ name: "dokploy-network" }]);
    expect(proxy).toMatchObject({ networkId: "dokploy-network", networkName: "dokploy-network" });
  });

  test("attributes tell clients where to connect", () => {
    const { proxy } = synthNextcloud({ serviceName: "nc-proxy", port: 2200 });
    expect(proxy).toMatchObject({ serviceName: "nc-proxy", port: 2200, host: "nc-proxy", address: "nc-proxy:2200", tasksHost: "tasks.nc-proxy" });
  });

  test("port, limits and placement reach the service", () => {
    const { json } = synthNextcloud({ port: 2200, memoryLimitInMib: 64, cpuLimit: 0.25, placementConstraints: ["node.labels.nextcloud == true"] });
    const [, service] = only(json, "docker_service");
    expect(service.task_spec.container_spec.env).toEqual({ SSH_PROXY_PORT: "2200" });
    expect(service.task_spec.container_spec.healthcheck.test[4]).toBe("2200");
    expect(service.task_spec.resources.limits).toEqual({ memory_bytes: 64 * 1024 * 1024, nano_cpus: 250_000_000 });
    expect(service.task_spec.placement).toEqual({ constraints: ["node.labels.nextcloud == true"] });
  });

  test("the PhotoPrism preset runs as the image's default user", () => {
    const stack = stackWithProvider();
    const proxy = SshProxy.photoprism(stack, "PhotoprismProxy", { targetService: "photoprism", authorizedKeys: [KEY] });
    expect(proxy.allowList.execUser).toBeNull();
    expect(proxy.allowList.commands.map((command) => command.prefix.join(" "))).toEqual(["photoprism status", "photoprism index", "photoprism import"]);
    expect(proxy.serviceName).toBe("photoprism-ssh-proxy");
    expect(Testing.synth(stack)).toHaveResourceWithProperties(Service, { name: "photoprism-ssh-proxy", mode: { global: true } });
  });

  test("a long target service name still gives a proxy name within Docker's limits", () => {
    const { proxy } = synthNextcloud({ targetService: `nextcloud-${"x".repeat(50)}` });
    expect(proxy.serviceName.length).toBeLessThanOrEqual(45);
    expect(proxy.serviceName).toMatch(/-ssh-proxy$/);
  });

  test.each<[string, Partial<SshProxyProps>]>([
    ["the default", {}],
    ["pushed image", { imageRepository: "registry.example.com/ops/ssh-proxy" }],
    ["given image and network", { image: "registry.example.com/ssh-proxy:1", network: "dokploy-network" }],
  ])("validates clean: %s", async (_name, props) => {
    const { json } = synthNextcloud(props);
    expect(await validateStack(json)).toEqual([]);
  });

  test("keys from a Terraform variable: Terraform computes the same secret content and name as for literal keys", async () => {
    const stack = stackWithProvider();
    const keys = new TerraformVariable(stack, "keys", { type: "list(string)" });
    SshProxy.nextcloud(stack, "NextcloudProxy", { targetService: "nextcloud", authorizedKeys: keys.listValue });
    const json = JSON.parse(Testing.synth(stack));
    expect(await validateStack(json)).toEqual([]);
    const [, secret] = only(json, "docker_secret");
    const outputs = applyAndReadOutputs(
      { variable: { keys: { type: "list(string)" } }, output: { data: { value: secret.data }, name: { value: secret.name } } },
      { keys: JSON.stringify([KEY, OTHER_KEY]) },
    );
    const literal = only(synthNextcloud({ authorizedKeys: [KEY, OTHER_KEY] }).json, "docker_secret")[1];
    expect(outputs.data.value).toBe(literal.data);
    expect(outputs.name.value).toBe(literal.name);
  });
});

describe("bad input is refused at synth time, naming the prop", () => {
  const pattern = (value: string, extra: object = {}): AllowedCommand[] => [{ prefix: ["php", "occ", "files:scan"], args: [{ kind: "pattern", pattern: value, ...extra }] }];
  const synthWith = (props: Partial<SshProxyProps>) => () =>
    new SshProxy(stackWithProvider(), "Proxy", { targetService: "nextcloud", authorizedKeys: [KEY], commands: nextcloudCommands(), ...props });

  test.each<[string, Partial<SshProxyProps>, RegExp]>([
    ["an empty allow-list", { commands: [] }, /^commands: the allow-list is empty/],
    ["free text .*", { commands: pattern(".*") }, /^commands\[0\]\.args\[0\]\.pattern: \/\.\*\/ also matches " ": free text/],
    ["free text \\S+", { commands: pattern("\\S+") }, /^commands\[0\]\.args\[0\]\.pattern: \/\\S\+\/ also matches .*free text/],
    ["a negated class", { commands: pattern("[^/]+") }, /^commands\[0\]\.args\[0\]\.pattern: .*free text/],
    ["shell metacharacters in a class", { commands: pattern("[a-z;|]+") }, /^commands\[0\]\.args\[0\]\.pattern: .* also matches ";"/],
    ["non-ASCII letters", { commands: pattern("[a-zé]+") }, /^commands\[0\]\.args\[0\]\.pattern: .* also matches "é"/],
    ["lookahead", { commands: pattern("(?=a)[a-z]+") }, /^commands\[0\]\.args\[0\]\.pattern: .*lookaround/],
    ["\\A, an anchor in Python only", { commands: pattern("\\A[a-z]+") }, /^commands\[0\]\.args\[0\]\.pattern: .*letter escapes/],
    ["an invalid regular expression", { commands: pattern("[a-z") }, /^commands\[0\]\.args\[0\]\.pattern: .*not a valid regular expression/],
    ["a literal with a metacharacter", { commands: [{ prefix: ["php", "occ", "files:scan"], args: [{ kind: "literal", value: "a;b" }] }] }, /^commands\[0\]\.args\[0\]\.value: "a;b" has characters outside/],
    ["an enum value with a space", { commands: [{ prefix: ["photoprism", "index"], args: [{ kind: "enum", values: ["ok", "a b"] }] }] }, /^commands\[0\]\.args\[0\]\.values\[1\]: "a b" has characters outside/],
    ["an empty enum", { commands: [{ prefix: ["photoprism", "index"], args: [{ kind: "enum", values: [] }] }] }, /^commands\[0\]\.args\[0\]\.values: give at least one value/],
    ["a prefix word with a leading dash", { commands: [{ prefix: ["php", "-r", "x"] }] }, /^commands\[0\]\.prefix\[1\]: "-r" starts with "-"/],
    ["a prefix with ..", { commands: [{ prefix: ["../bin/sh"] }] }, /^commands\[0\]\.prefix\[0\]: "\.\.\/bin\/sh" contains "\.\."/],
    ["an empty prefix", { commands: [{ prefix: [] }] }, /^commands\[0\]\.prefix: give the program and its subcommand/],
    ["an option that is not a flag", { commands: [{ prefix: ["photoprism", "index"], options: [{ flag: "--a;b" }] }] }, /^commands\[0\]\.options\[0\]\.flag: "--a;b" is not an option/],
    ["an option listed twice", { commands: [{ prefix: ["photoprism", "index"], options: [{ flag: "--force" }, { flag: "--force" }] }] }, /^commands\[0\]\.options\[1\]\.flag: "--force" is listed twice/],
    ["a free-text option value", { commands: [{ prefix: ["photoprism", "import"], options: [{ flag: "--dest", value: { kind: "pattern", pattern: ".+" } }] }] }, /^commands\[0\]\.options\[0\]\.value\.pattern: .*free text/],
    ["a required argument after an optional one", { commands: [{ prefix: ["photoprism", "index"], args: [{ kind: "literal", value: "a", optional: true }, { kind: "literal", value: "b" }] }] }, /^commands\[0\]\.args\[1\]: a required argument cannot follow an optional one/],
    ["an unknown rule kind", { commands: [{ prefix: ["photoprism", "index"], args: [{ kind: "anything" } as any] }] }, /^commands\[0\]\.args\[0\]\.kind: "anything" is not one of literal, enum, pattern/],
    ["no keys", { authorizedKeys: [] }, /^authorizedKeys: give at least one ed25519 public key/],
    ["an RSA key", { authorizedKeys: [KEY, RSA_KEY] }, /^authorizedKeys\[1\]: not an ed25519 public key/],
    ["an ed25519 key with a broken body", { authorizedKeys: ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGJ8w0Xq user"] }, /^authorizedKeys\[0\]: not an ed25519 public key/],
    ["a key smuggling a second line", { authorizedKeys: [`${KEY}\n${RSA_KEY}`] }, /^authorizedKeys\[0\]: not an ed25519 public key/],
    ["a key with options in front", { authorizedKeys: [`command="/bin/sh" ${KEY}`] }, /^authorizedKeys\[0\]: not an ed25519 public key/],
    ["port 0", { port: 0 }, /^port: 0 is not a port number \(a whole number from 1 to 65535\)/],
    ["port 65536", { port: 65536 }, /^port: 65536 is not a port number/],
    ["a fractional port", { port: 22.5 }, /^port: 22\.5 is not a port number \(a whole number from 1 to 65535\)/],
    ["a target service that is not a service name", { targetService: "nextcloud; rm -rf /" }, /^targetService: "nextcloud; rm -rf \/" is not a swarm service name/],
    ["a service name too long for the secret names", { serviceName: "p".repeat(46) }, /^serviceName: "p{46}" is not a swarm service name .* at most 45 characters/],
    ["an exec user with a shell in it", { execUser: "root; id" }, /^execUser: "root; id" is not a user name or uid/],
    ["an empty image", { image: " " }, /^image: give an image name/],
    ["an image and a repository to push to", { image: "x:1", imageRepository: "registry.example.com/x" }, /^imageRepository: only the built image is pushed/],
    ["a repository with a tag", { imageRepository: "registry.example.com/ops/ssh-proxy:1" }, /^imageRepository: "registry\.example\.com\/ops\/ssh-proxy:1" is not a repository/],
    ["a repository with upper case", { imageRepository: "Registry/SSH" }, /^imageRepository: .* is not a repository/],
    ["an empty network", { network: "" }, /^network: give a network name or id/],
    ["a blank network", { network: "  " }, /^network: give a network name or id/],
    ["a bad placement constraint", { placementConstraints: ["node.role == manager", "anywhere"] }, /^placementConstraints\[1\]: "anywhere" is not allowed/],
    ["an ed25519 key labelled as another type", { authorizedKeys: [KEY.replace("ssh-ed25519", "ssh-rsa")] }, /^authorizedKeys\[0\]: not an ed25519 public key/],
    ["a key with a character outside base64 before its body", { authorizedKeys: [KEY.replace(" AAAA", " *AAAA")] }, /^authorizedKeys\[0\]: not an ed25519 public key/],
    ["a key with a character outside base64 after its body", { authorizedKeys: [KEY.replace(" app@", "* app@")] }, /^authorizedKeys\[0\]: not an ed25519 public key/],
    ["a key with three padding characters", { authorizedKeys: [KEY.replace(" app@", "=== app@")] }, /^authorizedKeys\[0\]: not an ed25519 public key/],
    ["too little memory", { memoryLimitInMib: 16 }, /^memoryLimitInMib: 16 is out of range; use a whole number of MiB from 32 to 1048576/],
    ["no CPU", { cpuLimit: 0 }, /^cpuLimit: 0 is out of range; use a number of CPUs from 0.01 to 256/],
  ])("%s", (_name, props, message) => {
    expect(synthWith(props)).toThrow(message);
  });

  test("an allow-list from a Terraform value is refused: it must be checked at synth time", () => {
    const stack = stackWithProvider();
    const commands = new TerraformVariable(stack, "commands", { type: "any" });
    expect(() => new SshProxy(stack, "Proxy", { targetService: "nextcloud", authorizedKeys: [KEY], commands: commands.value })).toThrow(
      /^commands: the allow-list must be known at synth time/,
    );
  });

  test("a key with several spaces between its parts is one key", () => {
    expect(synthWith({ authorizedKeys: [KEY.replace(" ", "   ")] })).not.toThrow();
  });

  test("a target service from a Terraform value is refused: it names Docker objects", () => {
    const stack = stackWithProvider();
    const target = new TerraformVariable(stack, "target", { type: "string" }).stringValue;
    expect(() => SshProxy.nextcloud(stack, "Proxy", { targetService: target, authorizedKeys: [KEY] })).toThrow(
      /^targetService: must be known at synth time \(it names Docker objects\)$/,
    );
  });

  test("allowFreeText accepts a broad pattern on purpose", () => {
    expect(synthWith({ commands: pattern("[^ ]{1,64}", { allowFreeText: true }) })).not.toThrow();
  });
});

describe("generateKeyPair", () => {
  test("an ed25519 pair: the public key may log in, the private key is a Docker secret for clients, never plain text", async () => {
    const { proxy, json } = synthNextcloud({ authorizedKeys: undefined, generateKeyPair: true });
    const [pairName, pair] = only(json, "tls_private_key");
    expect(pair.algorithm).toBe("ED25519");
    expect(json.provider.tls).toBeDefined();
    const secrets = Object.values<any>(json.resource.docker_secret);
    const clientKey = secrets.find((secret) => secret.name.includes("-client-key-"));
    expect(clientKey.data).toBe(`\${base64encode(tls_private_key.${pairName}.private_key_openssh)}`);
    // Named by the key, so a new pair makes a new secret, created before the old one goes.
    expect(clientKey.name).toBe(`nextcloud-ssh-proxy-client-key-\${substr(sha256(tls_private_key.${pairName}.public_key_openssh), 0, 12)}`);
    expect(clientKey.lifecycle).toEqual({ create_before_destroy: true });
    const keys = secrets.find((secret) => secret.name.includes("-keys-"));
    expect(keys.data).toMatch(new RegExp(`trimspace\\(tls_private_key\\.${pairName}\\.public_key_openssh\\)`));
    expect(proxy.clientKeySecret).toBeDefined();
    expect(JSON.stringify(json)).not.toMatch(/BEGIN OPENSSH PRIVATE KEY/);
    expect(await validateStack(json)).toEqual([]);
  });

  test("generated and given keys together; neither is refused naming the prop", () => {
    const { json } = synthNextcloud({ authorizedKeys: [KEY], generateKeyPair: true });
    const keys = Object.values<any>(json.resource.docker_secret).find((secret) => secret.name.includes("-keys-"));
    expect(keys.data).toMatch(/concat\(\["ssh-ed25519 AAAAC3[^"]*"\], \[trimspace\(tls_private_key\./);
    expect(() => synthNextcloud({ authorizedKeys: undefined })).toThrow(/authorizedKeys: give the clients' ed25519 public keys, or set generateKeyPair: true/);
    // Given keys are checked with a generated pair too.
    expect(() => synthNextcloud({ authorizedKeys: [RSA_KEY], generateKeyPair: true })).toThrow(/^authorizedKeys\[0\]: not an ed25519 public key/);
  });

  test("a literal key beside one from Terraform: the secret is computed by Terraform, replaced before destroyed", () => {
    const stack = stackWithProvider();
    const other = new TerraformVariable(stack, "other_key", { type: "string" }).stringValue;
    SshProxy.nextcloud(stack, "NextcloudProxy", { targetService: "nextcloud", authorizedKeys: [KEY, other] });
    const [, secret] = only(JSON.parse(Testing.synth(stack)), "docker_secret");
    expect(secret.data).toBe(`\${base64encode(join("\\n", concat(["${KEY}", var.other_key], [""])))}`);
    expect(secret.lifecycle).toEqual({ create_before_destroy: true });
  });
});
