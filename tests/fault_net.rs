//! Fault injection on sockets: a peer that stops reading, and a peer that
//! resets the connection in the middle of a write.
//!
//! The rules these pin: a writer facing a full socket buffer *waits* (the
//! write pends; evloop does not buffer on its own, so memory does not grow),
//! and a reset surfaces as an error from the next operation, never a hang.
//! Real sockets and the real clock: none of this runs under Miri.

use std::io::Read;
use std::time::Duration;

use evloop::net::{TcpListener, TcpStream};
use evloop::{wait_for, EventLoop};

/// A connected pair: our evloop stream and the peer's plain std stream.
async fn connected_pair() -> (TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let ours = TcpStream::connect(addr).await.unwrap();
    let (peer, _) = listener.accept().unwrap();
    (ours, peer)
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn peer_that_stops_reading_makes_write_pend_not_buffer() {
    let mut lp = EventLoop::new().unwrap();
    lp.run_until_complete(async {
        let (ours, mut peer) = connected_pair().await;
        let chunk = vec![0xABu8; 64 * 1024];
        // Write until a write pends for a while: the kernel buffers are full.
        let mut written = 0usize;
        loop {
            match wait_for(ours.write(&chunk), Duration::from_millis(200)).await {
                Ok(n) => written += n.unwrap(),
                Err(_timeout) => break,
            }
            assert!(
                written < 256 * 1024 * 1024,
                "writes never pended: {written} bytes accepted"
            );
        }
        // Only the kernel's buffers took data: a few MB at most.
        assert!(written > 0);
        assert!(
            written < 64 * 1024 * 1024,
            "{written} bytes accepted by a peer that does not read"
        );

        // The writer is stuck, not broken: once the peer reads, writing resumes.
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0u8; 1 << 20];
            let mut total = 0usize;
            while total < written {
                total += peer.read(&mut buf).unwrap();
            }
            peer
        });
        let n = wait_for(ours.write(&chunk), Duration::from_secs(10))
            .await
            .expect("write still pending after the peer drained the buffers")
            .unwrap();
        assert!(n > 0);
        drop(reader.join().unwrap());
    })
    .unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn peer_reset_mid_write_is_an_error_not_a_hang() {
    let mut lp = EventLoop::new().unwrap();
    lp.run_until_complete(async {
        let (ours, peer) = connected_pair().await;
        let chunk = vec![0x5Au8; 64 * 1024];
        // Fill the pipe so that a write is in flight, then have the peer close
        // with unread data in its receive buffer: Linux answers with RST.
        for _ in 0..4 {
            ours.write_all(&chunk).await.unwrap();
        }
        drop(peer);
        let outcome = wait_for(
            async {
                loop {
                    if let Err(e) = ours.write(&chunk).await {
                        return e;
                    }
                }
            },
            Duration::from_secs(10),
        )
        .await
        .expect("writing to a reset connection hung");
        assert!(
            matches!(
                outcome.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ),
            "unexpected error: {outcome:?}"
        );
        // Reading is not a hang either: an error or EOF.
        let mut buf = [0u8; 16];
        let read = wait_for(ours.read(&mut buf), Duration::from_secs(10))
            .await
            .expect("reading a reset connection hung");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    })
    .unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn reset_while_a_task_is_parked_in_read_wakes_it_with_an_error_or_eof() {
    let mut lp = EventLoop::new().unwrap();
    lp.run_until_complete(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let client = std::thread::spawn(move || {
            let mut s = std::net::TcpStream::connect(addr).unwrap();
            // Leave unread data on our side, then close: RST to the server.
            std::io::Write::write_all(&mut s, b"hello").unwrap();
            std::thread::sleep(Duration::from_millis(50));
            s
        });
        let (server, _) = listener.accept().await.unwrap();
        server.write_all(b"unread by the client").await.unwrap();
        let reader = evloop::create_task(async move {
            let mut buf = [0u8; 64];
            let mut results = Vec::new();
            for _ in 0..3 {
                let r = server.read(&mut buf).await;
                let end = !matches!(r, Ok(n) if n > 0);
                results.push(r.map_err(|e| e.kind()));
                if end {
                    break;
                }
            }
            results
        });
        drop(client.join().unwrap());
        let results = wait_for(reader, Duration::from_secs(10))
            .await
            .expect("a reader parked on a reset socket was never woken")
            .unwrap();
        let last = results.last().unwrap();
        assert!(matches!(last, Ok(0) | Err(_)), "{results:?}");
    })
    .unwrap();
}
