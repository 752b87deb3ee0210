//! The picture made from a trace (`examples/support/trace_svg.rs`, issue
//! 16): a bar per poll, an arrow per wake, a row per track; one tick alone
//! with `--tick`; and `cargo run --example trace` drawing countasync.

mod common;

#[path = "../examples/support/trace_svg.rs"]
mod trace_svg;

use std::process::Command;
use std::time::Duration;

use evloop::EventLoop;
use serde_json::Value;

/// Runs the seed's countasync on a manual clock with tracing; returns the
/// trace's text and the loop's poll count.
fn countasync_trace(name: &str) -> (String, u64) {
    let path = std::env::temp_dir().join(format!("evloop-test-{}-{name}.json", std::process::id()));
    let mut lp = EventLoop::builder().manual_clock().trace(&path).build().unwrap();
    let h = lp.handle();
    lp.run_until_complete(async {
        let tasks = (0..3).map(|_| {
            evloop::create_task(async {
                evloop::yield_now().await;
                evloop::sleep(Duration::from_secs(1)).await;
            })
        });
        evloop::gather(tasks).await;
    })
    .unwrap();
    let polls = h.stats().polls;
    drop(lp);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    (text, polls)
}

fn count(svg: &str, needle: &str) -> usize {
    svg.matches(needle).count()
}

fn events(text: &str) -> Vec<Value> {
    serde_json::from_str(text).unwrap()
}

#[test]
fn svg_has_a_bar_per_poll_an_arrow_per_wake_and_a_row_per_track() {
    let (text, polls) = countasync_trace("svg");
    let svg = trace_svg::to_svg(&text, &trace_svg::Options::default()).unwrap();
    assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"));

    assert_eq!(count(&svg, r#"<rect class="poll""#) as u64, polls, "a bar per poll");
    let events = events(&text);
    let flows = |cat: &str| events.iter().filter(|e| e["ph"] == "f" && e["cat"] == cat).count();
    assert_eq!(
        count(&svg, r#"<path class="wake" d="M"#),
        flows("wake") + 1,
        "an arrow per wake, and the legend's"
    );
    assert_eq!(count(&svg, r#"<path class="spawn" d="M"#), flows("spawn") + 1);
    // Rows: the loop, the main future, three tasks (no thread woke anyone).
    for row in ["loop", "main (run_until_complete)", "Task-1 (", "Task-2 (", "Task-3 ("] {
        assert!(svg.contains(&format!(r#"text-anchor="end">{row}"#)), "a row for {row}");
    }
    assert!(
        !svg.contains(">other threads<"),
        "no row for a track with nothing on it"
    );
    // The manual clock jumped a second while the loop had nothing to do
    // (in one or more jumps, as the timer wheel cascades): the axis is cut
    // there, and each cut says by how much.
    let cut_ms: f64 = svg
        .split(">+")
        .skip(1)
        .filter_map(|rest| rest.split_once(" ms<"))
        .map(|(ms, _)| ms.parse::<f64>().expect("a cut's label is in ms"))
        .sum();
    assert!(
        (cut_ms - 1000.0).abs() < 1.0,
        "the cuts add up to the 1 s slept, not {cut_ms} ms"
    );
    let ticks = events.iter().filter(|e| e["ph"] == "B" && e["name"] == "tick").count();
    assert_eq!(count(&svg, r#"<rect class="tick""#), ticks, "a band per tick");
}

#[test]
fn svg_of_one_tick_has_only_that_ticks_polls() {
    let (text, _) = countasync_trace("svg-tick");
    let events = events(&text);
    // Tick 2 polls the three tasks for the first time.
    let options = trace_svg::Options {
        tick: Some(2),
        title: Some("tick <2> & co".to_owned()),
    };
    let svg = trace_svg::to_svg(&text, &options).unwrap();
    assert_eq!(count(&svg, r#"<rect class="poll""#), 3);
    assert_eq!(count(&svg, r#"<rect class="tick""#), 1);
    assert!(svg.contains(">tick &lt;2&gt; &amp; co<"), "text is escaped");
    // The spawn arrows start in tick 1: they are left out.
    assert_eq!(count(&svg, r#"<path class="spawn" d="M"#), 1, "the legend's only");
    let ticks = events.iter().filter(|e| e["ph"] == "B" && e["name"] == "tick").count() as u64;
    let err = trace_svg::to_svg(
        &text,
        &trace_svg::Options {
            tick: Some(ticks + 1),
            title: None,
        },
    )
    .unwrap_err();
    assert!(err.contains("no tick"), "{err}");
}

#[test]
fn svg_reads_a_trace_cut_short() {
    // As if the process died before the loop could close the file.
    let (text, _) = countasync_trace("svg-cut");
    let cut = &text[..text.len() / 2];
    let svg = trace_svg::to_svg(cut, &trace_svg::Options::default()).unwrap();
    assert!(count(&svg, r#"<rect class="poll""#) > 0);
    assert!(trace_svg::to_svg("{}", &trace_svg::Options::default()).is_err());
}

#[test]
fn example_trace_draws_countasync() {
    let bin = common::build_example("trace");
    let out = Command::new(&bin).arg("--manual").output().expect("run the example");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let printed: Vec<&str> = stdout.lines().filter(|l| *l == "One" || *l == "Two").collect();
    assert_eq!(printed, ["One", "One", "One", "Two", "Two", "Two"]);
    let svg_path = (stdout.lines())
        .find_map(|l| l.strip_prefix("picture: "))
        .and_then(|l| l.split(" (").next())
        .expect("the example prints where the picture is");
    let svg = std::fs::read_to_string(svg_path).unwrap();
    // Main twice, each task twice.
    assert_eq!(count(&svg, r#"<rect class="poll""#), 8);
    for i in 1..=3 {
        assert!(svg.contains(&format!(">count-{i} (examples/trace.rs:")), "{svg}");
    }
}
