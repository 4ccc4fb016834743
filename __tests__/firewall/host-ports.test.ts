/**
 * harden.sh opens node.json's hostPorts in INPUT just before the image's REJECT. Here with the real iptables in a
 * network namespace holding Oracle's INPUT chain, and real connections from another namespace: the rules as the
 * kernel holds them, connections they let in and refuse, and a second run that finds every rule already there
 * (iptables -C matches rules by meaning, not by the text they were written with). Needs root, iptables, ip, nsenter.
 */
import { ChildProcess, spawn } from "child_process";
import { Result } from "../harness/lab";
import { GuardedNode, startGuardedNode } from "../harness/metadata-guard";
import { stopProcess, waitFor } from "../../sandbox/wait";

// Oracle's Ubuntu image (/etc/iptables/rules.v4): INPUT ends in a REJECT that refuses whatever comes after it.
const IMAGE_INPUT = [
  "-m state --state RELATED,ESTABLISHED -j ACCEPT",
  "-p icmp -j ACCEPT",
  "-i lo -j ACCEPT",
  "-p udp -m udp --sport 123 -j ACCEPT",
  "-p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT",
  "-j REJECT --reject-with icmp-host-prohibited",
];
const hostPorts = [
  { protocol: "tcp", port: 80, sources: ["0.0.0.0/0"] },
  { protocol: "tcp", port: 2377, sources: ["10.0.0.0/24"] },
  { protocol: "udp", port: 7946, sources: ["10.0.0.0/24", "10.0.1.7/24"] },
  { protocol: "esp", sources: ["10.0.0.0/24"] },
];
// `iptables -S INPUT` as the kernel reports it: -s 0.0.0.0/0 left out, the tcp/udp match named, host bits cleared.
const INPUT_AFTER_HARDENING = [
  "-P INPUT ACCEPT",
  "-A INPUT -m state --state RELATED,ESTABLISHED -j ACCEPT",
  "-A INPUT -p icmp -j ACCEPT",
  "-A INPUT -i lo -j ACCEPT",
  "-A INPUT -p udp -m udp --sport 123 -j ACCEPT",
  "-A INPUT -p tcp -m state --state NEW -m tcp --dport 22 -j ACCEPT",
  "-A INPUT -p tcp -m tcp --dport 80 -m comment --comment dokploy-oci -j ACCEPT",
  "-A INPUT -s 10.0.0.0/24 -p tcp -m tcp --dport 2377 -m comment --comment dokploy-oci -j ACCEPT",
  "-A INPUT -s 10.0.0.0/24 -p udp -m udp --dport 7946 -m comment --comment dokploy-oci -j ACCEPT",
  "-A INPUT -s 10.0.1.0/24 -p udp -m udp --dport 7946 -m comment --comment dokploy-oci -j ACCEPT",
  "-A INPUT -s 10.0.0.0/24 -p esp -m comment --comment dokploy-oci -j ACCEPT",
  "-A INPUT -j REJECT --reject-with icmp-host-prohibited",
];
// Accepts TCP on each port given, so a connection shows whether INPUT let it in.
const LISTENER = `
import socket, sys, threading
servers = [socket.create_server(("0.0.0.0", int(port))) for port in sys.argv[1:]]
def serve(server):
    while True:
        server.accept()[0].close()
for server in servers:
    threading.Thread(target=serve, args=(server,), daemon=True).start()
print("ready", flush=True)
threading.Event().wait()
`;

let node: GuardedNode;
let listener: ChildProcess | undefined;
// Each test reads what beforeAll did, so any one of them can run alone (the mutation table runs them so).
let beforeHardening: Record<number, number>;
let hardening: Result;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error("the host firewall tests need root (namespaces, iptables)");
  node = await startGuardedNode("dhp", undefined, { blockContainerMetadata: false, hostPorts });
  for (const rule of IMAGE_INPUT) await node.iptables(["-A", "INPUT", ...rule.split(" ")]);
  let output = "";
  listener = spawn("nsenter", [`--net=${node.netns}`, "python3", "-c", LISTENER, "80", "2377", "3000"], { stdio: ["ignore", "pipe", "pipe"] });
  listener.stdout!.on("data", (chunk) => (output += chunk));
  listener.stderr!.on("data", (chunk) => (output += chunk));
  await waitFor(() => output.includes("ready") || listener!.exitCode !== null, "the node's listeners");
  if (!output.includes("ready")) throw new Error(`the listeners did not start: ${output}`);
  beforeHardening = {};
  for (const port of [80, 2377, 3000]) beforeHardening[port] = (await connect(port)).code;
  hardening = await node.harden();
});

afterAll(async () => {
  if (listener) await stopProcess(listener);
  await node?.teardown();
});

const connect = (port: number) => node.fromOutside(["timeout", "20", "bash", "-c", `exec 3<>/dev/tcp/${node.address}/${port}`]);

test("before hardening the image's REJECT refuses every port but 22, from anywhere", () => {
  expect(beforeHardening).toEqual({ 80: 1, 2377: 1, 3000: 1 });
});

test("hostPorts are accepted right before the image's REJECT, as the kernel holds them", async () => {
  expect(hardening.code).toBe(0);
  expect(hardening.stdout).toContain("iptables: INPUT accepts tcp/80 from 0.0.0.0/0");
  expect(hardening.stdout).toContain("iptables: INPUT accepts esp/- from 10.0.0.0/24");
  expect((await node.iptables(["-S", "INPUT"])).trim().split("\n")).toEqual(INPUT_AFTER_HARDENING);
});

test("a port open to everyone lets the outside in; one open to the subnet or not listed still refuses it", async () => {
  // The outside namespace is 169.254.169.254: inside 0.0.0.0/0, outside 10.0.0.0/24.
  expect((await connect(80)).code).toBe(0);
  expect((await connect(2377)).code).toBe(1);
  expect((await connect(3000)).code).toBe(1);
});

test("a second run finds every rule in place: nothing added, nothing saved", async () => {
  const before = await node.iptables(["-S"]);
  const again = await node.harden();
  expect(again.code).toBe(0);
  expect(again.stdout).toContain("iptables: nothing to change");
  expect(again.stdout).not.toContain("INPUT accepts");
  expect(await node.iptables(["-S"])).toBe(before);
});
