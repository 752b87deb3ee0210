//! TCP over loopback: echo at scale, refusal, reset, half-close, address in
//! use, split halves, the futures-io traits, and an idle loop that blocks.

use std::io;
use std::net::{Shutdown, SocketAddr};
use std::time::{Duration, Instant};

use evloop::net::{StreamReader, TcpListener, TcpStream};

async fn echo_server(listener: TcpListener) {
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        drop(evloop::create_task(async move {
            let mut buf = [0; 4096];
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

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn echo_50_clients_1000_round_trips() {
    const CLIENTS: usize = 50;
    const ROUNDS: usize = 1000;
    let start = Instant::now();
    let total = evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let _server = evloop::create_task(echo_server(listener)).abort_on_drop();
        let clients: Vec<_> = (0..CLIENTS)
            .map(|c| {
                evloop::create_task(async move {
                    let stream = TcpStream::connect(addr).await.unwrap();
                    stream.set_nodelay(true).unwrap();
                    let mut buf = [0u8; 8];
                    for i in 0..ROUNDS {
                        let msg = ((c * ROUNDS + i) as u64).to_le_bytes();
                        stream.write_all(&msg).await.unwrap();
                        stream.read_exact(&mut buf).await.unwrap();
                        assert_eq!(buf, msg);
                    }
                    ROUNDS
                })
            })
            .collect();
        let mut total = 0;
        for c in clients {
            total += c.await.unwrap();
        }
        total
    });
    assert_eq!(total, CLIENTS * ROUNDS);
    eprintln!("50 x 1000 echo round trips in {:?}", start.elapsed());
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn connect_refused_is_connection_refused() {
    // Bind then drop a listener: nothing listens on that port afterwards.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = evloop::run(TcpStream::connect(addr)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn bind_twice_is_addr_in_use() {
    evloop::run(async {
        let a = TcpListener::bind("127.0.0.1:0").unwrap();
        let err = TcpListener::bind(a.local_addr().unwrap()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AddrInUse);
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn peer_reset_while_reading_is_an_error_not_a_hang() {
    evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        // The client sends two bytes; the server reads one and closes with
        // the other unread, which makes Linux answer with RST, not FIN.
        client.write_all(b"ab").await.unwrap();
        let mut one = [0];
        server.read_exact(&mut one).await.unwrap();
        let reader = evloop::create_task(async move {
            let mut buf = [0; 16];
            let r = client.read(&mut buf).await;
            (r.map_err(|e| e.kind()), client)
        });
        evloop::yield_now().await; // the client is now waiting in read
        drop(server);
        let (r, client) = evloop::wait_for(reader, Duration::from_secs(5))
            .await
            .expect("hung")
            .unwrap();
        assert_eq!(r, Err(io::ErrorKind::ConnectionReset));
        // After the reset, writing fails too (EPIPE), rather than hanging.
        let mut err = None;
        for _ in 0..10 {
            if let Err(e) = client.write(b"more").await {
                err = Some(e.kind());
                break;
            }
        }
        assert!(
            matches!(err, Some(io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset)),
            "{err:?}"
        );
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn peer_reset_while_writing_is_an_error() {
    evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(b"xy").await.unwrap();
        let mut one = [0];
        server.read_exact(&mut one).await.unwrap(); // the bytes have landed
        drop(server); // one byte unread: RST
        let chunk = vec![0u8; 64 * 1024];
        let res: io::Result<()> = evloop::wait_for(
            async {
                loop {
                    client.write_all(&chunk).await?;
                }
            },
            Duration::from_secs(5),
        )
        .await
        .expect("hung");
        let err = res.unwrap_err();
        assert!(
            matches!(err.kind(), io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset),
            "{err:?}"
        );
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn shutdown_write_then_still_read() {
    evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(b"request").await.unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        // The server reads to end of stream, then answers.
        let mut req = Vec::new();
        let mut buf = [0; 64];
        loop {
            let n = server.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            req.extend_from_slice(&buf[..n]);
        }
        assert_eq!(req, b"request");
        server.write_all(b"response").await.unwrap();
        drop(server);
        let mut resp = [0; 8];
        client.read_exact(&mut resp).await.unwrap();
        assert_eq!(&resp, b"response");
        assert_eq!(client.read(&mut buf).await.unwrap(), 0);
        // Writing after our own shutdown is an error.
        assert_eq!(client.write(b"x").await.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn addresses_and_nodelay() {
    evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        assert_eq!(client.peer_addr().unwrap(), addr);
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(server.local_addr().unwrap(), addr);
        client.set_nodelay(true).unwrap();
        assert!(client.nodelay().unwrap());
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn owned_halves_in_separate_tasks() {
    evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let (rd, wr) = server.into_split();
        // Server: a reader task feeds lines back through the writer task.
        let echo = evloop::create_task(async move {
            let mut buf = [0; 1];
            loop {
                if rd.read(&mut buf).await.unwrap() == 0 {
                    break; // dropping `wr` at the end sends FIN
                }
                wr.write_all(&buf).await.unwrap();
            }
        });
        client.write_all(b"hello").await.unwrap();
        client.shutdown(Shutdown::Write).unwrap();
        let mut out = Vec::new();
        let mut reader = StreamReader::new(&client);
        reader.read_until(b'\0', &mut out).await.unwrap();
        assert_eq!(out, b"hello");
        echo.await.unwrap();
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn futures_io_traits_work() {
    use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        client.write_all(b"line one\nline two\n").await.unwrap();
        client.close().await.unwrap(); // shutdown(Write)
        let mut lines = futures::io::BufReader::new(&server).lines();
        let mut got = Vec::new();
        let read_lines = async {
            while let Some(line) = futures::StreamExt::next(&mut lines).await {
                got.push(line.unwrap());
            }
        };
        evloop::wait_for(read_lines, HANG).await.expect("hung reading lines");
        assert_eq!(got, ["line one", "line two"]);
        AsyncWriteExt::write_all(&mut &server, b"bye").await.unwrap();
        drop(server);
        let mut rest = String::new();
        evloop::wait_for(client.read_to_string(&mut rest), HANG)
            .await
            .expect("hung reading to the end")
            .unwrap();
        assert_eq!(rest, "bye");
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn idle_loop_blocks_until_io_arrives() {
    // The loop must sleep in epoll_wait and be woken by the socket: a
    // thread connects after a delay and the accept completes.
    let addr: SocketAddr = evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            std::io::Write::write_all(&mut s, b"hi").unwrap();
        });
        let (stream, _) = listener.accept().await.unwrap();
        let mut buf = [0; 2];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
        t.join().unwrap();
        addr
    });
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn read_exact_reports_early_eof() {
    evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
        let (server, _) = listener.accept().await.unwrap();
        server.write_all(b"abc").await.unwrap();
        drop(server);
        let mut buf = [0; 10];
        let err = evloop::wait_for(client.read_exact(&mut buf), HANG)
            .await
            .expect("hung: the end of stream was lost")
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
#[should_panic(expected = "inside a running")]
fn accept_outside_a_loop_panics_clearly() {
    // Binding before the loop runs is allowed (#14.4); waiting is not.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut accept = std::pin::pin!(listener.accept());
    let mut cx = std::task::Context::from_waker(futures_task::noop_waker_ref());
    let _ = std::future::Future::poll(accept.as_mut(), &mut cx);
}

// ----- short reads and writes ------------------------------------------------
//
// A TCP read that returns fewer bytes than asked (or a write that takes fewer
// than offered) clears the direction's readiness without the syscall that
// would return `WouldBlock`. These pin that nothing is lost by it: data that
// arrives later, end of stream and a reset that came with the data, and send
// space that frees up later, all still reach the task. Each wait has a
// timeout, so a lost wake-up fails the test instead of hanging it.

/// A connected pair: our evloop stream and the peer's plain std stream.
async fn std_peer_pair() -> (TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ours = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
    let (peer, _) = listener.accept().unwrap();
    (ours, peer)
}

const HANG: Duration = Duration::from_secs(5);

/// One read from `stream`, failing the test with `hung` if no data, end of
/// stream or error arrives within `HANG` (a lost wake-up hangs, never fails).
async fn read_or_fail(stream: &TcpStream, buf: &mut [u8], hung: &str) -> io::Result<usize> {
    evloop::wait_for(stream.read(buf), HANG).await.expect(hung)
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn data_arriving_after_a_short_read_is_read() {
    use std::io::Write;
    evloop::run(async {
        let (ours, mut peer) = std_peer_pair().await;
        let mut buf = [0; 64];
        // Request/response style: every read is short, and the next bytes
        // arrive only after it.
        for round in 0..100u8 {
            peer.write_all(&[round; 3]).unwrap();
            let n = read_or_fail(&ours, &mut buf, "hung: data after a short read was never seen")
                .await
                .unwrap();
            assert_eq!(&buf[..n], &[round; 3]);
        }
        // And bytes that arrive while the reader is parked, from a thread.
        let writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            peer.write_all(b"late").unwrap();
            peer
        });
        let n = read_or_fail(&ours, &mut buf, "hung: data after a short read was never seen")
            .await
            .unwrap();
        assert_eq!(&buf[..n], b"late");
        drop(writer.join().unwrap());
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn end_of_stream_after_a_short_read_is_seen() {
    use std::io::Write;
    evloop::run(async {
        let (ours, mut peer) = std_peer_pair().await;
        peer.write_all(b"last words").unwrap();
        peer.shutdown(Shutdown::Write).unwrap();
        // Let the loop take the one event that reports both the data and the
        // FIN before we read: no other event will come.
        evloop::sleep(Duration::from_millis(10)).await;
        let mut buf = [0; 64];
        let n = read_or_fail(&ours, &mut buf, "hung").await.unwrap();
        assert_eq!(&buf[..n], b"last words");
        let n = read_or_fail(&ours, &mut buf, "hung: the short read lost the end of stream")
            .await
            .unwrap();
        assert_eq!(n, 0);
        drop(peer);
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn reset_after_a_short_read_is_seen() {
    use std::io::Write;
    evloop::run(async {
        let (ours, mut peer) = std_peer_pair().await;
        // The peer leaves these unread, so closing it sends RST, not FIN.
        ours.write_all(b"xy").await.unwrap();
        peer.write_all(b"abcd").unwrap();
        drop(peer);
        evloop::sleep(Duration::from_millis(10)).await;
        let mut buf = [0; 64];
        let n = read_or_fail(&ours, &mut buf, "hung").await.unwrap();
        assert_eq!(&buf[..n], b"abcd");
        let r = read_or_fail(&ours, &mut buf, "hung: the short read lost the reset").await;
        assert!(
            matches!(&r, Ok(0)) || matches!(&r, Err(e) if e.kind() == io::ErrorKind::ConnectionReset),
            "{r:?}"
        );
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn writes_resume_after_short_writes() {
    use std::io::Read;
    const TOTAL: usize = 16 << 20;
    evloop::run(async {
        let (ours, mut peer) = std_peer_pair().await;
        // A slow reader: the kernel buffers fill, writes come back short,
        // and each time the writer must be woken when space frees up.
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0u8; 64 * 1024];
            let mut total = 0;
            let mut sum = 0u64;
            while total < TOTAL {
                let n = peer.read(&mut buf).unwrap();
                assert!(n > 0, "early end of stream");
                sum += buf[..n].iter().map(|&b| u64::from(b)).sum::<u64>();
                total += n;
                if total % (1 << 20) < n {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            sum
        });
        let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
        let expected: u64 = data.iter().map(|&b| u64::from(b)).sum();
        evloop::wait_for(ours.write_all(&data), Duration::from_secs(30))
            .await
            .expect("hung: a short write lost the writable edge")
            .unwrap();
        assert_eq!(reader.join().unwrap(), expected);
    });
}
