/**
 * An app on the tailnet with no published port: traefik/whoami in the network namespace of a Tailscale sidecar,
 * served over HTTPS at https://whoami.<your tailnet>.ts.net. Run it from an app that installed dokploy-oci (in this repo:
 * npm run build && npx ts-node --transpile-only examples/tailscale-sidecar/main.ts),
 * then deploy cdktf.out/stacks/tailscale-sidecar with terraform (see README.md beside this file).
 */
import { App, TerraformOutput, TerraformStack, TerraformVariable } from "cdktf";
import { Construct } from "constructs";
import { Container } from "@cdktf/provider-docker/lib/container";
import { Image } from "@cdktf/provider-docker/lib/image";
import { DockerProvider } from "@cdktf/provider-docker/lib/provider";
import { TailscaleSidecar } from "dokploy-oci";

export class TailscaleSidecarStack extends TerraformStack {
  constructor(scope: Construct, id: string) {
    super(scope, id);
    const dockerHost = new TerraformVariable(this, "docker_host", {
      type: "string",
      default: "unix:///var/run/docker.sock",
      description: "Docker daemon to deploy to, e.g. ssh://ubuntu@<manager address> (the user must be in the docker group)",
    });
    const authKey = new TerraformVariable(this, "tailscale_auth_key", {
      type: "string",
      sensitive: true,
      description: "Tailscale auth key (tskey-auth-…) or OAuth client secret (tskey-client-…) allowed to assign tag:dokploy",
    });
    const tailnet = new TerraformVariable(this, "tailnet_dns_name", {
      type: "string",
      description: "Your tailnet's MagicDNS suffix, e.g. tail1234.ts.net (admin console, DNS page)",
    });
    new DockerProvider(this, "docker", { host: dockerHost.stringValue });

    const sidecar = new TailscaleSidecar(this, "Tailscale", {
      authKey: authKey.stringValue,
      hostname: "whoami",
      tags: ["tag:dokploy"],
      serve: { localPort: 80 },
    });
    const image = new Image(this, "WhoamiImage", { name: "traefik/whoami:v1.11.0", keepLocally: true });
    const whoami = new Container(this, "Whoami", { name: "whoami", image: image.imageId, restart: "unless-stopped" });
    sidecar.attach(whoami);

    new TerraformOutput(this, "url", { value: `https://${sidecar.hostname}.${tailnet.stringValue}/` });
  }
}

if (require.main === module) {
  const app = new App();
  new TailscaleSidecarStack(app, "tailscale-sidecar");
  app.synth();
}
