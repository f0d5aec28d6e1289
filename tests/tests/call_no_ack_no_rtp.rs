//! Issue #15 item 3 (RTP reflection): an INVITE that is answered but never
//! ACKed — a spoofed source, say — gets no RTP stream at the address in
//! its SDP; the answered call only starts sending once the ACK comes.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use centralita_e2e::Gateway;

fn invite(sip: &UdpSocket, rtp_port: u16, gw: std::net::SocketAddr) -> String {
    let local = sip.local_addr().unwrap();
    let sdp = format!("v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {rtp_port} RTP/AVP 0\r\n");
    format!(
        "INVITE sip:5550100@{gw} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKnoack{rtp_port}\r\nMax-Forwards: 70\r\n\
         From: <sip:spoof@127.0.0.1>;tag=s1\r\nTo: <sip:5550100@127.0.0.1>\r\nCall-ID: noack-{rtp_port}@127.0.0.1\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:spoof@{local}>\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    )
}

#[test]
fn an_answered_invite_without_ack_gets_no_rtp() {
    let gw = Gateway::start();
    let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
    let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
    rtp.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    sip.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    sip.send_to(invite(&sip, rtp.local_addr().unwrap().port(), gw.sip_udp).as_bytes(), gw.sip_udp).unwrap();
    let mut buf = [0u8; 4096];
    let answered = loop {
        let (n, _) = sip.recv_from(&mut buf).expect("a final response to the INVITE");
        let text = String::from_utf8_lossy(&buf[..n]).to_string();
        if !text.starts_with("SIP/2.0 1") {
            break text;
        }
    };
    assert!(answered.starts_with("SIP/2.0 200"), "{answered}");
    // The 200 is retransmitted while no ACK comes; RTP must not flow meanwhile.
    let until = Instant::now() + Duration::from_secs(2);
    let mut packets = 0;
    while Instant::now() < until {
        if rtp.recv_from(&mut buf).is_ok() {
            packets += 1;
        }
    }
    assert_eq!(packets, 0, "RTP sent to an address that never ACKed");
}
