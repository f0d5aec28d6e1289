//! The operator dashboard and the agent's screen-pop, as static pages
//! embedded in the binary (issue #6).
//!
//! - `GET /dashboard`: KPI tiles (DESIGN.md §6), charts per day, per-flow
//!   and per-A/B-variant tables, live and recent calls.
//! - `GET /agent/calls/{id}`: what an agent sees when a transfer arrives:
//!   the transfer context and the call's transcript/steps.
//! - `GET /dashboard/assets/{name}`: their JS and CSS.
//!
//! The pages themselves need no token: they hold no data. Their scripts
//! call the admin JSON API (`/v1/...`) with the bearer token taken from the
//! URL fragment (`#token=...`, never sent to the server) or typed into a
//! login field, kept in `sessionStorage`. Plain HTML, vanilla JS and SVG
//! drawn by the scripts: no CDN, no build step, nothing fetched from
//! elsewhere (the Content-Security-Policy says so to the browser too).
//! Assets are `include_str!`ed, so they change only with the binary;
//! `no-cache` makes browsers revalidate them after an upgrade.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const DASHBOARD_HTML: &str = include_str!("dashboard.html");
const AGENT_HTML: &str = include_str!("agent.html");

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";

/// `(name under /dashboard/assets/, content type, body)`.
const ASSETS: &[(&str, &str, &str)] = &[
    ("common.js", JS, include_str!("common.js")),
    ("charts.js", JS, include_str!("charts.js")),
    ("dashboard.js", JS, include_str!("dashboard.js")),
    ("agent.js", JS, include_str!("agent.js")),
    ("style.css", CSS, include_str!("style.css")),
];

/// Only this origin's scripts, styles and API; no inline script, no frames.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// The dashboard's routes, for merging into the admin API's router (whose
/// state they do not use).
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/dashboard", get(|| async { serve(HTML, DASHBOARD_HTML) }))
        .route("/agent/calls/{id}", get(|Path(_id): Path<String>| async { serve(HTML, AGENT_HTML) }))
        .route("/dashboard/assets/{name}", get(asset))
}

async fn asset(Path(name): Path<String>) -> Response {
    match ASSETS.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, body)) => serve(content_type, body),
        None => (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], "no such asset\n").into_response(),
    }
}

fn serve(content_type: &'static str, body: &'static str) -> Response {
    let mut res = body.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    res
}

#[cfg(test)]
mod tests {
    use axum::body::{to_bytes, Body};
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get(path: &str) -> (StatusCode, String, String) {
        let app: Router = router();
        let res = app.oneshot(Request::get(path).body(Body::empty()).unwrap()).await.unwrap();
        let status = res.status();
        let ct = res.headers().get(header::CONTENT_TYPE).map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
        let body = to_bytes(res.into_body(), 1 << 20).await.unwrap();
        (status, ct, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn pages_are_html() {
        let (status, ct, body) = get("/dashboard").await;
        assert_eq!((status, ct.as_str()), (StatusCode::OK, HTML));
        assert!(body.contains("/dashboard/assets/dashboard.js") && body.contains(r#"id="errors""#), "{body}");
        for kpi in
            ["calls", "first_response", "containment", "abandon", "handoff", "fcr", "csat", "nps", "conversion", "revenue_per_conversation"]
        {
            assert!(body.contains(&format!(r#"data-kpi="{kpi}""#)), "tile {kpi} missing");
        }
        let (status, ct, body) = get("/agent/calls/abc-123").await;
        assert_eq!((status, ct.as_str()), (StatusCode::OK, HTML));
        assert!(body.contains("/dashboard/assets/agent.js"), "{body}");
    }

    #[tokio::test]
    async fn assets_have_their_types() {
        for (name, want, _) in ASSETS {
            let (status, ct, body) = get(&format!("/dashboard/assets/{name}")).await;
            assert_eq!((status, ct.as_str()), (StatusCode::OK, *want), "{name}");
            assert!(!body.is_empty(), "{name}");
        }
    }

    #[tokio::test]
    async fn unknown_assets_are_404() {
        for path in ["/dashboard/assets/nope.js", "/dashboard/assets/..%2Fmod.rs", "/dashboard/assets/mod.rs"] {
            let (status, _, _) = get(path).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        }
    }

    #[tokio::test]
    async fn pages_fetch_nothing_from_elsewhere() {
        let res = router::<()>().oneshot(Request::get("/dashboard").body(Body::empty()).unwrap()).await.unwrap();
        let csp = res.headers().get(header::CONTENT_SECURITY_POLICY).unwrap().to_str().unwrap();
        assert!(csp.contains("connect-src 'self'") && csp.contains("script-src 'self'"), "{csp}");
        let pages = [("dashboard.html", DASHBOARD_HTML), ("agent.html", AGENT_HTML)];
        for (name, body) in ASSETS.iter().map(|(n, _, b)| (*n, *b)).chain(pages) {
            // The SVG namespace is an identifier, not a fetch.
            let body = body.replace("\"http://www.w3.org/2000/svg\"", "");
            // No URL elsewhere, and API data goes in as text, never parsed as markup.
            for bad in ["http://", "https://", "//cdn", ".innerHTML", "document.write"] {
                assert!(!body.contains(bad), "{name} contains {bad}");
            }
        }
    }
}
