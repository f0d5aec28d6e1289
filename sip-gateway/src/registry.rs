//! Live call registry: one task owns the table of active calls and the
//! transfer contexts of recent ones; call tasks post updates to its mailbox
//! and the admin API asks it questions with a oneshot reply. No shared lock.

use std::collections::{HashMap, VecDeque};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

/// How many ended calls keep their context for agents' screens.
const RECENT: usize = 1000;

/// A live call. In JSON it speaks the stored calls' vocabulary (issue #13):
/// `id` and `started_at` (RFC 3339), not the field names.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct CallInfo {
    #[serde(rename = "id")]
    pub call_id: String,
    pub caller: String,
    pub called: String,
    pub flow: String,
    pub state: String,
    pub node: Option<String>,
    #[serde(rename = "started_at", serialize_with = "rfc3339_ms")]
    pub started_unix_ms: u64,
    /// INVITE received → first RTP packet of the first prompt (DESIGN §6).
    pub first_response_ms: Option<u64>,
}

fn rfc3339_ms<S: serde::Serializer>(ms: &u64, s: S) -> Result<S::Ok, S::Error> {
    crate::store::json_time::serialize(&i64::try_from(*ms).unwrap_or(i64::MAX), s)
}

#[derive(Debug)]
enum Msg {
    Upsert(CallInfo),
    Ended(String),
    Context(String, serde_json::Value),
    List(oneshot::Sender<Vec<CallInfo>>),
    GetContext(String, oneshot::Sender<Option<serde_json::Value>>),
}

/// Handle to the registry task; cheap to clone.
#[derive(Debug, Clone)]
pub struct Registry(mpsc::Sender<Msg>);

impl Registry {
    pub fn spawn() -> Self {
        let (tx, mut rx) = mpsc::channel::<Msg>(1024);
        tokio::spawn(async move {
            let mut active: HashMap<String, CallInfo> = HashMap::new();
            let mut contexts: HashMap<String, serde_json::Value> = HashMap::new();
            let mut order: VecDeque<String> = VecDeque::new();
            while let Some(m) = rx.recv().await {
                match m {
                    Msg::Upsert(c) => {
                        active.insert(c.call_id.clone(), c);
                    }
                    Msg::Ended(id) => {
                        active.remove(&id);
                    }
                    Msg::Context(id, v) => {
                        if contexts.insert(id.clone(), v).is_none() {
                            order.push_back(id);
                            while order.len() > RECENT {
                                if let Some(old) = order.pop_front() {
                                    contexts.remove(&old);
                                }
                            }
                        }
                    }
                    Msg::List(reply) => {
                        let mut v: Vec<CallInfo> = active.values().cloned().collect();
                        v.sort_by(|a, b| a.started_unix_ms.cmp(&b.started_unix_ms).then(a.call_id.cmp(&b.call_id)));
                        let _ = reply.send(v);
                    }
                    Msg::GetContext(id, reply) => {
                        let _ = reply.send(contexts.get(&id).cloned());
                    }
                }
            }
        });
        Self(tx)
    }

    pub fn upsert(&self, c: CallInfo) {
        let _ = self.0.try_send(Msg::Upsert(c));
    }
    pub fn ended(&self, call_id: &str) {
        // Must not be lost even under load: wait for room.
        let tx = self.0.clone();
        let id = call_id.to_string();
        tokio::spawn(async move {
            let _ = tx.send(Msg::Ended(id)).await;
        });
    }
    pub async fn set_context(&self, call_id: &str, v: serde_json::Value) {
        let _ = self.0.send(Msg::Context(call_id.to_string(), v)).await;
    }
    pub async fn list(&self) -> Vec<CallInfo> {
        let (tx, rx) = oneshot::channel();
        let _ = self.0.send(Msg::List(tx)).await;
        rx.await.unwrap_or_default()
    }
    pub async fn context(&self, call_id: &str) -> Option<serde_json::Value> {
        let (tx, rx) = oneshot::channel();
        let _ = self.0.send(Msg::GetContext(call_id.to_string(), tx)).await;
        rx.await.ok().flatten()
    }
}
