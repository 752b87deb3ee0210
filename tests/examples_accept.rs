//! The example servers survive `accept` errors (issue 12, point 10): the
//! real `http_hello` binary, run with `ulimit -n 64`, gets 200 connections
//! at once, runs out of descriptors (`EMFILE`), and still answers a request
//! once the clients go away. It used to exit on the first `accept` error.
//!
//! The test builds the example with the `cargo` that runs it (a no-op when
//! `cargo test` has built the examples already; `CARGO_BIN_EXE_*` exists
//! only for `[[bin]]` targets), into the same target directory, and runs it
//! as a child process under `sh -c 'ulimit -n 64; exec ...'`. It waits on
//! what the server prints rather than on sleeps: the listening address,
//! then the logged `accept` error.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const FD_LIMIT: u32 = 64;
const CLIENTS: usize = 200;
/// How long any one step may take before the test gives up.
const STEP: Duration = Duration::from_secs(10);

/// The server child; killed when the test ends, however it ends.
struct Server {
    child: Child,
    stderr: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    /// Starts `bin args...` with at most `FD_LIMIT` open descriptors.
    fn start(bin: &PathBuf, args: &[&str]) -> Server {
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(format!("ulimit -n {FD_LIMIT} && exec \"$0\" \"$@\""))
            .arg(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the example");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Server {
            child,
            stderr: rx,
            seen: Vec::new(),
        }
    }

    /// Waits for a stderr line containing `needle`; panics, with what the
    /// server printed and how it exited, if it does not come.
    fn wait_for_line(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.stderr.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no {needle:?} from the server (exit status: {:?}); it printed:\n{}",
                    self.child.try_wait(),
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn assert_running(&mut self, when: &str) {
        // Drain what it printed, for the message.
        while let Ok(line) = self.stderr.try_recv() {
            self.seen.push(line);
        }
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "the server exited {when} ({status}); it printed:\n{}",
                self.seen.join("\n")
            );
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `GET /` on a fresh connection; the whole response.
fn get(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, STEP)?;
    s.set_read_timeout(Some(STEP))?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    s.read_to_string(&mut response)?;
    Ok(response)
}

fn survives_emfile(runtime: &str) {
    let start = Instant::now();
    let bin = common::build_example("http_hello");
    let mut server = Server::start(&bin, &[runtime, "0"]);
    let line = server.wait_for_line("listening on ");
    let addr: SocketAddr = line.rsplit(' ').next().unwrap().parse().unwrap();
    let hello = get(addr).expect("first request");
    assert!(hello.contains("Hello, World!"), "{hello}");

    // 200 clients connect at once, as a load generator's would, and stay
    // idle. The server accepts until it has no descriptor left; more wait
    // in the backlog (evloop's, from mio, holds 128; tokio's 1024); past
    // it the kernel drops SYNs and those clients retry (TCP's 1 s, 3 s,
    // ... retransmits).
    let (tx, connected) = mpsc::channel();
    for _ in 0..CLIENTS {
        let tx = tx.clone();
        thread::spawn(move || {
            let _ = tx.send(TcpStream::connect_timeout(&addr, STEP));
        });
    }
    drop(tx);
    server.wait_for_line("accept: ");
    server.assert_running("at EMFILE");

    // The clients leave as they get through: their connections close and
    // free the server's descriptors, and the server gets to the backlog
    // and to the retried connects.
    let (mut ok, mut failed) = (0, Vec::new());
    for res in connected.iter() {
        match res {
            Ok(stream) => {
                ok += 1;
                drop(stream);
            }
            Err(e) => failed.push(e.to_string()),
        }
    }
    server.assert_running("after EMFILE");
    assert_eq!(ok, CLIENTS, "connects that failed: {failed:?}");
    let response = get(addr).unwrap_or_else(|e| {
        server.assert_running("after EMFILE");
        panic!("request after EMFILE: {e}")
    });
    assert!(response.starts_with("HTTP/1.1 200 OK"), "{response}");
    assert!(response.ends_with("Hello, World!"), "{response}");
    server.assert_running("after answering");
    assert!(
        server.seen.iter().any(|l| l.contains("Too many open files")),
        "expected an EMFILE log line, got:\n{}",
        server.seen.join("\n")
    );
    eprintln!("{runtime}: survived EMFILE in {:?}", start.elapsed());
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not run processes or sockets")]
fn http_hello_evloop_survives_emfile() {
    survives_emfile("evloop");
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not run processes or sockets")]
fn http_hello_tokio_survives_emfile() {
    survives_emfile("tokio");
}
