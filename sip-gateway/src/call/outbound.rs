//! Outbound calls (issue #6): the gateway as UAC through a configured trunk
//! (RFC 3261 §13.2 INVITE, §17.1.1 through the endpoint's INVITE client
//! transaction, §13.2.2.4 the TU's ACK for 2xx, §9.1 CANCEL at the ring
//! timeout, §22.2 digest answer to one 401/407), then the same call task as
//! an inbound call: the flow starts once the callee answers.
//!
//! Outcomes recorded: `no_answer` (ring timeout → CANCEL, 408/480/487,
//! Timer B), `busy` (486, 600), `failed` (anything else). The CDR row is
//! written when the INVITE leaves, so unanswered calls have one too.
//!
//! [`Dialer::dial`] refuses, before any SIP: numbers on the do-not-call
//! list, and callees without a granted consent when the flow names one
//! (`consent_required:`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rsip::headers::UntypedHeader;
use rsip::{Header, Method, Request};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::Instrument;

use super::record::{new_call_in, unix_ms};
use super::{Call, Outcome, Phase, Shared};
use crate::config::TrunkConfig;
use crate::sip::dialog::Dialog;
use crate::sip::endpoint::{CallSignal, EndpointCommand};
use crate::sip::headers;
use crate::store::{Direction, Store, StoreError};
use crate::sip::transaction::TransactionKey;
use crate::sip::transport::SipFlow;

/// How long to wait for the 487 after our CANCEL before giving up.
const CANCEL_GRACE: Duration = Duration::from_secs(5);

/// What `POST /v1/calls` asks for.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct OutboundRequest {
    /// Who to call: digits, optionally with a leading `+` (3–20 digits).
    pub number: String,
    /// A loaded flow, by its `flow:` name or its file path; default: `[flows].default`.
    #[serde(default)]
    pub flow: Option<String>,
    /// Flow variables (`{{name}}` in prompts, webhook bodies).
    #[serde(default)]
    pub variables: BTreeMap<String, String>,
    /// A `[[trunks]]` name; default: the first trunk with a `uri`.
    #[serde(default)]
    pub trunk: Option<String>,
}

/// Why a call was not placed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("`number` must be 3 to 20 digits, optionally with a leading +")]
    BadNumber,
    #[error("{0} is on the do-not-call list")]
    DoNotCall(String),
    #[error("flow {flow} requires consent for {topic:?}, and {number} has not granted it")]
    NoConsent { flow: String, topic: String, number: String },
    #[error("no loaded flow named {0:?}")]
    UnknownFlow(String),
    #[error("no trunk named {0:?} with a `uri`")]
    UnknownTrunk(String),
    #[error("no [[trunks]] entry has a `uri` for outbound calls")]
    NoTrunk,
    #[error("trunk uri {uri:?}: {reason}")]
    TrunkAddress { uri: String, reason: String },
    #[error("no UDP SIP listener to send from")]
    NoListener,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Places outbound calls; cheap to clone. Held by the admin API.
#[derive(Clone)]
pub struct Dialer {
    shared: Arc<Shared>,
    endpoint: mpsc::Sender<EndpointCommand>,
    store: Store,
    /// Index and address of the UDP listener calls are sent from.
    listener: Option<(usize, SocketAddr)>,
}

impl Dialer {
    pub fn new(shared: Arc<Shared>, endpoint: mpsc::Sender<EndpointCommand>, store: Store, listener: Option<(usize, SocketAddr)>) -> Self {
        Dialer { shared, endpoint, store, listener }
    }

    /// Checks the request, then starts the call; returns its Call-ID at
    /// once (the call's progress is in `/v1/calls/{id}`).
    pub async fn dial(&self, req: OutboundRequest) -> Result<String, DialError> {
        let number = req.number.trim().to_string();
        let digits = number.strip_prefix('+').unwrap_or(&number);
        if !(3..=20).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DialError::BadNumber);
        }
        let (flow_path, flow) = self.flow(req.flow.as_deref())?;
        if self.store.dnc_contains(&number).await? {
            return Err(DialError::DoNotCall(number));
        }
        if let Some(topic) = &flow.consent_required {
            if self.store.consent_granted(&number, topic).await? != Some(true) {
                return Err(DialError::NoConsent { flow: flow.name.clone(), topic: topic.clone(), number });
            }
        }
        let trunk = self.trunk(req.trunk.as_deref())?.clone();
        let uri = trunk.uri.clone().unwrap_or_default();
        let remote = resolve(&uri).await?;
        let (listener, local_addr) = self.listener.ok_or(DialError::NoListener)?;
        let call_id = format!("{:016x}@{}", rand::random::<u64>(), local_addr.ip());
        let from_user = trunk.from_user.clone().unwrap_or_else(|| "centralita".into());
        let host = uri.split_once(':').map_or(uri.as_str(), |(_, h)| h).trim_start_matches("//");
        let request_uri = format!("sip:{number}@{host}");
        let invite = build_invite(&request_uri, &from_user, local_addr, &call_id, 1)?;
        let (tx, rx) = mpsc::channel(64);
        let spec = Outbound { trunk, variables: req.variables, flow_path, number };
        let call =
            Call::new_outbound(self.shared.clone(), invite, SipFlow::Udp { listener, remote }, local_addr, self.endpoint.clone(), tx, spec);
        crate::metrics::metrics().active_calls.inc();
        let span = tracing::info_span!("call", call_id = %call_id);
        tokio::spawn(call.run_outbound(rx).instrument(span));
        Ok(call_id)
    }

    fn flow(&self, name: Option<&str>) -> Result<(String, Arc<dialogs::Flow>), DialError> {
        let flows = &self.shared.flows;
        let found = match name {
            None => {
                let p = &self.shared.config.flows.default;
                flows.get(p).map(|f| (p.display().to_string(), f))
            }
            Some(n) => flows.find(n).map(|(p, f)| (p.display().to_string(), f)),
        };
        found.ok_or_else(|| DialError::UnknownFlow(name.unwrap_or("[flows].default").to_string()))
    }

    fn trunk(&self, name: Option<&str>) -> Result<&TrunkConfig, DialError> {
        let trunks = &self.shared.config.trunks;
        match name {
            Some(n) => trunks.iter().find(|t| t.name == n && t.uri.is_some()).ok_or_else(|| DialError::UnknownTrunk(n.into())),
            None => trunks.iter().find(|t| t.uri.is_some()).ok_or(DialError::NoTrunk),
        }
    }
}

/// host:port of a trunk `sip:` URI (default port 5060), resolved now.
async fn resolve(uri: &str) -> Result<SocketAddr, DialError> {
    let err = |reason: &str| DialError::TrunkAddress { uri: uri.to_string(), reason: reason.to_string() };
    let rest = uri.strip_prefix("sip:").ok_or_else(|| err("only sip: URIs"))?;
    let hostport = rest.rsplit('@').next().unwrap_or(rest).split(';').next().unwrap_or(rest);
    let target = if hostport.contains(':') { hostport.to_string() } else { format!("{hostport}:5060") };
    let mut addrs = tokio::net::lookup_host(target).await.map_err(|e| err(&e.to_string()))?;
    addrs.find(SocketAddr::is_ipv4).ok_or_else(|| err("no IPv4 address"))
}

fn build_invite(request_uri: &str, from_user: &str, local: SocketAddr, call_id: &str, cseq: u32) -> Result<Request, DialError> {
    let uri = rsip::Uri::try_from(request_uri).map_err(|e| DialError::TrunkAddress { uri: request_uri.into(), reason: e.to_string() })?;
    let mut hs = rsip::Headers::default();
    hs.push(Header::Via(rsip::headers::Via::new(format!("SIP/2.0/UDP {local};branch={};rport", headers::new_branch()))));
    hs.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
    hs.push(Header::From(rsip::headers::From::new(format!("<sip:{from_user}@{}>;tag={}", local.ip(), headers::new_tag()))));
    hs.push(Header::To(rsip::headers::To::new(format!("<{request_uri}>"))));
    hs.push(Header::CallId(rsip::headers::CallId::new(call_id)));
    hs.push(Header::CSeq(rsip::headers::CSeq::new(format!("{cseq} INVITE"))));
    hs.push(Header::Contact(rsip::headers::Contact::new(format!("<sip:centralita@{local}>"))));
    hs.push(Header::Allow(rsip::headers::Allow::new(crate::sip::transport::ALLOW)));
    hs.push(Header::UserAgent(rsip::headers::UserAgent::new(concat!("Centralita/", env!("CARGO_PKG_VERSION")))));
    Ok(Request { method: Method::Invite, uri, version: rsip::Version::V2, headers: hs, body: Vec::new() })
}

/// What an outbound call carries besides the INVITE.
pub(super) struct Outbound {
    trunk: TrunkConfig,
    /// Flow variables from the request.
    pub(super) variables: BTreeMap<String, String>,
    flow_path: String,
    /// The callee.
    pub(super) number: String,
}

impl Call {
    fn new_outbound(
        shared: Arc<Shared>,
        invite: Request,
        flow: SipFlow,
        local_addr: SocketAddr,
        endpoint: mpsc::Sender<EndpointCommand>,
        me: mpsc::Sender<CallSignal>,
        spec: Outbound,
    ) -> Self {
        let incoming = crate::sip::endpoint::IncomingCall {
            key: TransactionKey::from_request(&invite).expect("our INVITE has a branch"),
            invite,
            flow,
            local_addr,
            endpoint,
        };
        let call_id = headers::call_id(&incoming.invite.headers).unwrap_or_default().to_string();
        let mut call = Call::new(shared, incoming, call_id, me);
        call.called = spec.number.clone();
        call.caller = spec.trunk.from_user.clone().unwrap_or_else(|| "centralita".into());
        call.flow_name = spec.flow_path.clone();
        call.outbound = Some(spec);
        call
    }

    /// The UAC side up to the answer, then the common dialog loop.
    pub(super) async fn run_outbound(mut self, mut rx: mpsc::Receiver<CallSignal>) {
        self.publish();
        if let Err(status) = self.prepare().await {
            tracing::warn!(%status, "outbound call not started");
            self.outcome = Some(Outcome::Failed);
            self.phase = Phase::Ended;
            self.finish().await;
            return;
        }
        let body = self.sdp_body();
        self.invite.headers.push(Header::ContentType(rsip::headers::ContentType::new("application/sdp")));
        self.invite.body = body.into_bytes();
        let version = self.shared.flows.get(std::path::Path::new(&self.flow_name)).map(|f| f.version.clone()).unwrap_or_default();
        let row = new_call_in(Direction::Outbound, &self.call_id, &self.caller, &self.called, &self.flow_name, &version, unix_ms());
        self.recorder.started(row);
        self.recorder.flush().await;
        self.send_invite();
        if self.await_answer(&mut rx).await {
            self.dialog_loop(&mut rx).await;
        }
        self.finish().await;
    }

    fn send_invite(&mut self) {
        tracing::info!(to = %self.invite.uri, "calling out");
        let request = self.invite.clone();
        let _ = self.endpoint.try_send(EndpointCommand::SendInvite { request, flow: self.sip_flow, owner: self.me.clone() });
    }

    /// Rings until an answer (true) or a final failure (false).
    async fn await_answer(&mut self, rx: &mut mpsc::Receiver<CallSignal>) -> bool {
        let ring = Duration::from_secs(self.shared.config.sip.ring_timeout.max(1));
        let mut deadline = Instant::now() + ring;
        let mut cancelled = false;
        let mut authenticated = false;
        loop {
            let signal = tokio::select! {
                s = rx.recv() => s,
                _ = tokio::time::sleep_until(deadline) => {
                    if cancelled {
                        self.outcome.get_or_insert(Outcome::NoAnswer);
                        break; // no 487 came: give up
                    }
                    tracing::info!("no answer within the ring timeout; cancelling");
                    self.send_cancel();
                    self.outcome = Some(Outcome::NoAnswer);
                    cancelled = true;
                    deadline = Instant::now() + CANCEL_GRACE;
                    continue;
                }
            };
            let Some(signal) = signal else { break };
            match signal {
                CallSignal::Response(resp) if headers::cseq(&resp.headers).is_some_and(|(_, m)| m == Method::Invite) => {
                    let code = resp.status_code.code();
                    match code {
                        100..=199 => tracing::debug!(code, "outbound call progress"),
                        200..=299 => return self.answered(&resp),
                        401 | 407 if !authenticated && !cancelled => {
                            authenticated = true;
                            if !self.retry_with_credentials(&resp, code) {
                                self.outcome = Some(Outcome::Failed);
                                break;
                            }
                        }
                        _ => {
                            tracing::info!(code, "outbound call not answered");
                            let outcome = match code {
                                486 | 600 => Outcome::Busy,
                                408 | 480 | 487 => Outcome::NoAnswer,
                                _ => Outcome::Failed,
                            };
                            self.outcome.get_or_insert(outcome);
                            break;
                        }
                    }
                }
                CallSignal::RequestTimeout { method: Method::Invite, .. } => {
                    self.outcome.get_or_insert(Outcome::NoAnswer);
                    break;
                }
                CallSignal::Shutdown => {
                    self.send_cancel();
                    self.outcome = Some(Outcome::Shutdown);
                    break;
                }
                other => tracing::debug!(?other, "signal before the answer ignored"),
            }
        }
        self.phase = Phase::Ended;
        false
    }

    /// The callee answered: dialog, ACK, media, then the flow.
    fn answered(&mut self, ok: &rsip::Response) -> bool {
        let dialog = match Dialog::new_uac(&self.invite, ok, self.local_addr, false) {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "unusable 2xx");
                self.outcome = Some(Outcome::Failed);
                self.phase = Phase::Ended;
                return false;
            }
        };
        self.dialog = Some(dialog);
        let cseq = headers::cseq(&self.invite.headers).map_or(1, |c| c.0);
        let ack = self.dialog.as_mut().map(|d| d.ack(cseq));
        if let Some(ack) = ack {
            let flow = self.request_flow();
            let _ = self.endpoint.try_send(EndpointCommand::Transmit { request: ack.clone(), flow });
            self.outbound_ack = Some(ack);
        }
        match crate::sip::sdp::parse(&ok.body).and_then(|a| crate::sip::sdp::negotiate(&a)) {
            Ok(n) => {
                self.negotiated = Some(n);
                self.start_media();
            }
            Err(e) => {
                tracing::warn!(error = %e, "unusable SDP answer; hanging up");
                self.hang_up(Outcome::Failed, "bad SDP answer");
                return false;
            }
        }
        tracing::info!("outbound call answered");
        self.recorder.answered_at(unix_ms());
        self.phase = Phase::Confirmed;
        self.start_flow();
        self.publish();
        true
    }

    /// One retry of the INVITE with the trunk's credentials (§22.2).
    fn retry_with_credentials(&mut self, challenge: &rsip::Response, code: u16) -> bool {
        let Some(spec) = self.outbound.as_ref() else { return false };
        let (Some(user), Some(pass)) = (spec.trunk.username.clone(), spec.trunk.password.clone()) else {
            tracing::warn!(code, "trunk challenged the call but has no credentials");
            return false;
        };
        let wanted = if code == 407 { "proxy-authenticate" } else { "www-authenticate" };
        let Some(value) = challenge.headers.iter().find_map(|h| match h {
            Header::WwwAuthenticate(v) if wanted == "www-authenticate" => Some(v.value().to_string()),
            Header::ProxyAuthenticate(v) if wanted == "proxy-authenticate" => Some(v.value().to_string()),
            Header::Other(name, v) if name.eq_ignore_ascii_case(wanted) => Some(v.clone()),
            _ => None,
        }) else {
            return false;
        };
        let Some(answer) = crate::sip::digest::answer_challenge(&value, &Method::Invite, &self.invite.uri, &user, &pass) else { return false };
        // Same Call-ID and From tag, CSeq + 1, a new branch (§22.2, §8.1.3.5).
        let cseq = headers::cseq(&self.invite.headers).map_or(1, |c| c.0) + 1;
        let mut hs: Vec<Header> = self.invite.headers.iter().cloned().collect();
        for h in &mut hs {
            match h {
                Header::Via(_) => {
                    *h = Header::Via(rsip::headers::Via::new(format!(
                        "SIP/2.0/UDP {};branch={};rport",
                        self.local_addr,
                        headers::new_branch()
                    )))
                }
                Header::CSeq(_) => *h = Header::CSeq(rsip::headers::CSeq::new(format!("{cseq} INVITE"))),
                _ => {}
            }
        }
        let header = if code == 407 {
            Header::ProxyAuthorization(rsip::headers::ProxyAuthorization::new(answer))
        } else {
            Header::Authorization(rsip::headers::Authorization::new(answer))
        };
        hs.push(header);
        self.invite.headers = hs.into();
        self.invite_key = TransactionKey::from_request(&self.invite).expect("branch");
        self.send_invite();
        true
    }

    /// §9.1: CANCEL with the INVITE's Request-URI, Call-ID, From, To, CSeq
    /// number and top Via (same branch).
    fn send_cancel(&mut self) {
        let keep = |h: &Header| matches!(h, Header::Via(_) | Header::From(_) | Header::To(_) | Header::CallId(_) | Header::Route(_));
        let mut hs: Vec<Header> = self.invite.headers.iter().filter(|h| keep(h)).cloned().collect();
        let cseq = headers::cseq(&self.invite.headers).map_or(1, |c| c.0);
        hs.push(Header::CSeq(rsip::headers::CSeq::new(format!("{cseq} CANCEL"))));
        hs.push(Header::MaxForwards(rsip::headers::MaxForwards::new("70")));
        let cancel = Request {
            method: Method::Cancel,
            uri: self.invite.uri.clone(),
            version: rsip::Version::V2,
            headers: hs.into(),
            body: Vec::new(),
        };
        let _ = self.endpoint.try_send(EndpointCommand::SendRequest { request: cancel, flow: self.sip_flow, owner: self.me.clone() });
    }
}
