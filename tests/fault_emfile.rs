//! Fault injection: the process runs out of file descriptors (`EMFILE`)
//! while a server accepts.
//!
//! `accept` must fail with the error (not panic, not hang, not lose the
//! connection), and once descriptors are free again the same pending
//! connection is accepted. The test exhausts descriptors by opening
//! `/dev/null` until `open` fails; if the soft `RLIMIT_NOFILE` is large it
//! first lowers it with the `prlimit` tool (util-linux), as evloop has no
//! `libc` dependency to call `setrlimit` with, and restores it afterwards.
//! This file holds one test only: running out of descriptors would break
//! any test running beside it.

use std::fs::File;
use std::io::Write;
use std::process::Command;
use std::time::Duration;

use evloop::net::TcpListener;
use evloop::{wait_for, EventLoop};

const EMFILE: i32 = 24;

/// (soft, hard) `RLIMIT_NOFILE` from /proc/self/limits.
fn nofile_limits() -> Option<(String, String)> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let mut fields = line.split_whitespace().skip(3);
    Some((fields.next()?.to_owned(), fields.next()?.to_owned()))
}

fn set_soft_nofile(soft: &str, hard: &str) -> bool {
    let pid = std::process::id().to_string();
    Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={soft}:{hard}")])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn accept_fails_with_emfile_and_the_server_recovers() {
    let Some((soft, hard)) = nofile_limits() else {
        eprintln!("SKIPPED: /proc/self/limits unreadable");
        return;
    };
    let lowered = soft == "unlimited" || soft.parse::<u64>().map_or(true, |n| n > 4096);
    if lowered && !set_soft_nofile("1024", &hard) {
        eprintln!("SKIPPED: soft RLIMIT_NOFILE is {soft} and `prlimit` could not lower it");
        return;
    }
    let mut lp = EventLoop::new().unwrap();
    let outcome = lp.run_until_complete(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        // The client connects before descriptors run out: the connection
        // waits in the listen backlog, needing no descriptor of ours yet.
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        client.write_all(b"hi").unwrap();

        let mut hoard = Vec::new();
        let exhausted = loop {
            match File::open("/dev/null") {
                Ok(f) => hoard.push(f),
                Err(e) => break e,
            }
            assert!(hoard.len() < 1_000_000, "could not exhaust file descriptors");
        };
        assert_eq!(exhausted.raw_os_error(), Some(EMFILE), "{exhausted:?}");

        let first = wait_for(listener.accept(), Duration::from_secs(5))
            .await
            .expect("accept hung at EMFILE instead of failing");
        let err = first.expect_err("accept succeeded with no descriptor free");
        assert_eq!(err.raw_os_error(), Some(EMFILE), "{err:?}");

        // The loop itself still works at EMFILE: timers and tasks need no fd.
        evloop::sleep(Duration::from_millis(1)).await;

        drop(hoard);
        let (stream, peer) = wait_for(listener.accept(), Duration::from_secs(5))
            .await
            .expect("the pending connection was lost after EMFILE")
            .expect("accept failed after descriptors were freed");
        assert_eq!(peer, client.local_addr().unwrap());
        let mut buf = [0u8; 2];
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
    });
    if lowered {
        set_soft_nofile(&soft, &hard);
    }
    outcome.unwrap();
}
