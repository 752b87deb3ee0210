//! Child processes: `wait` learns of the exit when it happens (no polling),
//! `kill_on_drop`, and no zombie left by a dropped child. Real children
//! that really exit; their state is read from `/proc/<pid>/stat`.
#![cfg(target_os = "linux")]

use std::process::Stdio;
use std::time::{Duration, Instant};

use evloop::process::Command;

/// The process state letter of `pid` (`S` sleeping, `Z` zombie, ...), or
/// `None` once it is gone (reaped).
fn state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ...": the comm may contain spaces and parentheses.
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Waits (on the loop, up to 5 s) until `pid` is gone; panics with its last
/// state otherwise.
async fn assert_gone_soon(pid: u32, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while let Some(s) = state(pid) {
        assert!(Instant::now() < deadline, "{what}: pid {pid} still there in state {s}");
        evloop::sleep(Duration::from_millis(5)).await;
    }
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn wait_returns_within_a_few_ms_of_the_exit() {
    evloop::run(async {
        // `sleep` never writes: its stdout pipe reaches EOF when it exits,
        // which the reactor reports at once. That is the reference time.
        // 120 ms falls between two checks of the old polling wait (113 ms
        // and 163 ms, backing off 1, 2, 4, ... 50 ms), which noticed it
        // ~40 ms late.
        let mut child = Command::new("sleep")
            .arg("0.12")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let waiter = evloop::create_task(async move {
            let status = child.wait().await.unwrap();
            (status, Instant::now())
        });
        let mut buf = Vec::new();
        stdout.read_to_end(&mut buf).await.unwrap();
        let eof = Instant::now();
        let (status, exited) = evloop::wait_for(waiter, Duration::from_secs(5))
            .await
            .expect("wait hung")
            .unwrap();
        assert!(status.success());
        let late = exited.saturating_duration_since(eof);
        assert!(
            late < Duration::from_millis(20),
            "wait returned {late:?} after the child's exit"
        );
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn wait_on_a_child_that_already_exited_returns_at_once() {
    evloop::run(async {
        let mut child = Command::new("true").spawn().unwrap();
        let pid = child.id();
        // Until it is a zombie (exited, not reaped).
        let deadline = Instant::now() + Duration::from_secs(5);
        while state(pid) != Some('Z') {
            assert!(Instant::now() < deadline, "`true` did not exit");
            evloop::sleep(Duration::from_millis(1)).await;
        }
        let start = Instant::now();
        assert!(child.wait().await.unwrap().success());
        assert!(start.elapsed() < Duration::from_millis(20), "{:?}", start.elapsed());
        assert_eq!(state(pid), None, "reaped");
        // Waiting again gives the same status.
        assert!(child.wait().await.unwrap().success());
        assert!(child.try_wait().unwrap().unwrap().success());
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn kill_on_drop_kills_and_reaps_a_running_child() {
    evloop::run(async {
        let child = Command::new("sleep").arg("30").kill_on_drop(true).spawn().unwrap();
        let pid = child.id();
        assert!(
            matches!(state(pid), Some(s) if s != 'Z'),
            "not running: {:?}",
            state(pid)
        );
        drop(child);
        assert_gone_soon(pid, "kill_on_drop").await;
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn kill_on_drop_kills_a_child_whose_wait_was_abandoned() {
    evloop::run(async {
        let mut child = Command::new("sleep").arg("30").kill_on_drop(true).spawn().unwrap();
        let pid = child.id();
        let r = evloop::wait_for(child.wait(), Duration::from_millis(20)).await;
        assert!(r.is_err(), "sleep 30 exited");
        drop(child);
        assert_gone_soon(pid, "kill_on_drop after an abandoned wait").await;
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn kill_after_an_abandoned_wait_then_wait_again() {
    use std::os::unix::process::ExitStatusExt;
    evloop::run(async {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        assert!(evloop::wait_for(child.wait(), Duration::from_millis(20)).await.is_err());
        assert_eq!(child.try_wait().unwrap(), None);
        child.kill().unwrap();
        let status = evloop::wait_for(child.wait(), Duration::from_secs(5))
            .await
            .expect("wait hung")
            .unwrap();
        assert_eq!(status.signal(), Some(9));
        child.kill().unwrap(); // reaped: a no-op, as in std
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn a_dropped_child_runs_on_and_leaves_no_zombie() {
    evloop::run(async {
        let child = Command::new("sleep").arg("0.1").spawn().unwrap();
        let pid = child.id();
        drop(child);
        // Not killed: still running right after the drop...
        assert!(
            matches!(state(pid), Some(s) if s != 'Z'),
            "killed by drop: {:?}",
            state(pid)
        );
        // ...and reaped once it exits, not left as a zombie.
        assert_gone_soon(pid, "dropped child").await;
    });
}
