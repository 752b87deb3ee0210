//! A TCP server that shuts down gracefully on `SIGTERM` (or Ctrl-C): it
//! stops accepting, lets the connections it has finish (drains them), and
//! exits 0. A second signal during the drain exits at once. It shows
//! `evloop::signal::signals` (feature `signal`), cancelling the accept
//! task to close the listener, and waiting for open connections with an
//! `Event` and a deadline.
//!
//! Each connection reads one line, "works" on it for 2 seconds, answers
//! `done: <line>` and closes, so there is something to drain.
//!
//! ```text
//! cargo run --features signal --example signal_drain          # 127.0.0.1:8080, prints its pid
//! cargo run --features signal --example signal_drain -- 9000  # or another port
//! ```
//!
//! To see the drain, from another terminal (with the pid it printed):
//!
//! ```text
//! (echo one; sleep 3) | nc 127.0.0.1 8080 &  # a request in flight
//! sleep 0.5; kill -TERM <pid>                 # the server says it is draining 1 connection
//! nc -z 127.0.0.1 8080 || echo refused        # no longer accepting
//! # ~1.5 s later nc prints "done: one", and the server exits with status 0
//! ```
//!
//! Ctrl-C in the server's terminal does the same; pressing it twice exits
//! without waiting (status 130).

#[cfg(not(feature = "signal"))]
fn main() {
    eprintln!("signal_drain needs the `signal` feature: cargo run --features signal --example signal_drain");
}

#[cfg(feature = "signal")]
fn main() -> std::io::Result<()> {
    server::main()
}

#[cfg(feature = "signal")]
mod server {
    use std::cell::Cell;
    use std::io;
    use std::rc::Rc;
    use std::time::Duration;

    use evloop::net::{TcpListener, TcpStream};
    use evloop::signal::{signals, SignalKind};
    use evloop::sync::Event;

    /// How long a request takes to "process".
    const WORK: Duration = Duration::from_secs(2);
    /// How long the drain may take before the rest are cut off.
    const DRAIN_LIMIT: Duration = Duration::from_secs(10);

    /// The connections being served, and an event set whenever there are
    /// none.
    struct Open {
        count: Cell<usize>,
        none: Event,
    }

    impl Open {
        fn opened(&self) {
            self.count.set(self.count.get() + 1);
            self.none.clear();
        }
        fn closed(&self) {
            self.count.set(self.count.get() - 1);
            if self.count.get() == 0 {
                self.none.set();
            }
        }
    }

    async fn serve(stream: TcpStream) -> io::Result<()> {
        let mut line = Vec::new();
        let mut buf = [0; 1024];
        while !line.contains(&b'\n') {
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            line.extend_from_slice(&buf[..n]);
        }
        let request = String::from_utf8_lossy(&line).trim().to_owned();
        evloop::sleep(WORK).await;
        stream.write_all(format!("done: {request}\n").as_bytes()).await
    }

    async fn accept_loop(listener: TcpListener, open: Rc<Open>) {
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(conn) => conn,
                Err(e) => {
                    // Out of fds and the like: back off instead of spinning.
                    eprintln!("accept: {e}");
                    evloop::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            open.opened();
            let open = open.clone();
            // Detached: the connection runs on its own; `open` tracks it.
            drop(evloop::create_task(async move {
                if let Err(e) = serve(stream).await {
                    eprintln!("{peer}: {e}");
                }
                open.closed();
            }));
        }
    }

    pub fn main() -> io::Result<()> {
        let port: u16 = match std::env::args().nth(1) {
            Some(p) => p
                .parse()
                .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("not a port: {p}")))?,
            None => 8080,
        };
        evloop::run(async move {
            // Installed before serving: from here on SIGTERM and SIGINT no
            // longer kill the process, they arrive here.
            let mut stop = signals([SignalKind::TERMINATE, SignalKind::INTERRUPT])?;
            let listener = TcpListener::bind(("127.0.0.1", port))?;
            println!("pid {} listening on {}", std::process::id(), listener.local_addr()?);

            let open = Rc::new(Open {
                count: Cell::new(0),
                none: Event::new(),
            });
            open.none.set();
            let acceptor = evloop::create_task(accept_loop(listener, open.clone()));

            let kind = stop.recv().await;
            // Stop accepting: the cancelled task drops the listener, which
            // closes it, so new connections are refused from here on.
            acceptor.cancel();
            let _ = acceptor.await;
            println!(
                "{kind}: no longer accepting; draining {} connection(s)",
                open.count.get()
            );

            // A second signal cuts the drain short.
            drop(evloop::create_task(async move {
                let kind = stop.recv().await;
                eprintln!("{kind} again: exiting without waiting");
                std::process::exit(130);
            }));
            match evloop::wait_for(open.none.wait(), DRAIN_LIMIT).await {
                Ok(()) => println!("drained; bye"),
                // `evloop::run` cancels the connections left when it returns.
                Err(_) => println!(
                    "{} connection(s) still open after {DRAIN_LIMIT:?}; closing them",
                    open.count.get()
                ),
            }
            Ok(())
        })
    }
}
