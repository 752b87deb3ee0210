//! Turns an evloop trace (Chrome's Trace Event JSON, as `Builder::trace`
//! writes it) into one self-contained SVG picture: a row per track (the
//! loop, other threads, the main future, each task), a bar per slice (polls,
//! `epoll_wait`, timers, I/O readiness, callbacks), ticks as shaded bands,
//! and an arrow per wake from its cause to the poll it led to.
//!
//! Shared by `examples/trace.rs` and `tests/loop_trace_svg.rs` through
//! `#[path]`. It reads only what the trace writer writes; other producers'
//! files may lack the track names it expects.
//!
//! # The time axis
//!
//! A loop's life is bursts of microseconds between long waits, which a
//! linear axis would squeeze into invisible slivers. So the axis is linear
//! within a burst (at a scale that makes a typical poll about 40 px wide),
//! every step is at least a few pixels (so that polls on a manual clock,
//! which take no time at all, still show, in order), and a gap longer than
//! the picture can afford is cut and labelled with its length, like a
//! broken axis on a chart. Ticks are labelled with their number and the
//! loop's time.

#![allow(dead_code)] // each includer uses part of it

use std::collections::HashMap;
use std::fmt::Write as _;

use serde_json::Value;

/// Which part of the trace to draw.
#[derive(Debug, Default, Clone)]
pub struct Options {
    /// Only this tick (its number, from 1), with the arrows inside it.
    pub tick: Option<u64>,
    /// A line of text above the picture.
    pub title: Option<String>,
}

const ROW_H: f64 = 30.0;
const TOP: f64 = 96.0;
/// Where the legend ends, at least: the picture is never narrower.
const LEGEND_W: f64 = 900.0;
const MIN_STEP: f64 = 6.0;
const MAX_LINEAR: f64 = 240.0;
const BREAK_W: f64 = 56.0;

/// One slice: a `B` and its `E`.
struct Slice<'a> {
    tid: u64,
    name: &'a str,
    start: usize,
    end: usize,
    args: &'a Value,
}

/// Reads a trace; a file cut short (no closing `]`, as after a crash that
/// skipped the loop's drop) is read up to its last complete event.
pub fn parse(text: &str) -> Result<Vec<Value>, String> {
    let parsed = serde_json::from_str::<Value>(text).or_else(|first| {
        let body = text.trim_end().trim_end_matches(',');
        let cut = body.rfind('}').map_or(body, |i| &body[..=i]);
        serde_json::from_str::<Value>(&format!("{cut}\n]")).map_err(|_| first)
    });
    match parsed {
        Ok(Value::Array(events)) => Ok(events),
        Ok(_) => Err("a trace is a JSON array of events".to_owned()),
        Err(e) => Err(format!("not a trace: {e}")),
    }
}

/// The picture of the trace `text`, as an SVG document.
pub fn to_svg(text: &str, options: &Options) -> Result<String, String> {
    let all = parse(text)?;
    let str_of = |e: &Value, k: &str| e[k].as_str().map(str::to_owned);

    // Track names and order.
    let mut names: HashMap<u64, String> = HashMap::new();
    let mut order: HashMap<u64, i64> = HashMap::new();
    for e in all.iter().filter(|e| e["ph"] == "M") {
        let tid = e["tid"].as_u64().unwrap_or(0);
        match e["name"].as_str() {
            Some("thread_name") => {
                names.insert(tid, str_of(&e["args"], "name").unwrap_or_default());
            }
            Some("thread_sort_index") => {
                order.insert(tid, e["args"]["sort_index"].as_i64().unwrap_or(0));
            }
            _ => {}
        }
    }

    // The timed events to draw, in time order (the writer's file order).
    let mut timed: Vec<&Value> = all.iter().filter(|e| e["ph"] != "M" && e["ts"].is_number()).collect();
    timed.sort_by(|a, b| ts(a).total_cmp(&ts(b)));
    if let Some(n) = options.tick {
        let is_tick = |e: &&Value| e["name"] == "tick";
        let begin = (timed.iter())
            .position(|e| e["ph"] == "B" && is_tick(e) && e["args"]["n"] == n)
            .ok_or_else(|| format!("the trace has no tick {n}"))?;
        let end = (timed[begin..].iter())
            .position(|e| e["ph"] == "E" && is_tick(e))
            .map_or(timed.len() - 1, |i| begin + i);
        timed = timed[begin..=end].to_vec();
    }

    // x of every event: see "The time axis".
    let durations: Vec<f64> = pair_slices(&timed)
        .iter()
        .filter(|s| s.name == "poll")
        .map(|s| ts(timed[s.end]) - ts(timed[s.start]))
        .filter(|d| *d > 0.0)
        .collect();
    let scale = match median(durations) {
        Some(d) => (40.0 / d).clamp(0.02, 40.0),
        None => 1.0,
    };
    let label_w = (names.values().map(|n| n.chars().count()).max().unwrap_or(10) as f64 * 6.6).clamp(90.0, 420.0);
    let left = label_w + 20.0;
    let mut xs = Vec::with_capacity(timed.len());
    let mut breaks = Vec::new(); // (x, gap in µs)
    let mut x = left + 10.0;
    for (i, e) in timed.iter().enumerate() {
        if i > 0 {
            let dt = ts(e) - ts(timed[i - 1]);
            let moves = matches!(e["ph"].as_str(), Some("B" | "E"));
            let linear = dt * scale;
            if linear > MAX_LINEAR {
                breaks.push((x + BREAK_W / 2.0, dt));
                x += BREAK_W;
            } else if moves {
                x += linear.max(MIN_STEP);
            } else {
                x += linear;
            }
        }
        xs.push(x);
    }
    let width = (x + 40.0).max(LEGEND_W);

    // Rows: named tracks that have something on them, in sort order.
    let mut tids: Vec<u64> = timed.iter().filter_map(|e| e["tid"].as_u64()).collect();
    tids.sort_by_key(|t| (order.get(t).copied().unwrap_or(i64::MAX), *t));
    tids.dedup();
    let row: HashMap<u64, usize> = tids.iter().enumerate().map(|(i, t)| (*t, i)).collect();
    let y_of = |tid: u64| TOP + row[&tid] as f64 * ROW_H;
    let height = TOP + tids.len() as f64 * ROW_H + 50.0;

    let mut svg = String::new();
    let _ = write!(
        svg,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}" font-family="sans-serif" font-size="12">
<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#b03a2e"/></marker>
<marker id="spawn-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#888"/></marker></defs>
<style>
.poll {{ fill: #3b7dd8; }} .cancelled {{ fill: #c0392b; }} .epoll {{ fill: #bbb; }} .timer {{ fill: #e67e22; }}
.io {{ fill: #27ae60; }} .callback {{ fill: #8e44ad; }} .remote {{ fill: #f1c40f; }} .mark {{ fill: #555; }}
.tick {{ fill: #f4f6fa; stroke: #dde3ee; }} .wake {{ stroke: #b03a2e; fill: none; stroke-width: 1.3; }}
.spawn {{ stroke: #888; fill: none; stroke-dasharray: 4 3; }} .label {{ fill: #222; }} .small {{ font-size: 10px; fill: #555; }}
</style>
<rect width="100%" height="100%" fill="white"/>
"##
    );
    let legend = [
        ("poll", "task poll"),
        ("epoll", "epoll_wait"),
        ("timer", "timer fired"),
        ("io", "I/O ready"),
        ("callback", "callback"),
        ("remote", "wake from another thread"),
        ("cancelled", "cancelled"),
    ];
    if let Some(title) = &options.title {
        let _ = writeln!(svg, r#"<text x="10" y="20" font-size="14">{}</text>"#, xml(title));
    }
    let mut lx = 10.0;
    for (class, text) in legend {
        let _ = writeln!(
            svg,
            r#"<rect class="{class}-key" x="{lx}" y="34" width="12" height="12" style="fill:{}"/><text x="{}" y="44">{text}</text>"#,
            color(class),
            lx + 16.0
        );
        lx += 26.0 + text.len() as f64 * 6.8;
    }
    let _ = writeln!(
        svg,
        r##"<path class="wake" d="M{lx},40 L{},40" marker-end="url(#arrow)"/><text x="{}" y="44">wake</text>"##,
        lx + 30.0,
        lx + 36.0
    );
    lx += 80.0;
    let _ = writeln!(
        svg,
        r##"<path class="spawn" d="M{lx},40 L{},40" marker-end="url(#spawn-arrow)"/><text x="{}" y="44">spawn</text>"##,
        lx + 30.0,
        lx + 36.0
    );

    let slices = pair_slices(&timed);
    // Ticks: bands behind everything, labelled above the rows.
    let mut last_label = f64::MIN;
    for s in slices.iter().filter(|s| s.name == "tick") {
        let (x0, x1) = (xs[s.start], xs[s.end]);
        let _ = writeln!(
            svg,
            r#"<rect class="tick" x="{x0:.1}" y="{}" width="{:.1}" height="{}"><title>tick {}</title></rect>"#,
            TOP - 8.0,
            (x1 - x0).max(1.0),
            tids.len() as f64 * ROW_H + 8.0,
            s.args["n"]
        );
        if x0 - last_label > 44.0 {
            let _ = writeln!(
                svg,
                r#"<text class="small" x="{x0:.1}" y="{}">tick {}</text><text class="small" x="{x0:.1}" y="{}">{}</text>"#,
                TOP - 22.0,
                s.args["n"],
                TOP + tids.len() as f64 * ROW_H + 16.0,
                fmt_time(ts(timed[s.start]))
            );
            last_label = x0;
        }
    }
    // Row labels and guide lines.
    for &tid in &tids {
        let y = y_of(tid);
        let name = names.get(&tid).cloned().unwrap_or_else(|| format!("track {tid}"));
        let _ = writeln!(
            svg,
            r##"<line x1="{left}" y1="{}" x2="{width:.0}" y2="{}" stroke="#eee"/><text class="label" x="{}" y="{}" text-anchor="end">{}</text>"##,
            y + ROW_H / 2.0,
            y + ROW_H / 2.0,
            left - 6.0,
            y + ROW_H / 2.0 + 4.0,
            xml(&name)
        );
    }
    // Cut gaps.
    for (bx, gap) in &breaks {
        let y1 = TOP - 8.0;
        let y2 = TOP + tids.len() as f64 * ROW_H;
        let _ = writeln!(
            svg,
            r##"<path d="M{:.1},{y1} L{:.1},{y2} M{:.1},{y1} L{:.1},{y2}" stroke="#999" stroke-dasharray="3 3"/><text class="small" x="{bx:.1}" y="{}" text-anchor="middle">+{}</text>"##,
            bx - 4.0,
            bx - 4.0,
            bx + 4.0,
            bx + 4.0,
            y2 + 30.0,
            fmt_time(*gap)
        );
    }
    // Slices.
    for s in slices.iter().filter(|s| s.name != "tick") {
        let (x0, x1) = (xs[s.start], xs[s.end]);
        let y = y_of(s.tid);
        let class = class_of(s.name);
        let took = ts(timed[s.end]) - ts(timed[s.start]);
        let track = names.get(&s.tid).map_or("", String::as_str);
        let _ = writeln!(
            svg,
            r#"<rect class="{class}" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{:.1}" rx="2"><title>{} on {}: {} at {}</title></rect>"#,
            y + 5.0,
            (x1 - x0).max(2.0),
            ROW_H - 10.0,
            xml(s.name),
            xml(track),
            fmt_time(took),
            fmt_time(ts(timed[s.start]))
        );
        if s.name == "epoll_wait" && x1 - x0 > 56.0 {
            let _ = writeln!(
                svg,
                r#"<text class="small" x="{:.1}" y="{:.1}">epoll_wait</text>"#,
                x0 + 3.0,
                y + ROW_H / 2.0 + 3.0
            );
        }
    }
    // Arrows.
    let mut starts: HashMap<u64, usize> = HashMap::new();
    for (i, e) in timed.iter().enumerate() {
        let Some(id) = e["id"].as_u64() else { continue };
        match e["ph"].as_str() {
            Some("s") => {
                starts.insert(id, i);
            }
            Some("f") => {
                let Some(s) = starts.remove(&id) else { continue };
                let (Some(t0), Some(t1)) = (timed[s]["tid"].as_u64(), e["tid"].as_u64()) else {
                    continue;
                };
                let (x0, y0) = (xs[s], y_of(t0) + ROW_H / 2.0);
                let (x1, y1) = (xs[i] + 1.0, y_of(t1) + ROW_H / 2.0);
                let bend = ((y1 - y0).abs() / 3.0).max(14.0);
                let (class, marker) = if e["cat"] == "spawn" {
                    ("spawn", "spawn-arrow")
                } else {
                    ("wake", "arrow")
                };
                let _ = writeln!(
                    svg,
                    r#"<path class="{class}" d="M{x0:.1},{y0:.1} C{:.1},{:.1} {:.1},{:.1} {x1:.1},{y1:.1}" marker-end="url(#{marker})"/>"#,
                    x0 + bend,
                    y0,
                    x1 - bend,
                    y1
                );
            }
            _ => {}
        }
    }
    svg.push_str("</svg>\n");
    Ok(svg)
}

/// Pairs `B` and `E` events per track.
fn pair_slices<'a>(timed: &[&'a Value]) -> Vec<Slice<'a>> {
    let mut open: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut out = Vec::new();
    for (i, e) in timed.iter().enumerate() {
        let tid = e["tid"].as_u64().unwrap_or(0);
        match e["ph"].as_str() {
            Some("B") => open.entry(tid).or_default().push(i),
            Some("E") => {
                if let Some(start) = open.get_mut(&tid).and_then(Vec::pop) {
                    let b = timed[start];
                    out.push(Slice {
                        tid,
                        name: b["name"].as_str().unwrap_or(""),
                        start,
                        end: i,
                        args: &b["args"],
                    });
                }
            }
            _ => {}
        }
    }
    // Slices a cut-short file left open end at its last event.
    let last = timed.len().saturating_sub(1);
    for (tid, stack) in open {
        for start in stack {
            let b = timed[start];
            out.push(Slice {
                tid,
                name: b["name"].as_str().unwrap_or(""),
                start,
                end: last,
                args: &b["args"],
            });
        }
    }
    out.sort_by_key(|s| s.start);
    out
}

fn ts(e: &Value) -> f64 {
    e["ts"].as_f64().unwrap_or(0.0)
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    Some(v[v.len() / 2])
}

fn class_of(name: &str) -> &'static str {
    match name {
        "poll" => "poll",
        "cancelled" => "cancelled",
        "epoll_wait" => "epoll",
        "timer" => "timer",
        "I/O ready" => "io",
        "callback" => "callback",
        "wake from another thread" => "remote",
        _ => "mark",
    }
}

fn color(class: &str) -> &'static str {
    match class {
        "poll" => "#3b7dd8",
        "cancelled" => "#c0392b",
        "epoll" => "#bbb",
        "timer" => "#e67e22",
        "io" => "#27ae60",
        "callback" => "#8e44ad",
        "remote" => "#f1c40f",
        _ => "#555",
    }
}

/// Microseconds, in the unit that reads best.
fn fmt_time(us: f64) -> String {
    if us >= 1_000_000.0 {
        format!("{:.3} s", us / 1_000_000.0)
    } else if us >= 1000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.1} µs")
    }
}

/// Escapes text for XML.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
