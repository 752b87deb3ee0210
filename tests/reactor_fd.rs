//! Waiting on any file descriptor (#14.1): `AsyncFd` for async code and
//! `Handle::add_reader` / `add_writer` for callback code, on real fds
//! (socketpairs from std, a regular file for the refusal).
//!
//! No sleep decides an outcome: "not ready yet" is checked by polling once,
//! "not called again" by running the loop for a number of ticks that must
//! include I/O polls, and every wait that could hang is bounded by
//! `wait_for`.

mod common;

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use evloop::{wait_for, yield_now, AsyncFd, EventLoop};

use common::real_loop_with_reports;

/// Far longer than any wait here needs; only a hang reaches it.
const HANG: Duration = Duration::from_secs(10);

/// A connected pair, `a` non-blocking (the one evloop watches).
fn pair() -> (UnixStream, UnixStream) {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    (a, b)
}

/// Polls `fut` once with the task's waker: `true` if it is pending.
async fn pending_once<F: Future>(fut: F) -> bool {
    let mut fut = pin!(fut);
    std::future::poll_fn(|cx: &mut Context<'_>| Poll::Ready(fut.as_mut().poll(cx).is_pending())).await
}

/// Enough ticks that the loop polls for I/O several times (at least every
/// 61 jobs, and whenever the run queue empties).
async fn many_ticks() {
    for _ in 0..300 {
        yield_now().await;
    }
}

// ----- AsyncFd ---------------------------------------------------------------

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn async_fd_readable_waits_for_data_and_try_io_clears_on_would_block() {
    evloop::run(async {
        let (a, mut b) = pair();
        let a = AsyncFd::new(a).unwrap();
        assert!(pending_once(a.readable()).await, "readable with nothing to read");
        b.write_all(b"abc").unwrap();
        let mut guard = wait_for(a.readable(), HANG).await.expect("readable hung").unwrap();
        let mut buf = [0; 8];
        let n = guard.try_io(|s| (&*s).read(&mut buf)).unwrap().unwrap();
        assert_eq!(&buf[..n], b"abc");
        // Still remembered as readable: the next read finds WouldBlock, which
        // clears it, and then the wait lasts until the next edge.
        assert!(
            guard.try_io(|s| (&*s).read(&mut buf)).is_err(),
            "drained fd did not report WouldBlock"
        );
        assert!(
            pending_once(a.readable()).await,
            "readiness was not cleared by WouldBlock"
        );
        b.write_all(b"d").unwrap();
        let n = wait_for(a.read_with(|s| (&*s).read(&mut buf)), HANG)
            .await
            .expect("read_with hung")
            .unwrap();
        assert_eq!(&buf[..n], b"d");
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn async_fd_readiness_is_remembered_until_cleared() {
    evloop::run(async {
        let (a, mut b) = pair();
        let a = AsyncFd::new(a).unwrap();
        b.write_all(b"xy").unwrap();
        // One edge; two small reads; the second needs no new edge.
        let mut one = [0; 1];
        for want in [b'x', b'y'] {
            let mut guard = wait_for(a.readable(), HANG).await.expect("lost readiness").unwrap();
            guard.try_io(|s| (&*s).read_exact(&mut one)).unwrap().unwrap();
            assert_eq!(one[0], want);
        }
        // Readiness kept (never cleared), though nothing is left.
        assert!(!pending_once(a.readable()).await);
        a.readable().await.unwrap().clear_ready();
        assert!(pending_once(a.readable()).await, "clear_ready did not clear");
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn async_fd_writable_waits_for_space() {
    evloop::run(async {
        let (a, mut b) = pair();
        let a = AsyncFd::new(a).unwrap();
        let chunk = [7u8; 64 * 1024];
        let mut sent = 0;
        loop {
            let mut guard = wait_for(a.writable(), HANG).await.expect("writable hung").unwrap();
            match guard.try_io(|s| (&*s).write(&chunk)) {
                Ok(n) => sent += n.unwrap(),
                Err(_would_block) => break,
            }
        }
        assert!(pending_once(a.writable()).await, "full socket reported writable");
        let reader = std::thread::spawn(move || {
            let mut buf = vec![0; sent];
            b.read_exact(&mut buf).unwrap();
            b
        });
        wait_for(a.writable(), HANG)
            .await
            .expect("space freed, no wake")
            .unwrap();
        reader.join().unwrap();
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn async_fd_twice_on_one_fd_is_refused_with_the_fd_and_the_fix() {
    evloop::run(async {
        let (a, _b) = pair();
        let fd = a.as_raw_fd();
        let first = AsyncFd::new(a).unwrap();
        let err = AsyncFd::new(fd).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        let msg = err.to_string();
        assert!(msg.contains(&format!("fd {fd} is already registered")), "{msg}");
        assert!(msg.contains("drop the other owner"), "{msg}");
        // An evloop socket's fd is refused the same way.
        let (s, _t) = evloop::net::UnixStream::pair().unwrap();
        let err = AsyncFd::new(s.as_raw_fd()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        // into_inner deregisters (and hands the fd back open): the fd can
        // be registered again.
        let a = first.into_inner();
        let again = AsyncFd::new(fd).expect("into_inner did not deregister");
        // So does drop (of an AsyncFd over the bare number: `a` stays open).
        drop(again);
        let borrowed = AsyncFd::new(fd).expect("drop did not deregister");
        drop(borrowed);
        drop(a);
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate files")]
fn async_fd_on_a_regular_file_is_refused_clearly() {
    let path = std::env::temp_dir().join(format!("evloop-reactor-fd-{}", std::process::id()));
    let file = std::fs::File::create(&path).unwrap();
    evloop::run(async {
        let err = AsyncFd::new(file).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::PermissionDenied);
        assert!(err.to_string().contains("cannot be watched by epoll"), "{err}");
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn async_fd_made_before_the_loop_registers_at_first_use() {
    let (a, mut b) = pair();
    let a = AsyncFd::new(a).expect("AsyncFd before any loop");
    b.write_all(b"q").unwrap();
    let mut lp = EventLoop::new().unwrap();
    let got = lp
        .run_until_complete(async {
            let mut buf = [0; 1];
            wait_for(a.read_with(|s| (&*s).read(&mut buf)), HANG)
                .await
                .expect("hung")
                .unwrap();
            buf[0]
        })
        .unwrap();
    assert_eq!(got, b'q');
}

// ----- add_reader / add_writer -----------------------------------------------

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn add_reader_is_level_triggered_and_stops_when_drained() {
    let (a, mut b) = pair();
    let fd = a.as_raw_fd();
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let got = Rc::new(RefCell::new(Vec::new()));
    let calls = Rc::new(Cell::new(0));
    let (sink, count) = (got.clone(), calls.clone());
    // The socket outlives the callback (removing the reader drops it).
    let a = Rc::new(a);
    let reader_end = a.clone();
    h.add_reader(fd, move || {
        count.set(count.get() + 1);
        let mut byte = [0; 1];
        // One byte per call: the rest must bring the callback back.
        if let Ok(1) = (&*reader_end).read(&mut byte) {
            sink.borrow_mut().push(byte[0]);
        }
    })
    .unwrap();
    b.write_all(b"abc").unwrap();
    lp.run_until_complete(async {
        wait_for(
            async {
                while got.borrow().len() < 3 {
                    yield_now().await;
                }
            },
            HANG,
        )
        .await
        .expect("level-triggered reader stopped before the data was read");
        many_ticks().await;
    })
    .unwrap();
    assert_eq!(*got.borrow(), b"abc");
    assert_eq!(calls.get(), 3, "called again although the fd was drained");
    // More data later: called again.
    b.write_all(b"d").unwrap();
    lp.run_until_complete(async {
        wait_for(
            async {
                while got.borrow().len() < 4 {
                    yield_now().await;
                }
            },
            HANG,
        )
        .await
        .expect("reader not called for new data");
    })
    .unwrap();
    assert!(h.remove_reader(fd));
    assert!(!h.remove_reader(fd), "removed twice");
    b.write_all(b"e").unwrap();
    lp.run_until_complete(many_ticks()).unwrap();
    assert_eq!(*got.borrow(), b"abcd", "called after remove_reader");
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn add_writer_removing_itself_is_called_once_and_the_fd_is_free_again() {
    let (a, _b) = pair();
    let fd = a.as_raw_fd();
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    let calls = Rc::new(Cell::new(0));
    let (c, h2) = (calls.clone(), h.clone());
    h.add_writer(fd, move || {
        c.set(c.get() + 1);
        assert!(h2.remove_writer(fd));
    })
    .unwrap();
    lp.run_until_complete(async {
        wait_for(
            async {
                while calls.get() == 0 {
                    yield_now().await;
                }
            },
            HANG,
        )
        .await
        .expect("writer never called on a writable socket");
        many_ticks().await;
    })
    .unwrap();
    assert_eq!(calls.get(), 1);
    // Deregistered at once: an AsyncFd may take the fd now.
    lp.run_until_complete(async { AsyncFd::new(fd).map(drop) })
        .unwrap()
        .expect("remove_writer left the fd registered");
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn add_reader_on_an_fd_an_async_fd_owns_is_refused_and_a_second_add_replaces() {
    let (a, mut b) = pair();
    let fd = a.as_raw_fd();
    let mut lp = EventLoop::new().unwrap();
    let h = lp.handle();
    lp.run_until_complete(async {
        let owned = AsyncFd::new(fd).unwrap();
        let err = h.add_reader(fd, || {}).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert!(err.to_string().contains(&format!("fd {fd}")), "{err}");
        drop(owned);
    })
    .unwrap();
    let which = Rc::new(Cell::new(""));
    let w = which.clone();
    h.add_reader(fd, move || w.set("first")).unwrap();
    let w = which.clone();
    let a = Rc::new(a);
    let a2 = a.clone();
    h.add_reader(fd, move || {
        let _ = (&*a2).read(&mut [0; 8]);
        w.set("second");
    })
    .unwrap();
    b.write_all(b"z").unwrap();
    lp.run_until_complete(async {
        wait_for(
            async {
                while which.get().is_empty() {
                    yield_now().await;
                }
            },
            HANG,
        )
        .await
        .expect("reader never called");
    })
    .unwrap();
    assert_eq!(which.get(), "second");
    assert!(h.remove_reader(fd));
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn a_panicking_reader_is_reported_and_stays_registered() {
    let (a, mut b) = pair();
    let fd = a.as_raw_fd();
    let (mut lp, reports) = real_loop_with_reports();
    let h = lp.handle();
    let calls = Rc::new(Cell::new(0));
    let c = calls.clone();
    h.add_reader(fd, move || {
        c.set(c.get() + 1);
        let _ = (&a).read(&mut [0; 1]);
        panic!("reader boom");
    })
    .unwrap();
    b.write_all(b"12").unwrap();
    lp.run_until_complete(async {
        wait_for(
            async {
                while calls.get() < 2 {
                    yield_now().await;
                }
            },
            HANG,
        )
        .await
        .expect("a panicking reader was not called again");
    })
    .unwrap();
    let reports = reports.events();
    assert!(reports.len() >= 2, "{reports:?}");
    assert!(
        reports[0]
            .0
            .contains(&format!("add_reader callback of fd {fd} panicked")),
        "{reports:?}"
    );
    assert_eq!(reports[0].1.as_deref(), Some("reader boom"));
    assert!(h.remove_reader(fd));
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn an_fd_closed_while_watched_is_reported_and_forgotten() {
    let (a, mut b) = pair();
    let fd = a.as_raw_fd();
    let (mut lp, reports) = real_loop_with_reports();
    let h = lp.handle();
    let owner = Rc::new(RefCell::new(Some(a)));
    let o = owner.clone();
    // Misuse: the callback closes the fd without remove_reader first.
    h.add_reader(fd, move || drop(o.borrow_mut().take())).unwrap();
    b.write_all(b"x").unwrap();
    lp.run_until_complete(async {
        wait_for(
            async {
                while owner.borrow().is_some() {
                    yield_now().await;
                }
            },
            HANG,
        )
        .await
        .expect("reader never called");
        many_ticks().await;
    })
    .unwrap();
    let reports = reports.events();
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert!(
        reports[0].0.contains(&format!("fd {fd} was closed"))
            && reports[0].0.contains("remove_reader/remove_writer before closing"),
        "{reports:?}"
    );
    assert!(!h.remove_reader(fd), "a closed fd's watch was kept");
}
