//! Name resolution off the loop thread (#14.5): `TcpStream::connect` with a
//! host name resolves on the `to_thread` pool, so the loop keeps running
//! while the lookup waits; literal addresses are used at once, on the loop
//! thread, without the pool.
//!
//! No DNS server is needed (there is none here): "localhost" comes from
//! `/etc/hosts`. A slow resolver is simulated by what makes any lookup on
//! the pool slow: every worker busy. The pool starts at most
//! [`MAX_WORKERS`] threads; with that many closures parked on a gate, a
//! lookup queued behind them cannot finish until the gate opens, however
//! long the test waits. So "the connect is still pending" is decided by the
//! gate, not by a sleep; every wait that could hang is bounded by
//! `wait_for`.

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use evloop::net::{TcpListener, TcpStream};
use evloop::{create_task, sleep, to_thread, wait_for, yield_now, Task};

/// `evloop::to_thread`'s pool size (its `MAX_WORKERS`).
const MAX_WORKERS: usize = 16;
/// Far longer than any wait here needs; only a hang reaches it.
const HANG: Duration = Duration::from_secs(10);

/// The tests here share the process-wide pool: one at a time.
static POOL: Mutex<()> = Mutex::new(());

/// Every pool worker parked until the returned gate opens.
struct Saturated {
    gate: Arc<(Mutex<bool>, Condvar)>,
    blockers: Vec<Task<Result<(), evloop::ToThreadError>>>,
}

impl Saturated {
    async fn new() -> Saturated {
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let started = Arc::new(AtomicUsize::new(0));
        let blockers = (0..MAX_WORKERS)
            .map(|_| {
                let (gate, started) = (gate.clone(), started.clone());
                create_task(to_thread(move || {
                    started.fetch_add(1, Ordering::SeqCst);
                    let (open, cond) = &*gate;
                    let mut open = open.lock().unwrap();
                    while !*open {
                        open = cond.wait(open).unwrap();
                    }
                }))
            })
            .collect();
        wait_for(
            async {
                while started.load(Ordering::SeqCst) < MAX_WORKERS {
                    yield_now().await;
                }
            },
            HANG,
        )
        .await
        .expect("the pool did not start its workers");
        Saturated { gate, blockers }
    }

    async fn release(mut self) {
        self.open();
        for b in std::mem::take(&mut self.blockers) {
            b.await.unwrap().unwrap();
        }
    }

    fn open(&self) {
        let (open, cond) = &*self.gate;
        *open.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cond.notify_all();
    }
}

impl Drop for Saturated {
    /// A failing test must not leave the shared pool parked for the next.
    fn drop(&mut self) {
        self.open();
    }
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn connect_to_a_host_name_resolves_off_the_loop_while_other_tasks_run() {
    let _one_at_a_time = POOL.lock().unwrap_or_else(|e| e.into_inner());
    evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let pool = Saturated::new().await;

        let connect = create_task(async move { TcpStream::connect(format!("localhost:{port}")).await });
        let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
        let t = ticks.clone();
        let ticker = create_task(async move {
            loop {
                t.set(t.get() + 1);
                sleep(Duration::from_millis(1)).await;
            }
        });
        // The lookup sits behind the parked workers: however long this
        // waits, the connect cannot finish (before #14.5 it resolved on the
        // loop thread and was done at its first poll).
        sleep(Duration::from_millis(30)).await;
        assert!(
            !connect.done(),
            "connect(\"localhost:..\") finished with every pool worker busy: it resolved on the loop thread"
        );
        assert!(ticks.get() > 1, "the loop did not run other tasks during the lookup");

        pool.release().await;
        let client = wait_for(connect, HANG)
            .await
            .expect("connect hung after the resolver was free")
            .unwrap()
            .expect("connect to localhost");
        let (server, _) = wait_for(listener.accept(), HANG).await.expect("accept hung").unwrap();
        assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
        ticker.cancel();
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn literal_addresses_connect_without_the_pool() {
    let _one_at_a_time = POOL.lock().unwrap_or_else(|e| e.into_inner());
    evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let port = addr.port();
        // Every worker busy: a literal that went through the pool would hang.
        let pool = Saturated::new().await;
        let text = format!("127.0.0.1:{port}");
        let list = [addr];
        let attempts: Vec<(&str, _)> = vec![
            (
                "SocketAddr",
                Box::pin(TcpStream::connect(addr)) as std::pin::Pin<Box<dyn std::future::Future<Output = _>>>,
            ),
            ("&str", Box::pin(TcpStream::connect(text.as_str()))),
            ("&String", Box::pin(TcpStream::connect(&text))),
            ("(&str, u16)", Box::pin(TcpStream::connect(("127.0.0.1", port)))),
            (
                "(Ipv4Addr, u16)",
                Box::pin(TcpStream::connect((Ipv4Addr::LOCALHOST, port))),
            ),
            ("&[SocketAddr]", Box::pin(TcpStream::connect(&list[..]))),
        ];
        for (what, fut) in attempts {
            let client = wait_for(fut, HANG)
                .await
                .unwrap_or_else(|_| panic!("connect({what}) waited for the pool: a literal was sent to a thread"))
                .unwrap();
            let (server, _) = listener.accept().await.unwrap();
            assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap(), "{what}");
        }
        pool.release().await;
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn a_name_that_does_not_resolve_is_an_error_not_a_panic() {
    let _one_at_a_time = POOL.lock().unwrap_or_else(|e| e.into_inner());
    evloop::run(async {
        // No port: the resolver refuses it before any lookup (no DNS needed).
        let err = wait_for(TcpStream::connect("localhost"), HANG)
            .await
            .expect("hung")
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput, "{err}");
    });
}
