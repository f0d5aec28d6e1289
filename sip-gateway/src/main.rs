//! The `centralita` binary (DESIGN.md §3): `run` the gateway, `validate`
//! flows, `simulate` a call in the terminal, print the flow `schema`.
//! `run` refuses the default `change-me` token on a non-loopback API
//! address, logs a start-up summary (flows, routes, trunks, speech engines,
//! languages the recogniser cannot serve) and names the address that a
//! failed bind could not take.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use sip_gateway::call::{FlowStore, Shared, Spawner};
use sip_gateway::config::Config;
use sip_gateway::registry::Registry;
use sip_gateway::sip::endpoint::Endpoint;
use sip_gateway::sip::transport::Transports;
use sip_gateway::speech::Prompter;
use tokio::sync::mpsc;

#[derive(Parser)]
#[command(name = "centralita", version, about = "Voice callbot and IVR gateway")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway (embedded defaults when no config is given).
    Run {
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Validate flow files; prints file:line:col: message, exits 1 on errors.
    Validate {
        #[arg(required = true)]
        flows: Vec<PathBuf>,
        /// Prompt library to check `play:` ids against ([prompts].dir).
        #[arg(long)]
        prompts: Option<PathBuf>,
        /// The gateway config whose [speech].asr decides which languages
        /// can be recognised (default: the built-in en-US recogniser).
        #[arg(long)]
        config: Option<PathBuf>,
        /// `text` (file:line:col: message) or `json` (one document on stdout,
        /// for CI and editors).
        #[arg(long, default_value = "text")]
        format: String,
        /// Warnings fail too (exit 1).
        #[arg(long)]
        strict: bool,
    },
    /// Talk to a flow in the terminal: type keys (1, 123#) or words (with a
    /// recogniser confidence: `agent@0.4`), and `:silence`, `:hangup`,
    /// `:webhook 200 {json}`, `:transfer-fail`.
    Simulate {
        flow: PathBuf,
        /// The caller's number.
        #[arg(long, default_value = "+5491100000000")]
        caller: String,
        /// Wall-clock time of the call (RFC 3339), for business hours;
        /// default now, as the gateway does.
        #[arg(long)]
        at: Option<String>,
        /// The call's language (default: the flow's).
        #[arg(long)]
        lang: Option<String>,
    },
    /// Print the JSON Schema of the flow format.
    Schema,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Validate { flows, prompts, config, format, strict } => {
            let cfg = match &config {
                Some(p) => Config::load(p)?,
                None => Config::default(),
            };
            let opts = dialogs::ValidateOptions { prompt_dir: prompts, recogniser: sip_gateway::flows::recogniser_languages(&cfg) };
            let json = match format.as_str() {
                "text" => false,
                "json" => true,
                other => bail!("--format {other:?}: expected text or json"),
            };
            validate(&flows, &opts, json, strict)
        }
        Command::Simulate { flow, caller, at, lang } => simulate(&flow, caller, at.as_deref(), lang),
        Command::Schema => {
            println!("{}", serde_json::to_string_pretty(&dialogs::flow_schema())?);
            Ok(())
        }
        Command::Run { config } => {
            init_logging();
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            rt.block_on(run(config))
        }
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).init();
}

/// Validates each flow file. Text: warnings on stdout, errors on stderr
/// (`file:line:col: message`), `FILE: ok` for a file without errors.
/// JSON: `{"ok", "files": [{"file", "ok", "diagnostics": [{"file", "line",
/// "column", "severity", "message"}]}]}` on stdout. Exits 1 when a file has
/// errors (or, with `strict`, warnings).
fn validate(paths: &[PathBuf], opts: &dialogs::ValidateOptions, json: bool, strict: bool) -> anyhow::Result<()> {
    use sip_gateway::flows::FlowLoadError;
    let mut failed = false;
    let mut files = Vec::new();
    for p in paths {
        let file = p.display().to_string();
        let diagnostics = match sip_gateway::flows::load_flow_file(p, opts) {
            Ok((_, warnings)) => warnings,
            Err(FlowLoadError::Invalid(diagnostics)) => diagnostics,
            Err(e) => vec![dialogs::Diagnostic {
                file: file.clone(),
                line: 1,
                column: 1,
                severity: dialogs::Severity::Error,
                message: e.to_string(),
            }],
        };
        let errors = diagnostics.iter().any(dialogs::Diagnostic::is_error);
        let ok = !errors && (!strict || diagnostics.is_empty());
        failed |= !ok;
        if json {
            let list: Vec<serde_json::Value> = diagnostics
                .iter()
                .map(|d| {
                    serde_json::json!({"file": d.file, "line": d.line, "column": d.column,
                        "severity": if d.is_error() { "error" } else { "warning" }, "message": d.message})
                })
                .collect();
            files.push(serde_json::json!({"file": file, "ok": ok, "diagnostics": list}));
            continue;
        }
        for d in &diagnostics {
            if errors {
                eprintln!("{d}");
            } else {
                println!("{d}");
            }
        }
        match (errors, ok) {
            (false, true) => println!("{file}: ok"),
            (false, false) => eprintln!("{file}: warnings fail with --strict"),
            (true, _) => {}
        }
    }
    if json {
        println!("{}", serde_json::json!({"ok": !failed, "files": files}));
    }
    if failed {
        std::process::exit(1);
    }
    Ok(())
}

fn simulate(path: &std::path::Path, caller: String, at: Option<&str>, lang: Option<String>) -> anyhow::Result<()> {
    use std::io::BufRead;
    let (flow, warnings) = dialogs::load_flow(path).map_err(|e| anyhow::anyhow!("{e}"))?;
    for w in &warnings {
        eprintln!("{w}");
    }
    // Business hours follow the real clock unless --at says otherwise,
    // exactly like the gateway (which reads SystemTime::now() per call).
    let at = Some(at.map(dialogs::parse_timestamp).transpose()?.unwrap_or_else(std::time::SystemTime::now));
    let options = dialogs::SimOptions { caller, at, language: lang, ..dialogs::SimOptions::default() };
    let mut sim = dialogs::Simulator::new(Arc::new(flow), options, std::time::Instant::now());
    // Typed lines are echoed as `> …` for scripts; a terminal shows them already.
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let mut stdout = std::io::stdout().lock();
    let mut print = |lines: Vec<String>| -> std::io::Result<()> {
        use std::io::Write;
        for l in lines.iter().filter(|l| !(tty && l.starts_with("> "))) {
            writeln!(stdout, "{l}")?;
        }
        stdout.flush()
    };
    // A reader that stops early (`simulate … | head`) ends the session
    // quietly, as other filters do, instead of a panic on EPIPE.
    let shown = |r: std::io::Result<()>| match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(e),
        Ok(()) => Ok(true),
    };
    if !shown(print(sim.output()))? {
        return Ok(());
    }
    for line in std::io::stdin().lock().lines() {
        sim.input(&line?);
        if !shown(print(sim.output()))? {
            return Ok(());
        }
        if sim.is_finished() {
            break;
        }
    }
    sim.finish();
    shown(print(sim.output()))?;
    Ok(())
}

fn load_flows(cfg: &Config) -> anyhow::Result<FlowStore> {
    let paths: Vec<&PathBuf> = std::iter::once(&cfg.flows.default).chain(cfg.flows.routes.values()).collect();
    let opts =
        dialogs::ValidateOptions { prompt_dir: Some(cfg.prompts.dir.clone()), recogniser: sip_gateway::flows::recogniser_languages(cfg) };
    // A flow PUT under a new name goes next to the default one.
    let new_dir = cfg.flows.default.parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    let (store, warnings) = FlowStore::load(paths, opts, new_dir).map_err(|e| anyhow::anyhow!("flow not loaded:\n{e}"))?;
    for w in warnings {
        tracing::warn!("{w}");
    }
    Ok(store)
}

async fn run(config: Option<PathBuf>) -> anyhow::Result<()> {
    let cfg = match &config {
        Some(p) => Config::load(p)?,
        None => Config::default(),
    };
    if let Some(problem) = cfg.exposed_default_token() {
        bail!("refusing to start: {problem}");
    }
    let flows = Arc::new(load_flows(&cfg)?);
    log_summary(&cfg, &flows);
    let prompter = Prompter::from_config(&cfg)?;
    let recognizer = sip_gateway::speech::recognizer_from_config(&cfg).context("starting the speech recogniser")?;
    // Every static prompt of the loaded flows is rendered (and cached) in
    // the background, so the first caller rarely waits for TTS, and a slow
    // or dead TTS vendor does not hold up start-up (issue #15 item 8): a
    // call that needs a prompt still rendering waits for that one render.
    tokio::spawn({
        let (prompter, items) = (prompter.clone(), sip_gateway::speech::static_prompts(&flows));
        async move { prompter.prerender(items).await }
    });
    let registry = Registry::spawn();
    let webhooks = sip_gateway::webhook::WebhookClient::new().context("building the webhook HTTP client")?;
    let media_threads = match cfg.rtp.threads {
        0 => std::thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let media = media::MediaEngine::start(media_threads, cfg.rtp.realtime).context("starting the media threads")?;
    // Records first: a gateway that cannot keep call records does not take calls.
    let store = sip_gateway::store::Store::open(&cfg.store.url).await.with_context(|| format!("opening the store {}", cfg.store.url))?;
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    // Recordings of calls a crash left open get a valid header first (issue #19).
    let repaired = sip_gateway::recording::repair_open(&store).await;
    if repaired > 0 {
        tracing::warn!(recordings = repaired, "recordings left open by the previous run repaired");
    }
    let interrupted = store.mark_interrupted(now_ms).await.context("marking interrupted calls")?;
    if interrupted > 0 {
        tracing::warn!(calls = interrupted, "calls left open by the previous run marked interrupted");
    }
    let (records, _records_task) = sip_gateway::store::StoreWriter::spawn(store.clone(), 65_536);
    let _sweeper = sip_gateway::recording::spawn_sweeper(store.clone(), cfg.recording.retention_days);
    // Business events leave through the outbox: signed, retried, at least once.
    let events =
        sip_gateway::outbox_dispatcher::OutboxDispatcher::spawn(store.clone(), &cfg.events).context("starting the outbox dispatcher")?;
    let shared =
        Arc::new(Shared { config: cfg.clone(), flows, prompter, registry: registry.clone(), webhooks, media, records, recognizer });

    let (inbound_tx, inbound_rx) = mpsc::channel(4096);
    let transports = match Transports::bind(&cfg.listen_specs(), inbound_tx).await {
        Ok(t) => t,
        Err(e) => bail!("binding SIP listeners: {}", bind_failure(&cfg, &e)),
    };
    if transports.udp.is_empty() && transports.tcp.is_empty() {
        bail!("no SIP listener");
    }
    let listening: Vec<String> =
        transports.udp.iter().map(|(a, _)| format!("udp:{a}")).chain(transports.tcp.iter().map(|a| format!("tcp:{a}"))).collect();

    let api_listener =
        tokio::net::TcpListener::bind(&cfg.api.listen).await.with_context(|| format!("binding admin API on {}", cfg.api.listen))?;
    let api_addr = api_listener.local_addr()?;
    let (cmd_tx, cmd_rx) = mpsc::channel(4096);
    let udp_listener = transports.udp.first().map(|(addr, _)| (0, *addr));
    let dialer = sip_gateway::call::outbound::Dialer::new(shared.clone(), cmd_tx.clone(), store.clone(), udp_listener);
    let state = sip_gateway::api::ApiState::new(registry, cfg.api.token.clone(), Some(store.clone()))
        .with_config(&cfg)
        .with_dialer(dialer)
        .with_flows(shared.flows.clone());
    let app = sip_gateway::api::router(state);
    tokio::spawn(async move {
        if let Err(e) = axum::serve(api_listener, app).await {
            tracing::error!(error = %e, "admin API stopped");
        }
    });

    let creds = cfg.trunk_credentials();
    let digest = (!creds.is_empty()).then(|| sip_gateway::sip::digest::DigestAuth::new("centralita", creds));
    let shutdown_tx = cmd_tx.clone();
    let limiter = sip_gateway::sip::limits::Limiter::new(cfg.limits.clone(), cfg.trunk_networks(), std::time::Instant::now());
    let endpoint = Endpoint::new(transports, Arc::new(Spawner(shared)), cmd_tx, cfg.source_acl(), digest).with_limits(limiter);
    let ep = tokio::spawn(endpoint.run(inbound_rx, cmd_rx));

    // One machine-readable line so scripts and tests learn OS-chosen ports.
    println!("{}", serde_json::json!({"event": "listening", "sip": listening, "api": api_addr.to_string()}));
    tracing::info!(sip = ?listening, api = %api_addr, "centralita running");

    tokio::select! {
        _ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
        _ = terminate() => tracing::info!("terminated"),
        r = ep => bail!("endpoint stopped: {r:?}"),
    }
    // Graceful shutdown: new calls get 503, active ones a BYE; wait for
    // them (bounded), then give the BYEs a moment on the wire.
    let (done_tx, done_rx) = tokio::sync::oneshot::channel();
    if shutdown_tx.send(sip_gateway::sip::endpoint::EndpointCommand::Shutdown { done: done_tx }).await.is_ok() {
        match tokio::time::timeout(std::time::Duration::from_secs(10), done_rx).await {
            Ok(_) => tracing::info!("all calls ended"),
            Err(_) => tracing::warn!("calls still active after 10 s; exiting anyway"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let stats = events.shutdown().await;
    tracing::info!(?stats, "outbox dispatcher stopped");
    Ok(())
}

/// Which `[sip].listen` address a failed bind could not take: each one is
/// tried again on its own (the sockets are closed at once).
fn bind_failure(cfg: &Config, e: &std::io::Error) -> String {
    use sip_gateway::config::ListenSpec;
    for spec in cfg.listen_specs() {
        let (what, result) = match spec {
            ListenSpec::Udp(a) => (format!("udp:{a}"), std::net::UdpSocket::bind(a).map(drop)),
            ListenSpec::Tcp(a) => (format!("tcp:{a}"), std::net::TcpListener::bind(a).map(drop)),
        };
        if let Err(err) = result {
            let hint = if err.kind() == std::io::ErrorKind::AddrInUse { " (another process listens there)" } else { "" };
            return format!("cannot listen on {what} from [sip].listen: {err}{hint}");
        }
    }
    format!("{e} ([sip].listen = {})", cfg.sip.listen.join(", "))
}

/// One log line per thing a new operator wants to check at start-up.
fn log_summary(cfg: &Config, flows: &FlowStore) {
    let list = flows.list();
    let names: Vec<String> = list.iter().map(|(p, f)| format!("{} ({}, {} nodes)", f.name, p.display(), f.nodes.len())).collect();
    tracing::info!(count = list.len(), flows = %names.join(", "), "flows loaded");
    let routes: Vec<String> = cfg.flows.routes.iter().map(|(number, p)| format!("{number} -> {}", p.display())).collect();
    tracing::info!(default = %cfg.flows.default.display(), routes = %routes.join(", "), "routes: {} numbers routed", routes.len());
    let trunks: Vec<String> = cfg
        .trunks
        .iter()
        .map(|t| {
            let mut s = t.name.clone();
            if !t.allow.is_empty() {
                s.push_str(&format!(" allow {}", t.allow.join(" ")));
            }
            if t.username.is_some() {
                s.push_str(" digest");
            }
            if let Some(uri) = &t.uri {
                s.push_str(&format!(" outbound {uri}"));
            }
            s
        })
        .collect();
    tracing::info!(count = trunks.len(), trunks = %trunks.join("; "), "trunks (none: calls from any source)");
    let served = sip_gateway::flows::recogniser_languages(cfg)
        .map_or_else(|| "as configured".to_owned(), |r| if r.languages.is_empty() { "none".to_owned() } else { r.languages.join(", ") });
    tracing::info!(asr = %cfg.speech.asr, languages = %served, tts = %cfg.speech.tts, "speech engines");
    if let Some(t) = &cfg.flows.pinned_time {
        tracing::warn!(pinned_time = %t, "flows see a pinned clock, not the real one ([flows].pinned_time)");
    }
}

#[cfg(unix)]
async fn terminate() {
    if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        s.recv().await;
    }
}
#[cfg(not(unix))]
async fn terminate() {
    std::future::pending::<()>().await
}
