//! Network benchmark: TCP echo round trips over loopback, evloop beside
//! tokio's current-thread runtime, in the same criterion group.
//!
//! - `tcp_echo`: 50 connections, each doing 100 round trips of a 64-byte
//!   message (write it, read the echo back) per iteration, all connections
//!   at once: 5,000 round trips per iteration, reported as round trips per
//!   second.
//!
//! Each runtime gets its echo server (one task per accepted connection,
//! read → write back) and its 50 connected client sockets once, outside the
//! timed part; every socket has `TCP_NODELAY`. One iteration is one
//! `block_on` that spawns a client task per connection (moving the socket in
//! and handing it back at the end) and awaits them all. Every round trip is
//! checked for the right bytes.
//!
//! Run: `cargo bench --bench net -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const CONNECTIONS: usize = 50;
const ROUND_TRIPS: usize = 100;
const MSG: usize = 64;

fn message(conn: usize) -> [u8; MSG] {
    let mut msg = [0u8; MSG];
    for (i, b) in msg.iter_mut().enumerate() {
        *b = (conn + i) as u8;
    }
    msg
}

// ----- evloop -------------------------------------------------------------

mod on_evloop {
    use super::*;
    use evloop::net::{TcpListener, TcpStream};

    /// Accepts `CONNECTIONS` connections and echoes each in its own task.
    async fn serve(listener: TcpListener) {
        for _ in 0..CONNECTIONS {
            let (stream, _) = listener.accept().await.expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            drop(evloop::create_task(async move {
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            }));
        }
    }

    /// Starts the echo server on `lp` and returns `CONNECTIONS` clients.
    pub fn setup(lp: &mut evloop::EventLoop) -> Vec<TcpStream> {
        lp.run_until_complete(async {
            let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
            let addr: SocketAddr = listener.local_addr().expect("addr");
            drop(evloop::create_task(serve(listener)));
            let mut clients = Vec::with_capacity(CONNECTIONS);
            for _ in 0..CONNECTIONS {
                let s = TcpStream::connect(addr).await.expect("connect");
                s.set_nodelay(true).expect("nodelay");
                clients.push(s);
            }
            clients
        })
        .expect("evloop setup")
    }

    /// One iteration: every client does `ROUND_TRIPS` round trips at once.
    pub async fn round_trips(clients: Vec<TcpStream>) -> (Vec<TcpStream>, usize) {
        let tasks: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(c, s)| {
                evloop::create_task(async move {
                    let msg = message(c);
                    let mut buf = [0u8; MSG];
                    for _ in 0..ROUND_TRIPS {
                        s.write_all(&msg).await.expect("write");
                        s.read_exact(&mut buf).await.expect("read");
                        assert_eq!(buf, msg);
                    }
                    s
                })
            })
            .collect();
        let mut clients = Vec::with_capacity(CONNECTIONS);
        for t in tasks {
            clients.push(t.await.expect("client task"));
        }
        (clients, CONNECTIONS * ROUND_TRIPS)
    }
}

// ----- tokio (current-thread runtime) ---------------------------------------

mod on_tokio {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    async fn serve(listener: TcpListener) {
        for _ in 0..CONNECTIONS {
            let (mut stream, _) = listener.accept().await.expect("accept");
            stream.set_nodelay(true).expect("nodelay");
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    }

    pub fn setup(rt: &tokio::runtime::Runtime) -> Vec<TcpStream> {
        rt.block_on(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
            let addr: SocketAddr = listener.local_addr().expect("addr");
            tokio::spawn(serve(listener));
            let mut clients = Vec::with_capacity(CONNECTIONS);
            for _ in 0..CONNECTIONS {
                let s = TcpStream::connect(addr).await.expect("connect");
                s.set_nodelay(true).expect("nodelay");
                clients.push(s);
            }
            clients
        })
    }

    pub async fn round_trips(clients: Vec<TcpStream>) -> (Vec<TcpStream>, usize) {
        let tasks: Vec<_> = clients
            .into_iter()
            .enumerate()
            .map(|(c, mut s)| {
                tokio::spawn(async move {
                    let msg = message(c);
                    let mut buf = [0u8; MSG];
                    for _ in 0..ROUND_TRIPS {
                        s.write_all(&msg).await.expect("write");
                        s.read_exact(&mut buf).await.expect("read");
                        assert_eq!(buf, msg);
                    }
                    s
                })
            })
            .collect();
        let mut clients = Vec::with_capacity(CONNECTIONS);
        for t in tasks {
            clients.push(t.await.expect("client task"));
        }
        (clients, CONNECTIONS * ROUND_TRIPS)
    }
}

// ----- wiring -------------------------------------------------------------

fn tcp_echo(c: &mut Criterion) {
    let total = CONNECTIONS * ROUND_TRIPS;
    let mut g = c.benchmark_group("tcp_echo");
    g.throughput(Throughput::Elements(total as u64));
    g.sample_size(20);

    {
        let mut lp = evloop::EventLoop::new().expect("evloop loop");
        let mut clients = Some(on_evloop::setup(&mut lp));
        g.bench_function("evloop", |b| {
            b.iter(|| {
                let (back, n) = lp
                    .run_until_complete(on_evloop::round_trips(clients.take().expect("clients")))
                    .expect("evloop run");
                assert_eq!(n, total);
                clients = Some(back);
                black_box(n)
            })
        });
    }
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio runtime");
        let mut clients = Some(on_tokio::setup(&rt));
        g.bench_function("tokio", |b| {
            b.iter(|| {
                let (back, n) = rt.block_on(on_tokio::round_trips(clients.take().expect("clients")));
                assert_eq!(n, total);
                clients = Some(back);
                black_box(n)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, tcp_echo);
criterion_main!(benches);
