//! SIP-path micro-benchmarks: parse and serialise of a typical trunk INVITE
//! (with SDP), its 200 OK and a BYE; transaction matching against 10k live
//! transactions; SDP offer/answer. See BENCHMARKS.md.

use std::collections::HashMap;
use std::hint::black_box;
use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion};
use rsip::SipMessage;
use sip_gateway::sip::sdp;
use sip_gateway::sip::transaction::TransactionKey;
use sip_gateway::sip::wire::{parse_message, serialize};

const SDP_OFFER: &str = "v=0\r\n\
o=carrier 2890844526 2890844526 IN IP4 198.51.100.7\r\n\
s=-\r\n\
c=IN IP4 198.51.100.7\r\n\
t=0 0\r\n\
m=audio 49170 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

const SDP_ANSWER: &str = "v=0\r\n\
o=centralita 1 1 IN IP4 203.0.113.7\r\n\
s=centralita\r\n\
c=IN IP4 203.0.113.7\r\n\
t=0 0\r\n\
m=audio 20000 RTP/AVP 0 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n";

/// A trunk INVITE as carriers send it (BRANCH is replaced per message).
fn invite(branch: &str) -> String {
    format!(
        "INVITE sip:5550100@203.0.113.7:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK{branch};rport\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:+15551234567@198.51.100.7>;tag=9fxced76sl\r\n\
To: <sip:5550100@203.0.113.7>\r\n\
Call-ID: 3848276298220188511@198.51.100.7\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:+15551234567@198.51.100.7:5060>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY, UPDATE\r\n\
Supported: replaces, timer\r\n\
User-Agent: Carrier-SBC/4.2\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{SDP_OFFER}",
        SDP_OFFER.len()
    )
}

fn ok_200() -> String {
    format!(
        "SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK776asdhds;rport=5060;received=198.51.100.7\r\n\
From: \"Alice\" <sip:+15551234567@198.51.100.7>;tag=9fxced76sl\r\n\
To: <sip:5550100@203.0.113.7>;tag=c3n7r4l174\r\n\
Call-ID: 3848276298220188511@198.51.100.7\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:centralita@203.0.113.7:5060>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, REFER, NOTIFY, UPDATE\r\n\
Supported: replaces\r\n\
Server: centralita\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{SDP_ANSWER}",
        SDP_ANSWER.len()
    )
}

const BYE: &str = "BYE sip:centralita@203.0.113.7:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK4b43c2ff8.1;rport\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:+15551234567@198.51.100.7>;tag=9fxced76sl\r\n\
To: <sip:5550100@203.0.113.7>;tag=c3n7r4l174\r\n\
Call-ID: 3848276298220188511@198.51.100.7\r\n\
CSeq: 2 BYE\r\n\
Content-Length: 0\r\n\r\n";

fn request(raw: &str) -> rsip::Request {
    match parse_message(raw.as_bytes()).expect("bench message parses") {
        SipMessage::Request(r) => r,
        SipMessage::Response(_) => panic!("expected a request"),
    }
}

fn wire_benches(c: &mut Criterion) {
    let messages = [("invite_sdp", invite("776asdhds")), ("200_ok_sdp", ok_200()), ("bye", BYE.to_owned())];
    let mut group = c.benchmark_group("sip_parse");
    for (name, raw) in &messages {
        group.bench_function(*name, |b| b.iter(|| parse_message(black_box(raw.as_bytes())).unwrap()));
    }
    group.finish();
    let mut group = c.benchmark_group("sip_serialize");
    for (name, raw) in &messages {
        let msg = parse_message(raw.as_bytes()).unwrap();
        group.bench_function(*name, |b| b.iter(|| serialize(black_box(&msg))));
    }
    group.finish();
}

fn transaction_benches(c: &mut Criterion) {
    // 10k live server transactions, each keyed from its own INVITE.
    let mut table: HashMap<TransactionKey, u64> = HashMap::with_capacity(10_000);
    let mut probes = Vec::new();
    for i in 0..10_000u64 {
        let req = request(&invite(&format!("{i:016x}")));
        let key = TransactionKey::from_request(&req).unwrap();
        table.insert(key, i);
        if i % 997 == 0 {
            probes.push(req);
        }
    }
    assert_eq!(table.len(), 10_000);
    let keys: Vec<TransactionKey> = probes.iter().map(|r| TransactionKey::from_request(r).unwrap()).collect();
    let miss = request(&invite("not-in-table"));
    let mut group = c.benchmark_group("transaction_10k");
    let mut i = 0;
    group.bench_function("key_from_request+lookup", |b| {
        b.iter(|| {
            i += 1;
            let key = TransactionKey::from_request(black_box(&probes[i % probes.len()])).unwrap();
            table.get(&key).copied()
        })
    });
    group.bench_function("key_from_request_miss", |b| {
        b.iter(|| {
            let key = TransactionKey::from_request(black_box(&miss)).unwrap();
            table.get(&key).copied()
        })
    });
    group.bench_function("lookup_only", |b| {
        b.iter(|| {
            i += 1;
            table.get(black_box(&keys[i % keys.len()])).copied()
        })
    });
    group.finish();
}

fn sdp_benches(c: &mut Criterion) {
    let ip: IpAddr = "203.0.113.7".parse().unwrap();
    c.bench_function("sdp_offer_parse+negotiate+answer", |b| {
        b.iter(|| {
            let offer = sdp::parse(black_box(SDP_OFFER.as_bytes())).unwrap();
            let n = sdp::negotiate(&offer).unwrap();
            sdp::answer(&n, ip, 20000, 1, 1)
        })
    });
}

criterion_group!(benches, wire_benches, transaction_benches, sdp_benches);
criterion_main!(benches);
