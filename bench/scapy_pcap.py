#!/usr/bin/env python3
"""Scapy writing the packets of a scanbench capture, for `scanbench bench gen`.

Reads a recipe (one line per packet: time_us src dst proto sport dport flags
ip_len, as `scanbench bench gen` writes it), builds every packet with Scapy
(IP / TCP or UDP / padding up to the same IP length, so header fields and
sizes match scanbench's) and writes them with Scapy's PcapWriter as raw IP
(linktype 101) with the same timestamps. Prints the packets per second of
building and writing (reading the recipe is not timed).

Not a test dependency: `bench/scapy-venv.sh` makes a venv with Scapy.
"""

import argparse
import sys
import time


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("recipe", help="packet list written by `scanbench bench gen`")
    ap.add_argument("out", help="pcap to write")
    args = ap.parse_args()

    try:
        from scapy.all import IP, TCP, UDP, Raw, PcapWriter  # noqa: E402
    except ImportError:
        print("scapy is not installed (run bench/scapy-venv.sh)", file=sys.stderr)
        return 3

    rows = []
    with open(args.recipe) as f:
        for line in f:
            t, src, dst, proto, sport, dport, flags, ip_len = line.split()
            rows.append((int(t), src, dst, int(proto), int(sport), int(dport), flags, int(ip_len)))

    start = time.perf_counter()
    w = PcapWriter(args.out, linktype=101, sync=False)
    for t, src, dst, proto, sport, dport, flags, ip_len in rows:
        ip = IP(src=src, dst=dst)
        if proto == 6:
            p = ip / TCP(sport=sport, dport=dport, flags="" if flags == "-" else flags)
            header = 40
        elif proto == 17:
            p = ip / UDP(sport=sport, dport=dport)
            header = 28
        else:
            p, header = ip, 20
        # Padding to scanbench's IP length (its TCP options and payload),
        # sized by arithmetic so Scapy builds each packet once, when written.
        if ip_len > header:
            p = p / Raw(b"\0" * (ip_len - header))
        p.time = t / 1e6
        w.write(p)
    w.close()
    elapsed = time.perf_counter() - start
    print(f"scapy: {len(rows)} packets in {elapsed:.3f} s = {len(rows) / elapsed:.0f} packets/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
