//! Turns criterion's saved results into the markdown table in BENCHMARKS.md.
//!
//! Reads every `<group>/<function>/new/{benchmark,estimates}.json` under the
//! criterion directory and prints a table per family of groups (groups that
//! share a peer, e.g. every executor workload): a row per group, each
//! runtime's median (and the median per operation when the group declared a
//! `Throughput::Elements`), then evloop's median divided by each peer's.
//! Nothing here knows the group or runtime names: any bench that puts an
//! `evloop` function (or, failing that, an `evloop_*` one) next to its peers
//! shows up. Side tables follow when their files exist in the criterion
//! directory: `allocs.json` (heap allocations per operation),
//! `memory.json` (bytes per idle task / armed timer) and
//! `yield_streak.json` (whether a yield lets another task run first), all
//! written by the executor bench; `sleep_100k.json` (`cargo run --release --example
//! sleep_100k`); `asyncio.json` (`python3 benches/asyncio/bench.py`), shown
//! as asyncio's time per op against evloop's.
//!
//! ```text
//! cargo bench --bench executor -- --warm-up-time 1 --measurement-time 3
//! cargo run --release --example sleep_100k               # optional
//! python3 benches/asyncio/bench.py                       # optional
//! cargo run --release --example bench_report            # or: -- <criterion dir>
//! ```
//!
//! The criterion directory is the first argument, else `$CRITERION_HOME`, else
//! `$CARGO_TARGET_DIR/criterion`, else `target/criterion` in this crate.
//!
//! With `--runs DIR1 DIR2 ...` (one criterion directory per run of the same
//! benches, as `benches/bench_runs.sh` saves them) the tables above come from
//! the last directory, and one more table follows: for every group with an
//! `evloop` function, evloop's median over each peer's in every run, and the
//! median of those ratios. A single run's ratios are unreliable on a noisy
//! machine; the median over runs is steadier. Side files (`allocs.json`, ...)
//! are read from the last directory when present there, else from the usual
//! criterion directory.
//!
//! ```text
//! cargo run --release --example bench_report -- --runs target/criterion-run-1 target/criterion-run-2
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// The function id every ratio is taken against.
const BASE: &str = "evloop";

/// One benchmark's result.
struct Entry {
    median_ns: f64,
    /// Operations per iteration, from `Throughput::Elements`.
    ops: Option<u64>,
}

/// What the command line asked for.
enum Mode {
    /// The report for one criterion directory.
    Single(PathBuf),
    /// `--runs DIR...`: several runs of the same benches, oldest first.
    Runs(Vec<PathBuf>),
}

/// `--runs DIR...`, else an optional criterion directory.
fn parse_args() -> Mode {
    let mut args = std::env::args_os().skip(1);
    match args.next() {
        Some(flag) if flag == "--runs" => {
            let dirs: Vec<PathBuf> = args.map(PathBuf::from).collect();
            if dirs.is_empty() {
                eprintln!("usage: bench_report --runs DIR1 [DIR2 ...] (criterion directories, one per run)");
                std::process::exit(2);
            }
            Mode::Runs(dirs)
        }
        Some(dir) => Mode::Single(dir.into()),
        None => Mode::Single(default_criterion_dir()),
    }
}

/// The criterion directory when none is given on the command line.
fn default_criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return home.into();
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("criterion")
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&fs::read_to_string(path).ok()?).ok()
}

/// Every directory under `dir` (recursively) named `new` that holds a
/// finished benchmark.
fn find_results(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir() {
            continue;
        }
        if path.file_name().is_some_and(|n| n == "new") {
            if path.join("benchmark.json").is_file() && path.join("estimates.json").is_file() {
                out.push(path);
            }
        } else {
            find_results(&path, out);
        }
    }
}

/// `(group, function, entry)` from one `new/` directory.
fn load(new_dir: &Path) -> Option<(String, String, Entry)> {
    let bench = read_json(&new_dir.join("benchmark.json"))?;
    let estimates = read_json(&new_dir.join("estimates.json"))?;
    let group = bench["group_id"].as_str()?.to_owned();
    let mut function = bench["function_id"].as_str().unwrap_or("").to_owned();
    if let Some(value) = bench["value_str"].as_str() {
        function = if function.is_empty() {
            value.to_owned()
        } else {
            format!("{function}/{value}")
        };
    }
    let median_ns = estimates["median"]["point_estimate"].as_f64()?;
    let throughput = &bench["throughput"];
    let ops = throughput["Elements"]
        .as_u64()
        .or_else(|| throughput["ElementsAndBytes"]["elements"].as_u64());
    Some((group, function, Entry { median_ns, ops }))
}

/// `1.23 ms`, `456 ns`, ...
fn fmt_time(ns: f64) -> String {
    let (v, unit) = if ns >= 1e9 {
        (ns / 1e9, "s")
    } else if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    format!("{v:.digits$} {unit}")
}

/// Peers shown first, in this order (the targets are stated against tokio);
/// any other id follows alphabetically.
const PREFERRED: [&str; 4] = ["tokio", "monoio", "async_executor", "local_pool"];

/// Column order: the base first, its variants (`evloop_*`) next, then the
/// preferred peers, then the rest alphabetically.
fn column_order(ids: impl Iterator<Item = String>) -> Vec<String> {
    let mut ids: Vec<String> = ids.collect();
    ids.sort_by_key(|id| {
        let rank = if id == BASE {
            0
        } else if id.starts_with(BASE) {
            1
        } else if let Some(i) = PREFERRED.iter().position(|p| p == id) {
            2 + i
        } else {
            2 + PREFERRED.len()
        };
        (rank, id.clone())
    });
    ids.dedup();
    ids
}

fn print_row(cells: &[String]) {
    println!("| {} |", cells.join(" | "));
}

/// Every result under a criterion directory, by group then function id.
fn load_groups(dir: &Path) -> Groups {
    let mut dirs = Vec::new();
    find_results(dir, &mut dirs);
    let mut groups = Groups::new();
    for d in &dirs {
        if let Some((group, function, entry)) = load(d) {
            groups.entry(group).or_default().insert(function, entry);
        }
    }
    groups
}

/// [`load_groups`], exiting with a message when `dir` holds no results.
fn load_groups_or_exit(dir: &Path) -> Groups {
    let groups = load_groups(dir);
    if groups.is_empty() {
        eprintln!(
            "no criterion results under {} (run `cargo bench --bench executor` first)",
            dir.display()
        );
        std::process::exit(1);
    }
    groups
}

fn main() {
    match parse_args() {
        Mode::Single(dir) => {
            let groups = load_groups_or_exit(&dir);
            print_report(&groups, |name| dir.join(name));
        }
        Mode::Runs(dirs) => {
            let runs: Vec<Groups> = dirs.iter().map(|d| load_groups_or_exit(d)).collect();
            let last = dirs.last().expect("--runs has at least one directory");
            let fallback = default_criterion_dir();
            let side_file = |name: &str| {
                let path = last.join(name);
                if path.is_file() {
                    path
                } else {
                    fallback.join(name)
                }
            };
            print_report(runs.last().expect("one result set per directory"), side_file);
            print_runs(&runs);
        }
    }
}

/// The classic report: the results tables for `groups`, then each side table
/// whose file (located by `side_file`) exists.
fn print_report(groups: &Groups, side_file: impl Fn(&str) -> PathBuf) {
    // One table per family of groups that share a runtime id (other than
    // `evloop` itself), so the executor groups and, say, the combinator
    // groups each get only their own columns.
    for (i, family) in families(groups).iter().enumerate() {
        if i > 0 {
            println!();
        }
        print_results(family);
    }

    // Side tables, each printed when its file exists.
    let allocs = read_json(&side_file("allocs.json"));
    print_side_table(allocs.as_ref(), "allocations per op", |v| format!("{v:.2}"));
    print_side_table(read_json(&side_file("memory.json")).as_ref(), "heap bytes", |v| {
        format!("{v:.0}")
    });
    print_side_table(
        read_json(&side_file("yield_streak.json")).as_ref(),
        "longest streak of one task's polls (2 tasks × 10 yields; 1: yields alternate, 10: no yield)",
        |v| format!("{v:.0}"),
    );
    print_sleep_100k(read_json(&side_file("sleep_100k.json")).as_ref());
    print_asyncio(read_json(&side_file("asyncio.json")).as_ref(), groups);
}

type Groups = BTreeMap<String, BTreeMap<String, Entry>>;

/// Splits the groups into families: two groups are in one family when they
/// share a function id other than [`BASE`] (transitively).
fn families(groups: &Groups) -> Vec<BTreeMap<&String, &BTreeMap<String, Entry>>> {
    let mut families: Vec<BTreeMap<&String, &BTreeMap<String, Entry>>> = Vec::new();
    for (name, entries) in groups {
        let shares = |fam: &BTreeMap<&String, &BTreeMap<String, Entry>>| {
            fam.values()
                .any(|other| entries.keys().any(|id| id != BASE && other.contains_key(id)))
        };
        let mut merged: BTreeMap<&String, &BTreeMap<String, Entry>> = BTreeMap::new();
        merged.insert(name, entries);
        families.retain(|fam| {
            if shares(fam) {
                merged.extend(fam.iter().map(|(k, v)| (*k, *v)));
                false
            } else {
                true
            }
        });
        families.push(merged);
    }
    // Largest family (the executor groups) first.
    families.sort_by_key(|f| std::cmp::Reverse(f.len()));
    families
}

/// One results table: a row per group, a column per function id in the
/// family, then evloop's median over each peer's.
fn print_results(groups: &BTreeMap<&String, &BTreeMap<String, Entry>>) {
    let columns = column_order(groups.values().flat_map(|g| g.keys().cloned()));
    let peers: Vec<&String> = columns.iter().filter(|id| !id.starts_with(BASE)).collect();

    let mut header = vec!["group".to_owned(), "ops/iter".to_owned()];
    header.extend(columns.iter().map(|c| format!("{c} median (per op)")));
    header.extend(peers.iter().map(|p| format!("{BASE}/{p}")));
    print_row(&header);
    print_row(&vec!["---".to_owned(); header.len()]);

    for (group, entries) in groups {
        let ops = entries.values().find_map(|e| e.ops);
        let mut row = vec![(*group).clone(), ops.map_or_else(|| "—".to_owned(), |n| n.to_string())];
        for id in &columns {
            row.push(match entries.get(id) {
                Some(e) => match e.ops {
                    Some(n) if n > 0 => format!("{} ({})", fmt_time(e.median_ns), fmt_time(e.median_ns / n as f64)),
                    _ => fmt_time(e.median_ns),
                },
                None => "—".to_owned(),
            });
        }
        // A group without a plain `evloop` entry is measured against its
        // first `evloop_*` variant (e.g. `evloop_gather`).
        let base = entries
            .get(BASE)
            .or_else(|| entries.iter().find(|(id, _)| id.starts_with(BASE)).map(|(_, e)| e));
        for peer in &peers {
            row.push(match (base, entries.get(peer.as_str())) {
                (Some(b), Some(p)) if p.median_ns > 0.0 => format!("{:.2}×", b.median_ns / p.median_ns),
                _ => "—".to_owned(),
            });
        }
        print_row(&row);
    }
}

/// A `{ row: { column: number } }` JSON object as a table, columns in
/// [`column_order`].
fn print_side_table(table: Option<&Value>, title: &str, fmt: impl Fn(f64) -> String) {
    let Some(Value::Object(rows)) = table else { return };
    let ids = column_order(
        rows.values()
            .filter_map(Value::as_object)
            .flat_map(|m| m.keys().cloned()),
    );
    println!();
    let mut header = vec![title.to_owned()];
    header.extend(ids.iter().cloned());
    print_row(&header);
    print_row(&vec!["---".to_owned(); header.len()]);
    for (row_name, by_id) in rows {
        let mut row = vec![row_name.clone()];
        for id in &ids {
            row.push(by_id[id.as_str()].as_f64().map_or_else(|| "—".to_owned(), &fmt));
        }
        print_row(&row);
    }
}

/// `examples/sleep_100k.rs all`: wall time and peak RSS per runtime.
fn print_sleep_100k(runs: Option<&Value>) {
    let Some(Value::Array(runs)) = runs else { return };
    println!();
    print_row(&[
        "100,000 × sleep(1 s)".into(),
        "wall time".into(),
        "peak RSS (VmHWM)".into(),
    ]);
    print_row(&vec!["---".to_owned(); 3]);
    for r in runs {
        print_row(&[
            r["runtime"].as_str().unwrap_or("?").to_owned(),
            format!("{:.3} s", r["wall_s"].as_f64().unwrap_or(f64::NAN)),
            format!("{:.1} MiB", r["peak_rss_kb"].as_f64().unwrap_or(f64::NAN) / 1024.0),
        ]);
    }
}

/// `benches/asyncio/bench.py`: CPython asyncio per op next to evloop's
/// criterion median per op, and how many times faster evloop is.
fn print_asyncio(py: Option<&Value>, groups: &Groups) {
    let Some(py) = py else { return };
    let Some(Value::Object(results)) = py.get("results") else {
        return;
    };
    println!();
    let version = py["python"].as_str().unwrap_or("?");
    print_row(&[
        "vs CPython asyncio".into(),
        format!("asyncio {version} per op"),
        "evloop per op".into(),
        "asyncio/evloop".into(),
    ]);
    print_row(&vec!["---".to_owned(); 4]);
    for (group, r) in results {
        let Some(py_op) = r["per_op_ns"].as_f64() else { continue };
        let ev = groups
            .get(group)
            .and_then(|g| g.get(BASE))
            .and_then(|e| e.ops.map(|n| e.median_ns / n as f64));
        print_row(&[
            group.clone(),
            fmt_time(py_op),
            ev.map_or_else(|| "—".to_owned(), fmt_time),
            ev.map_or_else(|| "—".to_owned(), |ev| format!("{:.1}×", py_op / ev)),
        ]);
    }
    if let Some(s) = results.get("sleep_100k") {
        print_row(&[
            "sleep_100k (wall, peak RSS)".into(),
            format!(
                "{:.3} s, {:.1} MiB",
                s["wall_s"].as_f64().unwrap_or(f64::NAN),
                s["peak_rss_kb"].as_f64().unwrap_or(f64::NAN) / 1024.0
            ),
            "see the sleep table".into(),
            "—".into(),
        ]);
    }
}

/// `--runs`: a row per group with a plain [`BASE`] function in any run, a
/// column per peer (any other id not starting with [`BASE`]), each cell the
/// median over runs of evloop's median / the peer's, then every run's ratio.
fn print_runs(runs: &[Groups]) {
    let groups: BTreeSet<&String> = runs
        .iter()
        .flat_map(|run| run.iter())
        .filter(|(_, entries)| entries.contains_key(BASE))
        .map(|(name, _)| name)
        .collect();
    let peers = column_order(
        runs.iter()
            .flat_map(|run| run.iter())
            .filter(|(name, _)| groups.contains(name))
            .flat_map(|(_, entries)| entries.keys())
            .filter(|id| !id.starts_with(BASE))
            .cloned(),
    );

    println!();
    let mut header = vec![format!("{BASE} / peer, median over {} runs", runs.len())];
    header.extend(peers.iter().cloned());
    print_row(&header);
    print_row(&vec!["---".to_owned(); header.len()]);
    for group in groups {
        let mut row = vec![group.clone()];
        for peer in &peers {
            let ratios: Vec<Option<f64>> = runs.iter().map(|run| run_ratio(run, group, peer)).collect();
            row.push(ratios_cell(&ratios));
        }
        print_row(&row);
    }
}

/// evloop's median over `peer`'s in `group` of one run, when both ran.
fn run_ratio(run: &Groups, group: &str, peer: &str) -> Option<f64> {
    let entries = run.get(group)?;
    let base = entries.get(BASE)?;
    let peer = entries.get(peer)?;
    (peer.median_ns > 0.0).then(|| base.median_ns / peer.median_ns)
}

/// `1.60× (1.96, 1.06, 1.60)`: the median of the runs' ratios, then each
/// run's ratio in run order (`—` for a run without both results, which the
/// median skips); `—` alone when no run has both.
fn ratios_cell(ratios: &[Option<f64>]) -> String {
    let mut present: Vec<f64> = ratios.iter().flatten().copied().collect();
    let Some(m) = median(&mut present) else {
        return "—".to_owned();
    };
    let per_run: Vec<String> = ratios
        .iter()
        .map(|r| r.map_or_else(|| "—".to_owned(), |r| format!("{r:.2}")))
        .collect();
    format!("{m:.2}× ({})", per_run.join(", "))
}

/// The median (the mean of the middle two for an even count); `None` when
/// empty. Sorts `values`.
fn median(values: &mut [f64]) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(values[n / 2]),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}
