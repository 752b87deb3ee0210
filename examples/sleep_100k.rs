//! 100,000 concurrent `sleep(1 s)` tasks: wall time and peak memory, one
//! fresh process per runtime.
//!
//! Each run spawns 100,000 tasks that each sleep one second, awaits them
//! all, and prints the wall time from the first spawn to the last join and
//! the process's peak resident set (`VmHWM` from `/proc/self/status`; the
//! baseline before the runtime is built is printed too). A fresh process per
//! runtime keeps one runtime's heap from inflating the next one's peak.
//!
//! ```text
//! cargo run --release --example sleep_100k -- all        # every runtime, a markdown table
//! cargo run --release --example sleep_100k -- evloop     # or tokio | async_executor | monoio
//! ```
//!
//! `all` also writes the table to `<criterion dir>/sleep_100k.json`, which
//! `examples/bench_report.rs` prints next to the criterion results.

use std::future::Future;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

const TASKS: usize = 100_000;
const SLEEP: Duration = Duration::from_secs(1);
const RUNTIMES: [&str; 4] = ["evloop", "tokio", "async_executor", "monoio"];

/// A field of `/proc/self/status` in kB (`VmHWM`, `VmRSS`).
fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no {field} in /proc/self/status"))
}

/// Spawns `TASKS` sleepers with `spawn`, awaits them; returns how many woke.
async fn sleepers<H, S, F>(spawn: S, sleep: impl Fn(Duration) -> F) -> usize
where
    S: Fn(std::pin::Pin<Box<dyn Future<Output = usize>>>) -> H,
    H: Future<Output = usize>,
    F: Future + 'static,
{
    // Boxed once here for every runtime alike, so the tasks have one type.
    let handles: Vec<H> = (0..TASKS)
        .map(|_| {
            let s = sleep(SLEEP);
            spawn(Box::pin(async move {
                s.await;
                1
            }))
        })
        .collect();
    let mut n = 0;
    for h in handles {
        n += h.await;
    }
    n
}

/// Runs the workload on one runtime in this process; prints one JSON line.
fn run_one(runtime: &str) {
    let base_kb = status_kb("VmHWM");
    let start = Instant::now();
    let woke = match runtime {
        "evloop" => evloop::run(sleepers(
            |f| {
                let t = evloop::create_task(f);
                async move { t.await.expect("task failed") }
            },
            evloop::sleep,
        )),
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("tokio runtime");
            tokio::task::LocalSet::new().block_on(
                &rt,
                sleepers(
                    |f| {
                        let t = tokio::task::spawn_local(f);
                        async move { t.await.expect("task failed") }
                    },
                    tokio::time::sleep,
                ),
            )
        }
        "async_executor" => {
            let ex = async_executor::LocalExecutor::new();
            async_io::block_on(ex.run(sleepers(|f| ex.spawn(f), async_io::Timer::after)))
        }
        "monoio" => monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("monoio runtime (LegacyDriver)")
            .block_on(sleepers(monoio::spawn, monoio::time::sleep)),
        other => panic!("unknown runtime {other:?}; expected one of {RUNTIMES:?} or `all`"),
    };
    let wall = start.elapsed();
    assert_eq!(woke, TASKS);
    println!(
        "{{\"runtime\":\"{runtime}\",\"wall_s\":{:.4},\"peak_rss_kb\":{},\"baseline_kb\":{base_kb}}}",
        wall.as_secs_f64(),
        status_kb("VmHWM"),
    );
}

fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target")
        .join("criterion")
}

/// Runs every runtime in a fresh child process; prints a markdown table and
/// saves the raw lines as JSON.
fn run_all() {
    let exe = std::env::current_exe().expect("current_exe");
    let mut lines = Vec::new();
    println!("| runtime | wall time | peak RSS (VmHWM) | baseline RSS |");
    println!("| --- | --- | --- | --- |");
    for rt in RUNTIMES {
        let out = Command::new(&exe).arg(rt).output().expect("spawn child");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let Some(line) = stdout.lines().find(|l| l.starts_with('{')) else {
            println!(
                "| {rt} | failed: {} | — | — |",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            continue;
        };
        let v: serde_json::Value = serde_json::from_str(line).expect("child JSON");
        println!(
            "| {rt} | {:.3} s | {:.1} MB | {:.1} MB |",
            v["wall_s"].as_f64().unwrap_or(f64::NAN),
            v["peak_rss_kb"].as_f64().unwrap_or(f64::NAN) / 1024.0,
            v["baseline_kb"].as_f64().unwrap_or(f64::NAN) / 1024.0,
        );
        lines.push(v);
    }
    let dir = criterion_dir();
    if std::fs::create_dir_all(&dir).is_ok() {
        let json = serde_json::to_string_pretty(&lines).expect("serialize");
        let _ = std::fs::write(dir.join("sleep_100k.json"), json);
    }
}

fn main() {
    match std::env::args().nth(1).as_deref() {
        None | Some("all") => run_all(),
        Some(rt) => run_one(rt),
    }
}
