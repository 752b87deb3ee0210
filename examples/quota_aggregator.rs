//! The seed's `QuotaAggregator`: fetch three quota resources concurrently
//! and merge them, or fail fast. It shows `create_task` + `wait(...,
//! ReturnWhen::FirstException, None)`, and the step asyncio's `wait` leaves
//! to the caller: cancel the fetches still pending and wait for those
//! cancellations before reporting the error.
//!
//! Everything runs on one evloop thread: a small JSON server (hyper 1.x
//! HTTP/1 on `127.0.0.1:0`, through evloop's `hyper` feature) serving
//! `POST /DEVICE_CATEGORY`, `/METRO_QUOTA` and `/RDA_QUOTA`, and the
//! aggregator, whose fetches are hyper client connections.
//!
//! ```text
//! cargo run --features hyper --example quota_aggregator             # all three succeed: prints the merged map
//! cargo run --features hyper --example quota_aggregator -- --fail   # METRO_QUOTA answers 500, RDA_QUOTA is slow (2 s):
//!                                                                  # the error returns at once and the slow fetch is cancelled
//! ```
//!
//! Python → Rust: `raise_for_status()` becomes `Err(FetchError::Status)`,
//! `task.exception()` becomes the task's `Err` (or a panic or cancellation,
//! `TaskError`), and `AggQuotaException` is [`AggQuotaError`], which also
//! says which fetch failed and which were cancelled. aiohttp's
//! `ClientSession` pools connections; here each fetch opens its own
//! connection, owned by the fetch, so cancelling the fetch closes it.

#[path = "support/accept.rs"]
mod accept;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use evloop::net::{TcpListener, TcpStream};
use evloop::{create_task, wait, AbortOnDrop, ReturnWhen, Task};
use evloop::{HyperIo, HyperTimer};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode, Uri};
use serde_json::{json, Value};

// ----- the aggregator ------------------------------------------------------

/// Who is asking. (A real program would `#[derive(Serialize)]`; this crate's
/// dev-dependencies carry `serde_json` only, so [`to_json`](Self::to_json)
/// is written out.)
#[derive(Debug, Clone)]
pub struct UserInfo {
    pub user_id: u64,
    pub name: String,
    pub plan: String,
}

impl UserInfo {
    pub fn to_json(&self) -> Value {
        json!({ "user_id": self.user_id, "name": self.name, "plan": self.plan })
    }
}

/// Why one resource could not be fetched.
#[derive(Debug)]
pub enum FetchError {
    /// Connecting or talking to the server failed.
    Io(io::Error),
    /// hyper rejected the exchange (malformed response, connection closed, ...).
    Http(hyper::Error),
    /// The body was not JSON.
    Json(serde_json::Error),
    /// The server answered with an error status (`raise_for_status`).
    Status { status: StatusCode, payload: Value },
}

impl fmt::Display for FetchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FetchError::Io(e) => write!(f, "i/o error: {e}"),
            FetchError::Http(e) => write!(f, "http error: {e}"),
            FetchError::Json(e) => write!(f, "bad json: {e}"),
            FetchError::Status { status, .. } => write!(f, "server answered {status}"),
        }
    }
}

impl std::error::Error for FetchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FetchError::Io(e) => Some(e),
            FetchError::Http(e) => Some(e),
            FetchError::Json(e) => Some(e),
            FetchError::Status { .. } => None,
        }
    }
}

impl From<io::Error> for FetchError {
    fn from(e: io::Error) -> Self {
        FetchError::Io(e)
    }
}

impl From<hyper::Error> for FetchError {
    fn from(e: hyper::Error) -> Self {
        FetchError::Http(e)
    }
}

impl From<serde_json::Error> for FetchError {
    fn from(e: serde_json::Error) -> Self {
        FetchError::Json(e)
    }
}

/// `execute` failed: at least one fetch failed, and the ones still running
/// were cancelled.
#[derive(Debug)]
pub struct AggQuotaError {
    /// The fetches that failed, with why.
    pub failed: Vec<(String, String)>,
    /// The fetches cancelled because of them.
    pub cancelled: Vec<String>,
}

impl fmt::Display for AggQuotaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unable to fetch quota resources")
    }
}

impl std::error::Error for AggQuotaError {}

/// The result of one fetch task: `(resource, payload)`.
type Fetched = Result<(String, Value), FetchError>;

pub struct QuotaAggregator {
    pub userinfo: UserInfo,
    /// Base URL, such as `http://127.0.0.1:8080/`; resources are joined to it.
    pub endpoint: Uri,
    pub agg_quota: BTreeMap<String, Value>,
}

impl QuotaAggregator {
    pub const RESOURCES: [&'static str; 3] = ["DEVICE_CATEGORY", "METRO_QUOTA", "RDA_QUOTA"];

    pub fn new(userinfo: UserInfo, endpoint: Uri) -> QuotaAggregator {
        QuotaAggregator {
            userinfo,
            endpoint,
            agg_quota: BTreeMap::new(),
        }
    }

    /// POSTs `body` to `endpoint` + `resource` and returns the JSON answer.
    ///
    /// It takes owned arguments rather than `&self` because it runs as its own
    /// task, which must be `'static`.
    pub async fn fetch_resource_task(endpoint: Uri, body: Bytes, resource: &'static str) -> Fetched {
        let authority = endpoint.authority().expect("endpoint has a host").clone();
        let stream = TcpStream::connect(authority.as_str()).await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream)).await?;
        // The connection is driven by a task of its own that lives exactly as
        // long as this fetch: if the fetch is cancelled, dropping the guard
        // cancels the connection task too, which closes the socket.
        let _conn: AbortOnDrop<_> = create_task(conn).abort_on_drop();

        let req = Request::post(format!("{}{resource}", endpoint.path()))
            .header(HOST, authority.as_str())
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(body))
            .expect("valid request");
        let resp = sender.send_request(req).await?;
        let status = resp.status();
        let payload: Value = serde_json::from_slice(&resp.into_body().collect().await?.to_bytes())?;
        if status.as_u16() >= 400 {
            eprintln!("unable to fetch resource {resource}: {payload}");
            return Err(FetchError::Status { status, payload });
        }
        Ok((resource.to_owned(), payload))
    }

    /// Fetches every resource concurrently; returns the merged quota, keyed
    /// by the lower-cased resource name, or fails as soon as one fetch fails.
    pub async fn execute(&mut self) -> Result<BTreeMap<String, Value>, AggQuotaError> {
        let body = json!({ "userinfo": self.userinfo.to_json(), "payload": {} });
        let body = Bytes::from(serde_json::to_vec(&body).expect("a Value always serializes"));
        let tasks: Vec<Task<Fetched>> = Self::RESOURCES
            .iter()
            .map(|&resource| {
                let task = create_task(Self::fetch_resource_task(self.endpoint.clone(), body.clone(), resource));
                task.set_name(resource); // asyncio's create_task(..., name=resource)
                task
            })
            .collect();

        let (done, pending) = wait(tasks, ReturnWhen::FirstException, None).await;
        let mut fetched = Vec::new();
        let mut failed = Vec::new();
        for mut task in done {
            match task.result().expect("a done task has its result") {
                Ok(Ok((resource, payload))) => fetched.push((resource, payload)),
                Ok(Err(e)) => failed.push((task.name(), e.to_string())),
                Err(e) => failed.push((task.name(), e.to_string())), // panicked or cancelled
            }
        }
        if !failed.is_empty() {
            // `wait` cancels nothing: cancel the fetches still running, then
            // wait until the cancellations have been carried out (their
            // futures dropped; each drop cancels its connection task, whose
            // socket closes on the next tick).
            for task in &pending {
                task.cancel();
            }
            let (cancelled, _) = wait(pending, ReturnWhen::AllCompleted, None).await;
            let cancelled: Vec<String> = cancelled.iter().filter(|t| t.cancelled()).map(|t| t.name()).collect();
            for name in &cancelled {
                eprintln!("cancelled the fetch of {name}");
            }
            return Err(AggQuotaError { failed, cancelled });
        }
        debug_assert!(pending.is_empty(), "FirstException with no failure waits for all");
        for (resource, payload) in fetched {
            self.agg_quota.insert(resource.to_lowercase(), payload);
        }
        Ok(self.agg_quota.clone())
    }
}

// ----- the quota server ----------------------------------------------------

/// How the quota server misbehaves.
#[derive(Debug, Clone, Default)]
pub struct ServerConfig {
    /// A resource that answers HTTP 500.
    pub failing: Option<&'static str>,
    /// A resource that answers only after this delay.
    pub slow: Option<(&'static str, Duration)>,
}

impl ServerConfig {
    /// The `--fail` scenario: METRO_QUOTA fails, RDA_QUOTA takes 2 s.
    pub fn failing() -> ServerConfig {
        ServerConfig {
            failing: Some("METRO_QUOTA"),
            slow: Some(("RDA_QUOTA", Duration::from_secs(2))),
        }
    }
}

/// What happened to the slow resource's requests, as the server saw it.
#[derive(Debug, Default)]
pub struct SlowStats {
    /// Requests received.
    pub started: Cell<u32>,
    /// Requests answered after the full delay.
    pub completed: Cell<u32>,
    /// Requests whose handler was dropped before answering (the client went
    /// away and hyper dropped the connection).
    pub abandoned: Cell<u32>,
}

/// A running quota server; dropping it stops accepting connections.
pub struct Server {
    pub addr: SocketAddr,
    pub slow: Rc<SlowStats>,
    _accept: AbortOnDrop<()>,
}

impl Server {
    /// The base URL to give a [`QuotaAggregator`].
    pub fn endpoint(&self) -> Uri {
        format!("http://{}/", self.addr).parse().expect("valid URL")
    }
}

/// Binds `127.0.0.1:0` and serves the quota resources, one task per
/// connection. Call it inside a running loop.
pub fn start_server(cfg: ServerConfig) -> io::Result<Server> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let cfg = Rc::new(cfg);
    let slow = Rc::new(SlowStats::default());
    let stats = slow.clone();
    let accept = create_task(async move {
        loop {
            // Errors are logged and ridden out inside: out of descriptors it
            // waits instead of spinning (see `support/accept.rs`).
            let (stream, _) = accept::accept(&listener).await;
            let (cfg, stats) = (cfg.clone(), stats.clone());
            let service = hyper::service::service_fn(move |req| handle(req, cfg.clone(), stats.clone()));
            drop(create_task(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(HyperTimer)
                    .header_read_timeout(Duration::from_secs(5))
                    .serve_connection(HyperIo::new(stream), service)
                    .await;
            }));
        }
    });
    Ok(Server {
        addr,
        slow,
        _accept: accept.abort_on_drop(),
    })
}

fn json_response(status: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("valid response")
}

/// Counts a slow request as abandoned if its handler is dropped before it
/// answers.
struct AbandonGuard {
    stats: Rc<SlowStats>,
    answered: bool,
}

impl Drop for AbandonGuard {
    fn drop(&mut self) {
        if !self.answered {
            self.stats.abandoned.set(self.stats.abandoned.get() + 1);
            eprintln!("server: slow request dropped unanswered (the client went away)");
        }
    }
}

async fn handle(
    req: Request<Incoming>,
    cfg: Rc<ServerConfig>,
    slow: Rc<SlowStats>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let resource = req.uri().path().trim_start_matches('/').to_owned();
    if !QuotaAggregator::RESOURCES.contains(&resource.as_str()) {
        return Ok(json_response(
            StatusCode::NOT_FOUND,
            &json!({ "error": "no such resource" }),
        ));
    }
    if req.method() != Method::POST {
        return Ok(json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            &json!({ "error": "POST only" }),
        ));
    }
    let body = match req.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(e) => {
            return Ok(json_response(
                StatusCode::BAD_REQUEST,
                &json!({ "error": e.to_string() }),
            ))
        }
    };
    let user = match serde_json::from_slice::<Value>(&body) {
        Ok(v) if v["userinfo"].is_object() => v["userinfo"].clone(),
        _ => {
            return Ok(json_response(
                StatusCode::BAD_REQUEST,
                &json!({ "error": "expected {\"userinfo\": {...}}" }),
            ))
        }
    };

    if cfg.failing == Some(resource.as_str()) {
        return Ok(json_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({ "error": format!("{resource} backend unavailable") }),
        ));
    }
    if let Some((name, delay)) = cfg.slow {
        if name == resource {
            slow.started.set(slow.started.get() + 1);
            let mut guard = AbandonGuard {
                stats: slow.clone(),
                answered: false,
            };
            evloop::sleep(delay).await;
            guard.answered = true;
            slow.completed.set(slow.completed.get() + 1);
        }
    }
    let payload = match resource.as_str() {
        "DEVICE_CATEGORY" => json!({ "user_id": user["user_id"], "category": "smartphone", "max_devices": 5 }),
        "METRO_QUOTA" => json!({ "user_id": user["user_id"], "metro": "ams", "quota_mb": 2048 }),
        _ => json!({ "user_id": user["user_id"], "rda": "eu-west", "quota_mb": 512 }),
    };
    Ok(json_response(StatusCode::OK, &payload))
}

// ----- main ----------------------------------------------------------------

fn main() -> ExitCode {
    let fail = std::env::args().skip(1).any(|a| a == "--fail");
    evloop::run(async move {
        let cfg = if fail {
            ServerConfig::failing()
        } else {
            ServerConfig::default()
        };
        let server = match start_server(cfg) {
            Ok(server) => server,
            Err(e) => {
                eprintln!("cannot start the quota server: {e}");
                return ExitCode::FAILURE;
            }
        };
        println!("quota server on http://{}/", server.addr);
        let userinfo = UserInfo {
            user_id: 42,
            name: "ada".into(),
            plan: "unlimited".into(),
        };
        let mut aggregator = QuotaAggregator::new(userinfo, server.endpoint());
        let start = Instant::now();
        match aggregator.execute().await {
            Ok(quota) => {
                println!("aggregated quota ({:?}):", start.elapsed());
                for (resource, payload) in &quota {
                    println!("  {resource}: {payload}");
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                println!("error after {:?}: {e}", start.elapsed());
                for (resource, why) in &e.failed {
                    println!("  failed:    {resource} ({why})");
                }
                for resource in &e.cancelled {
                    println!("  cancelled: {resource}");
                }
                ExitCode::FAILURE
            }
        }
    })
}
