/**
 * A cluster's host programs on the real lab swarm (lab.ts): the lab's engines, the fake Dokploy, the fake instance
 * metadata service, a manager root, and the host stubs for what must not change this machine (apt-get, systemctl,
 * iptables, sshd, fail2ban: docker is the node's real engine). `stop()` undoes all of it, also after a failed start.
 */
import { randomUUID } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { DEFAULT_TOKEN_SERVER_PORT, TOKEN_SERVER_STATE_DIR } from "../../lib/host-contract";
import { writeTokenServerConfig } from "../../sandbox/token-server";
import {
  cleanupWorkers,
  JoinSettings,
  labHostBin,
  makeTempRoot,
  makeWorker,
  PUBLIC_KEY,
  RegistrationConfig,
  Running,
  start,
  Worker,
  WORKER_BOOTSTRAP,
  writeRegistrationConfig,
} from "../../sandbox/worker";
import { FakeDokploy } from "./fake-dokploy";
import { FakeImds } from "./fake-imds";
import { Lab, LabNode, startLab } from "./lab";

/** The token server's port on the manager's private address: the constructs' default. */
export const TOKEN_SERVER_PORT = DEFAULT_TOKEN_SERVER_PORT;
/** As the constructs and the worker bootstrap set it on OCI: backoff 1 s / 15 s, 5 s requests, 55 s long polls. */
export const PRODUCTION_JOIN: JoinSettings = { initialDelaySeconds: 1, maxDelaySeconds: 15, requestTimeoutSeconds: 5, waitSeconds: 55 };

/** A swarm node as the manager's `docker node inspect` reports it. */
export interface SwarmNodeState {
  hostname: string;
  role: string;
  status: string;
  availability: string;
  address: string;
}

export class LabCluster {
  /** Node 1 is the manager, the others are the workers, named in the order given to `start`. */
  static async start(workerNames: string[]): Promise<LabCluster> {
    const cluster = new LabCluster(workerNames);
    try {
      cluster.lab = await startLab({ nodes: 1 + workerNames.length, hostnames: ["dokploy-manager", ...workerNames] });
      await cluster.fake.start();
      await cluster.imds.start();
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  lab?: Lab;
  readonly fake = new FakeDokploy();
  readonly imds = new FakeImds();
  /** Stubs of the host commands, without docker (each node's real engine answers instead). */
  readonly bin = labHostBin();
  /** The manager's stand-in root ($DOKPLOY_OCI_ROOT), with its tmp/. */
  readonly managerRoot = makeTempRoot("dokploy-oci-lab-manager-");

  private constructor(readonly workerNames: string[]) {}

  get manager(): LabNode {
    return this.lab!.nodes[0];
  }

  get workerNodes(): LabNode[] {
    return this.lab!.nodes.slice(1);
  }

  /** A path under the manager's root, e.g. `etc/dokploy-oci/node.json`. */
  managerPath(hostPath: string): string {
    return path.join(this.managerRoot, hostPath);
  }

  /** The environment of a host program "on" the host at `root`, talking to `node`'s engine. */
  hostEnvironment(root: string, node: LabNode): NodeJS.ProcessEnv {
    return { ...process.env, PATH: `${this.bin}:${process.env.PATH}`, DOKPLOY_OCI_ROOT: root, TMPDIR: path.join(root, "tmp"), DOCKER_HOST: node.dockerHost };
  }

  /** The manager's environment: its root and its engine. */
  managerEnvironment(): NodeJS.ProcessEnv {
    return this.hostEnvironment(this.managerRoot, this.manager);
  }

  /** Starts `command` inside the manager's network namespace, with the manager's environment. */
  startOnManager(command: string[]): Running {
    const args = this.manager.nsenterArgs(command);
    return start(args[0], args.slice(1), this.managerEnvironment());
  }

  /** Boots worker `index` (0-based): the real worker bootstrap in its node's namespace, fetching from the token server. */
  bootWorker(index: number, secret: string): { worker: Worker; running: Running } {
    const worker = makeWorker({
      name: this.workerNames[index],
      tokenServerUrl: `http://${this.manager.address}:${TOKEN_SERVER_PORT}`,
      secret,
      managerAddress: this.manager.address,
      join: PRODUCTION_JOIN,
    });
    const node = this.workerNodes[index];
    const args = node.nsenterArgs(["bash", worker.path(WORKER_BOOTSTRAP)]);
    return { worker, running: start(args[0], args.slice(1), this.hostEnvironment(worker.root, node)) };
  }

  /** Runs worker `index`'s rejoin check once (what dokploy-worker-rejoin.timer starts) on the host `worker` made. */
  rejoinCheck(index: number, worker: Worker): Running {
    const node = this.workerNodes[index];
    const args = node.nsenterArgs(["bash", worker.path(WORKER_BOOTSTRAP), "rejoin"]);
    return start(args[0], args.slice(1), this.hostEnvironment(worker.root, node));
  }

  /** The reconciler's part of the manager's node.json: this lab's fake Dokploy and fake metadata, a pass a second. */
  writeRegistration(overrides: Partial<RegistrationConfig> = {}): void {
    writeRegistrationConfig(this.managerRoot, {
      serverType: "deploy",
      username: "root",
      sshPort: 22,
      intervalSeconds: 1,
      dokployUrl: this.fake.url,
      enableDockerCleanup: true,
      instanceMetadataUrl: this.imds.url,
      ...overrides,
    });
  }

  /**
   * The manager as its bootstrap leaves it: a swarm, the join command and Dokploy's public key published for the token
   * server (which binds to the manager's address with `secret`), Dokploy set up with an admin, an API key and the SSH
   * key, the credentials file, the reconciler's config. Returns the API key (which must never reach a log).
   */
  async setUpManager(secret: string): Promise<string> {
    const { manager, fake, managerRoot } = this;
    const { organization } = fake.seedAdmin({ email: "admin@example.com", password: "a lab password that is long enough", name: "Admin" });
    const apiKey = fake.seedApiKey({ name: "dokploy-oci", organizationId: organization.id, rateLimitEnabled: false }).key;
    const sshKeyId = randomUUID();
    const privateKey = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----\n";
    fake.sshKeys.push({ sshKeyId, name: "dokploy-oci-workers", publicKey: PUBLIC_KEY, privateKey, organizationId: organization.id, createdAt: new Date().toISOString() });
    fs.mkdirSync(path.join(managerRoot, "opt"), { recursive: true });
    fs.writeFileSync(path.join(managerRoot, "opt/dokploy-credentials.json"), JSON.stringify({ api_key: apiKey, ssh_key_id: sshKeyId }), { mode: 0o600 });
    fs.writeFileSync(path.join(managerRoot, "opt/dokploy-manager-setup-complete"), "");
    writeTokenServerConfig({ root: managerRoot, secret, bindAddress: manager.address, port: TOKEN_SERVER_PORT, ttlSeconds: 3600 });
    this.writeRegistration({ drainTimeoutSeconds: 60 });
    await this.initSwarm();
    return apiKey;
  }

  /**
   * A new swarm on the manager, as its bootstrap makes one, with the join command and Dokploy's public key published
   * into a token server state dir of its own: what a manager recreated on a new boot volume has.
   */
  async initSwarm(): Promise<void> {
    const { manager, managerRoot } = this;
    await manager.mustDocker(["swarm", "init", "--advertise-addr", manager.address]);
    const token = await manager.mustDocker(["swarm", "join-token", "-q", "worker"]);
    const stateDir = path.join(managerRoot, TOKEN_SERVER_STATE_DIR);
    fs.rmSync(stateDir, { recursive: true, force: true });
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    fs.writeFileSync(path.join(stateDir, "token"), `docker swarm join --token ${token} ${manager.address}:2377\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(stateDir, "public-key"), `${PUBLIC_KEY}\n`, { mode: 0o600 });
  }

  /** Every node of the real swarm, as the manager sees it. */
  async swarmNodes(): Promise<SwarmNodeState[]> {
    const ids = (await this.manager.mustDocker(["node", "ls", "-q"])).split("\n").filter(Boolean);
    const nodes = JSON.parse(await this.manager.mustDocker(["node", "inspect", ...ids]));
    return nodes.map((node: { Description: { Hostname: string }; Status: { State: string; Addr: string }; Spec: { Role: string; Availability: string } }) => ({
      hostname: node.Description.Hostname,
      role: node.Spec.Role,
      status: node.Status.State,
      availability: node.Spec.Availability,
      address: node.Status.Addr,
    }));
  }

  /** Kills every program started here (by process group), removes the roots, stops the fakes and the lab. */
  async stop(): Promise<void> {
    await cleanupWorkers();
    await this.fake.stop();
    await this.imds.stop();
    await this.lab?.teardown();
  }
}
