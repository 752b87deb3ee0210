//! hyper 1.x HTTP/1 server and client running on evloop over loopback,
//! through the adapter in `examples/support/hyper_rt.rs`.

#[path = "../examples/support/hyper_rt.rs"]
mod hyper_rt;

use std::convert::Infallible;
use std::time::{Duration, Instant};

use bytes::Bytes;
use evloop::net::{TcpListener, TcpStream};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_rt::{EvloopExecutor, EvloopTimer, HyperIo};

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
                .timer(EvloopTimer)
                .header_read_timeout(header_read_timeout)
                .serve_connection(HyperIo(stream), hyper::service::service_fn(handle))
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
                    let (mut sender, conn) = hyper::client::conn::http1::handshake(HyperIo(stream)).await.unwrap();
                    hyper::rt::Executor::execute(&EvloopExecutor, conn);
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
        // header-read timeout (an `EvloopSleep`) closes the connection.
        let start = Instant::now();
        let idle = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0; 1024];
        let r = evloop::wait_for(idle.read(&mut buf), Duration::from_secs(5)).await;
        let elapsed = start.elapsed();
        assert!(r.is_ok(), "the server never timed the idle client out");
        assert!(elapsed >= Duration::from_millis(90), "{elapsed:?}");
    });
}
