//! Issue #6: business events leave through the outbox as signed webhooks.
//! An order posted to the API reaches a receiver on loopback with its
//! idempotency key and an HMAC-SHA256 signature over "<timestamp>.<body>";
//! the receiver's first answer is a 500, so the delivery is retried.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use centralita_e2e::{http_post, repo_root, Gateway};
use serde_json::json;

struct Delivery {
    headers: Vec<(String, String)>,
    body: String,
}

fn accept_one(listener: &TcpListener, status: &str) -> Delivery {
    let (stream, _) = listener.accept().expect("a delivery");
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok();
    let mut reader = BufReader::new(stream);
    let mut headers = Vec::new();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("POST "), "{line}");
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let len: usize = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let mut body = vec![0u8; len];
    reader.read_exact(&mut body).unwrap();
    let mut stream = reader.into_inner();
    write!(stream, "HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    Delivery { headers, body: String::from_utf8(body).unwrap() }
}

fn header<'a>(d: &'a Delivery, name: &str) -> &'a str {
    d.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {name} in {:?}", d.headers))
}

#[test]
fn an_order_is_delivered_signed_and_retried_after_a_500() {
    let receiver = TcpListener::bind("127.0.0.1:0").unwrap();
    let tables = format!("[events]\nurl = \"http://{}/hooks\"\nsecret = \"s3cret\"\npoll_ms = 100\n", receiver.local_addr().unwrap());
    let gw = Gateway::start_with_tables("", 60, &repo_root().join("flows/demo.yaml"), &tables);
    let order = json!({"kind": "order", "caller": "5491155550000", "value": 30.0, "currency": "EUR", "idempotency_key": "cart-17", "payload": {"cart": "17"}});
    let (status, stored) = http_post(gw.api, "/v1/events", Some(&gw.token), &order);
    assert_eq!(status, 201, "{stored}");

    let first = accept_one(&receiver, "500 Internal Server Error");
    let second = accept_one(&receiver, "200 OK"); // after the 1 s backoff
    for d in [&first, &second] {
        assert_eq!(header(d, "idempotency-key"), "cart-17");
        let ts = header(d, "x-centralita-timestamp");
        assert!(
            sip_gateway::outbox_dispatcher::verify_signature("s3cret", ts, d.body.as_bytes(), header(d, "x-centralita-signature")),
            "signature must verify: {:?}",
            d.headers
        );
        assert!(!sip_gateway::outbox_dispatcher::verify_signature("wrong", ts, d.body.as_bytes(), header(d, "x-centralita-signature")));
        let body: serde_json::Value = serde_json::from_str(&d.body).unwrap();
        assert_eq!(body["kind"], "order", "{body}");
    }
    assert_eq!(first.body, second.body, "a retry is the same event");
    let (_, metrics) = centralita_e2e::http_get_text(gw.api, "/metrics");
    // The whole line: a substring would also match 10 to 19.
    assert!(metrics.lines().any(|l| l == "centralita_webhook_failures_total 1"), "{metrics}");
}
