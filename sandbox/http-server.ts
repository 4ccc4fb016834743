/** Taking a stand-in service down (connections refused) and bringing it back on the same port, as tests need. */
import * as http from "http";
import * as net from "net";

/** Listens on `port` (0: any) at `host`; resolves to the port. */
export async function listen(server: http.Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as net.AddressInfo).port;
}

/** Stops listening and drops open connections; from now on connections are refused. */
export async function closeNow(server: http.Server): Promise<void> {
  if (!server.listening) return;
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
