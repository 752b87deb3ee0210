//! Unix signals (feature `signal`): real signals sent to this test process
//! with `kill(getpid(), ...)`. Only SIGUSR1 and SIGUSR2 are sent, so the
//! harness is not disturbed; every test installs its hook before sending.
//! Tests run in parallel threads of one process and signals are
//! process-wide, so each test tolerates deliveries meant for another.
#![cfg(feature = "signal")]

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::Duration;

use evloop::signal::{signal, signals, SignalKind};
use evloop::{wait_for, EventLoop};

const LIMIT: Duration = Duration::from_secs(5);

fn send(kind: SignalKind) {
    // SAFETY: kill(2) with our own pid and a signal we installed a hook for.
    let rc = unsafe { libc::kill(libc::getpid(), kind.as_raw()) };
    assert_eq!(rc, 0, "kill: {}", io::Error::last_os_error());
}

#[test]
fn recv_completes_on_a_real_sigusr1() {
    evloop::run(async {
        let mut usr1 = signal(SignalKind::USER_DEFINED1).unwrap();
        send(SignalKind::USER_DEFINED1);
        let got = wait_for(usr1.recv(), LIMIT).await.expect("SIGUSR1 never arrived");
        assert_eq!(got, SignalKind::USER_DEFINED1);
        // And again: the receiver keeps working.
        send(SignalKind::USER_DEFINED1);
        wait_for(usr1.recv(), LIMIT)
            .await
            .expect("second SIGUSR1 never arrived");
    });
}

#[test]
fn recv_wakes_a_loop_blocked_in_the_reactor() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    evloop::run(async {
        let mut usr2 = signal(SignalKind::USER_DEFINED2).unwrap();
        let sent = Arc::new(AtomicBool::new(false));
        // Sent from another thread while the loop is blocked in epoll.
        let sender = std::thread::spawn({
            let sent = sent.clone();
            move || {
                std::thread::sleep(Duration::from_millis(50));
                sent.store(true, Ordering::SeqCst);
                send(SignalKind::USER_DEFINED2);
            }
        });
        // Another test's SIGUSR2 may come first: wait for ours.
        while !sent.load(Ordering::SeqCst) {
            wait_for(usr2.recv(), LIMIT).await.expect("SIGUSR2 never arrived");
        }
        sender.join().unwrap();
    });
}

#[test]
fn signals_says_which_signal_arrived() {
    evloop::run(async {
        let mut sig = signals([SignalKind::USER_DEFINED1, SignalKind::USER_DEFINED2]).unwrap();
        assert_eq!(sig.kinds(), [SignalKind::USER_DEFINED1, SignalKind::USER_DEFINED2]);
        send(SignalKind::USER_DEFINED2);
        // Another test's SIGUSR1 may arrive too; SIGUSR2 must come.
        loop {
            match wait_for(sig.recv(), LIMIT).await.expect("SIGUSR2 never arrived") {
                SignalKind::USER_DEFINED2 => break,
                other => assert_eq!(other, SignalKind::USER_DEFINED1),
            }
        }
    });
}

#[test]
fn signal_is_a_stream() {
    use futures::StreamExt;
    evloop::run(async {
        let mut usr1 = signal(SignalKind::USER_DEFINED1).unwrap();
        send(SignalKind::USER_DEFINED1);
        let got = wait_for(usr1.next(), LIMIT).await.expect("SIGUSR1 never arrived");
        assert_eq!(got, Some(SignalKind::USER_DEFINED1));
    });
}

#[test]
fn add_signal_handler_runs_the_callback_on_the_loop() {
    let mut lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    let calls = Rc::new(Cell::new(0));
    let (c, h) = (calls.clone(), handle.clone());
    handle
        .add_signal_handler(SignalKind::USER_DEFINED1, move || {
            c.set(c.get() + 1);
            h.stop();
        })
        .unwrap();
    // Sent before the loop runs: the hook is installed already, so the loop
    // handles it once it runs.
    send(SignalKind::USER_DEFINED1);
    let guard = handle.call_later(LIMIT, {
        let h = handle.clone();
        move || h.stop()
    });
    let _ = lp.run_forever();
    guard.cancel();
    assert!(calls.get() >= 1, "the handler never ran");
    assert!(handle.remove_signal_handler(SignalKind::USER_DEFINED1));
    assert!(!handle.remove_signal_handler(SignalKind::USER_DEFINED1));
}

#[test]
fn remove_signal_handler_stops_the_callback_and_a_new_one_replaces_the_old() {
    evloop::run(async {
        let handle = evloop::get_running_loop();
        let first = Rc::new(Cell::new(0));
        let second = Rc::new(Cell::new(0));
        let f = first.clone();
        handle
            .add_signal_handler(SignalKind::USER_DEFINED2, move || f.set(f.get() + 1))
            .unwrap();
        let s = second.clone();
        // Replaces the first, as asyncio's add_signal_handler does.
        handle
            .add_signal_handler(SignalKind::USER_DEFINED2, move || s.set(s.get() + 1))
            .unwrap();
        // A receiver of our own tells when the delivery has been seen.
        let mut probe = signal(SignalKind::USER_DEFINED2).unwrap();
        send(SignalKind::USER_DEFINED2);
        wait_for(probe.recv(), LIMIT).await.unwrap();
        let deadline = std::time::Instant::now() + LIMIT;
        while second.get() == 0 {
            assert!(std::time::Instant::now() < deadline, "the new handler never ran");
            evloop::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(first.get(), 0, "the replaced handler ran");
        assert!(handle.remove_signal_handler(SignalKind::USER_DEFINED2));
        let before = second.get();
        send(SignalKind::USER_DEFINED2);
        wait_for(probe.recv(), LIMIT).await.unwrap();
        evloop::sleep(Duration::from_millis(20)).await;
        assert_eq!(second.get(), before, "a removed handler ran");
        assert_eq!(first.get(), 0);
    });
}

#[test]
fn two_loops_on_two_threads_both_see_one_signal() {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let ready = ready_tx.clone();
            std::thread::spawn(move || {
                evloop::run(async move {
                    let mut usr1 = signal(SignalKind::USER_DEFINED1).unwrap();
                    ready.send(()).unwrap();
                    wait_for(usr1.recv(), LIMIT).await.is_ok()
                })
            })
        })
        .collect();
    ready_rx.recv().unwrap();
    ready_rx.recv().unwrap();
    send(SignalKind::USER_DEFINED1);
    for t in threads {
        assert!(t.join().unwrap(), "a loop did not see the signal");
    }
}

#[test]
fn forbidden_and_unknown_signals_are_refused_with_a_clear_error() {
    for (num, name) in [
        (libc::SIGKILL, "SIGKILL"),
        (libc::SIGSTOP, "SIGSTOP"),
        (libc::SIGSEGV, "SIGSEGV"),
    ] {
        let err = signal(SignalKind::from_raw(num)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
        assert!(err.to_string().contains(name), "{err}");
        assert!(err.to_string().contains("cannot be handled"), "{err}");
    }
    let err = signal(SignalKind::from_raw(0)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    assert!(err.to_string().contains("not a signal"), "{err}");
    let lp = EventLoop::new().unwrap();
    let err = lp
        .handle()
        .add_signal_handler(SignalKind::from_raw(libc::SIGKILL), || {})
        .unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
}

/// Runs in a child process (this test binary again, with only this test):
/// SIGINT is sent to the child, never to the harness, and this process
/// installs no SIGINT hook (which would leave Ctrl-C ignored here).
#[test]
fn ctrl_c_completes_on_sigint() {
    const CHILD: &str = "EVLOOP_TEST_CTRL_C_CHILD";
    if std::env::var_os(CHILD).is_some() {
        evloop::run(async {
            let mut ctrl_c = std::pin::pin!(evloop::signal::ctrl_c());
            // The first poll installs the hook.
            assert!(futures::poll!(ctrl_c.as_mut()).is_pending());
            send(SignalKind::INTERRUPT);
            wait_for(ctrl_c, LIMIT).await.expect("ctrl_c never completed").unwrap();
        });
        return;
    }
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "ctrl_c_completes_on_sigint",
            "--test-threads=1",
            "--nocapture",
        ])
        .env(CHILD, "1")
        .stdout(std::process::Stdio::null())
        .status()
        .unwrap();
    // Killed by SIGINT (no hook) or failed: not a success.
    assert!(status.success(), "the child test failed: {status:?}");
}

#[test]
fn add_signal_handler_on_a_closed_loop_is_an_error() {
    let mut lp = EventLoop::new().unwrap();
    let handle = lp.handle();
    lp.close().unwrap();
    let err = handle.add_signal_handler(SignalKind::USER_DEFINED2, || {}).unwrap_err();
    assert!(err.to_string().contains("closed loop"), "{err}");
    assert!(!handle.remove_signal_handler(SignalKind::USER_DEFINED2));
}
