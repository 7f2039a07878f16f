#!/usr/bin/python3
"""Independent check of the RoCEv2 frames in a pcap file written by s3rdma.

For every frame: parse Ethernet/IPv4/UDP with the standard library, check the IPv4 header
checksum and recompute the ICRC two ways that share no code with s3rdma:
  1. the published recipe with Python's zlib: crc32 over 8 bytes of 0xff, the IPv4 header
     with TOS/TTL/checksum set to ones, the UDP header with checksum 0xffff, the BTH with its
     FECN/BECN/resv6 byte set to ones, then the rest up to the ICRC; stored little-endian;
  2. scapy's RoCE layer (scapy.contrib.roce, Debian python3-scapy), if it is installed.
Exit status 0 if every frame matches, 1 otherwise (each mismatch is printed), 2 on usage or
file errors. --require-scapy makes a missing scapy an error (CI installs it).
"""
import struct
import sys
import zlib


def read_pcap(path):
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        raise ValueError("truncated pcap header")
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        endian = ">"
    else:
        raise ValueError("not a pcap file")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    if linktype != 1:
        raise ValueError("link type %d is not Ethernet" % linktype)
    off = 24
    frames = []
    while off < len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[off:off + 16])
        off += 16
        frames.append(data[off:off + incl])
        off += incl
    return frames


def ipv4_checksum_ok(header):
    total = sum(struct.unpack("!10H", header))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total == 0xFFFF


def icrc_zlib(frame):
    ip = bytearray(frame[14:34])
    udp = bytearray(frame[34:42])
    transport = frame[42:]
    ip[1] = 0xFF                 # TOS
    ip[8] = 0xFF                 # TTL
    ip[10:12] = b"\xff\xff"      # header checksum
    udp[6:8] = b"\xff\xff"       # UDP checksum
    bth = bytearray(transport[:12])
    bth[4] = 0xFF                # FECN, BECN, resv6
    covered = b"\xff" * 8 + bytes(ip) + bytes(udp) + bytes(bth) + transport[12:-4]
    return struct.pack("<I", zlib.crc32(covered) & 0xFFFFFFFF)


def icrc_scapy(frame):
    from scapy.layers.l2 import Ether
    from scapy.layers.inet import UDP
    from scapy.contrib.roce import BTH  # noqa: F401  (binds UDP port 4791 to BTH)
    from scapy.compat import raw
    pkt = Ether(frame)
    if BTH not in pkt and UDP in pkt:
        pkt[UDP].decode_payload_as(BTH)  # a RoCEv2 run on another UDP port
    if BTH not in pkt:
        raise ValueError("scapy did not dissect a BTH")
    pkt[BTH].icrc = None         # let scapy recompute it on build
    return raw(pkt)[-4:]


def main(argv):
    args = [a for a in argv[1:] if not a.startswith("--")]
    require_scapy = "--require-scapy" in argv
    if len(args) != 1:
        print("usage: icrc_check.py [--require-scapy] FILE.pcap", file=sys.stderr)
        return 2
    try:
        frames = read_pcap(args[0])
    except (OSError, ValueError) as e:
        print("icrc_check: %s: %s" % (args[0], e), file=sys.stderr)
        return 2
    try:
        import scapy.contrib.roce  # noqa: F401
        have_scapy = True
    except ImportError:
        have_scapy = False
        if require_scapy:
            print("icrc_check: scapy (python3-scapy) is required but missing", file=sys.stderr)
            return 2
    bad = 0
    for i, frame in enumerate(frames):
        if len(frame) < 42 + 16 or frame[12:14] != b"\x08\x00":
            print("frame %d: not an IPv4 RoCEv2 frame" % i)
            bad += 1
            continue
        if not ipv4_checksum_ok(frame[14:34]):
            print("frame %d: bad IPv4 header checksum" % i)
            bad += 1
        stored = frame[-4:]
        mine = icrc_zlib(frame)
        if mine != stored:
            print("frame %d: ICRC %s, zlib recipe says %s" % (i, stored.hex(), mine.hex()))
            bad += 1
        if have_scapy:
            theirs = icrc_scapy(frame)
            if theirs != stored:
                print("frame %d: ICRC %s, scapy says %s" % (i, stored.hex(), theirs.hex()))
                bad += 1
    print("icrc_check: %d frames, %d mismatches, scapy %s" %
          (len(frames), bad, "used" if have_scapy else "not installed"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
