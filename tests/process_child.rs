//! Subprocesses: output, exit status, piped stdin/stdout, kill, and a loop
//! that keeps running while a child works.

use std::process::Stdio;
use std::time::{Duration, Instant};

use evloop::process::Command;

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn output_collects_stdout_and_status() {
    let out = evloop::run(async { Command::new("echo").args(["hello", "world"]).output().await }).unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, b"hello world\n");
    assert!(out.stderr.is_empty());
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn output_collects_stderr_and_exit_code() {
    let out = evloop::run(async {
        Command::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 7"])
            .output()
            .await
    })
    .unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn cat_echoes_piped_stdin() {
    evloop::run(async {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        // More than a pipe buffer (64 KiB) each way: writer and reader must
        // run at the same time, which only works if neither blocks the loop.
        let data: Vec<u8> = (0..512 * 1024).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let writer = evloop::create_task(async move {
            stdin.write_all(&data).await.unwrap();
            // stdin drops here: cat sees end of input
        });
        let mut got = Vec::new();
        stdout.read_to_end(&mut got).await.unwrap();
        writer.await.unwrap();
        assert_eq!(got, expected);
        assert!(child.wait().await.unwrap().success());
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn wait_does_not_block_the_loop() {
    evloop::run(async {
        let ticks = std::rc::Rc::new(std::cell::Cell::new(0));
        let t = ticks.clone();
        let _ticker = evloop::create_task(async move {
            loop {
                evloop::sleep(Duration::from_millis(5)).await;
                t.set(t.get() + 1);
            }
        })
        .abort_on_drop();
        let status = Command::new("sleep").arg("0.2").status().await.unwrap();
        assert!(status.success());
        assert!(
            ticks.get() >= 10,
            "the loop stalled while waiting: {} ticks",
            ticks.get()
        );
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn kill_after_wait_times_out() {
    evloop::run(async {
        let mut child = Command::new("sleep").arg("30").spawn().unwrap();
        let start = Instant::now();
        assert!(evloop::wait_for(child.wait(), Duration::from_millis(50)).await.is_err());
        child.kill().unwrap();
        let status = child.wait().await.unwrap();
        assert!(!status.success());
        assert!(start.elapsed() < Duration::from_secs(5));
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri cannot spawn processes")]
fn missing_program_is_not_found() {
    let err = evloop::run(async { Command::new("/nonexistent/evloop-test-program").output().await }).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
}
