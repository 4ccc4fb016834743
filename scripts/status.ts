/**
 * npm run status -- <manager-ip> [--user ubuntu] [--identity ~/.ssh/id_ed25519] [--release-url URL --release SHA256]
 *   [--timeout SECONDS]
 * Prints the cluster's state over SSH; exits 1 when a node could not be reached, a check failed or a disk is nearly
 * full. An idle node (Oracle's reclamation rule) is a warning, not a failure.
 */
import { DEFAULT_TIMEOUT_SECONDS, collectStatus, formatStatus, statusFailed } from "./lib/status";

function argument(args: string[], name: string): string | undefined {
  const index = args.indexOf(name);
  return index >= 0 ? args[index + 1] : undefined;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const manager = args.find((arg, index) => !arg.startsWith("--") && !args[index - 1]?.startsWith("--"));
  if (!manager) {
    console.error(
      "usage: npm run status -- <manager public IP> [--user ubuntu] [--identity <private key>] [--dokploy-url http://127.0.0.1:3000]" +
        ` [--release-url <host_release_url output>] [--release <host_release_sha256 output>] [--timeout <seconds per command, default ${DEFAULT_TIMEOUT_SECONDS}>]`,
    );
    process.exit(2);
  }
  const timeout = argument(args, "--timeout");
  if (timeout !== undefined && !(/^\d+$/.test(timeout) && Number(timeout) > 0)) {
    console.error(`--timeout must be a whole number of seconds above 0, not ${JSON.stringify(timeout)}`);
    process.exit(2);
  }
  const status = await collectStatus({
    manager,
    user: argument(args, "--user"),
    identityFile: argument(args, "--identity"),
    dokployUrl: argument(args, "--dokploy-url"),
    timeoutInSeconds: timeout === undefined ? undefined : Number(timeout),
    sshCommand: process.env.DOKPLOY_OCI_SSH,
    release: { url: argument(args, "--release-url"), sha256: argument(args, "--release") },
  });
  process.stdout.write(formatStatus(status, manager));
  process.exit(statusFailed(status) ? 1 : 0);
}

main();
