//! hyper's HTTP/1 hello-world server, on evloop or on tokio's current-thread
//! runtime: the server half of `benches/http_wrk.sh`.
//!
//! Both servers are the same program: one listener, one task per connection
//! (`evloop::create_task` / `tokio::task::spawn_local` on a `LocalSet`),
//! hyper's `http1` connection with keep-alive, a handler that answers every
//! request with `Hello, World!`. Neither configures a hyper timer. evloop
//! reaches hyper through the library's `hyper` feature ([`evloop::HyperIo`]);
//! tokio through [`TokioIo`] below, which copies through a per-thread
//! scratch buffer exactly as `HyperIo` does, so the adapters cost the same.
//!
//! Needs the `hyper` feature (on for the crate's own examples and tests
//! through its dev-dependency on itself; `--features hyper` says so
//! explicitly):
//!
//! ```text
//! cargo run --release --features hyper --example http_hello -- evloop 8080
//! cargo run --release --example http_hello -- tokio 8081
//! wrk -t2 -c50 -d10s --latency http://127.0.0.1:8080/
//! ```
//!
//! Port 0 picks a free port; the address is printed on stderr. Both accept
//! loops survive `accept` errors: out of file descriptors (`ulimit -n 64`
//! and a few hundred clients) they log, wait 100 ms and try again while the
//! open connections are served (`examples/support/accept.rs`;
//! `tests/examples_accept.rs` checks it).
#![forbid(unsafe_code)]

#[path = "support/accept.rs"]
mod accept;

use std::cell::RefCell;
use std::convert::Infallible;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::rt::ReadBufCursor;
use hyper::{Request, Response};

use evloop::HyperIo;

async fn hello(_req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(b"Hello, World!"))))
}

async fn serve_evloop(port: u16) -> io::Result<()> {
    let listener = evloop::net::TcpListener::bind(("127.0.0.1", port))?;
    eprintln!("evloop: listening on {}", listener.local_addr()?);
    loop {
        let (stream, _) = accept::accept(&listener).await;
        // Dropping the handle detaches the task.
        drop(evloop::create_task(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(HyperIo::new(stream), hyper::service::service_fn(hello))
                .await;
        }));
    }
}

/// A tokio stream as hyper's `rt::Read` / `rt::Write` (what hyper-util's
/// `TokioIo` does, minus its `unsafe` read into the uninitialised buffer).
struct TokioIo(tokio::net::TcpStream);

thread_local! {
    /// The same per-thread scratch buffer as `evloop::HyperIo`'s (64 KiB
    /// reads at most, never zeroed again).
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

impl hyper::rt::Read for TokioIo {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, mut buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        let want = buf.remaining().min(64 * 1024);
        SCRATCH.with(|scratch| {
            let mut scratch = scratch.borrow_mut();
            if scratch.len() < want {
                scratch.resize(want, 0);
            }
            let mut rb = tokio::io::ReadBuf::new(&mut scratch[..want]);
            ready!(tokio::io::AsyncRead::poll_read(Pin::new(&mut self.0), cx, &mut rb))?;
            buf.put_slice(rb.filled());
            Poll::Ready(Ok(()))
        })
    }
}

impl hyper::rt::Write for TokioIo {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        tokio::io::AsyncWrite::poll_write(Pin::new(&mut self.0), cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_flush(Pin::new(&mut self.0), cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut self.0), cx)
    }
}

async fn serve_tokio(port: u16) -> io::Result<()> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("tokio: listening on {}", listener.local_addr()?);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                if let Some(wait) = accept::backoff(&e) {
                    tokio::time::sleep(wait).await;
                }
                continue;
            }
        };
        tokio::task::spawn_local(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo(stream), hyper::service::service_fn(hello))
                .await;
        });
    }
}

fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let runtime = args.next().unwrap_or_else(|| "evloop".to_owned());
    let port: u16 = args.next().map_or(8080, |p| p.parse().expect("port must be a number"));
    match runtime.as_str() {
        "evloop" => evloop::run(serve_evloop(port)),
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .enable_time()
                .build()?;
            tokio::task::LocalSet::new().block_on(&rt, serve_tokio(port))
        }
        other => {
            eprintln!("usage: http_hello <evloop|tokio> [port] (got {other:?})");
            std::process::exit(2);
        }
    }
}
