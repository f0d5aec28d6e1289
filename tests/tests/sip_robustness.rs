//! Issue #3: malformed SIP gets 400 (or is dropped) and never disturbs a
//! healthy call; out-of-dialog OPTIONS and unknown methods are answered.
//! Uses the 49 RFC 4475 torture messages carried in `tests/data/rfc4475/`
//! (one file each, byte-exact, listed in its INDEX.tsv).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use centralita_e2e::{free_udp_port, http_get, repo_root, sipp_ok, udp_exchange, Gateway, Scratch};

const WAIT: Duration = Duration::from_millis(1500);

/// How many messages RFC 4475 §3 holds (and the corpus carries).
const RFC4475_MESSAGES: usize = 49;

/// The corpus directory in the repository.
fn rfc4475_dir() -> PathBuf {
    repo_root().join("tests/data/rfc4475")
}

/// Every message file of the corpus, sorted; fails unless INDEX.tsv lists
/// exactly these files and there are all 49 of them.
fn rfc4475_files() -> Vec<PathBuf> {
    let dir = rfc4475_dir();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "dat"))
        .collect();
    files.sort();
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).expect("INDEX.tsv");
    let mut listed: Vec<PathBuf> =
        index.lines().skip(1).filter(|l| !l.is_empty()).map(|l| dir.join(l.split('\t').next().unwrap_or(""))).collect();
    listed.sort();
    assert_eq!(files, listed, "INDEX.tsv lists exactly the corpus files");
    assert_eq!(files.len(), RFC4475_MESSAGES, "the whole RFC 4475 corpus is in {}", dir.display());
    files
}

#[test]
fn malformed_requests_get_400_and_garbage_is_dropped() {
    let gw = Gateway::start();
    let bad_len = "INVITE sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbad1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: bad1\r\nCSeq: 1 INVITE\r\nContent-Length: 500\r\n\r\nv=0\r\n";
    let r = udp_exchange(gw.sip_udp, bad_len.as_bytes(), WAIT).expect("a 400 for a bad Content-Length");
    assert!(r.starts_with("SIP/2.0 400"), "{r}");
    assert!(r.contains("Content-Length"), "reason names the fault: {r}");

    let no_callid = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bKbad2\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCSeq: 1 OPTIONS\r\n\r\n";
    let r = udp_exchange(gw.sip_udp, no_callid.as_bytes(), WAIT).expect("a 400 for a missing Call-ID");
    assert!(r.starts_with("SIP/2.0 400") && r.contains("Call-ID"), "{r}");

    let huge = format!(
        "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKbad3\r\nX-Huge: {}\r\n\r\n",
        "a".repeat(60_000)
    );
    let _ = udp_exchange(gw.sip_udp, huge.as_bytes(), Duration::from_millis(300));
    for garbage in [&b"\x00\x01\x02 hello"[..], b"NOT SIP AT ALL\r\n\r\n", b"INVITE sip:a SIP/2.0\r\nFrom: x\r\n\r\n"] {
        assert_eq!(udp_exchange(gw.sip_udp, garbage, Duration::from_millis(300)), None, "garbage without Via must be dropped");
    }

    let options = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bKok1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: ok1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\r\n";
    let r = udp_exchange(gw.sip_udp, options.as_bytes(), WAIT).expect("200 to OPTIONS");
    assert!(r.starts_with("SIP/2.0 200") && r.contains("Allow: INVITE"), "{r}");

    let unknown = options.replace("OPTIONS", "FOOBAR");
    let r = udp_exchange(gw.sip_udp, unknown.as_bytes(), WAIT).expect("501 to an unknown method");
    assert!(r.starts_with("SIP/2.0 501"), "{r}");
}

/// The corpus' SDP points media at 192.0.2.x (TEST-NET-1); an answered
/// torture INVITE would make the gateway send RTP there. Every `c=IN IP4`
/// address becomes a loopback address of the same byte length, so
/// Content-Length and the SIP-level malformations stay exactly as written.
fn loopback_media(msg: &[u8]) -> Vec<u8> {
    let mut out = msg.to_vec();
    let needle = b"c=IN IP4 ";
    let mut i = 0;
    while let Some(pos) = out[i..].windows(needle.len()).position(|w| w == needle) {
        let start = i + pos + needle.len();
        let end = start + out[start..].iter().take_while(|b| b.is_ascii_digit() || **b == b'.').count();
        let replacement: &[u8] = match end - start {
            9 => b"127.0.0.1",
            10 => b"127.0.0.10",
            11 => b"127.0.0.100",
            12 => b"127.0.10.100",
            13 => b"127.0.100.100",
            14 => b"127.100.100.10",
            15 => b"127.100.100.100",
            other => panic!("media address of unexpected length {other}"),
        };
        out.splice(start..end, replacement.iter().copied());
        i = end;
    }
    let text = String::from_utf8_lossy(&out);
    assert!(text.match_indices("c=IN IP4 ").all(|(at, _)| text[at + 9..].starts_with("127.")), "every media address must be loopback");
    out
}

#[test]
fn torture_messages_never_break_a_healthy_call() {
    let gw = Gateway::start();
    let dir = Scratch::new("torture");
    let corpus = rfc4475_files();
    let scenario = std::fs::read_to_string(repo_root().join("tests/scenarios/caller_bye.xml")).expect("scenario");
    let vars = [("RTP_PORT", free_udp_port().to_string()), ("HOLD_MS", "4000".to_string())];
    let (target, api, token) = (gw.sip_udp, gw.api, gw.token.clone());
    let sender = std::thread::spawn(move || {
        // Sent while the call is up (it lasts HOLD_MS after the answer).
        let until = Instant::now() + Duration::from_secs(30);
        while http_get(api, "/v1/calls/live", Some(&token)).1["calls"].as_array().is_none_or(|a| a.is_empty()) {
            assert!(Instant::now() < until, "the SIPp call never showed up as live");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut sent = 0;
        for path in &corpus {
            let bytes = loopback_media(&std::fs::read(path).expect("read"));
            let _ = udp_exchange(target, &bytes, Duration::from_millis(50));
            sent += 1;
        }
        // Truncated and oversized messages too.
        let _ = udp_exchange(
            target,
            b"INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP 1.2.3.4;branch=z9hG4bKt\r\nCall-ID:",
            Duration::from_millis(50),
        );
        sent
    });
    sipp_ok(&scenario, &vars, gw.sip_udp, &["-m", "1"], &dir.0);
    let sent = sender.join().expect("sender");
    assert_eq!(sent, RFC4475_MESSAGES, "every RFC 4475 message was sent during the call");
    let (status, _) = gw.api_get("/healthz", None);
    assert_eq!(status, 200, "gateway alive");
}

#[test]
fn offer_without_a_common_codec_gets_488_with_warning() {
    let gw = Gateway::start();
    let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n";
    let invite = format!(
        "INVITE sip:5550100@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bKg722\r\nFrom: <sip:x@127.0.0.1>;tag=1\r\nTo: <sip:5550100@127.0.0.1>\r\nCall-ID: g722-only\r\nCSeq: 1 INVITE\r\nContact: <sip:x@127.0.0.1:9>\r\nMax-Forwards: 70\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    let got = centralita_e2e::udp_until_final(gw.sip_udp, invite.as_bytes(), Duration::from_secs(5));
    let last = got.last().expect("responses");
    assert!(last.starts_with("SIP/2.0 488"), "{got:?}");
    assert!(last.contains("Warning: 305 centralita \"Not Acceptable Here (no common codec"), "{last}");
}

#[test]
fn trunk_acl_forbids_sources_outside_every_allow_list() {
    let options = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bKacl1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: acl1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\n\r\n";
    let flow = centralita_e2e::repo_root().join("flows/demo.yaml");
    // We send from 127.0.0.1; a trunk that only allows 127.0.0.2 shuts us out.
    let gw = Gateway::start_with_tables("", 20, &flow, "[[trunks]]\nname = \"carrier-a\"\nallow = [\"127.0.0.2/32\"]\n");
    let r = udp_exchange(gw.sip_udp, options.as_bytes(), WAIT).expect("a 403");
    assert!(r.starts_with("SIP/2.0 403 Forbidden (source address not allowed)"), "{r}");
    drop(gw);
    let gw = Gateway::start_with_tables("", 20, &flow, "[[trunks]]\nname = \"carrier-a\"\nallow = [\"127.0.0.0/8\"]\n");
    let r = udp_exchange(gw.sip_udp, options.as_bytes(), WAIT).expect("a 200");
    assert!(r.starts_with("SIP/2.0 200"), "{r}");
}

#[test]
fn trunk_with_digest_credentials_challenges_and_admits_the_right_password() {
    let flow = centralita_e2e::repo_root().join("flows/demo.yaml");
    // No network is allowed outright: callers must authenticate.
    let tables = "[[trunks]]\nname = \"carrier-b\"\nusername = \"carrier\"\npassword = \"s3cret\"\n";
    let gw = Gateway::start_with_tables("", 20, &flow, tables);
    let dir = centralita_e2e::Scratch::new("auth");
    let scenario = std::fs::read_to_string(centralita_e2e::repo_root().join("tests/scenarios/auth_call.xml")).expect("scenario");
    let vars = |pw: &str| {
        [("RTP_PORT", free_udp_port().to_string()), ("HOLD_MS", "500".to_string()), ("USER", "carrier".into()), ("PASSWORD", pw.into())]
    };
    sipp_ok(&scenario, &vars("s3cret"), gw.sip_udp, &["-m", "1"], &dir.0);
    assert!(gw.log_text().contains("caller hung up"), "the authenticated call ran");

    // A wrong password is challenged again, never answered.
    let options = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bKauth1\r\nFrom: <sip:x@y>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: auth1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nAuthorization: Digest username=\"carrier\", realm=\"centralita\", nonce=\"1.2\", uri=\"sip:a@127.0.0.1\", response=\"00\"\r\n\r\n";
    let r = udp_exchange(gw.sip_udp, options.as_bytes(), WAIT).expect("a 401");
    assert!(r.starts_with("SIP/2.0 401") && r.contains("WWW-Authenticate: Digest realm=\"centralita\""), "{r}");
}

/// Points a torture message's top Via at our socket: its sent-by host
/// becomes `127.0.0.1:9;rport` and everything else in it (folding, odd
/// whitespace, its branch or the lack of one, broken parameters) stays as
/// RFC 4475 wrote it; media becomes loopback.
fn aimed_at_us(msg: &[u8]) -> Vec<u8> {
    let msg = loopback_media(msg);
    let text = String::from_utf8_lossy(&msg).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    // The top Via's span: its line and its continuation lines (§7.3.1).
    let (mut offset, mut span): (usize, Option<(usize, usize)>) = (0, None);
    for line in head.split("\r\n") {
        let name = line.split(':').next().unwrap_or("").trim().to_ascii_lowercase();
        match span {
            None if name == "via" || name == "v" => span = Some((offset, offset + line.len())),
            Some((start, _)) if line.starts_with([' ', '\t']) => span = Some((start, offset + line.len())),
            Some(_) => break,
            None => {}
        }
        offset += line.len() + 2;
    }
    let (start, end) = span.expect("a Via to aim");
    let via = &head[start..end];
    let value = via.find(':').expect("Via:") + 1;
    let first_param = via[value..].find([';', ',']).map_or(via.len(), |i| value + i);
    let sent_by_end = value + via[value..first_param].trim_end().len();
    let sent_by_start = value + via[value..sent_by_end].rfind(char::is_whitespace).map_or(0, |i| i + 1);
    let aimed = format!("{}127.0.0.1:9;rport{}", &via[..sent_by_start], &via[sent_by_end..]);
    format!("{}{aimed}{}\r\n\r\n{body}", &head[..start], &head[end..]).into_bytes()
}

#[test]
fn rfc4475_messages_get_the_answers_the_rfc_asks_for() {
    let corpus = rfc4475_dir();
    let all = rfc4475_files();
    let gw = Gateway::start();
    let mut checked = 0;
    for (file, want) in [
        ("badvers.dat", "505"),    // §3.1.2.16: SIP/7.0
        ("unkscm.dat", "416"),     // §3.3.7: unknown Request-URI scheme
        ("novelsc.dat", "416"),    // §3.3.8: scheme we do not support
        ("bext01.dat", "420"),     // §3.3.3: Require we do not support
        ("intmeth.dat", "501"),    // §3.1.1.2: unknown method at an endpoint
        ("mismatch01.dat", "400"), // §3.1.2.17: CSeq method mismatch
        ("insuf.dat", "400"),      // §3.3.2: no Call-ID/From/To
        ("clerr.dat", "400"),      // §3.1.2.10: Content-Length larger than the body
        ("ncl.dat", "400"),        // §3.1.2.11: negative Content-Length
        ("inv2543.dat", "200"),    // §3.4.2: RFC 2543 INVITE is accepted
        ("wsinv.dat", "481"),      // §3.1.1.1: parsed despite its whitespace; its To tag names no dialog of ours
        ("semiuri.dat", "200"),    // §3.1.1.9: ';' in the Request-URI user part
        ("lwsruri.dat", "400"),    // §3.1.2.8: whitespace inside the Request-URI
        ("badinv01.dat", "400"),   // §3.1.2.1: Via with empty parameters
        ("multi01.dat", "400"),    // §3.3.8: two Call-IDs, CSeqs, Tos and Froms
        ("mcl01.dat", "400"),      // §3.3.9: two Content-Lengths
        ("sdp01.dat", "406"),      // §3.3.15: Accept excludes the SDP answer
    ] {
        let msg = aimed_at_us(&std::fs::read(corpus.join(file)).expect("corpus file"));
        let got = centralita_e2e::udp_until_final(gw.sip_udp, &msg, Duration::from_secs(3));
        let last = got.last().map(String::as_str).unwrap_or("");
        assert!(last.starts_with(&format!("SIP/2.0 {want}")), "{file}: want {want}, got {got:?}");
        assert!(all.contains(&corpus.join(file)), "{file} is in INDEX.tsv");
        checked += 1;
    }
    assert_eq!(checked, 17, "every listed RFC 4475 answer was checked");
    let bext01 = aimed_at_us(&std::fs::read(corpus.join("bext01.dat")).expect("bext01"));
    let bext = centralita_e2e::udp_until_final(gw.sip_udp, &bext01, Duration::from_secs(3));
    assert!(bext.last().is_some_and(|r| r.contains("Unsupported: nothingSupportsThis, nothingSupportsThisEither")), "{bext:?}");
}

/// RFC 4475 §3.1.1.8 dblreq over TCP: the REGISTER is answered (405: we
/// are no registrar) before the connection closes, whatever follows it.
#[test]
fn dblreq_over_tcp_answers_the_register_before_closing() {
    use std::io::{Read, Write};
    let gw = Gateway::start();
    let msg = aimed_at_us(&std::fs::read(rfc4475_dir().join("dblreq.dat")).expect("dblreq"));
    let mut tcp = std::net::TcpStream::connect(gw.sip_tcp).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
    tcp.write_all(&msg).expect("send");
    tcp.shutdown(std::net::Shutdown::Write).expect("half-close");
    let mut got = Vec::new();
    let _ = tcp.read_to_end(&mut got);
    let got = String::from_utf8_lossy(&got);
    assert!(got.starts_with("SIP/2.0 405"), "the REGISTER's answer, first: {got:?}");
}
