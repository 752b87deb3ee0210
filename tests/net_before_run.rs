//! Sockets made before the loop runs (#14.4): a host program binds its
//! listener in its set-up code, learns the port, hands it out, and only
//! then starts the loop. Such a socket registers with the first loop that
//! polls it; a first poll with no loop running still panics clearly, and
//! once registered the cross-loop check holds as for any socket.
//!
//! Real sockets; every wait that could hang is bounded by `wait_for`, so a
//! lost registration fails the test instead of hanging it.

mod common;

use std::future::Future;
use std::io::{Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::pin;
use std::task::Context;
use std::time::Duration;

use evloop::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use evloop::{wait_for, EventLoop};

use common::panic_text;

/// Far longer than any of these waits needs; only a hang reaches it.
const HANG: Duration = Duration::from_secs(10);

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn tcp_listener_bound_before_the_loop_accepts_inside_it() {
    // Set-up code: no loop exists yet.
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind before any loop");
    let addr = listener.local_addr().unwrap();
    let client = std::thread::spawn(move || {
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        s.write_all(b"ping").unwrap();
        let mut buf = [0; 4];
        s.read_exact(&mut buf).unwrap();
        buf
    });
    let mut lp = EventLoop::new().unwrap();
    lp.run_until_complete(async {
        let (conn, _peer) = wait_for(listener.accept(), HANG).await.expect("accept hung").unwrap();
        let mut buf = [0; 4];
        wait_for(conn.read_exact(&mut buf), HANG)
            .await
            .expect("read hung")
            .unwrap();
        assert_eq!(&buf, b"ping");
        conn.write_all(b"pong").await.unwrap();
    })
    .unwrap();
    assert_eq!(&client.join().unwrap(), b"pong");
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn sockets_from_std_udp_and_unix_made_before_the_loop_work_inside_it() {
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listener = TcpListener::from_std(std_listener).expect("from_std before any loop");
    let addr = listener.local_addr().unwrap();
    let a = UdpSocket::bind("127.0.0.1:0").unwrap();
    let b = UdpSocket::bind("127.0.0.1:0").unwrap();
    let (ua, ub) = UnixStream::pair().unwrap();
    let path = std::env::temp_dir().join(format!("evloop-before-run-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let unix_listener = UnixListener::bind(&path).unwrap();
    evloop::run(async {
        let client = TcpStream::connect(addr).await.unwrap();
        let (server, _) = wait_for(listener.accept(), HANG).await.expect("accept hung").unwrap();
        client.write_all(b"t").await.unwrap();
        let mut one = [0; 1];
        wait_for(server.read_exact(&mut one), HANG)
            .await
            .expect("tcp hung")
            .unwrap();

        a.send_to(b"u", b.local_addr().unwrap()).await.unwrap();
        let mut buf = [0; 8];
        let (n, from) = wait_for(b.recv_from(&mut buf), HANG).await.expect("udp hung").unwrap();
        assert_eq!((&buf[..n], from), (&b"u"[..], a.local_addr().unwrap()));

        ua.write_all(b"x").await.unwrap();
        wait_for(ub.read_exact(&mut one), HANG)
            .await
            .expect("unix pair hung")
            .unwrap();
        assert_eq!(&one, b"x");

        let _c = UnixStream::connect(&path).await.unwrap();
        wait_for(unix_listener.accept(), HANG)
            .await
            .expect("unix accept hung")
            .unwrap();
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn a_socket_dropped_without_ever_meeting_a_loop_is_fine() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    // The port is free again: the socket was closed, nothing lingers.
    TcpListener::bind(addr).expect("rebind the port of a listener that never met a loop");
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn first_poll_with_no_loop_running_panics_clearly() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut accept = pin!(listener.accept());
    let mut cx = Context::from_waker(futures_task::noop_waker_ref());
    let result = catch_unwind(AssertUnwindSafe(|| accept.as_mut().poll(&mut cx).is_pending()));
    let msg = panic_text(&*result.expect_err("polled outside any loop, yet no panic"));
    assert!(
        msg.contains("a TcpListener") && msg.contains("must be used inside a running evloop event loop"),
        "{msg}"
    );
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn a_socket_made_before_any_loop_belongs_to_the_first_loop_that_polls_it() {
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let to = socket.local_addr().unwrap();
    let mut a = EventLoop::new().unwrap();
    a.run_until_complete(async { socket.send_to(b"x", to).await.unwrap() })
        .unwrap();
    // Still usable on its loop, across runs.
    a.run_until_complete(async {
        let mut buf = [0; 4];
        wait_for(socket.recv_from(&mut buf), HANG)
            .await
            .expect("recv hung")
            .unwrap()
    })
    .unwrap();
    let mut b = EventLoop::new().unwrap();
    let result = catch_unwind(AssertUnwindSafe(|| {
        b.run_until_complete(async {
            let mut buf = [0; 4];
            socket.recv_from(&mut buf).await
        })
    }));
    let msg = panic_text(&*result.expect_err("used on a second loop, yet no panic"));
    assert!(
        msg.contains("UdpSocket") && msg.contains("attached to a different loop"),
        "{msg}"
    );
}
