//! End to end: `examples/signal_drain.rs` run as a real process, sent a
//! real SIGTERM (to the example, not to this test process): it stops
//! accepting, finishes the request in flight, and exits 0; two SIGINTs
//! exit 130 without waiting. `cargo test` builds the examples, with the
//! same features, next to the test binaries.
#![cfg(all(feature = "signal", target_os = "linux"))]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

fn example() -> PathBuf {
    // target/debug/deps/<this test> -> target/debug/examples/signal_drain
    let mut path = std::env::current_exe().unwrap();
    path.pop();
    path.pop();
    path.push("examples");
    path.push("signal_drain");
    assert!(
        path.exists(),
        "{} not built (cargo test builds examples)",
        path.display()
    );
    path
}

/// Starts the example on a free port; returns it and its address.
fn start() -> (Child, String, BufReader<std::process::ChildStdout>) {
    let mut child = Command::new(example()).arg("0").stdout(Stdio::piped()).spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    // "pid N listening on 127.0.0.1:PORT"
    let addr = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(line.contains("listening on"), "{line:?}");
    (child, addr, out)
}

fn send(child: &Child, sig: i32) {
    // SAFETY: kill(2) on our own child's pid, which we have not reaped.
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, sig) }, 0);
}

fn wait_at_most(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the example did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn connect(addr: &str) -> TcpStream {
    let conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    conn
}

#[test]
fn sigterm_stops_accepting_drains_and_exits_0() {
    let (mut child, addr, mut out) = start();
    let mut conn = connect(&addr);
    conn.write_all(b"one\n").unwrap();
    // Let the server read the request, then ask it to stop.
    std::thread::sleep(Duration::from_millis(200));
    send(&child, libc::SIGTERM);
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "SIGTERM: no longer accepting; draining 1 connection(s)");
    assert!(TcpStream::connect(&addr).is_err(), "still accepting after SIGTERM");
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "done: one\n", "the request in flight was not finished");
    assert_eq!(wait_at_most(&mut child, Duration::from_secs(10)).code(), Some(0));
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest.trim(), "drained; bye");
}

#[test]
fn a_second_sigint_exits_without_draining() {
    let (mut child, addr, _out) = start();
    let mut conn = connect(&addr);
    conn.write_all(b"one\n").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    send(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(200));
    send(&child, libc::SIGINT);
    // Well before the request's 2 s of work are over.
    let start = Instant::now();
    assert_eq!(wait_at_most(&mut child, Duration::from_secs(10)).code(), Some(130));
    assert!(start.elapsed() < Duration::from_millis(1500), "{:?}", start.elapsed());
}
