//! An accept loop that survives `accept` errors, shared by the examples that
//! run a server (`echo_server`, `http_hello`, `quota_aggregator`).
//!
//! `accept` can fail for two kinds of reason, and neither should end a
//! server:
//!
//! - **The process or system is out of something** (`EMFILE`, `ENFILE`,
//!   `ENOBUFS`, `ENOMEM`). The connection stays queued in the kernel's
//!   backlog and the listener stays readable, so retrying at once would spin
//!   the loop at 100% CPU without freeing anything. [`backoff`] says to wait
//!   [`BACKOFF`] (100 ms, hyper's and axum's choice is 1 s; shorter suits a
//!   demo), during which the connections already accepted keep being served
//!   and, as they close, free descriptors.
//! - **One connection went wrong** before it was taken (`ECONNABORTED`,
//!   `ECONNRESET`, `EPROTO`, a network error Linux reports on the new
//!   socket such as `ENETUNREACH`, `EPERM` from a firewall rule) or the call was interrupted. That
//!   connection is gone; the next one is fine: retry at once.
//!
//! Any other error is unexpected for a listening socket; it is logged and
//! backed off like the first kind, so a broken listener logs ten times a
//! second instead of spinning.
//!
//! Include it with `#[path = "support/accept.rs"] mod accept;`. [`accept`]
//! is the loop for evloop; a server on another runtime calls [`backoff`]
//! and sleeps on its own timer (`http_hello`'s tokio server does).
#![forbid(unsafe_code)]
#![allow(dead_code)]

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use evloop::net::{TcpListener, TcpStream};

/// How long to wait after `accept` failed for lack of resources.
pub const BACKOFF: Duration = Duration::from_millis(100);

/// Logs an `accept` error and says how long to wait before the next
/// `accept`: `None` to retry at once (the error was about one connection),
/// `Some(BACKOFF)` otherwise.
pub fn backoff(e: &io::Error) -> Option<Duration> {
    // accept(2) on Linux: "already-pending network errors on the new
    // socket" come back as errors of accept itself; like ECONNABORTED,
    // they concern that connection only. EPERM is a firewall's refusal.
    const PER_CONNECTION: [i32; 9] = [
        libc::EPERM,
        libc::EPROTO,
        libc::ENOPROTOOPT,
        libc::EOPNOTSUPP,
        libc::ENETDOWN,
        libc::ENETUNREACH,
        libc::EHOSTDOWN,
        libc::EHOSTUNREACH,
        libc::ETIMEDOUT,
    ];
    const OUT_OF_RESOURCES: [i32; 4] = [libc::EMFILE, libc::ENFILE, libc::ENOBUFS, libc::ENOMEM];
    match (e.kind(), e.raw_os_error()) {
        (io::ErrorKind::Interrupted, _) => None,
        (io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset | io::ErrorKind::ConnectionRefused, _) => {
            eprintln!("accept: {e}; dropped that connection");
            None
        }
        (_, Some(code)) if PER_CONNECTION.contains(&code) => {
            eprintln!("accept: {e}; dropped that connection");
            None
        }
        (_, Some(code)) if OUT_OF_RESOURCES.contains(&code) => {
            eprintln!("accept: {e}; retrying in {} ms", BACKOFF.as_millis());
            Some(BACKOFF)
        }
        _ => {
            eprintln!("accept: unexpected error {e}; retrying in {} ms", BACKOFF.as_millis());
            Some(BACKOFF)
        }
    }
}

/// The next connection on `listener`, however many `accept` calls fail on
/// the way (each failure is logged; see [`backoff`]).
pub async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(conn) => return conn,
            Err(e) => {
                if let Some(wait) = backoff(&e) {
                    evloop::sleep(wait).await;
                }
            }
        }
    }
}
