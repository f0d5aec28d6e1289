//! Flow webhooks (DESIGN.md §4 `webhook`): the FlowRunner asks for an HTTP
//! request and waits for its result as an event; this module performs it.
//! GET sends the body fields as query parameters, POST as a JSON object.
//! Every request carries `X-Centralita-Call-Id`. A non-JSON or empty answer
//! is `null`; transport errors and timeouts are errors, which the flow turns
//! into its `failed` event. Delivery guarantees (signing, retries, outbox)
//! belong to business events, not to these synchronous look-ups.

use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("webhook URL {0:?} is not http or https")]
    BadUrl(String),
    #[error("webhook timed out after {0:?}")]
    Timeout(Duration),
    #[error("webhook request failed: {0}")]
    Http(#[from] reqwest::Error),
}

/// GET or POST, mirroring the flow's `method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
}

/// One shared client (connection pool) for the whole gateway.
#[derive(Clone)]
pub struct WebhookClient {
    http: reqwest::Client,
}

impl WebhookClient {
    pub fn new() -> Result<Self, WebhookError> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("Centralita/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self { http })
    }

    /// Performs the request; returns the status and the JSON body.
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        fields: &BTreeMap<String, String>,
        timeout: Duration,
        call_id: &str,
    ) -> Result<(u16, serde_json::Value), WebhookError> {
        let parsed = reqwest::Url::parse(url).map_err(|_| WebhookError::BadUrl(url.into()))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(WebhookError::BadUrl(url.into()));
        }
        let req = match method {
            Method::Get => self.http.get(parsed).query(fields),
            Method::Post => self.http.post(parsed).json(fields),
        };
        let req = req.header("X-Centralita-Call-Id", call_id).header("Accept", "application/json").timeout(timeout);
        let resp = req.send().await.map_err(|e| if e.is_timeout() { WebhookError::Timeout(timeout) } else { WebhookError::Http(e) })?;
        let status = resp.status().as_u16();
        let bytes = resp.bytes().await.map_err(|e| if e.is_timeout() { WebhookError::Timeout(timeout) } else { WebhookError::Http(e) })?;
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Ok((status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A one-shot HTTP/1.1 server on loopback that records the request.
    async fn serve_once(reply: &'static str) -> (String, tokio::task::JoinHandle<String>) {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let h = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            // Read the head, then as much body as Content-Length says.
            let (mut req, mut buf) = (Vec::new(), [0u8; 4096]);
            loop {
                let n = s.read(&mut buf).await.unwrap();
                req.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&req).to_string();
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len || n == 0 {
                        break;
                    }
                }
            }
            let req = String::from_utf8_lossy(&req).to_string();
            s.write_all(reply.as_bytes()).await.unwrap();
            req
        });
        (url, h)
    }

    #[tokio::test]
    async fn post_sends_json_and_parses_the_answer() {
        let (url, h) = serve_once(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 14\r\nConnection: close\r\n\r\n{\"name\":\"Ana\"}",
        )
        .await;
        let fields = BTreeMap::from([("caller".to_string(), "5551234".to_string())]);
        let c = WebhookClient::new().unwrap();
        let (status, body) = c.call(Method::Post, &format!("{url}/crm"), &fields, Duration::from_secs(5), "c-1").await.unwrap();
        assert_eq!((status, body["name"].as_str()), (200, Some("Ana")));
        let req = h.await.unwrap();
        assert!(req.starts_with("POST /crm HTTP/1.1"), "{req}");
        assert!(req.to_ascii_lowercase().contains("x-centralita-call-id: c-1"), "{req}");
        assert!(req.ends_with("{\"caller\":\"5551234\"}"), "{req}");
    }

    #[tokio::test]
    async fn get_uses_query_parameters_and_tolerates_non_json() {
        let (url, h) = serve_once("HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\nConnection: close\r\n\r\nnah").await;
        let fields = BTreeMap::from([("q".to_string(), "a b".to_string())]);
        let (status, body) = WebhookClient::new().unwrap().call(Method::Get, &url, &fields, Duration::from_secs(5), "c").await.unwrap();
        assert_eq!((status, body), (404, serde_json::Value::Null));
        assert!(h.await.unwrap().starts_with("GET /?q=a+b HTTP/1.1"));
    }

    #[tokio::test]
    async fn timeouts_and_bad_urls_are_errors() {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        let c = WebhookClient::new().unwrap();
        let e = c.call(Method::Get, &url, &BTreeMap::new(), Duration::from_millis(200), "c").await.unwrap_err();
        assert!(matches!(e, WebhookError::Timeout(_)), "{e}");
        let e = c.call(Method::Get, "ftp://x/y", &BTreeMap::new(), Duration::from_secs(1), "c").await.unwrap_err();
        assert!(matches!(e, WebhookError::BadUrl(_)));
        drop(l);
    }
}
