//! Shared by the `store_*` tests (included with `#[path]`): a fresh, empty
//! store on each real database. SQLite lives in a temp dir. PostgreSQL is
//! the server in `CENTRALITA_TEST_PG_URL` (set by `scripts/pg-test.sh`) or
//! else a throwaway cluster this test binary starts once (initdb + pg_ctl,
//! 127.0.0.1, free port, fsync off) and that a detached watchdog stops and
//! deletes when the binary exits. Each test gets its own database in it.
//! When no PostgreSQL can be had (no `/usr/lib/postgresql/*/bin/initdb`, a
//! failing initdb or pg_ctl) the test fails, naming why; only
//! `CENTRALITA_TEST_SKIP_PG=1` (a developer's explicit opt-out, never set by
//! `make test` or CI) turns that into a printed skip of the PostgreSQL half.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use sip_gateway::store::Store;
use sqlx::Connection;

/// A store and what keeps its database alive.
pub(crate) struct TestDb {
    pub(crate) store: Store,
    pub(crate) url: String,
    _dir: Option<tempfile::TempDir>,
}

pub(crate) async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("centralita.db").display());
    let store = Store::open(&url).await.expect("open sqlite store");
    TestDb { store, url, _dir: Some(dir) }
}

/// The opt-out variable: set to `1`, a missing PostgreSQL skips instead of failing.
pub(crate) const SKIP_PG_VAR: &str = "CENTRALITA_TEST_SKIP_PG";

/// A store on a fresh PostgreSQL database. Panics when no PostgreSQL can be
/// had, unless `CENTRALITA_TEST_SKIP_PG=1`: then `None`, after printing why.
pub(crate) async fn postgres() -> Option<TestDb> {
    let admin = match pg_admin_url() {
        Ok(url) => url,
        Err(why) if skip_pg_opted_out() => {
            eprintln!("SKIPPED the PostgreSQL half of this test ({SKIP_PG_VAR}=1): {why}");
            return None;
        }
        Err(why) => panic!("no PostgreSQL for the store tests: {why} (set {SKIP_PG_VAR}=1 to skip the PostgreSQL half locally)"),
    };
    let name = format!("centralita_{:016x}", rand::random::<u64>());
    let mut conn = sqlx::PgConnection::connect(admin).await.expect("connect to the test PostgreSQL");
    sqlx::Executor::execute(&mut conn, format!("CREATE DATABASE {name}").as_str()).await.expect("create database");
    conn.close().await.expect("close");
    let (base, _) = admin.rsplit_once('/').expect("URL with a database");
    let url = format!("{base}/{name}");
    let store = Store::open(&url).await.expect("open postgres store");
    Some(TestDb { store, url, _dir: None })
}

fn skip_pg_opted_out() -> bool {
    std::env::var(SKIP_PG_VAR).is_ok_and(|v| v == "1")
}

fn pg_admin_url() -> Result<&'static str, &'static str> {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    URL.get_or_init(|| match std::env::var("CENTRALITA_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Ok(url),
        _ => start_cluster(),
    })
    .as_ref()
    .map(String::as_str)
    .map_err(String::as_str)
}

fn start_cluster() -> Result<String, String> {
    let bin = pg_bindir().ok_or("/usr/lib/postgresql/*/bin/initdb is not installed (apt-get install postgresql)")?;
    let dir = tempfile::Builder::new().prefix("centralita-pg").tempdir().map_err(|e| e.to_string())?.keep();
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map_err(|e| e.to_string())?.port();
    // initdb and postgres refuse to run as root.
    let as_user: Vec<String> = if is_root() {
        run(Command::new("chown").arg("postgres:").arg(&dir))?;
        ["runuser", "-u", "postgres", "--"].map(String::from).to_vec()
    } else {
        vec![]
    };
    let cmd = |program: PathBuf| match as_user.split_first() {
        Some((runuser, args)) => {
            let mut c = Command::new(runuser);
            c.args(args).arg(program);
            c
        }
        None => Command::new(program),
    };
    let data = dir.join("data");
    run(cmd(bin.join("initdb")).arg("-D").arg(&data).args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"]))?;
    let opts = format!("-c listen_addresses=127.0.0.1 -p {port} -k {} -F", dir.display());
    run(cmd(bin.join("pg_ctl")).arg("-D").arg(&data).arg("-l").arg(dir.join("server.log")).args(["-w", "-o", &opts, "start"]))?;
    // The watchdog outlives this process (own session), then stops the server.
    let script = r#"parent=$1; dir=$2; shift 2
        while kill -0 "$parent" 2>/dev/null; do sleep 1; done
        "$@" -D "$dir/data" -m immediate stop >/dev/null 2>&1; rm -rf "$dir""#;
    Command::new("setsid")
        .args(["sh", "-c", script, "watchdog", &std::process::id().to_string()])
        .arg(&dir)
        .args(&as_user)
        .arg(bin.join("pg_ctl"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("watchdog: {e}"))?;
    Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres"))
}

fn pg_bindir() -> Option<PathBuf> {
    let mut dirs: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").exists())
        .collect();
    dirs.sort();
    dirs.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.trim_ascii() == b"0").unwrap_or(false)
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}
