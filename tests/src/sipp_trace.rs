//! SIPp's message log (`-trace_msg`): every SIP message SIPp sent or
//! received, with the wall-clock time it did so. The harness runs SIPp with
//! `TZ=UTC`, so the log's local times are UTC and compare with
//! [`crate::RtpCapture::arrivals`].

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// One entry of the log.
#[derive(Debug, Clone)]
pub struct SippMessage {
    pub at: SystemTime,
    /// Sent by SIPp (else received).
    pub sent: bool,
    pub text: String,
}

impl SippMessage {
    /// The request or status line.
    pub fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or("").trim()
    }

    /// The CSeq header's value, e.g. `2 INVITE`.
    pub fn cseq(&self) -> Option<&str> {
        self.text.lines().find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.trim().eq_ignore_ascii_case("cseq").then(|| value.trim())
        })
    }
}

/// Every message of the `*_messages.log` files SIPp (run with `-trace_msg`)
/// wrote in `dir`, in log order; fails the test when there is none.
pub fn sipp_messages(dir: &Path) -> Vec<SippMessage> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("scratch dir").flatten() {
        if e.file_name().to_string_lossy().ends_with("_messages.log") {
            out.extend(parse(&std::fs::read_to_string(e.path()).expect("SIPp message log")));
        }
    }
    assert!(!out.is_empty(), "no SIPp message log in {} (run SIPp with -trace_msg)", dir.display());
    out
}

const SEPARATOR: &str = "----------------------------------------------- ";

fn parse(log: &str) -> Vec<SippMessage> {
    let mut out: Vec<SippMessage> = Vec::new();
    let mut lines = log.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(stamp) = line.strip_prefix(SEPARATOR) else {
            if let Some(last) = out.last_mut() {
                last.text.push_str(line.trim_start());
                last.text.push('\n');
            }
            continue;
        };
        let at = parse_utc(stamp.trim()).unwrap_or_else(|| panic!("SIPp log time {stamp:?}"));
        let kind = lines.next().unwrap_or("");
        let sent = kind.contains("message sent");
        // The blank line between the header and the message.
        if lines.peek().is_some_and(|l| l.trim().is_empty()) {
            lines.next();
        }
        out.push(SippMessage { at, sent, text: String::new() });
    }
    out
}

/// `YYYY-MM-DD HH:MM:SS.ffffff` (UTC) as a `SystemTime`.
fn parse_utc(s: &str) -> Option<SystemTime> {
    let (date, time) = s.split_once([' ', '\t'])?;
    let mut d = date.split('-').map(|p| p.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let (hms, frac) = time.trim().split_once('.').unwrap_or((time.trim(), "0"));
    let mut t = hms.split(':').map(|p| p.parse::<u64>().ok());
    let (hh, mm, ss) = (t.next()??, t.next()??, t.next()??);
    let micros: u64 = format!("{frac:0<6}")[..6].parse().ok()?;
    let days = u64::try_from(days_from_civil(y, m, day)).ok()?;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some(UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_times_directions_and_messages() {
        let log = "----------------------------------------------- 2026-12-02 02:58:38.882288\n\
                   UDP message sent (514 bytes):\n\n\
                   INVITE sip:service@127.0.0.1:15090 SIP/2.0\n\
                   CSeq: 1 INVITE\n\n\n\
                   ----------------------------------------------- 2026-12-02 02:58:39.000001\n\
                   UDP message received [300] bytes :\n\n\
                   SIP/2.0 200 OK\n\
                   CSeq: 1 INVITE\n";
        let m = parse(log);
        assert_eq!(m.len(), 2);
        assert!(m[0].sent && !m[1].sent);
        assert_eq!(m[0].first_line(), "INVITE sip:service@127.0.0.1:15090 SIP/2.0");
        assert_eq!((m[1].first_line(), m[1].cseq()), ("SIP/2.0 200 OK", Some("1 INVITE")));
        // date -u -d '2026-12-02 02:58:38' +%s
        assert_eq!(m[0].at, UNIX_EPOCH + Duration::from_secs(1_796_180_318) + Duration::from_micros(882_288));
        assert_eq!(m[1].at.duration_since(m[0].at).unwrap(), Duration::from_micros(117_713));
    }
}
