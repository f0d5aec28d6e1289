#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora into fuzz/seeds/<target>/ (issue #15,
"Fuzzing"), from what the repository already has:

- sip_udp: the RFC 4475 torture messages (tests/data/rfc4475/*.dat) and every
  message the SIPp scenarios send (tests/scenarios/*.xml), placeholders
  filled in as SIPp would;
- sip_tcp: the same messages as streams: a read-size seed byte, then runs of
  messages with CRLF keep-alives between them (and a dblreq-like broken tail);
- sdp: the SDP bodies of those messages and a few offers (hold, late codecs,
  IPv6, rejected stream);
- rtp: RTP datagrams, each behind a 2-byte big-endian length (the rtp
  target's framing): PCMU frames of media/tests/fixtures/yes.wav and the RFC
  4733 digits of the pcaps SIPp ships (/usr/share/sip-tester, package
  sip-tester), when installed;
- flow: flows/*.yaml and tests/scenarios/*.yaml.

Deterministic: rerunning it rewrites the same files. Usage:
    python3 scripts/fuzz-seeds.py
"""
import hashlib
import os
import re
import struct
import wave
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "fuzz" / "seeds"

FILL = {
    "local_ip": "127.0.0.1", "local_port": "5070", "remote_ip": "127.0.0.1", "remote_port": "5060",
    "media_ip": "127.0.0.1", "media_port": "16000", "media_ip_type": "4", "transport": "UDP",
    "branch": "z9hG4bK-4242-1-0", "call_number": "1", "pid": "4242", "call_id": "1-4242@127.0.0.1",
    "peer_tag_param": ";tag=gw1",
    "last_Via:": "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKgw1;rport=5060;received=127.0.0.1",
    "last_From:": "From: <sip:centralita@127.0.0.1:5060>;tag=gw1",
    "last_To:": "To: <sip:agent@127.0.0.1:5070>",
    "last_Call-ID:": "Call-ID: gw-call-1",
    "last_CSeq:": "CSeq: 2 REFER",
}


def write(target, name, data):
    d = OUT / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def scenario_messages():
    msgs = []
    for xml in sorted((ROOT / "tests" / "scenarios").glob("*.xml")):
        text = xml.read_text(encoding="latin-1")
        for i, block in enumerate(re.findall(r"<send[^>]*>\s*<!\[CDATA\[(.*?)\]\]>", text, re.S)):
            lines = [l.strip() for l in block.strip("\n").split("\n")]
            while lines and not lines[-1]:
                lines.pop()
            if "" in lines:
                cut = lines.index("")
                head, body = lines[:cut], lines[cut + 1:]
            else:
                head, body = lines, []
            body_text = "".join(l + "\r\n" for l in body)
            body_text = body_text.replace("@RTP_PORT@", "16000").replace("@SIPFRAG@", "200 OK")

            def fill(m):
                key = m.group(1)
                if key == "len":
                    return str(len(fill_all(body_text).encode()))
                if key.startswith("$"):
                    return "x"
                return FILL.get(key, "x")

            def fill_all(s):
                return re.sub(r"\[([^\]\s]+)\]", fill, s)

            head_text = fill_all("\r\n".join(l for l in head if l)).replace("@SIPFRAG@", "200 OK")
            msg = head_text + "\r\n\r\n" + fill_all(body_text)
            msgs.append((f"{xml.stem}_{i}", msg.encode()))
    return msgs


def rfc4475_messages():
    return [(p.stem, p.read_bytes()) for p in sorted((ROOT / "tests" / "data" / "rfc4475").glob("*.dat"))]


def sdp_of(msg):
    head, _, body = msg.partition(b"\r\n\r\n")
    return body if body.startswith(b"v=0") else None


SDPS = {
    "offer_pcmu_te": "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0 8 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n",
    "offer_hold_c0": "v=0\r\no=- 1 2 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\n",
    "offer_sendonly": "v=0\r\no=- 1 3 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8\r\na=sendonly\r\n",
    "offer_dynamic_pcmu": "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 9 96 97\r\na=rtpmap:9 G722/8000\r\na=rtpmap:96 PCMU/8000\r\na=rtpmap:97 telephone-event/8000\r\n",
    "offer_ipv6_video": "v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\nm=audio 6000 RTP/AVP 0\r\nc=IN IP6 2001:db8::1\r\na=inactive\r\n",
    "offer_rejected": "v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\n",
}


def rtp(pt, seq, ts, ssrc, payload, marker=False):
    return struct.pack("!BBHII", 0x80, (0x80 if marker else 0) | pt, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc) + payload


def framed(packets):
    return b"".join(struct.pack("!H", len(p)) + p for p in packets)


def ulaw(sample):
    # G.711 mu-law of one 16-bit sample.
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), clip) + bias
    exponent = 7
    for e in range(7, -1, -1):
        if sample & (0x4000 >> (7 - e)):
            exponent = e
            break
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def pcap_udp_payloads(path):
    data = path.read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    end = "<" if magic == 0xA1B2C3D4 else ">"
    off, out = 24, []
    while off + 16 <= len(data):
        _, _, incl, _ = struct.unpack(end + "IIII", data[off:off + 16])
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if len(frame) > 42 and frame[12:14] == b"\x08\x00" and frame[23] == 17:
            ihl = (frame[14] & 0x0F) * 4
            out.append(frame[14 + ihl + 8:])
    return out


def main():
    udp = rfc4475_messages() + scenario_messages()
    for name, msg in udp:
        write("sip_udp", name, msg)
    # Streams: a seed byte for the read sizes, then messages with Content-Length.
    scen = [m for n, m in scenario_messages() if b"Content-Length" in m]
    write("sip_tcp", "scenarios_run", b"\x07" + b"\r\n".join(scen[:6]))
    write("sip_tcp", "keepalives", b"\x01\r\n\r\n" + scen[0] + b"\r\n\r\n" + scen[1])
    for name, msg in rfc4475_messages():
        if name in ("dblreq", "mcl01", "intmeth", "esc01", "unreason", "cparam01", "wsinv", "badinv01", "multi01", "clerr", "ncl", "scalar02"):
            write("sip_tcp", name, b"\x03" + msg + scen[0])
    sdps = {}
    for name, msg in udp:
        body = sdp_of(msg)
        if body:
            sdps[hashlib.sha1(body).hexdigest()[:12]] = body
    for h, body in sdps.items():
        write("sdp", f"msg_{h}", body)
    for name, body in SDPS.items():
        write("sdp", name, body.encode())
    # RTP: PCMU speech, then digit 5 as RFC 4733 (start, updates, 3 ends).
    with wave.open(str(ROOT / "media" / "tests" / "fixtures" / "yes.wav")) as w:
        frames = w.readframes(w.getnframes())
        width, rate = w.getsampwidth(), w.getframerate()
    samples = [struct.unpack("<h", frames[i:i + 2])[0] for i in range(0, len(frames), 2 * w.getnchannels())] if width == 2 else []
    step = max(1, rate // 8000)
    samples = samples[::step][: 160 * 10]
    audio = [rtp(0, 1 + i, 1 + 160 * i, 0x1234, bytes(ulaw(s) for s in samples[160 * i:160 * i + 160]), i == 0) for i in range(len(samples) // 160)]
    ev = lambda e, end, dur: bytes([e, (0x80 if end else 0) | 10]) + struct.pack("!H", dur)
    dtmf = [rtp(101, 20 + i, 1601, 0x1234, ev(5, i >= 3, 160 * (i + 1)), i == 0) for i in range(6)]
    write("rtp", "pcmu_then_rfc4733", framed(audio + dtmf))
    write("rtp", "rfc4733_only", framed(dtmf))
    ext = rtp(0, 40, 9000, 0x1234, b"\x7f" * 160)
    ext = bytes([0x90]) + ext[1:12] + b"\xbe\xde\x00\x01\x10\xaa\x00\x00" + ext[12:]
    padded = bytes([0xA0]) + rtp(0, 41, 9160, 0x1234, b"\x7f" * 160 + b"\x00\x00\x03")[1:]
    write("rtp", "extension_padding", framed([ext, padded]))
    pcaps = Path("/usr/share/sip-tester")
    for name in ("dtmf_2833_1.pcap", "dtmf_2833_pound.pcap"):
        if (pcaps / name).is_file():
            write("rtp", name.replace(".pcap", ""), framed(pcap_udp_payloads(pcaps / name)[:40]))
    for y in sorted((ROOT / "flows").glob("*.yaml")) + sorted((ROOT / "tests" / "scenarios").glob("*.yaml")):
        write("flow", f"{y.parent.name}_{y.stem}", y.read_bytes())


if __name__ == "__main__":
    main()
