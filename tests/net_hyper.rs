//! hyper 1.x HTTP/1 server and client running on evloop over loopback,
//! through the library's `hyper` feature (`evloop::{HyperIo, HyperExecutor,
//! HyperTimer}`).
#![cfg(feature = "hyper")]

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use evloop::net::{TcpListener, TcpStream};
use evloop::{HyperExecutor, HyperIo, HyperTimer};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};

async fn handle(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    let body = req.into_body().collect().await.unwrap().to_bytes();
    let text = format!("{path} got {} bytes", body.len());
    Ok(Response::new(Full::new(Bytes::from(text))))
}

/// Serves HTTP/1 on `listener`, one task per connection.
async fn serve(listener: TcpListener, header_read_timeout: Duration) {
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        drop(evloop::create_task(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .timer(HyperTimer)
                .header_read_timeout(header_read_timeout)
                .serve_connection(HyperIo::new(stream), hyper::service::service_fn(handle))
                .await;
        }));
    }
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn hyper_http1_server_and_client_on_evloop() {
    evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _server = evloop::create_task(serve(listener, Duration::from_secs(5))).abort_on_drop();

        let clients: Vec<_> = (0..5)
            .map(|c| {
                evloop::create_task(async move {
                    let stream = TcpStream::connect(addr).await.unwrap();
                    let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream))
                        .await
                        .unwrap();
                    hyper::rt::Executor::execute(&HyperExecutor, conn);
                    for i in 0..20 {
                        let req = Request::builder()
                            .uri(format!("/c{c}/r{i}"))
                            .header("host", "localhost")
                            .body(Full::new(Bytes::from(vec![b'x'; i])))
                            .unwrap();
                        let resp = sender.send_request(req).await.unwrap();
                        assert_eq!(resp.status(), 200);
                        let body = resp.into_body().collect().await.unwrap().to_bytes();
                        assert_eq!(body, format!("/c{c}/r{i} got {i} bytes"));
                    }
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn hyper_header_read_timeout_uses_the_evloop_timer() {
    evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _server = evloop::create_task(serve(listener, Duration::from_millis(100))).abort_on_drop();
        // A client that connects and never sends a request: the server's
        // header-read timeout (a `HyperSleep`) closes the connection.
        let start = Instant::now();
        let idle = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0; 1024];
        let r = evloop::wait_for(idle.read(&mut buf), Duration::from_secs(5)).await;
        let elapsed = start.elapsed();
        assert!(r.is_ok(), "the server never timed the idle client out");
        assert!(elapsed >= Duration::from_millis(90), "{elapsed:?}");
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn hyper_io_carries_a_large_body_both_ways() {
    // 1 MiB up and 1 MiB down: many reads, each at most the adapter's cap,
    // through the shared scratch buffer.
    evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _server = evloop::create_task(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let echo = hyper::service::service_fn(|req: Request<Incoming>| async move {
                let body = req.into_body().collect().await?.to_bytes();
                Ok::<_, hyper::Error>(Response::new(Full::new(body)))
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(HyperIo::new(stream), echo)
                .await;
        })
        .abort_on_drop();

        let stream = TcpStream::connect(addr).await.unwrap();
        let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(stream))
            .await
            .unwrap();
        hyper::rt::Executor::execute(&HyperExecutor, conn);
        let sent: Vec<u8> = (0..1 << 20).map(|i: u32| (i % 251) as u8).collect();
        let req = Request::builder()
            .uri("/echo")
            .header("host", "localhost")
            .body(Full::new(Bytes::from(sent.clone())))
            .unwrap();
        let resp = sender.send_request(req).await.unwrap();
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.len(), sent.len());
        assert!(body == sent, "the echoed body differs");
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn hyper_serves_a_not_send_service_over_a_unix_stream() {
    // The service holds an `Rc`, and the client connection runs through
    // `HyperExecutor`: neither needs `Send` on a single-threaded loop.
    use std::cell::Cell;
    use std::rc::Rc;

    evloop::run(async {
        let (client, server) = evloop::net::UnixStream::pair().unwrap();
        let hits = Rc::new(Cell::new(0));
        let served = hits.clone();
        let _server = evloop::create_task(async move {
            let service = hyper::service::service_fn(move |_req: Request<Incoming>| {
                served.set(served.get() + 1);
                let n = served.get();
                async move { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(format!("hit {n}"))))) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(HyperIo::new(server), service)
                .await;
        })
        .abort_on_drop();

        let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo::new(client))
            .await
            .unwrap();
        hyper::rt::Executor::execute(&HyperExecutor, conn);
        for i in 1..=3 {
            let req = Request::builder()
                .uri("/")
                .header("host", "local")
                .body(Full::new(Bytes::new()))
                .unwrap();
            let body = sender
                .send_request(req)
                .await
                .unwrap()
                .into_body()
                .collect()
                .await
                .unwrap();
            assert_eq!(body.to_bytes(), format!("hit {i}"));
        }
        assert_eq!(hits.get(), 3);
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn hyper_timer_follows_a_manual_clock() {
    // A 30 s header-read timeout on a manual clock: the loop jumps to the
    // deadline once nothing else is ready, so the idle client is dropped
    // without 30 s of waiting, and hyper's `now()` is the loop's clock.
    use hyper::rt::Timer;

    let mut lp = evloop::EventLoop::builder().manual_clock().build().unwrap();
    lp.run_until_complete(async {
        let handle = evloop::get_running_loop();
        assert_eq!(HyperTimer.now(), handle.time());
        let (client, server) = evloop::net::UnixStream::pair().unwrap();
        let start = handle.time();
        let wall = Instant::now();
        let served = evloop::create_task(
            hyper::server::conn::http1::Builder::new()
                .timer(HyperTimer)
                .header_read_timeout(Duration::from_secs(30))
                .serve_connection(HyperIo::new(server), hyper::service::service_fn(handle_req)),
        );
        let mut buf = [0; 256];
        // The server closes the idle connection at the deadline (hyper may
        // first write a 408 response).
        while client.read(&mut buf).await.unwrap() > 0 {}
        let _ = served.await.unwrap();
        assert!(handle.time() - start >= Duration::from_secs(30));
        assert!(wall.elapsed() < Duration::from_secs(10), "{:?}", wall.elapsed());
    })
    .unwrap();
}

async fn handle_req(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    handle(req).await
}
