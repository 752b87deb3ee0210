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
//!
//! With `SLEEP_100K_PHASES=1` in the environment each run also reports where
//! its wall time went (every runtime measured the same way, at the cost of
//! one clock read per task as it wakes): `spawn_s`, from the start to the
//! last sleeper spawned (this includes creating its `sleep`, which fixes its
//! deadline); `late_s`, how long after the last-created sleep's deadline
//! (1 s after it was created) the last sleeper woke; and `join_s`, from that
//! wake to the last join; `exit_s`, from the last join until the runtime
//! has returned (shutting down, freeing). The four plus 1 s are the wall time.

use std::cell::Cell;
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

thread_local! {
    /// With `SLEEP_100K_PHASES`: the latest instant a sleeper woke at.
    static LAST_WAKE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Where the wall time of one run went (see the module docs).
struct Phases {
    spawned: Instant,
    last_deadline: Instant,
    joined: Instant,
}

/// Spawns `TASKS` sleepers with `spawn`, awaits their handles and takes
/// each result with `join`; returns how many woke and, if `phases`, when
/// each phase ended.
///
/// The vector holds each runtime's own join handle, unwrapped only when
/// awaited: wrapping a handle in an `async` block first would store it
/// twice per task (the captured handle and the awaited one), which for a
/// 100,000-task run weighs more than some runtimes' whole task.
async fn sleepers<H, O, S, F>(
    spawn: S,
    join: impl Fn(O) -> usize,
    sleep: impl Fn(Duration) -> F,
    phases: bool,
) -> (usize, Option<Phases>)
where
    S: Fn(std::pin::Pin<Box<dyn Future<Output = usize>>>) -> H,
    H: Future<Output = O>,
    F: Future + 'static,
{
    let mut last_created = None;
    // Boxed once here for every runtime alike, so the tasks have one type.
    let handles: Vec<H> = (0..TASKS)
        .map(|_| {
            let s = sleep(SLEEP);
            if phases {
                last_created = Some(Instant::now());
                spawn(Box::pin(async move {
                    s.await;
                    let now = Instant::now();
                    LAST_WAKE.set(Some(LAST_WAKE.get().map_or(now, |t| t.max(now))));
                    1
                }))
            } else {
                spawn(Box::pin(async move {
                    s.await;
                    1
                }))
            }
        })
        .collect();
    let spawned = Instant::now();
    let mut n = 0;
    for h in handles {
        n += join(h.await);
    }
    let phases = last_created.map(|created| Phases {
        spawned,
        last_deadline: created + SLEEP,
        joined: Instant::now(),
    });
    (n, phases)
}

/// Runs the workload on one runtime in this process; prints one JSON line.
fn run_one(runtime: &str) {
    let base_kb = status_kb("VmHWM");
    let phases = std::env::var_os("SLEEP_100K_PHASES").is_some_and(|v| v != "0");
    let start = Instant::now();
    let (woke, phases) = match runtime {
        "evloop" => evloop::run(sleepers(
            evloop::create_task,
            |r| r.expect("task failed"),
            evloop::sleep,
            phases,
        )),
        "tokio" => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .expect("tokio runtime");
            tokio::task::LocalSet::new().block_on(
                &rt,
                sleepers(
                    tokio::task::spawn_local,
                    |r| r.expect("task failed"),
                    tokio::time::sleep,
                    phases,
                ),
            )
        }
        "async_executor" => {
            let ex = async_executor::LocalExecutor::new();
            async_io::block_on(ex.run(sleepers(|f| ex.spawn(f), |n| n, async_io::Timer::after, phases)))
        }
        "monoio" => monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
            .enable_timer()
            .build()
            .expect("monoio runtime (LegacyDriver)")
            .block_on(sleepers(monoio::spawn, |n| n, monoio::time::sleep, phases)),
        other => panic!("unknown runtime {other:?}; expected one of {RUNTIMES:?} or `all`"),
    };
    let wall = start.elapsed();
    assert_eq!(woke, TASKS);
    let phases = phases.map_or(String::new(), |p| {
        let woke = LAST_WAKE.get().expect("a sleeper woke");
        let signed = |a: Instant, b: Instant| match a.checked_duration_since(b) {
            Some(d) => d.as_secs_f64(),
            None => -(b - a).as_secs_f64(),
        };
        format!(
            ",\"spawn_s\":{:.4},\"late_s\":{:.4},\"join_s\":{:.4},\"exit_s\":{:.4}",
            (p.spawned - start).as_secs_f64(),
            signed(woke, p.last_deadline),
            (p.joined - woke).as_secs_f64(),
            (start + wall - p.joined).as_secs_f64(),
        )
    });
    println!(
        "{{\"runtime\":\"{runtime}\",\"wall_s\":{:.4},\"peak_rss_kb\":{},\"baseline_kb\":{base_kb}{phases}}}",
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
