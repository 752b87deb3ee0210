//! A TCP echo server: every byte a client sends comes straight back. It
//! shows `TcpListener::accept` in a loop, one `create_task` per connection
//! (thousands of clients on one thread), and an accept loop that survives
//! running out of file descriptors.
//!
//! ```text
//! cargo run --release --example echo_server            # listens on 127.0.0.1:8080
//! cargo run --release --example echo_server -- 9000    # or another port
//! ```
//!
//! Then, from another terminal: `nc 127.0.0.1 8080` (type lines, see them
//! echoed), or many at once:
//! `for i in $(seq 100); do (echo hello $i | nc -q1 127.0.0.1 8080 &); done`.
//!
//! Out of file descriptors (`EMFILE`/`ENFILE`), `accept` fails but the
//! connection stays queued in the kernel's backlog. The loop
//! (`examples/support/accept.rs`, shared with the other servers) reports
//! it, sleeps 100 ms (other connections keep being served meanwhile;
//! closing them frees fds) and tries again, instead of exiting or spinning.

#[path = "support/accept.rs"]
mod accept;

use std::io;

use evloop::net::{TcpListener, TcpStream};

async fn serve(stream: TcpStream) -> io::Result<u64> {
    let mut buf = vec![0; 16 * 1024];
    let mut total = 0;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok(total); // the client closed its side
        }
        stream.write_all(&buf[..n]).await?;
        total += n as u64;
    }
}

async fn accept_loop(listener: TcpListener) {
    loop {
        // Errors are logged and ridden out inside (see `support/accept.rs`).
        let (stream, peer) = accept::accept(&listener).await;
        let _ = stream.set_nodelay(true);
        // Dropping the handle detaches the task: it runs on its own.
        drop(evloop::create_task(async move {
            if let Err(e) = serve(stream).await {
                eprintln!("{peer}: {e}");
            }
        }));
    }
}

fn main() -> io::Result<()> {
    let port: u16 = match std::env::args().nth(1) {
        Some(p) => p
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("not a port: {p}")))?,
        None => 8080,
    };
    evloop::run(async move {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        println!("echo server listening on {}", listener.local_addr()?);
        accept_loop(listener).await;
        Ok(())
    })
}
