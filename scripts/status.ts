/**
 * npm run status -- <manager-ip> [--user ubuntu] [--identity ~/.ssh/id_ed25519]
 * Prints the cluster's state over SSH; exits 1 when a node could not be reached or a check failed.
 */
import { collectStatus, formatStatus } from "./lib/status";

function argument(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const manager = args.find((arg, index) => !arg.startsWith("--") && !args[index - 1]?.startsWith("--"));
  if (!manager) {
    console.error("usage: npm run status -- <manager public IP> [--user ubuntu] [--identity <private key>] [--dokploy-url http://127.0.0.1:3000]");
    process.exit(2);
  }
  const status = await collectStatus({
    manager,
    user: argument(args, "--user"),
    identityFile: argument(args, "--identity"),
    dokployUrl: argument(args, "--dokploy-url"),
    sshCommand: process.env.DOKPLOY_OCI_SSH,
  });
  process.stdout.write(formatStatus(status, manager));
  const checks = [status.manager.cloudInit, status.manager.setup, status.tokenServer, status.backups, ...status.workers.flatMap((w) => [w.cloudInit, w.setup])];
  const failed = checks.some((check) => !check.ok) || !Array.isArray(status.swarmNodes) || !Array.isArray(status.dokployServers);
  process.exit(failed ? 1 : 0);
}

main();
