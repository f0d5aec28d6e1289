//! Gateway configuration (DESIGN.md §3). Key names are a contract: tests
//! and deployments outside this repo rely on them. Every key has a default,
//! so `centralita run` with no file runs the embedded demo set-up.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("{path}:{line}:{col}: {message}")]
    Parse { path: String, line: usize, col: usize, message: String },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub sip: SipConfig,
    pub rtp: RtpConfig,
    pub api: ApiConfig,
    pub store: StoreConfig,
    pub flows: FlowsConfig,
    pub transfer: TransferConfig,
    pub speech: SpeechConfig,
    pub prompts: PromptsConfig,
    pub trunks: Vec<TrunkConfig>,
    /// `[events]`: where the outbox delivers business events (signed webhooks).
    pub events: crate::outbox_dispatcher::EventsConfig,
    /// `[numbers]`: how telephone numbers are normalised to E.164.
    pub numbers: crate::numbers::NumberConfig,
    /// `[dashboard]`: the operator dashboard's time zone.
    pub dashboard: DashboardConfig,
    /// `[limits]`: overload control (issue #15): concurrent calls, call
    /// rates, the per-source request rate and its ban.
    pub limits: crate::sip::limits::LimitsConfig,
    /// `[recording]`: where call recordings go and how long they stay (issue #19).
    pub recording: crate::recording::RecordingConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    pub listen: Vec<String>,
    pub public_address: Option<IpAddr>,
    /// Ring this long (180) before answering; lets a trunk CANCEL. 0 = answer at once.
    pub answer_delay_ms: u64,
    /// Outbound calls: seconds of ringing before CANCEL (`no_answer`).
    pub ring_timeout: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RtpConfig {
    pub address: IpAddr,
    /// "20000-20999", or "0" to let the OS choose (tests).
    pub ports: String,
    /// Seconds without any received RTP before the call is hung up.
    pub inactivity_timeout: u64,
    /// Media threads pacing and moving RTP for all calls; 0 = one per core.
    pub threads: usize,
    /// Run the media threads at real-time (SCHED_RR) priority when allowed.
    pub realtime: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    pub listen: String,
    /// An admin token (kept from before `[[api.tokens]]`).
    pub token: String,
    /// Base URL agents' desktops reach the API at (`https://centralita.example:8443`),
    /// for the transfer context URL; default `http://` + `listen`.
    pub public_url: Option<String>,
    /// `[[api.tokens]]`: more bearer tokens, each with a role.
    pub tokens: Vec<ApiToken>,
}

/// One `[[api.tokens]]` entry.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiToken {
    pub token: String,
    pub role: ApiRole,
}

/// What a token may do: `admin` everything; `read` every GET; `agent` only
/// read calls and their transfer contexts (the agent's screen).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiRole {
    Admin,
    Read,
    Agent,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DashboardConfig {
    /// IANA time zone (`America/Argentina/Cordoba`) for the dashboard's days
    /// and times; default the default flow's `hours:` time zone, else UTC.
    pub timezone: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FlowsConfig {
    pub default: PathBuf,
    pub routes: BTreeMap<String, PathBuf>,
    /// RFC 3339 time the flows see instead of the real wall clock (business
    /// hours, consent stamps): for tests and for demos outside office hours.
    /// Any offset (`Z`, `-03:00`, `+05:30`), a space for `T`, fractions;
    /// a quoted string or a bare TOML datetime (kept as its RFC 3339 text).
    #[serde(deserialize_with = "time_text")]
    pub pinned_time: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransferConfig {
    pub agent_uri: String,
    /// Seconds to wait for the final NOTIFY of a REFER before `failed`.
    pub notify_timeout: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SpeechConfig {
    /// `builtin` (in-process Whisper, `[speech.builtin]`; also `whisper`),
    /// `pocketsphinx` (in-process, en-US), `vosk`, `openai`, `deepgram`, or `none`.
    pub asr: String,
    /// `builtin` (espeak-ng), `openai`, `elevenlabs`.
    pub tts: String,
    /// Silence that ends the caller's utterance (VAD endpointing), ms:
    /// VoiceXML's `incompletetimeout`.
    pub end_of_speech_ms: u64,
    /// The shorter silence that ends it once the words so far contain one
    /// of the gather's phrases (VoiceXML `completetimeout`), ms; 0 = always
    /// `end_of_speech_ms`.
    pub complete_timeout_ms: u64,
    /// How long after the caller stops speaking the recogniser's final may
    /// take, ms; later, the vendor counts as down and the call goes on with
    /// keys (issue #15: a dead vendor must not leave the caller in silence).
    pub final_timeout_ms: u64,
    /// A vendor TTS prompt rendered during a call must start within this,
    /// ms; later, the built-in voice says it.
    pub tts_first_chunk_ms: u64,
    /// `[speech.builtin]`: the built-in Whisper recogniser (models per
    /// language, concurrent decodes, threads per decode).
    pub builtin: Option<media::asr::whisper::WhisperConfig>,
    /// `[speech.vosk]`: the Vosk server WebSocket adapter.
    pub vosk: Option<media::asr::vosk::VoskConfig>,
    /// `[speech.openai]`: OpenAI-compatible `/v1/audio/transcriptions`.
    pub openai: Option<media::asr::openai::OpenAiConfig>,
    /// `[speech.deepgram]`: Deepgram live streaming.
    pub deepgram: Option<media::asr::deepgram::DeepgramConfig>,
    /// `[speech.openai_tts]`: OpenAI-compatible `/v1/audio/speech`.
    pub openai_tts: Option<prompts::OpenAiConfig>,
    /// `[speech.elevenlabs]`: ElevenLabs text-to-speech.
    pub elevenlabs: Option<prompts::ElevenLabsConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PromptsConfig {
    /// WAV prompt library (`play:` ids).
    pub dir: PathBuf,
    /// Rendered TTS cache.
    pub cache_dir: PathBuf,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    pub name: String,
    #[serde(default)]
    pub allow: Vec<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    /// Where outbound calls through this trunk go (`sip:host:port`, an IP
    /// literal or a name resolved at dial time). Absent: inbound only.
    pub uri: Option<String>,
    /// Caller ID (From user part) of outbound calls; default `centralita`.
    pub from_user: Option<String>,
    /// The trunk takes REFER (default true). `false`: blind transfers of its
    /// calls dial the agent and bridge instead (as `fallback: bridge`).
    #[serde(default = "yes")]
    pub refer: bool,
}

fn yes() -> bool {
    true
}

impl Default for SipConfig {
    fn default() -> Self {
        Self {
            listen: vec!["udp:127.0.0.1:5060".into(), "tcp:127.0.0.1:5060".into()],
            public_address: None,
            answer_delay_ms: 0,
            ring_timeout: 30,
        }
    }
}
impl Default for RtpConfig {
    fn default() -> Self {
        Self { address: IpAddr::from([127, 0, 0, 1]), ports: "20000-20999".into(), inactivity_timeout: 60, threads: 0, realtime: true }
    }
}
impl Default for ApiConfig {
    fn default() -> Self {
        Self { listen: "127.0.0.1:8080".into(), token: "change-me".into(), public_url: None, tokens: Vec::new() }
    }
}
impl Default for StoreConfig {
    fn default() -> Self {
        Self { url: "sqlite://centralita.db".into() }
    }
}
impl Default for FlowsConfig {
    fn default() -> Self {
        Self { default: "flows/demo.yaml".into(), routes: BTreeMap::new(), pinned_time: None }
    }
}
impl Default for TransferConfig {
    fn default() -> Self {
        Self { agent_uri: "sip:agents@127.0.0.1:5070".into(), notify_timeout: 32 }
    }
}
impl Default for SpeechConfig {
    fn default() -> Self {
        Self {
            asr: "builtin".into(),
            tts: "builtin".into(),
            end_of_speech_ms: 600,
            complete_timeout_ms: 200,
            final_timeout_ms: 3000,
            tts_first_chunk_ms: 1500,
            builtin: None,
            vosk: None,
            openai: None,
            deepgram: None,
            openai_tts: None,
            elevenlabs: None,
        }
    }
}
impl Default for PromptsConfig {
    fn default() -> Self {
        Self { dir: "prompts/assets".into(), cache_dir: ".cache/prompts".into() }
    }
}

/// A SIP listening socket from `[sip].listen` ("udp:IP:PORT" / "tcp:IP:PORT").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenSpec {
    Udp(SocketAddr),
    Tcp(SocketAddr),
}

impl ListenSpec {
    pub fn parse(s: &str) -> Result<Self, String> {
        let (proto, addr) = s.split_once(':').ok_or_else(|| format!("{s:?}: expected udp:IP:PORT or tcp:IP:PORT"))?;
        let addr: SocketAddr = addr.parse().map_err(|e| format!("{s:?}: {e}"))?;
        match proto.to_ascii_lowercase().as_str() {
            "udp" => Ok(Self::Udp(addr)),
            "tcp" => Ok(Self::Tcp(addr)),
            other => Err(format!("{s:?}: unsupported transport {other:?} (udp or tcp)")),
        }
    }
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let p = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: p.clone(), source })?;
        Self::from_toml(&text, &p)
    }

    pub fn from_toml(text: &str, path: &str) -> Result<Self, ConfigError> {
        let cfg: Config = toml::from_str(text).map_err(|e| {
            let (line, col) = e.span().map(|s| line_col(text, s.start)).unwrap_or((1, 1));
            ConfigError::Parse { path: path.into(), line, col, message: e.message().to_string() }
        })?;
        cfg.check().map_err(|message| ConfigError::Invalid { path: path.into(), message })?;
        Ok(cfg)
    }

    fn check(&self) -> Result<(), String> {
        if self.sip.listen.is_empty() {
            return Err("[sip].listen is empty".into());
        }
        for l in &self.sip.listen {
            ListenSpec::parse(l).map_err(|e| format!("[sip].listen: {e}"))?;
        }
        self.rtp_ports().map_err(|e| format!("[rtp].ports: {e}"))?;
        self.api.listen.parse::<SocketAddr>().map_err(|e| format!("[api].listen: {e}"))?;
        for t in &self.trunks {
            for a in &t.allow {
                parse_cidr(a).map_err(|e| format!("[[trunks]] {}: allow {a:?}: {e}", t.name))?;
            }
            if t.username.is_some() != t.password.is_some() {
                return Err(format!("[[trunks]] {}: username and password go together", t.name));
            }
        }
        if let Some(t) = &self.flows.pinned_time {
            dialogs::parse_timestamp(t).map_err(|e| format!("[flows].pinned_time: {e}"))?;
        }
        crate::sip::refer::parse_sip_uri(&self.transfer.agent_uri).map_err(|e| format!("[transfer].agent_uri: {e}"))?;
        self.check_api_and_dashboard()?;
        self.numbers.check()?;
        self.limits.check()?;
        Ok(())
    }

    pub fn listen_specs(&self) -> Vec<ListenSpec> {
        self.sip.listen.iter().filter_map(|l| ListenSpec::parse(l).ok()).collect()
    }

    pub fn rtp_ports(&self) -> Result<std::ops::RangeInclusive<u16>, String> {
        let s = self.rtp.ports.trim();
        if s == "0" {
            return Ok(0..=0);
        }
        let (a, b) = s.split_once('-').ok_or("expected LOW-HIGH, e.g. 20000-20999, or 0")?;
        let (a, b): (u16, u16) = (a.trim().parse().map_err(|_| "bad low port")?, b.trim().parse().map_err(|_| "bad high port")?);
        if a == 0 || a > b || b - a < 1 {
            return Err("need 0 < LOW < HIGH".into());
        }
        Ok(a..=b)
    }

    /// Source networks allowed to start calls: the union of every trunk's
    /// `allow`. `None` (no trunks configured) means any source.
    pub fn source_acl(&self) -> Option<Vec<ipnet::IpNet>> {
        // A trunk with only a `uri` is outbound-only: it does not turn the ACL on.
        if !self.trunks.iter().any(|t| !t.allow.is_empty() || t.username.is_some()) {
            return None;
        }
        Some(self.trunks.iter().flat_map(|t| t.allow.iter().filter_map(|a| parse_cidr(a).ok())).collect())
    }

    /// Each `[[trunks]]` entry's `allow` networks, in order (the per-trunk
    /// call rate of `[limits]`).
    pub fn trunk_networks(&self) -> Vec<Vec<ipnet::IpNet>> {
        self.trunks.iter().map(|t| t.allow.iter().filter_map(|a| parse_cidr(a).ok()).collect()).collect()
    }

    /// May calls from `source` be transferred by REFER? Not when it is in
    /// the `allow` list of a trunk with `refer = false`.
    pub fn refer_allowed(&self, source: std::net::IpAddr) -> bool {
        !self.trunks.iter().filter(|t| !t.refer).any(|t| t.allow.iter().filter_map(|a| parse_cidr(a).ok()).any(|n| n.contains(&source)))
    }

    /// Digest credentials of the trunks that have them (user -> password).
    pub fn trunk_credentials(&self) -> std::collections::HashMap<String, String> {
        self.trunks.iter().filter_map(|t| Some((t.username.clone()?, t.password.clone()?))).collect()
    }

    /// Why the admin API must not start: the default token `change-me` on
    /// an address other machines can reach. `None` when it may.
    pub fn exposed_default_token(&self) -> Option<String> {
        let addr: SocketAddr = self.api.listen.parse().ok()?;
        let default = self.api.token == ApiConfig::default().token || self.api.tokens.iter().any(|t| t.token == "change-me");
        (default && !addr.ip().is_loopback()).then(|| {
            format!(
                "[api].listen = {:?} is reachable from other machines and the API token is the default \"change-me\"; set [api].token to a secret (e.g. `openssl rand -hex 32`) or listen on 127.0.0.1",
                self.api.listen
            )
        })
    }

    /// The wall-clock time flows see now: the pinned time, else the real one.
    pub fn flow_wall_clock(&self) -> std::time::SystemTime {
        self.flows.pinned_time.as_deref().and_then(|t| dialogs::parse_timestamp(t).ok()).unwrap_or_else(std::time::SystemTime::now)
    }

    pub fn rtp_inactivity(&self) -> Duration {
        Duration::from_secs(self.rtp.inactivity_timeout.max(1))
    }

    /// Checks `[api].public_url`, `[[api.tokens]]` and `[dashboard].timezone`.
    fn check_api_and_dashboard(&self) -> Result<(), String> {
        if let Some(u) = &self.api.public_url {
            let rest = u.strip_prefix("http://").or_else(|| u.strip_prefix("https://"));
            if rest.is_none_or(|r| r.is_empty() || r.contains(char::is_whitespace)) {
                return Err(format!("[api].public_url must be an http:// or https:// URL, not {u:?}"));
            }
        }
        for (i, t) in self.api.tokens.iter().enumerate() {
            if t.token.trim().is_empty() {
                return Err(format!("[[api.tokens]] #{}: token is empty", i + 1));
            }
        }
        if let Some(tz) = &self.dashboard.timezone {
            jiff::tz::TimeZone::get(tz)
                .map_err(|_| format!("[dashboard].timezone: unknown time zone {tz:?} (want e.g. America/Argentina/Cordoba or UTC)"))?;
        }
        Ok(())
    }

    /// The URL of a call's transfer context for agents' desktops (the
    /// `X-Centralita-Context-Url` header): `[api].public_url`, else
    /// `http://` + `[api].listen`, then `/v1/calls/{id}/context`.
    pub fn context_url(&self, call_id: &str) -> String {
        let base = match &self.api.public_url {
            Some(u) => u.trim_end_matches('/').to_string(),
            None => format!("http://{}", self.api.listen),
        };
        let id: String = call_id
            .bytes()
            .map(|b| if b.is_ascii_alphanumeric() || b"-._~@".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
            .collect();
        format!("{base}/v1/calls/{id}/context")
    }

    /// The flow for a called number (user part), else the default.
    pub fn flow_for(&self, called_user: &str) -> &Path {
        self.flows.routes.get(called_user).unwrap_or(&self.flows.default)
    }
}

/// A configured time: a string, or a TOML datetime (`pinned_time =
/// 2026-12-01T10:00:00-03:00`, unquoted) as its RFC 3339 text. Checked
/// as RFC 3339 in [`Config::check`].
fn time_text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Time {
        Text(String),
        Toml(toml::value::Datetime),
    }
    Ok(Option::<Time>::deserialize(d)?.map(|t| match t {
        Time::Text(s) => s,
        Time::Toml(dt) => dt.to_string(),
    }))
}

/// "10.0.0.0/8", "2001:db8::/32" or a bare address (a /32 or /128).
fn parse_cidr(s: &str) -> Result<ipnet::IpNet, String> {
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| "not an address or CIDR network".to_string())
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn design_example_parses() {
        let text = r#"
[sip]
listen = ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"]
public_address = "203.0.113.7"
[rtp]
address = "127.0.0.1"
ports = "20000-20999"
[api]
listen = "127.0.0.1:8080"
token = "change-me"
[store]
url = "sqlite://centralita.db"
[flows]
default = "flows/demo.yaml"
[flows.routes]
"5550100" = "flows/sales.yaml"
[transfer]
agent_uri = "sip:agents@127.0.0.1:5070"
[speech]
asr = "builtin"
tts = "builtin"
[[trunks]]
name = "carrier-a"
allow = ["127.0.0.0/8"]
"#;
        let c = Config::from_toml(text, "c.toml").unwrap();
        assert_eq!(c.flow_for("5550100"), Path::new("flows/sales.yaml"));
        let acl = c.source_acl().unwrap();
        assert!(acl.iter().any(|n| n.contains(&"127.0.0.1".parse::<IpAddr>().unwrap())));
        assert!(!acl.iter().any(|n| n.contains(&"10.0.0.1".parse::<IpAddr>().unwrap())));
        assert_eq!(Config::default().source_acl(), None);
        assert_eq!(c.flow_for("1"), Path::new("flows/demo.yaml"));
        assert_eq!(c.rtp_ports().unwrap(), 20000..=20999);
    }

    #[test]
    fn builtin_whisper_table() {
        let text = "[speech]\nasr = \"whisper\"\n[speech.builtin]\ndecoders = 1\nthreads = 1\n[speech.builtin.models]\nes = \"/m/base\"\n";
        let c = Config::from_toml(text, "c.toml").unwrap();
        let w = c.speech.builtin.unwrap();
        assert_eq!((w.decoders, w.threads, w.beam_size), (1, 1, 1));
        assert_eq!(w.model_dirs().keys().collect::<Vec<_>>(), ["en", "es"]);
        assert!(Config::from_toml("[speech.builtin]\nthread = 1\n", "c.toml").is_err(), "unknown keys are errors");
    }

    #[test]
    fn errors_name_file_and_line() {
        let e = Config::from_toml("[sip]\nlisten = [\"udp:127.0.0.1:5060\"]\n[rtp]\nbogus = 1\n", "c.toml").unwrap_err();
        assert!(e.to_string().starts_with("c.toml:4:"), "{e}");
        let e = Config::from_toml("[flows]\npinned_time = \"yesterday\"\n", "c.toml").unwrap_err();
        assert!(e.to_string().contains("[flows].pinned_time"), "{e}");
        let c = Config::from_toml("[flows]\npinned_time = \"2026-11-24T15:00:00Z\"\n", "c.toml").unwrap();
        assert_eq!(c.flow_wall_clock(), std::time::UNIX_EPOCH + Duration::from_secs(1_795_532_400));
        // Every RFC 3339 form, quoted or as a TOML datetime, is the same instant.
        for t in [
            "\"2026-11-24T12:00:00-03:00\"",
            "\"2026-11-24T18:00:00+03:00\"",
            "\"2026-11-24T15:00:00+00:00\"",
            "\"2026-11-24 15:00:00Z\"",
            "\"2026-11-24t15:00:00z\"",
            "\"2026-11-24T15:00:00.000Z\"",
            "2026-11-24T12:00:00-03:00",
            "2026-11-24T15:00:00Z",
            "2026-11-24 20:30:00+05:30",
        ] {
            let c = Config::from_toml(&format!("[flows]\npinned_time = {t}\n"), "c.toml").unwrap_or_else(|e| panic!("{t}: {e}"));
            assert_eq!(c.flow_wall_clock(), std::time::UNIX_EPOCH + Duration::from_secs(1_795_532_400), "{t}");
        }
        let e = Config::from_toml("[flows]\npinned_time = 2026-11-24T15:00:00\n", "c.toml").unwrap_err();
        assert!(e.to_string().contains("[flows].pinned_time"), "a local datetime has no offset: {e}");
        assert_eq!(Config::default().exposed_default_token(), None, "loopback");
        let open = Config::from_toml("[api]\nlisten = \"0.0.0.0:8080\"\n", "c.toml").unwrap();
        assert!(open.exposed_default_token().is_some_and(|m| m.contains("change-me") && m.contains("0.0.0.0:8080")));
        let secret = Config::from_toml("[api]\nlisten = \"0.0.0.0:8080\"\ntoken = \"s3cret\"\n", "c.toml").unwrap();
        assert_eq!(secret.exposed_default_token(), None);
        let e = Config::from_toml("[[trunks]]\nname = \"a\"\nallow = [\"300.1.1.1/8\"]\n", "c.toml").unwrap_err();
        assert!(e.to_string().contains("[[trunks]] a: allow"), "{e}");
        let e = Config::from_toml("[[trunks]]\nname = \"a\"\nusername = \"u\"\n", "c.toml").unwrap_err();
        assert!(e.to_string().contains("username and password go together"), "{e}");
        let c = Config::from_toml("[[trunks]]\nname = \"a\"\nusername = \"u\"\npassword = \"p\"\n", "c.toml").unwrap();
        assert_eq!(c.trunk_credentials().get("u").map(String::as_str), Some("p"));
        let e = Config::from_toml("[sip]\nlisten = [\"sctp:1.2.3.4:5\"]\n", "c.toml").unwrap_err();
        assert!(e.to_string().contains("unsupported transport"), "{e}");
    }
}
