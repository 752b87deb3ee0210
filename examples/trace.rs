//! The seed's `countasync` as a picture: three tasks print "One", all sleep
//! one second at once, then print "Two".
//!
//! The loop writes a trace ([`evloop::Builder::trace`], Chrome's Trace Event
//! format), and this example turns it into one self-contained SVG, no tool
//! needed: a row per task, a bar per poll, the loop's ticks as bands, its
//! wait in `epoll_wait`, the timers firing, and an arrow from whatever woke
//! a task to its next poll. The same `.json` opens in
//! <https://ui.perfetto.dev> or `chrome://tracing`.
//!
//! ```text
//! cargo run --example trace                  # countasync, real clock (1 s)
//! cargo run --example trace -- --manual      # on a manual clock, at once
//! cargo run --example trace -- --busy        # sockets, a thread, a callback
//! cargo run --example trace -- my.json       # draw a trace you recorded
//! cargo run --example trace -- my.json --tick 4   # just tick 4
//! ```
//!
//! Record your own program's trace with `EVLOOP_TRACE=my.json cargo run`.
//! The files land in `target/trace/`; the example prints their paths. The
//! time axis is cut where the loop idled (the cut says for how long), so
//! polls of a few microseconds stay visible beside a one-second sleep.

#[path = "support/trace_svg.rs"]
mod trace_svg;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use evloop::EventLoop;

async fn count() {
    println!("One");
    // Non-blocking: hands control back to the event loop while waiting.
    evloop::sleep(Duration::from_secs(1)).await;
    println!("Two");
}

/// countasync, with the tasks named so their rows say who they are.
async fn countasync() {
    let tasks: Vec<_> = (1..=3)
        .map(|i| {
            let task = evloop::create_task(count());
            task.set_name(format!("count-{i}"));
            task
        })
        .collect();
    for result in evloop::gather(tasks).await {
        result.expect("count() does not fail");
    }
}

/// A busier program, for one tick with every kind of wake in it. A task
/// hogs the loop for 30 ms (`std::thread::sleep`, what debug mode warns
/// about) while a thread writes to a socket and finishes, and a timer and a
/// callback come due: the next tick finds the socket readable (waking the
/// reader), the thread's wake (the main future), and both timers due (the
/// sleeper, the callback); the sleeper then sets an event, waking a waiter.
async fn busy() {
    let (a, mut b) = evloop::net::UnixStream::pair().expect("a socket pair");
    let reader = evloop::create_task(async move {
        let mut buf = [0u8; 4];
        futures::AsyncReadExt::read_exact(&mut b, &mut buf).await.expect("read");
    });
    reader.set_name("reader");
    let event = std::rc::Rc::new(evloop::sync::Event::new());
    let e = event.clone();
    let waiter = evloop::create_task(async move { e.wait().await });
    waiter.set_name("waiter");
    let sleeper = evloop::create_task(async move {
        evloop::sleep(Duration::from_millis(10)).await;
        event.set(); // wakes the waiter
    });
    sleeper.set_name("sleeper");
    let hog = evloop::create_task(async { std::thread::sleep(Duration::from_millis(30)) });
    hog.set_name("hog");
    evloop::get_running_loop().call_later(Duration::from_millis(10), || {});
    // The thread writes through its own handle on the socket.
    let mut a = std::os::unix::net::UnixStream::from(std::os::fd::AsFd::as_fd(&a).try_clone_to_owned().expect("dup"));
    evloop::to_thread(move || {
        std::thread::sleep(Duration::from_millis(10));
        a.write_all(b"ping").expect("write");
    })
    .await
    .expect("the thread");
    let all = evloop::gather([reader, waiter, sleeper, hog]).await;
    assert!(all.iter().all(Result::is_ok));
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |f: &str| args.iter().any(|a| a == f);
    let tick = match args.iter().position(|a| a == "--tick") {
        Some(i) => Some(args.get(i + 1).ok_or("--tick needs a number")?.parse()?),
        None => None,
    };

    let mut options = trace_svg::Options { tick, title: None };
    let json = match args.iter().find(|a| !a.starts_with("--") && a.parse::<u64>().is_err()) {
        // Draw a trace recorded elsewhere.
        Some(path) => PathBuf::from(path),
        None => {
            let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("trace");
            std::fs::create_dir_all(&dir)?;
            let name = if flag("--busy") { "busy" } else { "countasync" };
            let json = dir.join(format!("{name}.json"));
            let mut builder = EventLoop::builder().trace(&json);
            if flag("--manual") {
                builder = builder.manual_clock();
            }
            let mut lp = builder.build()?;
            if flag("--busy") {
                lp.run_until_complete(busy())?;
            } else {
                lp.run_until_complete(countasync())?;
            }
            drop(lp); // completes the trace file
            let title = if flag("--busy") {
                "busy: a hog blocks the loop; the next tick finds I/O, a thread's wake and two timers"
            } else {
                "countasync: three tasks print \"One\", all sleep 1 s at once, then print \"Two\""
            };
            let clock = if flag("--manual") { "manual clock" } else { "real clock" };
            options.title = Some(format!("{title} ({clock})"));
            json
        }
    };

    let svg = trace_svg::to_svg(&std::fs::read_to_string(&json)?, &options)?;
    let out = match tick {
        Some(n) => json.with_extension(format!("tick{n}.svg")),
        None => json.with_extension("svg"),
    };
    std::fs::File::create(&out)?.write_all(svg.as_bytes())?;
    println!("\ntrace:   {} (open in https://ui.perfetto.dev)", json.display());
    println!("picture: {} (open in a browser)", out.display());
    Ok(())
}
