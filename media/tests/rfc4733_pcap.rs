//! RFC 4733 digits from the pcaps SIPp ships (`sip-tester` package), read
//! with a minimal pcap parser. Fails when the package is not installed.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use media::{Codec, DtmfSource, MediaEvent, RtpConfig, RtpSession};

const DIR: &str = "/usr/share/sip-tester";

/// UDP payloads of an Ethernet/IPv4 pcap (classic format, either byte order).
fn udp_payloads(pcap: &[u8]) -> Vec<Vec<u8>> {
    let magic = u32::from_le_bytes(pcap[..4].try_into().unwrap());
    let le = match magic {
        0xa1b2_c3d4 | 0xa1b2_3c4d => true,
        0xd4c3_b2a1 | 0x4d3c_b2a1 => false,
        other => panic!("not a pcap: {other:#x}"),
    };
    let u32_at = |o: usize| {
        let b: [u8; 4] = pcap[o..o + 4].try_into().unwrap();
        if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        }
    };
    assert_eq!(u32_at(20), 1, "Ethernet link type");
    let mut out = Vec::new();
    let mut o = 24;
    while o + 16 <= pcap.len() {
        let len = u32_at(o + 8) as usize;
        let frame = &pcap[o + 16..o + 16 + len];
        o += 16 + len;
        if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] {
            continue;
        }
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0F) * 4;
        if ip[9] != 17 {
            continue;
        }
        let udp = &ip[ihl..];
        let udp_len = usize::from(u16::from_be_bytes([udp[4], udp[5]]));
        out.push(udp[8..udp_len.min(udp.len())].to_vec());
    }
    out
}

#[test]
fn every_sipp_dtmf_pcap_yields_its_digit_once() {
    let cases = [
        ("0", '0'),
        ("1", '1'),
        ("2", '2'),
        ("3", '3'),
        ("4", '4'),
        ("5", '5'),
        ("6", '6'),
        ("7", '7'),
        ("8", '8'),
        ("9", '9'),
        ("star", '*'),
        ("pound", '#'),
    ];
    let mut checked = 0;
    for (name, digit) in cases {
        let path = format!("{DIR}/dtmf_2833_{name}.pcap");
        let pcap = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e} (SIPp's pcaps: apt install sip-tester)"));
        let packets = udp_payloads(&pcap);
        assert_eq!(packets.len(), 10, "{name}: start, 6 updates, 3 ends");
        let peer: SocketAddr = "192.168.0.3:49176".parse().unwrap();
        let mut config = RtpConfig::new(Codec::Pcmu);
        config.telephone_event_pt = Some(101);
        let t0 = Instant::now();
        let mut session = RtpSession::new(config, t0);
        let mut digits = Vec::new();
        for (i, p) in packets.iter().enumerate() {
            session.handle_receive(p, peer, t0 + Duration::from_millis(20 * i as u64));
            while let Some(e) = session.poll_event() {
                if let MediaEvent::Dtmf { digit, source } = e {
                    assert_eq!(source, DtmfSource::Rfc4733);
                    digits.push(digit);
                }
            }
        }
        assert_eq!(digits, [digit], "{name}");
        checked += 1;
    }
    assert_eq!(checked, 12, "all twelve digits' pcaps were checked");
}
