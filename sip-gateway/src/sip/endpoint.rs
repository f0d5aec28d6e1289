//! The SIP endpoint task: owns every transaction (RFC 3261 §17), matches
//! what arrives to them (§17.1.3, §17.2.3), routes in-dialog requests to the
//! call task that owns the dialog (§12.2.2), answers out-of-dialog OPTIONS
//! (§11) and unsupported methods (§8.2.1), and drives all transaction timers
//! from one timer heap. The transactions themselves are sans-IO state
//! machines; this task is the thin IO edge that feeds them `now`.
//!
//! Overload control (`[limits]`, [`crate::sip::limits`]) runs first: a
//! request from a banned or flooding source is dropped or answered with a
//! stateless 503 before any other work, and a new INVITE over a call limit
//! gets a stateless 503 before a transaction or a call task exists. Every
//! 503 the endpoint sends carries `Retry-After` (RFC 3261 §21.5.4).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::Arc;

use rsip::headers::UntypedHeader;
use rsip::{Header, Method, Request, Response, SipMessage, StatusCode};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::sip::headers::{self, make_response, status_with_reason};
use crate::sip::limits::{Limiter, Verdict};
use crate::sip::transaction::{
    InviteClientTransaction, InviteServerState, InviteServerTransaction, NonInviteClientTransaction, NonInviteServerTransaction,
    Ok2xxRetransmitter, TimerConfig, Transaction, TransactionEvent, TransactionKey,
};
use crate::sip::transport::{Inbound, SipFlow, Transports, ALLOW};
use crate::sip::wire;

/// What the endpoint tells a call task.
#[derive(Debug)]
pub enum CallSignal {
    /// An in-dialog request (BYE, re-INVITE, INFO, NOTIFY, UPDATE, OPTIONS…);
    /// the call answers it with [`EndpointCommand::Respond`].
    Request { request: Request, key: TransactionKey },
    /// The ACK for our 2xx to the INVITE (§13.3.1.4).
    Ack(Request),
    /// The caller CANCELled the pending INVITE; answer it 487.
    Cancelled,
    /// No ACK for our 2xx within 64*T1: the call must BYE (§13.3.1.4).
    AckTimeout,
    /// A response to a request the call sent.
    Response(Response),
    /// A request the call sent got no final response (Timer F).
    RequestTimeout { method: Method, cseq: u32 },
    /// The gateway is shutting down: hang up (BYE) now.
    Shutdown,
}

/// What call tasks ask of the endpoint.
#[derive(Debug)]
pub enum EndpointCommand {
    Respond {
        key: TransactionKey,
        response: Response,
    },
    /// Sends an in-dialog request; responses come back as CallSignal.
    SendRequest {
        request: Request,
        flow: SipFlow,
        owner: mpsc::Sender<CallSignal>,
    },
    /// Starts an outbound call (RFC 3261 §17.1.1 INVITE client
    /// transaction); `owner` becomes the call for this Call-ID, so its
    /// responses and the callee's in-dialog requests reach it.
    SendInvite {
        request: Request,
        flow: SipFlow,
        owner: mpsc::Sender<CallSignal>,
    },
    /// Sends a request outside any transaction: the ACK for a 2xx
    /// (§13.2.2.4), which the TU, not the INVITE transaction, sends.
    Transmit {
        request: Request,
        flow: SipFlow,
    },
    CallEnded {
        call_id: String,
    },
    /// Graceful shutdown (DESIGN §7): refuse new calls with 503, hang up
    /// the active ones; `done` fires once no call is left.
    Shutdown {
        done: tokio::sync::oneshot::Sender<()>,
    },
}

/// A new INVITE outside any dialog, for the call spawner.
pub struct IncomingCall {
    pub invite: Request,
    pub key: TransactionKey,
    pub flow: SipFlow,
    pub local_addr: std::net::SocketAddr,
    pub endpoint: mpsc::Sender<EndpointCommand>,
}

/// Starts the task that will own a new call; returns its mailbox.
pub trait CallSpawner: Send + Sync {
    fn spawn_call(&self, call: IncomingCall) -> mpsc::Sender<CallSignal>;
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum TimerTarget {
    InviteServer(TransactionKey),
    NonInviteServer(TransactionKey),
    Client(TransactionKey),
    Ok2xx(String, u32),
}

struct TimerEntry(Instant, u64, TimerTarget);
impl PartialEq for TimerEntry {
    fn eq(&self, o: &Self) -> bool {
        (self.0, self.1) == (o.0, o.1)
    }
}
impl Eq for TimerEntry {}
impl PartialOrd for TimerEntry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for TimerEntry {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.0, self.1).cmp(&(o.0, o.1))
    }
}

struct ServerInvite {
    tx: InviteServerTransaction,
    flow: SipFlow,
    call_id: String,
    final_sent: bool,
}

/// A client transaction of either kind (the INVITE one for outbound calls).
/// Both are a few hundred bytes; boxing one would only add an allocation.
#[allow(clippy::large_enum_variant)]
enum ClientTx {
    NonInvite(NonInviteClientTransaction),
    Invite(InviteClientTransaction),
}

impl ClientTx {
    fn handle_response(&mut self, resp: Response, now: std::time::Instant) {
        match self {
            ClientTx::NonInvite(t) => t.handle_response(resp, now),
            ClientTx::Invite(t) => t.handle_response(resp, now),
        }
    }
}

impl Transaction for ClientTx {
    type Message = Request;
    fn handle_timeout(&mut self, now: std::time::Instant) {
        match self {
            ClientTx::NonInvite(t) => t.handle_timeout(now),
            ClientTx::Invite(t) => t.handle_timeout(now),
        }
    }
    fn poll_transmit(&mut self) -> Option<Request> {
        match self {
            ClientTx::NonInvite(t) => t.poll_transmit(),
            ClientTx::Invite(t) => t.poll_transmit(),
        }
    }
    fn poll_event(&mut self) -> Option<TransactionEvent> {
        match self {
            ClientTx::NonInvite(t) => t.poll_event(),
            ClientTx::Invite(t) => t.poll_event(),
        }
    }
    fn poll_timeout(&self) -> Option<std::time::Instant> {
        match self {
            ClientTx::NonInvite(t) => Transaction::poll_timeout(t),
            ClientTx::Invite(t) => Transaction::poll_timeout(t),
        }
    }
    fn is_finished(&self) -> bool {
        match self {
            ClientTx::NonInvite(t) => t.is_terminated(),
            ClientTx::Invite(t) => t.is_terminated(),
        }
    }
}

struct Client {
    tx: ClientTx,
    flow: SipFlow,
    owner: mpsc::Sender<CallSignal>,
    method: Method,
    cseq: u32,
}

pub struct Endpoint {
    transports: Transports,
    timers_cfg: TimerConfig,
    invite_servers: HashMap<TransactionKey, ServerInvite>,
    servers: HashMap<TransactionKey, (NonInviteServerTransaction, SipFlow)>,
    clients: HashMap<TransactionKey, Client>,
    ok2xx: HashMap<(String, u32), (Ok2xxRetransmitter, SipFlow)>,
    calls: HashMap<String, mpsc::Sender<CallSignal>>,
    heap: BinaryHeap<Reverse<TimerEntry>>,
    seq: u64,
    spawner: Arc<dyn CallSpawner>,
    commands_tx: mpsc::Sender<EndpointCommand>,
    /// Networks allowed to start calls ([[trunks]] allow); None = any.
    acl: Option<Vec<ipnet::IpNet>>,
    /// Digest credentials of trunks; sources outside the ACL must answer.
    digest: Option<crate::sip::digest::DigestAuth>,
    /// Set by a shutdown: who to tell once the last call has ended.
    draining: Option<Vec<tokio::sync::oneshot::Sender<()>>>,
    /// `[limits]`, when any limit is on.
    limits: Option<Limiter>,
    /// `Retry-After` seconds added to a 503 that has none (`[limits].retry_after`).
    retry_after: u64,
    /// When the banned-sources gauge was last refreshed.
    banned_gauge_at: Option<Instant>,
}

fn std_now(now: Instant) -> std::time::Instant {
    now.into_std()
}

impl Endpoint {
    pub fn new(
        transports: Transports,
        spawner: Arc<dyn CallSpawner>,
        commands_tx: mpsc::Sender<EndpointCommand>,
        acl: Option<Vec<ipnet::IpNet>>,
        digest: Option<crate::sip::digest::DigestAuth>,
    ) -> Self {
        Self {
            transports,
            timers_cfg: TimerConfig::default(),
            invite_servers: HashMap::new(),
            servers: HashMap::new(),
            clients: HashMap::new(),
            ok2xx: HashMap::new(),
            calls: HashMap::new(),
            heap: BinaryHeap::new(),
            seq: 0,
            spawner,
            commands_tx,
            acl,
            digest,
            draining: None,
            limits: None,
            retry_after: crate::sip::limits::LimitsConfig::default().retry_after,
            banned_gauge_at: None,
        }
    }

    /// With overload control (`[limits]`); a limiter with every limit off
    /// only sets the `Retry-After` of 503s.
    pub fn with_limits(mut self, limiter: Limiter) -> Self {
        self.retry_after = limiter.config().retry_after;
        self.limits = limiter.is_active().then_some(limiter);
        self
    }

    /// The endpoint's run loop: one input at a time, then drain outputs.
    pub async fn run(mut self, mut inbound: mpsc::Receiver<Inbound>, mut commands: mpsc::Receiver<EndpointCommand>) {
        let mut housekeeping = tokio::time::interval(std::time::Duration::from_secs(10));
        housekeeping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next = self.heap.peek().map(|Reverse(e)| e.0);
            tokio::select! {
                m = inbound.recv() => match m {
                    Some(m) => self.handle_inbound(m, Instant::now()),
                    None => break,
                },
                c = commands.recv() => match c {
                    Some(c) => self.handle_command(c, Instant::now()),
                    None => break,
                },
                _ = sleep_until_opt(next) => self.handle_timers(Instant::now()),
                _ = housekeeping.tick() => self.shrink_tables(),
            }
        }
    }

    fn arm(&mut self, at: Option<std::time::Instant>, target: TimerTarget) {
        if let Some(at) = at {
            self.seq += 1;
            self.heap.push(Reverse(TimerEntry(Instant::from_std(at), self.seq, target)));
        }
    }

    fn handle_timers(&mut self, now: Instant) {
        while let Some(Reverse(e)) = self.heap.peek() {
            if e.0 > now {
                break;
            }
            let Some(Reverse(TimerEntry(_, _, target))) = self.heap.pop() else { break };
            // Stale entries are harmless: handle_timeout is a no-op early.
            let now = std_now(now);
            match &target {
                TimerTarget::InviteServer(k) => self.invite_servers.get_mut(k).map(|s| s.tx.handle_timeout(now)),
                TimerTarget::NonInviteServer(k) => self.servers.get_mut(k).map(|s| s.0.handle_timeout(now)),
                TimerTarget::Client(k) => self.clients.get_mut(k).map(|c| c.tx.handle_timeout(now)),
                TimerTarget::Ok2xx(id, n) => self.ok2xx.get_mut(&(id.clone(), *n)).map(|o| o.0.handle_timeout(now)),
            };
            self.drive(target);
        }
    }

    /// Gives memory back after a flood (issue #15 item 4): a hash map or
    /// heap keeps its largest capacity when entries leave, so every ten
    /// seconds a table holding under a quarter of its capacity is shrunk
    /// (its bucket array is one large allocation, returned to the OS).
    fn shrink_tables(&mut self) {
        fn shrink<K: std::hash::Hash + Eq, V>(m: &mut HashMap<K, V>) {
            if m.capacity() > 1024 && m.len() < m.capacity() / 4 {
                m.shrink_to_fit();
            }
        }
        shrink(&mut self.invite_servers);
        shrink(&mut self.servers);
        shrink(&mut self.clients);
        shrink(&mut self.ok2xx);
        shrink(&mut self.calls);
        if self.heap.capacity() > 1024 && self.heap.len() < self.heap.capacity() / 4 {
            self.heap.shrink_to_fit();
        }
    }

    /// Drains a transaction's transmits and events, re-arms its timer and
    /// forgets it once terminated.
    fn drive(&mut self, target: TimerTarget) {
        match &target {
            TimerTarget::InviteServer(k) => {
                let Some(s) = self.invite_servers.get_mut(k) else { return };
                let (d, flow) = (drain(&mut s.tx), s.flow);
                if d.events.contains(&EventKind::Timeout) {
                    debug!(call_id = %s.call_id, "INVITE server transaction timed out waiting for ACK");
                }
                for r in d.out {
                    self.send_response(flow, &r);
                }
                if d.done {
                    self.invite_servers.remove(k);
                } else {
                    self.arm(d.next, target.clone());
                }
            }
            TimerTarget::NonInviteServer(k) => {
                let Some((tx, flow)) = self.servers.get_mut(k) else { return };
                let (d, flow) = (drain(tx), *flow);
                for r in d.out {
                    self.send_response(flow, &r);
                }
                if d.done {
                    self.servers.remove(k);
                } else {
                    self.arm(d.next, target.clone());
                }
            }
            TimerTarget::Client(k) => {
                let Some(c) = self.clients.get_mut(k) else { return };
                let d = drain(&mut c.tx);
                let signals: Vec<CallSignal> = d
                    .responses
                    .into_iter()
                    .map(CallSignal::Response)
                    .chain(d.events.contains(&EventKind::Timeout).then_some(CallSignal::RequestTimeout { method: c.method, cseq: c.cseq }))
                    .collect();
                let (flow, owner) = (c.flow, c.owner.clone());
                for r in d.out {
                    self.transports.send(flow, wire::serialize(&SipMessage::Request(r)));
                }
                for s in signals {
                    deliver(&owner, s);
                }
                if d.done {
                    self.clients.remove(k);
                } else {
                    self.arm(d.next, target.clone());
                }
            }
            TimerTarget::Ok2xx(id, n) => {
                let key = (id.clone(), *n);
                let Some((o, flow)) = self.ok2xx.get_mut(&key) else { return };
                let (d, flow) = (drain(o), *flow);
                for r in d.out {
                    self.send_response(flow, &r);
                }
                if d.events.contains(&EventKind::Timeout) {
                    if let Some(call) = self.calls.get(id) {
                        deliver(call, CallSignal::AckTimeout);
                    }
                }
                if d.done {
                    self.ok2xx.remove(&key);
                } else {
                    self.arm(d.next, target.clone());
                }
            }
        }
    }

    /// Responses over UDP go where the top Via says (§18.2.2, RFC 3581);
    /// over TCP, back on the connection the request came on.
    fn send_response(&self, flow: SipFlow, resp: &Response) {
        let code = resp.status_code.code().to_string();
        crate::metrics::metrics().sip_responses.get_or_create(&crate::metrics::CodeLabel { code }).inc();
        let flow = match flow {
            SipFlow::Udp { listener, remote } => SipFlow::Udp { listener, remote: headers::response_destination(resp).unwrap_or(remote) },
            tcp => tcp,
        };
        self.transports.send(flow, wire::serialize(&SipMessage::Response(resp.clone())));
    }

    /// A stateless answer (no transaction), for requests we reject before
    /// a transaction can be keyed.
    fn respond_stateless(&self, flow: SipFlow, req: &Request, status: StatusCode, extra: Vec<Header>) {
        let mut resp = make_response(req, status, Some(&headers::new_tag()));
        for h in extra {
            resp.headers.push(h);
        }
        self.send_response(flow, &resp);
    }

    fn handle_inbound(&mut self, m: Inbound, now: Instant) {
        match m {
            Inbound::TcpOpened { conn, writer } => self.transports.tcp_opened(conn, writer),
            Inbound::TcpClosed { conn } => self.transports.tcp_closed(conn),
            Inbound::Message { msg, flow } => match *msg {
                SipMessage::Request(req) => self.handle_request(req, flow, now),
                SipMessage::Response(resp) => self.handle_response(resp, flow, now),
            },
        }
    }

    fn handle_response(&mut self, resp: Response, _flow: SipFlow, now: Instant) {
        let Ok(key) = TransactionKey::from_response(&resp) else {
            debug!("response without a usable Via branch dropped");
            return;
        };
        match self.clients.get_mut(&key) {
            Some(c) => {
                c.tx.handle_response(resp, std_now(now));
                self.drive(TimerTarget::Client(key));
            }
            // A 2xx retransmission for a transaction already gone, or a stray.
            None => debug!(status = %resp.status_code, "response matches no client transaction"),
        }
    }

    fn handle_request(&mut self, mut req: Request, flow: SipFlow, now: Instant) {
        crate::metrics::metrics().sip_requests.get_or_create(&crate::metrics::MethodLabel { method: req.method.to_string() }).inc();
        headers::stamp_received(&mut req, flow.remote());
        if headers::top_via(&SipMessage::Request(req.clone())).is_err() {
            // §8.2.6 routes responses by Via; without one we cannot answer.
            crate::metrics::metrics().sip_dropped.inc();
            return;
        }
        if !self.admit_request(&req, flow, now) {
            return;
        }
        if let Err(e) = headers::check_request(&req) {
            if req.method != Method::Ack {
                self.respond_stateless(flow, &req, status_with_reason(400, &format!("Bad Request ({e})")), vec![]);
            }
            return;
        }
        if let Err(e) = check_max_forwards(&req) {
            self.respond_stateless(flow, &req, e, vec![]);
            return;
        }
        if !matches!(req.method, Method::Ack | Method::Cancel) {
            // §8.2.2.1: only sip/sips Request-URIs are ours (RFC 4475 novelsc).
            if matches!(req.uri.scheme, Some(rsip::Scheme::Other(_))) {
                self.respond_stateless(flow, &req, StatusCode::UnsupportedUriScheme, vec![]);
                return;
            }
            // §8.2.2.3: we require no extension of the caller and support
            // none it requires (RFC 4475 bext01).
            let required: Vec<String> = req
                .headers
                .iter()
                .filter_map(|h| if let Header::Require(r) = h { Some(r.value().to_string()) } else { None })
                .flat_map(|v| v.split(',').map(|o| o.trim().to_string()).filter(|o| !o.is_empty()).collect::<Vec<_>>())
                .collect();
            if !required.is_empty() {
                let unsupported = Header::Unsupported(rsip::headers::Unsupported::new(required.join(", ")));
                self.respond_stateless(flow, &req, StatusCode::BadExtension, vec![unsupported]);
                return;
            }
        }
        let key = match TransactionKey::from_request(&req) {
            Ok(k) => k,
            Err(e) => {
                if req.method != Method::Ack {
                    self.respond_stateless(flow, &req, status_with_reason(400, &format!("Bad Request ({e})")), vec![]);
                }
                return;
            }
        };
        let call_id = headers::call_id(&req.headers).unwrap_or_default().to_string();
        let in_dialog = headers::to_tag(&req.headers).is_some();
        // Trunk ACL (DESIGN §3 [[trunks]] allow): who may start a dialog or
        // ask out of one. In-dialog requests, ACK and CANCEL belong to
        // dialogs and transactions already admitted.
        let source = flow.remote().ip();
        if !in_dialog && !matches!(req.method, Method::Ack | Method::Cancel) && !self.source_allowed(source) {
            if let Some(digest) = &self.digest {
                // Not an allowed network, but trunks with credentials exist:
                // the request must carry digest credentials (§22.4).
                let now_unix = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
                match digest.verify(&req, now_unix) {
                    Ok(user) => tracing::debug!(%user, "digest authenticated"),
                    Err(e) => {
                        tracing::info!(%source, error = %e, "digest challenge");
                        let challenge = digest.challenge(now_unix, e == crate::sip::digest::AuthError::Stale);
                        let www = Header::WwwAuthenticate(rsip::headers::WwwAuthenticate::new(challenge));
                        self.respond_stateless(flow, &req, StatusCode::Unauthorized, vec![www]);
                        return;
                    }
                }
            } else {
                tracing::warn!(%source, method = %req.method, "request from a source outside every trunk's allow list");
                self.respond_stateless(flow, &req, status_with_reason(403, "Forbidden (source address not allowed)"), vec![]);
                return;
            }
        }
        match req.method {
            Method::Ack => self.handle_ack(req, key, call_id, now),
            Method::Invite => {
                if let Some(s) = self.invite_servers.get_mut(&key) {
                    s.tx.handle_request(&req, std_now(now));
                    self.drive(TimerTarget::InviteServer(key));
                    return;
                }
                if !in_dialog && !self.calls.contains_key(&call_id) && !self.admit_call(&req, flow, now) {
                    return;
                }
                let reliable = flow.is_reliable();
                let tx = InviteServerTransaction::new(req.clone(), reliable, self.timers_cfg.clone(), std_now(now));
                self.invite_servers.insert(key.clone(), ServerInvite { tx, flow, call_id: call_id.clone(), final_sent: false });
                self.drive(TimerTarget::InviteServer(key.clone()));
                if in_dialog {
                    self.deliver_request(&call_id, req, key, now);
                    return;
                }
                if self.calls.contains_key(&call_id) {
                    // Same Call-ID, new transaction, no To tag: a merged or
                    // looped request (§8.2.2.2).
                    self.respond(key, make_response(&req, StatusCode::LoopDetected, Some(&headers::new_tag())), now);
                    return;
                }
                if !accepts_sdp(&req) {
                    // Our answer is SDP; the caller accepts no such body (§21.4.7,
                    // RFC 4475 §3.3.15 sdp01: 406 with a Warning 399).
                    let mut r = make_response(
                        &req,
                        status_with_reason(406, "Not Acceptable (answers are application/sdp)"),
                        Some(&headers::new_tag()),
                    );
                    let text = "399 centralita \"the answer is application/sdp, which the Accept header excludes\"";
                    r.headers.push(Header::Warning(rsip::headers::Warning::new(text)));
                    self.respond(key, r, now);
                    return;
                }
                if self.draining.is_some() {
                    // §21.5.4: tell the trunk to try elsewhere.
                    let mut r =
                        make_response(&req, status_with_reason(503, "Service Unavailable (shutting down)"), Some(&headers::new_tag()));
                    r.headers.push(Header::RetryAfter(rsip::headers::RetryAfter::new("30")));
                    self.respond(key, r, now);
                    return;
                }
                info!(%call_id, from = %flow.remote(), "new call");
                let local_addr = self.transports.local_addr(flow);
                let mailbox =
                    self.spawner.spawn_call(IncomingCall { invite: req, key, flow, local_addr, endpoint: self.commands_tx.clone() });
                self.calls.insert(call_id, mailbox);
            }
            _ => {
                if let Some((tx, _)) = self.servers.get_mut(&key) {
                    tx.handle_request(&req, std_now(now));
                    self.drive(TimerTarget::NonInviteServer(key));
                    return;
                }
                let tx = NonInviteServerTransaction::new(req.clone(), flow.is_reliable(), self.timers_cfg.clone(), std_now(now));
                self.servers.insert(key.clone(), (tx, flow));
                if req.method == Method::Cancel {
                    self.handle_cancel(req, key, call_id, now);
                } else if in_dialog || (self.calls.contains_key(&call_id) && req.method != Method::Options) {
                    self.deliver_request(&call_id, req, key, now);
                } else {
                    self.handle_out_of_dialog(req, key, now);
                }
            }
        }
    }

    /// Hands an in-dialog request to its call; 481 when there is none
    /// (§12.2.2), or when its task has already ended.
    fn deliver_request(&mut self, call_id: &str, req: Request, key: TransactionKey, now: Instant) {
        let reply = make_response(&req, StatusCode::CallTransactionDoesNotExist, None);
        let delivered = self.calls.get(call_id).is_some_and(|call| deliver(call, CallSignal::Request { request: req, key: key.clone() }));
        if !delivered {
            self.respond(key, reply, now);
        }
    }

    /// The per-source request rate (`[limits].source_rate`): false when
    /// the request was dropped or refused. ACKs (never answered) and
    /// requests of calls in progress are not counted: an admitted call can
    /// always be ACKed and hung up.
    fn admit_request(&mut self, req: &Request, flow: SipFlow, now: Instant) -> bool {
        let Some(limiter) = self.limits.as_mut() else { return true };
        if req.method == Method::Ack || headers::call_id(&req.headers).is_some_and(|id| self.calls.contains_key(id)) {
            return true;
        }
        let verdict = limiter.handle_request(flow.remote().ip(), std_now(now));
        self.refresh_banned_gauge(now);
        self.apply(verdict, req, flow)
    }

    /// The call limits (`[limits]` `max_calls`, `max_cps*`) for a new
    /// INVITE: false when it was refused (a stateless 503).
    fn admit_call(&mut self, req: &Request, flow: SipFlow, now: Instant) -> bool {
        let active = self.calls.len();
        let Some(limiter) = self.limits.as_mut() else { return true };
        let verdict = limiter.handle_new_call(flow.remote().ip(), active, std_now(now));
        self.apply(verdict, req, flow)
    }

    fn apply(&self, verdict: Verdict, req: &Request, flow: SipFlow) -> bool {
        let m = crate::metrics::metrics();
        match verdict {
            Verdict::Pass => true,
            Verdict::Drop(reason) => {
                m.count_overload(reason.as_str(), true);
                false
            }
            Verdict::Reject { reason, retry_after } => {
                m.count_overload(reason.as_str(), false);
                debug!(source = %flow.remote(), method = %req.method, reason = reason.as_str(), "overload: 503");
                let retry = Header::RetryAfter(rsip::headers::RetryAfter::new(retry_after.to_string()));
                self.respond_stateless(flow, req, status_with_reason(503, reason.phrase()), vec![retry]);
                false
            }
        }
    }

    /// `centralita_banned_sources`, at most once a second (it walks the table).
    fn refresh_banned_gauge(&mut self, now: Instant) {
        if self.banned_gauge_at.is_some_and(|at| now < at + std::time::Duration::from_secs(1)) {
            return;
        }
        self.banned_gauge_at = Some(now);
        if let Some(l) = &self.limits {
            crate::metrics::metrics().banned_sources.set(l.banned(std_now(now)) as i64);
        }
    }

    fn notify_drained(&mut self) {
        if self.calls.is_empty() {
            for done in self.draining.as_mut().map(std::mem::take).unwrap_or_default() {
                let _ = done.send(());
            }
        }
    }

    fn source_allowed(&self, ip: std::net::IpAddr) -> bool {
        self.acl.as_ref().is_none_or(|nets| nets.iter().any(|n| n.contains(&ip)))
    }

    fn handle_ack(&mut self, req: Request, key: TransactionKey, call_id: String, now: Instant) {
        // ACK for a non-2xx final: part of the INVITE transaction (§17.2.1).
        if let Some(s) = self.invite_servers.get_mut(&key) {
            if s.tx.state() == InviteServerState::Completed {
                s.tx.handle_request(&req, std_now(now));
                self.drive(TimerTarget::InviteServer(key));
                return;
            }
        }
        // ACK for a 2xx: its own transaction, goes to the dialog (§13.2.2.4).
        let cseq = headers::cseq(&req.headers).map(|c| c.0).unwrap_or(0);
        if let Some((o, _)) = self.ok2xx.get_mut(&(call_id.clone(), cseq)) {
            o.ack_received();
            self.drive(TimerTarget::Ok2xx(call_id.clone(), cseq));
        }
        if let Some(call) = self.calls.get(&call_id) {
            deliver(call, CallSignal::Ack(req));
        }
    }

    fn handle_cancel(&mut self, req: Request, key: TransactionKey, call_id: String, now: Instant) {
        // §9.2: CANCEL matches the INVITE's server transaction; while that
        // exists the CANCEL gets 200, and only an INVITE without a final
        // response is actually cancelled.
        let target = TransactionKey::for_invite_of_cancel(&req).ok();
        let invite = target.as_ref().and_then(|k| self.invite_servers.get(k)).map(|s| s.final_sent);
        if let Some(final_sent) = invite {
            self.respond(key, make_response(&req, StatusCode::OK, None), now);
            if !final_sent {
                if let Some(call) = self.calls.get(&call_id) {
                    deliver(call, CallSignal::Cancelled);
                }
            }
        } else {
            self.respond(key, make_response(&req, StatusCode::CallTransactionDoesNotExist, None), now);
        }
    }

    fn handle_out_of_dialog(&mut self, req: Request, key: TransactionKey, now: Instant) {
        let tag = headers::new_tag();
        let resp = match req.method {
            Method::Options => {
                // §11.2: what we can do.
                let mut r = make_response(&req, StatusCode::OK, Some(&tag));
                r.headers.push(Header::Allow(rsip::headers::Allow::new(ALLOW)));
                r.headers.push(Header::Accept(rsip::headers::Accept::new("application/sdp, application/dtmf-relay, message/sipfrag")));
                r.headers.push(Header::Supported(rsip::headers::Supported::new("replaces, norefersub")));
                r
            }
            Method::Bye | Method::Info | Method::Notify | Method::Update | Method::PRack => {
                make_response(&req, StatusCode::CallTransactionDoesNotExist, Some(&tag))
            }
            _ => {
                // REGISTER, SUBSCRIBE, MESSAGE, PUBLISH, REFER outside a call.
                let mut r = make_response(&req, StatusCode::MethodNotAllowed, Some(&tag));
                r.headers.push(Header::Allow(rsip::headers::Allow::new(ALLOW)));
                r
            }
        };
        self.respond(key, resp, now);
    }

    fn respond(&mut self, key: TransactionKey, mut response: Response, now: Instant) {
        if response.status_code.code() == 503 && !response.headers.iter().any(|h| matches!(h, Header::RetryAfter(_))) {
            // Every overload 503 says when to come back (§21.5.4), the call
            // tasks' (no RTP port) included.
            response.headers.push(Header::RetryAfter(rsip::headers::RetryAfter::new(self.retry_after.to_string())));
        }
        if let Some(s) = self.invite_servers.get_mut(&key) {
            let code = response.status_code.code();
            let call_id = s.call_id.clone();
            let flow = s.flow;
            if code >= 200 {
                s.final_sent = true;
            }
            if (200..300).contains(&code) {
                // The UAS core owns 2xx retransmission (§13.3.1.4).
                let cseq = headers::cseq(&response.headers).map(|c| c.0).unwrap_or(0);
                let o = Ok2xxRetransmitter::new(response.clone(), flow.is_reliable(), self.timers_cfg.clone(), std_now(now));
                self.ok2xx.insert((call_id.clone(), cseq), (o, flow));
                self.drive(TimerTarget::Ok2xx(call_id, cseq));
                // Initial transmission goes out through the retransmitter;
                // the transaction still moves to Accepted.
                s_send_silently(self.invite_servers.get_mut(&key), response, now);
            } else if let Some(s) = self.invite_servers.get_mut(&key) {
                s.tx.send_response(response, std_now(now));
            }
            self.drive(TimerTarget::InviteServer(key));
        } else if let Some((tx, _)) = self.servers.get_mut(&key) {
            tx.send_response(response, std_now(now));
            self.drive(TimerTarget::NonInviteServer(key));
        } else {
            warn!("response for a transaction that no longer exists dropped");
        }
    }

    fn handle_command(&mut self, c: EndpointCommand, now: Instant) {
        match c {
            EndpointCommand::Respond { key, response } => self.respond(key, response, now),
            EndpointCommand::SendRequest { request, flow, owner } => {
                let Ok(key) = TransactionKey::from_request(&request) else {
                    warn!("outgoing request without a branch dropped");
                    return;
                };
                let (cseq, method) = headers::cseq(&request.headers).unwrap_or((0, request.method));
                let tx = NonInviteClientTransaction::new(request, flow.is_reliable(), self.timers_cfg.clone(), std_now(now));
                self.clients.insert(key.clone(), Client { tx: ClientTx::NonInvite(tx), flow, owner, method, cseq });
                self.drive(TimerTarget::Client(key));
            }
            EndpointCommand::SendInvite { request, flow, owner } => {
                let (Ok(key), Some(call_id)) = (TransactionKey::from_request(&request), headers::call_id(&request.headers)) else {
                    warn!("outgoing INVITE without a branch or Call-ID dropped");
                    return;
                };
                self.calls.insert(call_id.to_string(), owner.clone());
                let cseq = headers::cseq(&request.headers).map_or(0, |c| c.0);
                let tx = InviteClientTransaction::new(request, flow.is_reliable(), self.timers_cfg.clone(), std_now(now));
                self.clients.insert(key.clone(), Client { tx: ClientTx::Invite(tx), flow, owner, method: Method::Invite, cseq });
                self.drive(TimerTarget::Client(key));
            }
            EndpointCommand::Transmit { request, flow } => {
                self.transports.send(flow, wire::serialize(&SipMessage::Request(request)));
            }
            EndpointCommand::CallEnded { call_id } => {
                self.calls.remove(&call_id);
                self.notify_drained();
            }
            EndpointCommand::Shutdown { done } => {
                info!(active = self.calls.len(), "shutting down: refusing new calls, hanging up active ones");
                self.draining.get_or_insert_with(Vec::new).push(done);
                for call in self.calls.values() {
                    deliver(call, CallSignal::Shutdown);
                }
                self.notify_drained();
            }
        }
    }
}

/// Puts a signal in a call's mailbox without blocking the endpoint and
/// without losing it: a full mailbox (a call task behind on its work) gets
/// the signal from a spawned send. False when the call task has ended.
fn deliver(call: &mpsc::Sender<CallSignal>, signal: CallSignal) -> bool {
    match call.try_send(signal) {
        Ok(()) => true,
        Err(mpsc::error::TrySendError::Full(signal)) => {
            let call = call.clone();
            tokio::spawn(async move {
                let _ = call.send(signal).await;
            });
            true
        }
        Err(mpsc::error::TrySendError::Closed(_)) => false,
    }
}

/// Hands a 2xx to the INVITE server transaction without transmitting it
/// (the Ok2xxRetransmitter already sent it), so it moves to Accepted.
fn s_send_silently(s: Option<&mut ServerInvite>, response: Response, now: Instant) {
    if let Some(s) = s {
        s.tx.send_response(response, std_now(now));
        // Drop the transaction's own copy of the 2xx.
        while s.tx.poll_transmit().is_some() {}
    }
}

/// Whether the Accept headers of `req` (if any) admit an application/sdp
/// body (§20.1: none means application/sdp; an empty one, nothing).
fn accepts_sdp(req: &Request) -> bool {
    let mut ranges = req
        .headers
        .iter()
        .filter_map(|h| match h {
            Header::Accept(a) => Some(a.value()),
            Header::Other(n, v) if n.eq_ignore_ascii_case("Accept") => Some(v.as_str()),
            _ => None,
        })
        .peekable();
    if ranges.peek().is_none() {
        return true;
    }
    ranges.flat_map(|v| v.split(',')).any(|range| {
        let media = range.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        matches!(media.as_str(), "application/sdp" | "application/*" | "*/*")
    })
}

/// §8.2.6 / §16.3: Max-Forwards 0 on a request for us is 483.
fn check_max_forwards(req: &Request) -> Result<(), StatusCode> {
    use rsip::headers::UntypedHeader;
    let mf = req.headers.iter().find_map(|h| match h {
        Header::MaxForwards(m) => Some(m.value().trim().to_string()),
        _ => None,
    });
    match mf {
        Some(v) => match v.parse::<u32>() {
            Ok(0) if req.method != Method::Options && req.method != Method::Ack => Err(StatusCode::TooManyHops),
            Ok(_) => Ok(()),
            Err(_) => Err(status_with_reason(400, "Bad Request (malformed Max-Forwards)")),
        },
        None => Ok(()),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum EventKind {
    Timeout,
    Terminated,
}

/// Everything a transaction has to say after an input.
struct Drained<M> {
    out: Vec<M>,
    /// Responses to pass up (client transactions).
    responses: Vec<Response>,
    events: Vec<EventKind>,
    next: Option<std::time::Instant>,
    done: bool,
}

fn drain<T: Transaction>(t: &mut T) -> Drained<T::Message> {
    let out = std::iter::from_fn(|| t.poll_transmit()).collect();
    let (mut responses, mut events) = (Vec::new(), Vec::new());
    while let Some(ev) = t.poll_event() {
        match ev {
            TransactionEvent::Response(r) => responses.push(r),
            TransactionEvent::Timeout => events.push(EventKind::Timeout),
            TransactionEvent::Terminated => events.push(EventKind::Terminated),
        }
    }
    Drained { out, responses, events, next: t.poll_timeout(), done: t.is_finished() }
}

async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite_with(accept: &str) -> Request {
        let raw = format!("INVITE sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bKx\r\nFrom: <sip:c@d>;tag=1\r\nTo: <sip:a@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\n{accept}Content-Length: 0\r\n\r\n");
        match wire::parse_message(raw.as_bytes()).unwrap() {
            SipMessage::Request(r) => r,
            SipMessage::Response(_) => panic!("a request"),
        }
    }

    /// RFC 4475 §3.3.15 sdp01: an INVITE that accepts no SDP answer.
    #[test]
    fn accept_without_sdp_is_not_acceptable() {
        assert!(accepts_sdp(&invite_with("")));
        assert!(accepts_sdp(&invite_with("Accept: application/sdp;level=1, text/plain\r\n")));
        assert!(accepts_sdp(&invite_with("Accept: */*\r\n")));
        assert!(!accepts_sdp(&invite_with("Accept: text/nobodyKnowsThis\r\n")));
    }
}
