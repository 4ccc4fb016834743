/**
 * Real machines for the tests: qemu boots the node image (image/build.sh) with its own kernel, systemd, cloud-init
 * and Docker, on a bridge inside a network namespace of its own with no uplink, no default route and no forwarding,
 * so nothing a machine sends leaves this machine. On the bridge: a DHCP server (dnsmasq, addresses reserved by MAC,
 * the gateway .1 as router, as a VCN's DHCP gives them; its DNS answers NXDOMAIN for every name) and lab-services.ts (the stand-in metadata service at
 * 169.254.169.254, the installer server, the fake Dokploy's forward). Each machine boots a copy-on-write overlay of
 * the image, so the image stays clean. `teardown()` stops every process by pid and deletes the namespace, also
 * after a failed start; `sweepStaleLabs()` removes what a killed test run left.
 * KVM is used where this machine can run a stock kernel with it, software emulation (TCG) otherwise: `accel` says
 * which ran. ../../docs/testing.md describes the tier; ../shared/research/vm-lab.md the facts behind it.
 */
import { ChildProcess, execFileSync, spawn, spawnSync } from "child_process";
import { randomUUID } from "crypto";
import * as fs from "fs";
import * as net from "net";
import * as os from "os";
import * as path from "path";
import { processAlive, sleep, stopProcess } from "../wait";
import { IMDS_ADDRESS, ImdsInstance, InstanceSpec, LAB_PREFIX_LENGTH, LAB_SERVER_IP, LabState, imdsInstance } from "./lab-state";

export const VM_CACHE = process.env.DOKPLOY_OCI_VM_CACHE ?? "/var/cache/dokploy-oci/vm";
const LABS_DIR = path.join(VM_CACHE, "labs");
const REPO = path.join(__dirname, "..", "..");
const SSH_USER = "ubuntu";
/** A machine's outer limit for one SSH command that is not expected to take long. */
const SSH_COMMAND_LIMIT_MS = 10 * 60_000;

export type Accelerator = "kvm" | "tcg";

export interface SshResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The node image's folder (built once per recipe, then reused). */
export function buildImage(): string {
  const build = spawnSync("bash", [path.join(__dirname, "image", "build.sh")], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (build.status !== 0) throw new Error(`the node image could not be built:\n${build.stderr}`);
  return build.stdout.trim();
}

/**
 * KVM runs a stock kernel only where the processor offers hardware virtualization to this machine (a vmx or svm
 * flag); a nested PVM /dev/kvm (no flag) cannot, so software emulation serves there.
 */
export function chooseAccelerator(): Accelerator {
  const flags = fs.readFileSync("/proc/cpuinfo", "utf8");
  return fs.existsSync("/dev/kvm") && /\b(vmx|svm)\b/.test(flags) && process.env.DOKPLOY_OCI_VM_ACCEL !== "tcg" ? "kvm" : "tcg";
}

/** Kills the machines and services of labs whose test process is gone, deletes their namespaces and folders. */
export function sweepStaleLabs(): void {
  if (!fs.existsSync(LABS_DIR)) return;
  for (const name of fs.readdirSync(LABS_DIR)) {
    const record = path.join(LABS_DIR, name);
    let owner: { pid: number; pids: number[]; dir?: string };
    try {
      owner = JSON.parse(fs.readFileSync(record, "utf8"));
    } catch {
      fs.rmSync(record, { force: true });
      continue;
    }
    if (processAlive(owner.pid)) continue;
    const namespace = name.replace(/\.json$/, "");
    // Every process still inside the lab's namespace is the lab's (machines, services, SSH connections).
    const inside = spawnSync("ip", ["netns", "pids", namespace], { encoding: "utf8" }).stdout ?? "";
    for (const pid of new Set([...owner.pids, ...inside.split(/\s+/).filter(Boolean).map(Number)])) if (processAlive(pid)) process.kill(pid, "SIGKILL");
    spawnSync("ip", ["netns", "delete", namespace]);
    if (owner.dir) fs.rmSync(owner.dir, { recursive: true, force: true });
    fs.rmSync(record, { force: true });
  }
}

export class Vm {
  private process?: ChildProcess;
  /** When the machine was last started (ms since the epoch). */
  startedAt = 0;

  constructor(
    private readonly lab: VmLab,
    readonly spec: InstanceSpec,
    readonly memoryInMb: number,
  ) {}

  get name(): string {
    return this.spec.name;
  }

  get ip(): string {
    return this.spec.privateIp;
  }

  get running(): boolean {
    return this.process !== undefined && this.process.exitCode === null && this.process.signalCode === null;
  }

  private get disk(): string {
    return path.join(this.lab.dir, `${this.name}.qcow2`);
  }

  get serialLog(): string {
    return path.join(this.lab.dir, `${this.name}.serial.log`);
  }

  /** Powers the machine on (a new one gets its disk from the image; a known one keeps its disk). */
  start(): void {
    if (this.running) throw new Error(`${this.name} is already running`);
    if (!fs.existsSync(this.disk)) execFileSync("qemu-img", ["create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", path.join(this.lab.image, "base.qcow2"), this.disk]);
    const accel = this.lab.accel === "kvm" ? ["-accel", "kvm", "-cpu", "host"] : ["-accel", "tcg,thread=multi", "-cpu", "max"];
    const args = [
      "netns", "exec", this.lab.namespace, "qemu-system-x86_64",
      "-name", this.name, ...accel, "-smp", "1", "-m", String(this.memoryInMb), "-nodefaults", "-display", "none",
      "-kernel", path.join(this.lab.image, "vmlinuz"), "-initrd", path.join(this.lab.image, "initrd.img"),
      "-append", "root=/dev/vda rw console=ttyS0 net.ifnames=0",
      "-drive", `file=${this.disk},if=virtio,format=qcow2`,
      "-netdev", `tap,id=n0,ifname=${this.tap},script=no,downscript=no`, "-device", `virtio-net-pci,netdev=n0,mac=${this.spec.mac}`,
      // What makes cloud-init choose its Oracle datasource, as on OCI; a new UUID like a new instance's.
      "-smbios", "type=3,asset=OracleCloud.com", "-uuid", randomUUID(),
      "-object", "rng-random,filename=/dev/urandom,id=rng0", "-device", "virtio-rng-pci,rng=rng0",
      "-serial", `file:${this.serialLog}`,
    ];
    this.process = spawn("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
    this.process.stderr!.on("data", (chunk) => fs.appendFileSync(path.join(this.lab.dir, `${this.name}.qemu.log`), chunk));
    this.startedAt = Date.now();
    this.lab.remember(this.process.pid!);
  }

  /** Pulls the power: the machine stops at once, wherever it was. */
  async kill(): Promise<void> {
    await this.lab.closeConnection(this.ip);
    if (this.process) await stopProcess(this.process);
  }

  get tap(): string {
    return `tap${this.spec.privateIp.split(".")[3]}`;
  }

  /** Runs `script` with bash as root on the machine (through SSH as `ubuntu` and sudo); the script goes on stdin. */
  run(script: string, limitMs = SSH_COMMAND_LIMIT_MS): Promise<SshResult> {
    return this.lab.ssh(this.ip, ["sudo", "bash", "-s"], script, limitMs);
  }

  /** As `run`, failing with the output when the script fails. */
  async mustRun(script: string, limitMs = SSH_COMMAND_LIMIT_MS): Promise<string> {
    const result = await this.run(script, limitMs);
    if (result.code !== 0) throw new Error(`${this.name}: exit ${result.code}: ${script.slice(0, 200)}\n${result.stdout}${result.stderr}`);
    return result.stdout;
  }

  /** Waits until SSH answers with the lab's key (the machine booted and cloud-init installed the key). */
  async waitForSsh(limitMs: number): Promise<void> {
    const deadline = Date.now() + limitMs;
    for (;;) {
      const result = await this.lab.ssh(this.ip, ["true"], "", 30_000);
      if (result.code === 0) return;
      if (!this.running) throw new Error(`${this.name} stopped before SSH answered; serial log:\n${this.serialTail()}`);
      if (Date.now() > deadline) throw new Error(`${this.name}: SSH did not answer within ${limitMs} ms (${result.stderr.trim()}); serial log:\n${this.serialTail()}`);
      await sleep(3000);
    }
  }

  /**
   * Reboots the machine from inside (`systemctl reboot`) and returns once SSH answers from the new boot: until the
   * old system is down, its sshd still answers (and a kept connection outlives sshd's stop), so answering is not
   * enough; the kernel's boot id tells the two boots apart.
   */
  async reboot(limitMs: number): Promise<void> {
    const before = (await this.mustRun("cat /proc/sys/kernel/random/boot_id")).trim();
    await this.run("systemctl reboot");
    await this.lab.closeConnection(this.ip);
    const deadline = Date.now() + limitMs;
    for (;;) {
      await this.waitForSsh(Math.max(deadline - Date.now(), 0));
      const now = await this.run("cat /proc/sys/kernel/random/boot_id", 30_000);
      if (now.code === 0 && now.stdout.trim() !== before) return;
      if (Date.now() > deadline) throw new Error(`${this.name}: still on its old boot ${limitMs} ms after systemctl reboot`);
      await sleep(3000);
    }
  }

  /** The end of the machine's console, for failure messages. */
  serialTail(lines = 40): string {
    if (!fs.existsSync(this.serialLog)) return "(no serial log)";
    return fs.readFileSync(this.serialLog, "utf8").split("\n").slice(-lines).join("\n");
  }
}

export class VmLab {
  /** Builds (or reuses) the image, creates the namespace, the bridge, DHCP and the lab's services. */
  static async start(dokployPort: number): Promise<VmLab> {
    sweepStaleLabs();
    const lab = new VmLab(buildImage(), chooseAccelerator());
    try {
      await lab.setUp(dokployPort);
    } catch (error) {
      await lab.teardown();
      throw error;
    }
    return lab;
  }

  readonly namespace = `vmlab-${process.pid}-${Math.floor(Math.random() * 1e6)}`;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), "dokploy-oci-vmlab-"));
  readonly machines: Vm[] = [];
  /** The lab's SSH key: its public half goes into the instances' ssh_authorized_keys. */
  readonly sshKey = path.join(this.dir, "id_ed25519");
  private readonly pids: number[] = [];
  /** Per machine, an SSH connection kept open (ssh -M) whose socket later commands share (`ssh`). */
  private readonly connections = new Map<string, ChildProcess>();
  private services?: ChildProcess;
  private dhcp?: ChildProcess;
  private dokployBridge?: net.Server;
  private state: LabState = { instances: {} };

  private constructor(
    readonly image: string,
    readonly accel: Accelerator,
  ) {}

  get sshPublicKey(): string {
    return fs.readFileSync(`${this.sshKey}.pub`, "utf8").trim();
  }

  /**
   * An `ssh` for programs that take one (`npm run status`'s DOKPLOY_OCI_SSH): the lab's key and no host-key
   * memory, inside the lab's namespace, for jump hosts too (ssh passes -F on to them).
   */
  sshCommand(): string {
    const config = path.join(this.dir, "ssh_config");
    fs.writeFileSync(config, `Host *\n  IdentityFile ${this.sshKey}\n  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no\n  LogLevel ERROR\n`);
    const wrapper = path.join(this.dir, "ssh");
    fs.writeFileSync(wrapper, `#!/bin/sh\nexec ip netns exec ${this.namespace} ssh -F ${config} "$@"\n`, { mode: 0o755 });
    return wrapper;
  }

  /** The lab installer server's https URL for `name` (a file published with `publish`). */
  installerUrl(name: string): string {
    return `https://${LAB_SERVER_IP}/${name}`;
  }

  private async setUp(dokployPort: number): Promise<void> {
    fs.mkdirSync(LABS_DIR, { recursive: true });
    this.remember(process.pid);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "dokploy-oci-vmlab", "-f", this.sshKey]);
    const ip = (...args: string[]) => execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
    ip("netns", "add", this.namespace);
    ip("-n", this.namespace, "link", "set", "lo", "up");
    ip("-n", this.namespace, "link", "add", "br0", "mtu", "9000", "type", "bridge");
    ip("-n", this.namespace, "addr", "add", `${LAB_SERVER_IP}/${LAB_PREFIX_LENGTH}`, "dev", "br0");
    ip("-n", this.namespace, "addr", "add", `${IMDS_ADDRESS}/32`, "dev", "br0");
    ip("-n", this.namespace, "link", "set", "br0", "up");
    fs.mkdirSync(path.join(this.dir, "www"));
    this.writeState();
    fs.writeFileSync(path.join(this.dir, "dhcp-hosts"), "");

    // The fake Dokploy listens on this machine's loopback; the services process reaches it through a Unix socket.
    const socket = path.join(this.dir, "dokploy.sock");
    this.dokployBridge = net.createServer((client) => {
      const upstream = net.connect(dokployPort, "127.0.0.1");
      client.pipe(upstream).pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
    });
    await new Promise<void>((resolve) => this.dokployBridge!.listen(socket, resolve));

    this.dhcp = spawn(
      "ip",
      [
        // DNS at the metadata address, as OCI's resolver: with nowhere to forward, every name is NXDOMAIN at once.
        // Unanswered, each registry lookup of dockerd (a service's digest, each task's pull) waited out its timeouts.
        "netns", "exec", this.namespace, "dnsmasq", "--no-daemon", "--conf-file=/dev/null", "--interface=br0", "--bind-interfaces",
        "--no-resolv", "--no-hosts", "--local=/#/",
        `--dhcp-range=${LAB_SERVER_IP.replace(/\.1$/, ".0")},static,255.255.255.0,12h`, `--dhcp-hostsfile=${path.join(this.dir, "dhcp-hosts")}`,
        `--dhcp-option=option:router,${LAB_SERVER_IP}`, `--dhcp-option=option:dns-server,${IMDS_ADDRESS}`,
        `--dhcp-leasefile=${path.join(this.dir, "leases")}`, "--log-dhcp", `--log-facility=${path.join(this.dir, "dnsmasq.log")}`,
      ],
      { stdio: "ignore" },
    );
    this.remember(this.dhcp.pid!);

    this.services = spawn(
      "ip",
      ["netns", "exec", this.namespace, process.execPath, "-r", "ts-node/register/transpile-only", path.join(__dirname, "lab-services.ts"), this.dir, this.image, socket],
      { cwd: REPO, stdio: ["ignore", "pipe", "pipe"] },
    );
    this.remember(this.services.pid!);
    await new Promise<void>((resolve, reject) => {
      let output = "";
      const onData = (chunk: Buffer) => {
        output += chunk.toString();
        if (output.includes("ready")) resolve();
      };
      this.services!.stdout!.on("data", onData);
      this.services!.stderr!.on("data", onData);
      this.services!.once("exit", (code) => reject(new Error(`the lab's services exited (${code}): ${output}`)));
    });
  }

  /** Records a pid for sweepStaleLabs (the first one is the test process's own). */
  remember(pid: number): void {
    this.pids.push(pid);
    const [owner, ...pids] = this.pids;
    fs.writeFileSync(path.join(LABS_DIR, `${this.namespace}.json`), JSON.stringify({ pid: owner, pids, dir: this.dir }));
  }

  /** A file the installer server serves at installerUrl(name). */
  publish(name: string, content: string): void {
    fs.writeFileSync(path.join(this.dir, "www", name), content);
  }

  /** Changes what the services answer from now on (tags, faults). */
  setState(change: (state: LabState) => LabState): void {
    this.state = change(this.state);
    this.writeState();
  }

  private writeState(): void {
    const file = path.join(this.dir, "state.json");
    fs.writeFileSync(`${file}.tmp`, JSON.stringify(this.state));
    fs.renameSync(`${file}.tmp`, file);
  }

  /** Every request the lab's services answered so far. */
  requests(): Array<{ at: number; service: string; from: string; url: string; status: number }> {
    const file = path.join(this.dir, "requests.jsonl");
    if (!fs.existsSync(file)) return [];
    return fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line));
  }

  /** Creates a machine (its address reserved in DHCP, its instance document in the metadata service); `start()` powers it on. */
  addMachine(spec: Omit<InstanceSpec, "mac">, memoryInMb = 1536): Vm {
    const last = spec.privateIp.split(".").map(Number);
    const mac = `52:54:00:0a:00:${last[3].toString(16).padStart(2, "0")}`;
    const full: InstanceSpec = { ...spec, mac };
    const vm = new Vm(this, full, memoryInMb);
    execFileSync("ip", ["-n", this.namespace, "tuntap", "add", "dev", vm.tap, "mode", "tap"]);
    execFileSync("ip", ["-n", this.namespace, "link", "set", vm.tap, "mtu", "9000", "master", "br0", "up"]);
    fs.appendFileSync(path.join(this.dir, "dhcp-hosts"), `${mac},${spec.privateIp},${spec.name}\n`);
    if (this.dhcp?.pid) process.kill(this.dhcp.pid, "SIGHUP");
    this.setState((state) => ({ ...state, instances: { ...state.instances, [spec.privateIp]: imdsInstance(full) } }));
    this.machines.push(vm);
    return vm;
  }

  /** The instance document the metadata service gives a machine; `change` edits it (a tag updated in place). */
  updateInstance(ip: string, change: (instance: ImdsInstance) => ImdsInstance): void {
    this.setState((state) => ({ ...state, instances: { ...state.instances, [ip]: change(state.instances[ip]) } }));
  }

  /**
   * Runs `command` on the machine at `ip` as `ubuntu`, with `input` on stdin; never throws for a failing command.
   * After the first command that reaches the machine, later ones are sessions on one kept connection: a new login
   * (sshd's start, the key exchange, authentication) costs an emulated machine seconds of CPU, and the tests poll.
   * While that connection is down (a reboot), commands log in on their own.
   */
  async ssh(ip: string, command: string[], input: string, limitMs: number): Promise<SshResult> {
    const socket = path.join(this.dir, `ssh-${ip}.sock`);
    const shared = this.connectionOpen(ip) && fs.existsSync(socket);
    const mux = shared ? ["ControlMaster=no", `ControlPath=${socket}`] : [];
    const result = await this.inNamespace(["ssh", ...this.sshOptions(mux), `${SSH_USER}@${ip}`, "--", ...command], limitMs, input);
    if (result.code !== 255 && !this.connectionOpen(ip)) this.openConnection(ip, socket);
    return result;
  }

  private sshOptions(extra: string[] = []): string[] {
    const options = ["BatchMode=yes", "StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR", "ConnectTimeout=10", "ServerAliveInterval=10", ...extra];
    return ["-i", this.sshKey, ...options.flatMap((option) => ["-o", option])];
  }

  private connectionOpen(ip: string): boolean {
    const connection = this.connections.get(ip);
    return connection !== undefined && connection.exitCode === null && connection.signalCode === null;
  }

  private openConnection(ip: string, socket: string): void {
    fs.rmSync(socket, { force: true });
    const connection = spawn("ip", ["netns", "exec", this.namespace, "ssh", ...this.sshOptions(["ControlMaster=yes", `ControlPath=${socket}`]), "-N", `${SSH_USER}@${ip}`], { stdio: "ignore" });
    this.connections.set(ip, connection);
    this.remember(connection.pid!);
  }

  /** Closes the kept connection to a machine (its power is about to go). */
  async closeConnection(ip: string): Promise<void> {
    const connection = this.connections.get(ip);
    this.connections.delete(ip);
    if (connection) await stopProcess(connection);
  }

  /**
   * Runs a command in the lab's namespace (the gateway's side of the bridge), without blocking this process: the
   * fake Dokploy answers from it meanwhile. Never throws for a failing command.
   */
  inNamespace(command: string[], limitMs = 120_000, input = ""): Promise<SshResult> {
    return new Promise((resolve) => {
      const child = spawn("ip", ["netns", "exec", this.namespace, ...command], { stdio: ["pipe", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk) => (stdout += chunk));
      child.stderr.on("data", (chunk) => (stderr += chunk));
      const timer = setTimeout(() => child.kill("SIGKILL"), limitMs);
      child.on("close", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
      child.stdin.on("error", () => undefined);
      child.stdin.end(input);
    });
  }

  /** Stops every machine and service (by pid), deletes the namespace and the lab's folder. */
  async teardown(): Promise<void> {
    await Promise.all(this.machines.map((vm) => vm.kill()));
    await Promise.all([...this.connections.keys()].map((ip) => this.closeConnection(ip)));
    for (const child of [this.services, this.dhcp]) if (child) await stopProcess(child);
    await new Promise<void>((resolve) => (this.dokployBridge ? this.dokployBridge.close(() => resolve()) : resolve()));
    spawnSync("ip", ["netns", "delete", this.namespace]);
    fs.rmSync(path.join(LABS_DIR, `${this.namespace}.json`), { force: true });
    if (!process.env.DOKPLOY_OCI_KEEP_VMLAB) fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
