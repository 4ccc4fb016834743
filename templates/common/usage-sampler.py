#!/usr/bin/env python3
"""Records this node's CPU, memory and network use over a rolling window and what Oracle's idle rule says of it.

Oracle stops an Always Free instance whose CPU, network and memory use all stay under 20 % at the 95th percentile
over 7 days; nothing tells the owner beforehand. Once per sample interval this appends one line to
<stateDir>/samples.tsv (epoch, CPU %, memory %, network bytes/s: the busier direction of the node's physical
interfaces) and rewrites <stateDir>/usage.json, which `npm run status` prints. The file never holds more than the
window plus a day of samples. It only observes: it never creates load to look busy.

Network % is against the shape's bandwidth from the instance metadata service, read once at start (while it is
unknown, network % is null and the node is not called idle). node.json's `usage` gives the paths and figures.
`--summarize` rewrites usage.json from the samples and exits (for an operator who wants the summary now, and for the tests).
"""
import json
import os
import sys
import time
import urllib.request

ROOT = os.environ.get("DOKPLOY_OCI_ROOT", "")
CONFIG_FILE = f"{ROOT}/etc/dokploy-oci/node.json"
METADATA_HEADERS = {"Authorization": "Bearer Oracle"}
PERCENTILE = 95


def read_config():
    with open(CONFIG_FILE) as handle:
        usage = json.load(handle)["usage"]
    return {
        "state_dir": ROOT + str(usage["stateDir"]),
        "sample_seconds": int(usage["sampleSeconds"]),
        "window_days": int(usage["windowDays"]),
        "idle_percent": float(usage["idleThresholdPercent"]),
        "metadata_url": str(usage["instanceMetadataUrl"]),
    }


def cpu_counters():
    """(busy, total) jiffies since boot; idle and iowait are not busy."""
    with open(f"{ROOT}/proc/stat") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    total = sum(fields[:8])  # guest time is already counted in user and nice
    return total - fields[3] - fields[4], total


def memory_percent():
    values = {}
    with open(f"{ROOT}/proc/meminfo") as handle:
        for line in handle:
            name, rest = line.split(":", 1)
            values[name] = int(rest.split()[0])
    return 100.0 * (values["MemTotal"] - values["MemAvailable"]) / values["MemTotal"]


def physical_interfaces():
    """Interfaces backed by a device: Docker's bridges, veths and overlays would count the same bytes again."""
    net = f"{ROOT}/sys/class/net"
    return sorted(name for name in os.listdir(net) if os.path.exists(f"{net}/{name}/device")) if os.path.isdir(net) else []


def network_counters(interfaces):
    """(received, sent) bytes since boot over `interfaces`."""
    received = sent = 0
    with open(f"{ROOT}/proc/net/dev") as handle:
        for line in handle.readlines()[2:]:
            name, rest = line.split(":", 1)
            if name.strip() in interfaces:
                fields = rest.split()
                received += int(fields[0])
                sent += int(fields[8])
    return received, sent


def bandwidth_gbps(url):
    request = urllib.request.Request(url, headers=METADATA_HEADERS)
    with urllib.request.urlopen(request, timeout=10) as response:
        document = json.load(response)
    shape = document.get("shapeConfig") or {}
    value = shape.get("networkingBandwidthInGbps")
    if not isinstance(value, (int, float)) and str(document.get("shape", "")).endswith("A1.Flex"):
        value = shape.get("ocpus")  # A1: 1 Gbps per OCPU
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def percentile(values, rank):
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, -(-rank * len(ordered) // 100) - 1)]


def read_samples(path):
    samples = []
    try:
        with open(path) as handle:
            for line in handle:
                fields = line.split()
                if len(fields) == 4:
                    samples.append((float(fields[0]), float(fields[1]), float(fields[2]), float(fields[3])))
    except FileNotFoundError:
        pass
    return samples


def summarize(config, bandwidth, now):
    """Rewrites usage.json from the samples in the window; drops older samples once there is a day of them."""
    path = f"{config['state_dir']}/samples.tsv"
    every = read_samples(path)
    samples = [s for s in every if s[0] > now - config["window_days"] * 86400]
    if len(every) - len(samples) > 86400 // config["sample_seconds"]:
        write_atomically(path, "".join(f"{int(s[0])} {s[1]:.1f} {s[2]:.1f} {s[3]:.0f}\n" for s in samples))
    cpu = percentile([s[1] for s in samples], PERCENTILE)
    memory = percentile([s[2] for s in samples], PERCENTILE)
    network_bytes = percentile([s[3] for s in samples], PERCENTILE)
    network = None if network_bytes is None or bandwidth is None else 100.0 * network_bytes * 8 / (bandwidth * 1e9)
    idle = all(value is not None and value < config["idle_percent"] for value in (cpu, memory, network))
    summary = {
        "updatedAt": int(now),
        "windowDays": config["window_days"],
        "coveredDays": round((now - samples[0][0]) / 86400, 2) if samples else 0,
        "samples": len(samples),
        "p95": {"cpuPercent": cpu, "memoryPercent": memory, "networkPercent": network},
        "networkBandwidthGbps": bandwidth,
        "idleThresholdPercent": config["idle_percent"],
        "idle": idle,
    }
    write_atomically(f"{config['state_dir']}/usage.json", json.dumps(summary) + "\n")


def write_atomically(path, text):
    with open(f"{path}.tmp", "w") as handle:
        handle.write(text)
    os.replace(f"{path}.tmp", path)


def main():
    config = read_config()
    os.makedirs(config["state_dir"], mode=0o755, exist_ok=True)
    bandwidth = None
    if "--summarize" in sys.argv[1:]:
        try:
            with open(f"{config['state_dir']}/usage.json") as handle:
                bandwidth = json.load(handle).get("networkBandwidthGbps")
        except (OSError, ValueError):
            pass
        summarize(config, bandwidth, time.time())
        return
    interfaces = physical_interfaces()
    print(f"sampling every {config['sample_seconds']} s; network interfaces: {', '.join(interfaces) or 'none found'}", flush=True)
    busy, total = cpu_counters()
    received, sent = network_counters(interfaces)
    before = time.monotonic()
    while True:
        time.sleep(config["sample_seconds"])
        if bandwidth is None:
            try:
                bandwidth = bandwidth_gbps(config["metadata_url"])
            except (OSError, ValueError) as error:
                print(f"shape bandwidth unknown for now (instance metadata: {error}); network % waits for it", flush=True)
        now_busy, now_total = cpu_counters()
        now_received, now_sent = network_counters(interfaces)
        now = time.monotonic()
        cpu = 100.0 * (now_busy - busy) / max(1, now_total - total)
        rate = max(now_received - received, now_sent - sent) / max(1e-3, now - before)
        busy, total, received, sent, before = now_busy, now_total, now_received, now_sent, now
        with open(f"{config['state_dir']}/samples.tsv", "a") as handle:
            handle.write(f"{int(time.time())} {cpu:.1f} {memory_percent():.1f} {rate:.0f}\n")
        summarize(config, bandwidth, time.time())


if __name__ == "__main__":
    main()
