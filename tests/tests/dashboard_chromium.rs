//! Issue #6: the dashboard and the agent page, rendered by headless
//! Chromium against a real gateway that took real SIPp calls. Chromium is
//! driven by its command line only (`--dump-dom` for the rendered DOM,
//! `--screenshot` for `target/dashboard.png`): no WebDriver, no new crates.
//! The pages copy every script error and failed API call into
//! `<pre id="errors">`, so an empty one in the DOM means a clean console.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use centralita_e2e::{free_udp_port, http_get_text, repo_root, sipp_ok, Gateway, Scratch};

const CALLS: usize = 3;

fn chromium() -> PathBuf {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"].iter().map(PathBuf::from).find(|p| p.exists());
    found.unwrap_or_else(|| {
        panic!("headless Chromium is needed for this test and /usr/bin/chromium is missing: run scripts/install-deps.sh (installs Debian's chromium)")
    })
}

/// Runs Chromium headless on `url` with `extra` flags (a fresh profile each
/// time, nothing fetched but the page); returns stdout (the DOM for
/// `--dump-dom`) and stderr (its log, with the page's console lines).
fn run_chromium(scratch: &Path, url: &str, extra: &[&str]) -> (String, String) {
    let profile = scratch.join(format!("profile-{}", free_udp_port()));
    let (out, err) = (scratch.join("chromium.out"), scratch.join("chromium.err"));
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--enable-logging=stderr",
            "--v=0",
            "--virtual-time-budget=5000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(url)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).expect("stdout file"))
        .stderr(std::fs::File::create(&err).expect("stderr file"))
        .spawn()
        .expect("start chromium");
    let until = Instant::now() + Duration::from_secs(90);
    loop {
        if let Some(status) = child.try_wait().expect("wait chromium") {
            let (stdout, stderr) = (std::fs::read_to_string(&out).unwrap_or_default(), std::fs::read_to_string(&err).unwrap_or_default());
            assert!(status.success(), "chromium failed ({status}) on {url}:\n{stderr}");
            return (stdout, stderr);
        }
        if Instant::now() > until {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s on {url}:\n{}", std::fs::read_to_string(&err).unwrap_or_default());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The opening tag of the first element whose tag contains `needle`.
fn tag<'a>(dom: &'a str, needle: &str) -> &'a str {
    let at = dom.find(needle).unwrap_or_else(|| panic!("no {needle} in the DOM:\n{dom}"));
    let start = dom[..at].rfind('<').expect("tag start");
    &dom[start..at + dom[at..].find('>').expect("tag end") + 1]
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let key = format!(" {name}=\"");
    let at = tag.find(&key)? + key.len();
    Some(tag[at..at + tag[at..].find('"')?].to_string())
}

/// The text of a tile's big number (`<div class="value">` after its `data-kpi`).
fn tile_text(dom: &str, kpi: &str) -> String {
    let at = dom.find(&format!("data-kpi=\"{kpi}\"")).unwrap_or_else(|| panic!("no tile {kpi}"));
    let rest = &dom[at..];
    let v = rest.find("class=\"value\">").expect("value div") + "class=\"value\">".len();
    let text = &rest[v..v + rest[v..].find("</div>").expect("value end")];
    // Strip nested tags (revenue per conversation has one <div> per currency).
    let mut out = String::new();
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.trim().to_string()
}

fn tile_value(dom: &str, kpi: &str) -> String {
    attr(tag(dom, &format!("data-kpi=\"{kpi}\"")), "data-value").unwrap_or_default()
}

/// The text of `<pre id="errors">` (empty when the page saw no error).
fn errors(dom: &str) -> String {
    let t = tag(dom, "id=\"errors\"");
    let at = dom.find(t).expect("errors tag") + t.len();
    dom[at..at + dom[at..].find("</pre>").expect("pre end")].to_string()
}

fn banner_visible(dom: &str) -> bool {
    !tag(dom, "id=\"banner\"").contains(" hidden")
}

/// The page's console lines Chromium logged (`INFO:CONSOLE` whatever the
/// level: console.error, uncaught exceptions, CSP refusals). The pages log
/// nothing themselves, so any line is a problem.
fn console_lines(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.contains(":CONSOLE")).collect()
}

/// POSTs a JSON body with the bearer token; the status code.
fn post_json(addr: std::net::SocketAddr, path: &str, token: &str, body: &str) -> u16 {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect api");
    s.set_read_timeout(Some(Duration::from_secs(10))).ok();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).expect("read");
    buf.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0)
}

#[test]
fn dashboard_shows_the_kpis_of_real_calls_in_chromium() {
    let chromium = chromium();
    let gw = Gateway::start();
    let dir = Scratch::new("dashboard");
    // Calls that hear the welcome prompt, then the caller hangs up: every
    // one is abandoned (issue #13: a hang-up is not a bot success), so
    // containment is 0 % and the abandon rate 100 %.
    let scenario = std::fs::read_to_string(repo_root().join("tests/scenarios/caller_bye.xml")).expect("scenario");
    let vars = [("RTP_PORT", free_udp_port().to_string()), ("HOLD_MS", "1500".to_string())];
    sipp_ok(&scenario, &vars, gw.sip_udp, &["-m", &CALLS.to_string(), "-l", &CALLS.to_string(), "-r", "10"], &dir.0);
    let until = Instant::now() + Duration::from_secs(15);
    let kpis = loop {
        let (status, k) = gw.api_get("/v1/kpis", Some(&gw.token));
        assert_eq!(status, 200, "{k}");
        if k["total"]["calls"] == CALLS && k["total"]["abandoned"] == CALLS {
            break k;
        }
        assert!(Instant::now() < until, "the {CALLS} calls were not all recorded as abandoned: {k:#}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!((&kpis["total"]["containment_pct"], &kpis["total"]["abandon_rate_pct"]), (&0.0.into(), &100.0.into()), "{kpis:#}");
    // One of them ordered: conversion 1 of 3, revenue per conversation 30 / 3.
    let (_, page) = gw.api_get("/v1/calls?limit=1", Some(&gw.token));
    let id = page["calls"][0]["id"].as_str().expect("a call id").to_string();
    let order = format!(r#"{{"kind":"order","call_id":"{id}","value":30,"currency":"EUR","idempotency_key":"dash-1"}}"#);
    assert_eq!(post_json(gw.api, "/v1/events", &gw.token, &order), 201);

    let (status, html) = http_get_text(gw.api, "/dashboard");
    assert_eq!(status, 200, "GET /dashboard: is sip_gateway::dashboard::router() merged into the admin API's router?\n{html}");
    let base = format!("http://{}", gw.api);
    let (dom, log) = run_chromium(&dir.0, &format!("{base}/dashboard#token={}", gw.token), &["--dump-dom"]);
    assert_eq!(errors(&dom), "", "the page recorded errors:\n{dom}");
    assert!(console_lines(&log).is_empty(), "console errors: {:#?}", console_lines(&log));
    assert!(!banner_visible(&dom), "error banner shown: {}", tag(&dom, "id=\"banner\""));
    assert!(!dom.contains("token=test-token"), "the token stays out of the DOM and the address bar");

    assert_eq!(tile_value(&dom, "calls"), CALLS.to_string());
    assert_eq!(tile_text(&dom, "calls"), CALLS.to_string());
    assert_eq!(tile_value(&dom, "containment"), "0");
    assert_eq!(tile_text(&dom, "containment"), "0 %");
    assert_eq!(tile_value(&dom, "abandon"), "100");
    assert_eq!(tile_text(&dom, "abandon"), "100 %");
    let frt: f64 = tile_value(&dom, "first_response").parse().expect("a first response time");
    // The tile shows what the KPI API measured (no bound on how fast a busy box answers).
    let (_, now) = gw.api_get("/v1/kpis", Some(&gw.token));
    assert_eq!(now["total"]["first_response_samples"], CALLS, "every call measured: {now:#}");
    let api_frt = now["total"]["first_response_avg_ms"].as_f64().expect("a measured first response");
    assert!(frt > 0.0 && (frt - api_frt).abs() < 1e-6, "tile {frt} ms, API {api_frt} ms");
    assert!(tile_text(&dom, "first_response").ends_with(" ms"), "{}", tile_text(&dom, "first_response"));
    for kpi in ["handoff", "time_to_agent", "csat", "nps"] {
        assert_eq!(tile_text(&dom, kpi), "—", "{kpi}: nothing to measure in these calls");
        assert_eq!(tile_value(&dom, kpi), "", "{kpi}");
    }
    assert_eq!(tile_text(&dom, "conversion"), "33.3 %");
    assert_eq!(tile_text(&dom, "revenue_per_conversation"), "€10.00");
    assert_eq!(tile_value(&dom, "revenue_per_conversation"), "EUR:10");

    // Per-flow table, A/B section, charts, live and recent calls.
    assert_eq!(tag(&dom, "data-flow="), "<tr data-flow=\"demo\">", "flows by name, as /v1/flows says them");
    assert!(dom.contains("No A/B assignments in this range."), "the demo flow has no experiment");
    assert!(dom.contains(&format!("{CALLS} calls without an A/B assignment.")), "unassigned calls counted");
    for chart in ["calls", "containment", "abandon", "first_response", "conversion"] {
        let t = tag(&dom, &format!("data-chart=\"{chart}\""));
        assert!(dom[dom.find(t).expect("chart")..].contains("<svg"), "chart {chart} drawn: {t}");
    }
    assert_eq!(attr(tag(&dom, "id=\"live-count\""), "data-live-count").as_deref(), Some("0"));
    assert_eq!(dom.matches("<details class=\"call\"").count(), CALLS, "recent calls listed");
    assert!(dom.contains(">abandoned<"), "caller-hung-up calls show their outcome");
    // Issue #13 item 15: the zone of days and times is the one /v1/kpis
    // used ([dashboard].timezone, else the default flow's hours, else
    // UTC), shown; "Recent calls" has column headers naming it.
    let zone = kpis["timezone"].as_str().expect("the KPI report names its time zone").to_string();
    assert_eq!(attr(tag(&dom, "id=\"zone\""), "data-zone").as_deref(), Some(zone.as_str()));
    assert_eq!(attr(tag(&dom, "id=\"days-zone\""), "data-zone").as_deref(), Some(zone.as_str()));
    let head = &dom[dom.find("class=\"call-head\"").expect("recent calls' column headers")..];
    for column in [format!("Started ({zone})"), "Caller → called".into(), "Flow".into(), "Outcome".into(), "Duration".into()] {
        assert!(head[..head.find("</div>").unwrap()].contains(&column), "column {column:?} in {}", &head[..head.find("</div>").unwrap()]);
    }

    // The agent page of one call: its steps, and no transfer context.
    let (agent, log) = run_chromium(&dir.0, &format!("{base}/agent/calls/{id}#token={}", gw.token), &["--dump-dom"]);
    assert_eq!(errors(&agent), "", "the agent page recorded errors:\n{agent}");
    assert!(console_lines(&log).is_empty(), "console errors: {:#?}", console_lines(&log));
    assert!(agent.contains("No transfer context for this call"), "{agent}");
    assert!(agent.contains("→ welcome"), "the steps show the welcome node:\n{agent}");
    assert!(agent.contains("data-state=\"abandoned\""), "{}", tag(&agent, "id=\"call-state\""));
    // Issue #13 item 14: without a context, the path comes from the steps.
    assert!(agent.contains("data-field=\"path\">welcome"), "path from the steps:\n{agent}");

    // An unknown id: every card says so, none stays on "Loading…".
    let (unknown, log) = run_chromium(&dir.0, &format!("{base}/agent/calls/no-such-call#token={}", gw.token), &["--dump-dom"]);
    assert!(console_lines(&log).is_empty(), "console errors: {:#?}", console_lines(&log));
    assert!(!unknown.contains("Loading…"), "a card still loading:\n{unknown}");
    assert_eq!(unknown.matches("data-no-call=").count(), 3, "every card says no such call:\n{unknown}");
    assert!(banner_visible(&unknown) && unknown.contains("No such call: no-such-call"), "{unknown}");
    assert!(unknown.contains("data-state=\"unknown\""), "{}", tag(&unknown, "id=\"call-state\""));

    // A transferred call whose caller pressed 0 (SIP INFO): "pressed 0"
    // (not "said 0"), and the keys and the path shown although the
    // transfer's context list leaves them out.
    let refer = std::fs::read_to_string(repo_root().join("tests/scenarios/refer_603.xml")).expect("scenario");
    let vars = [("RTP_PORT", free_udp_port().to_string()), ("SIPFRAG", "200 OK".to_string())];
    sipp_ok(&refer, &vars, gw.sip_udp, &["-m", "1"], &dir.0);
    let (_, page) = gw.api_get("/v1/calls?limit=1", Some(&gw.token));
    let transferred = page["calls"][0]["id"].as_str().expect("the transferred call").to_string();
    assert_ne!(transferred, id);
    let (status, ctx) = gw.api_get(&format!("/v1/calls/{transferred}/context"), Some(&gw.token));
    assert_eq!(status, 200, "{ctx}");
    assert!(ctx.get("digits").is_none() && ctx.get("path").is_none(), "the demo's context list has no digits or path: {ctx}");
    let (agent, log) = run_chromium(&dir.0, &format!("{base}/agent/calls/{transferred}#token={}", gw.token), &["--dump-dom"]);
    assert_eq!(errors(&agent), "", "the agent page recorded errors:\n{agent}");
    assert!(console_lines(&log).is_empty(), "console errors: {:#?}", console_lines(&log));
    assert!(agent.contains("(pressed 0 at welcome)") && !agent.contains("said “0”"), "{}", tag(&agent, "data-field=\"intent\""));
    assert!(agent.contains("data-field=\"digits\">00<"), "keys pressed:\n{agent}");
    assert!(agent.contains("data-field=\"path\">welcome → to_agent"), "path:\n{agent}");

    // A wrong token: a visible banner naming the 401, not only the console.
    let (bad, _) = run_chromium(&dir.0, &format!("{base}/dashboard#token=wrong"), &["--dump-dom"]);
    assert!(banner_visible(&bad) && bad.contains("401 Unauthorized"), "{bad}");
    assert!(errors(&bad).contains("401"), "{}", errors(&bad));
    assert!(!tag(&bad, "id=\"login\"").contains(" hidden"), "the login form is offered");

    // A screenshot for humans (CI keeps target/).
    let png = repo_root().join("target/dashboard.png");
    let _ = std::fs::remove_file(&png);
    let shot = format!("--screenshot={}", png.display());
    run_chromium(&dir.0, &format!("{base}/dashboard#token={}", gw.token), &[&shot, "--window-size=1280,1600", "--hide-scrollbars"]);
    let bytes = std::fs::read(&png).unwrap_or_else(|e| panic!("no screenshot at {} ({e}) from {}", png.display(), chromium.display()));
    assert!(bytes.starts_with(b"\x89PNG") && bytes.len() > 20_000, "a real PNG ({} bytes)", bytes.len());
}
