//! The `centralita` binary (DESIGN.md §3): `run` the gateway, `validate`
//! flows, `simulate` a call in the terminal, print the flow `schema`.

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
    },
    /// Talk to a flow in the terminal: type keys (1, 123#) or words, and
    /// `:silence`, `:hangup`, `:webhook 200 {json}`, `:transfer-fail`.
    Simulate {
        flow: PathBuf,
        /// The caller's number.
        #[arg(long, default_value = "+5491100000000")]
        caller: String,
        /// Wall-clock time of the call (RFC 3339), for business hours.
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
        Command::Validate { flows, prompts } => validate(&flows, prompts),
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

/// Parses and validates a flow; `Err` lists every error diagnostic
/// (`file:line:col: message`), `Ok` carries the warnings.
fn validate(paths: &[PathBuf], prompts: Option<PathBuf>) -> anyhow::Result<()> {
    let opts = dialogs::ValidateOptions { prompt_dir: prompts };
    let mut failed = false;
    for p in paths {
        match sip_gateway::flows::load_flow_file(p, &opts) {
            Ok((_, warnings)) => {
                for w in &warnings {
                    println!("{w}");
                }
                println!("{}: ok", p.display());
            }
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
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
    let at = at.map(dialogs::parse_timestamp).transpose()?;
    let options = dialogs::SimOptions { caller, at, language: lang, ..dialogs::SimOptions::default() };
    let mut sim = dialogs::Simulator::new(Arc::new(flow), options, std::time::Instant::now());
    // Typed lines are echoed as `> …` for scripts; a terminal shows them already.
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdin());
    let print = |lines: Vec<String>| lines.iter().filter(|l| !(tty && l.starts_with("> "))).for_each(|l| println!("{l}"));
    print(sim.output());
    for line in std::io::stdin().lock().lines() {
        sim.input(&line?);
        print(sim.output());
        if sim.is_finished() {
            break;
        }
    }
    sim.finish();
    print(sim.output());
    Ok(())
}

fn load_flows(cfg: &Config) -> anyhow::Result<FlowStore> {
    let paths: Vec<&PathBuf> = std::iter::once(&cfg.flows.default).chain(cfg.flows.routes.values()).collect();
    let opts = dialogs::ValidateOptions { prompt_dir: Some(cfg.prompts.dir.clone()) };
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
    let flows = Arc::new(load_flows(&cfg)?);
    let prompter = Prompter::from_config(&cfg)?;
    let recognizer = sip_gateway::speech::recognizer_from_config(&cfg).context("starting the speech recogniser")?;
    // Every static prompt of the loaded flows is rendered (and cached) now,
    // so the first caller does not wait for TTS.
    prompter.prerender(sip_gateway::speech::static_prompts(&flows)).await;
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
    let interrupted = store.mark_interrupted(now_ms).await.context("marking interrupted calls")?;
    if interrupted > 0 {
        tracing::warn!(calls = interrupted, "calls left open by the previous run marked interrupted");
    }
    let (records, _records_task) = sip_gateway::store::StoreWriter::spawn(store.clone(), 65_536);
    // Business events leave through the outbox: signed, retried, at least once.
    let events =
        sip_gateway::outbox_dispatcher::OutboxDispatcher::spawn(store.clone(), &cfg.events).context("starting the outbox dispatcher")?;
    let shared =
        Arc::new(Shared { config: cfg.clone(), flows, prompter, registry: registry.clone(), webhooks, media, records, recognizer });

    let (inbound_tx, inbound_rx) = mpsc::channel(4096);
    let transports = Transports::bind(&cfg.listen_specs(), inbound_tx).await.context("binding SIP listeners")?;
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
    let endpoint = Endpoint::new(transports, Arc::new(Spawner(shared)), cmd_tx, cfg.source_acl(), digest);
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
