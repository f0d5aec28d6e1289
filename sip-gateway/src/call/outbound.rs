//! Outbound calls (issue #6): `POST /v1/calls` asks the [`Dialer`], which
//! checks the request, builds the INVITE (RFC 3261 §8.1.1) and starts a
//! call task whose core begins in its dialling phase (`core/uac.rs`: the
//! INVITE client side, CANCEL at the ring timeout, digest answer); once the
//! callee answers it is the same call as an inbound one.
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

use rsip::headers::UntypedHeader;
use rsip::{Header, Method, Request};
use tokio::sync::mpsc;

use super::core::OutboundSpec;
use super::Shared;
use crate::config::TrunkConfig;
use crate::sip::endpoint::EndpointCommand;
use crate::sip::headers;
use crate::sip::transport::SipFlow;
use crate::store::{Store, StoreError};

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
    /// Where this call's status changes go (issue #13); replaces the
    /// flow's `status_callback:`.
    #[serde(default)]
    pub status_callback: Option<dialogs::StatusCallback>,
}

/// Why a call was not placed.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("`number` is not a telephone number (digits, an optional +, separators)")]
    BadNumber,
    #[error("{0} is on the do-not-call list")]
    DoNotCall(String),
    #[error("flow {flow} requires consent for {topic:?}, and {number} has not granted it")]
    NoConsent { flow: String, topic: String, number: String },
    #[error("no flow named {0:?}: not loaded, and not in the flows directory")]
    UnknownFlow(String),
    #[error("flow {name:?} does not load: {error}")]
    BadFlow { name: String, error: crate::flows::FlowLoadError },
    #[error("`status_callback`: {0}")]
    BadStatusCallback(String),
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
        // One spelling for the do-not-call and consent checks (issue #13).
        let number = crate::numbers::normalize(&req.number, &self.shared.config.numbers).map_err(|_| DialError::BadNumber)?;
        if let Some(problem) = req.status_callback.as_ref().and_then(dialogs::StatusCallback::problem) {
            return Err(DialError::BadStatusCallback(problem));
        }
        let (flow_path, flow) = self.flow(req.flow.as_deref())?;
        // The request's callback wins over the flow's.
        let status_callback = req.status_callback.or_else(|| flow.status_callback.clone());
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
        let spec = OutboundSpec { trunk, variables: req.variables, number };
        let flow = SipFlow::Udp { listener, remote };
        super::spawn_outbound(self.shared.clone(), self.endpoint.clone(), invite, flow, local_addr, spec, flow_path, status_callback);
        Ok(call_id)
    }

    fn flow(&self, name: Option<&str>) -> Result<(String, Arc<dialogs::Flow>), DialError> {
        let flows = &self.shared.flows;
        let found = match name {
            None => {
                let p = &self.shared.config.flows.default;
                flows.get(p).map(|f| (p.display().to_string(), f))
            }
            // Loaded (default, routes, PUT) or a file in the flows directory.
            Some(n) => flows
                .find_or_load(n)
                .map_err(|error| DialError::BadFlow { name: n.to_string(), error })?
                .map(|(p, f)| (p.display().to_string(), f)),
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
pub(crate) async fn resolve(uri: &str) -> Result<SocketAddr, DialError> {
    let err = |reason: &str| DialError::TrunkAddress { uri: uri.to_string(), reason: reason.to_string() };
    let rest = uri.strip_prefix("sip:").ok_or_else(|| err("only sip: URIs"))?;
    let rest = rest.split(['?', '>']).next().unwrap_or(rest);
    let hostport = rest.rsplit('@').next().unwrap_or(rest).split(';').next().unwrap_or(rest);
    let target = if hostport.contains(':') { hostport.to_string() } else { format!("{hostport}:5060") };
    let mut addrs = tokio::net::lookup_host(target).await.map_err(|e| err(&e.to_string()))?;
    addrs.find(SocketAddr::is_ipv4).ok_or_else(|| err("no IPv4 address"))
}

pub(crate) fn build_invite(request_uri: &str, from_user: &str, local: SocketAddr, call_id: &str, cseq: u32) -> Result<Request, DialError> {
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
