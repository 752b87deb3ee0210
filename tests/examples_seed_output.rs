//! The seed's snippets print what CPython prints: each example twin is run
//! as a real program and its output compared with CPython 3.11's for the
//! same lines (see `../shared/seed-asyncio-notes.txt`).

mod common;

use std::process::Command;

fn output_of(example: &str) -> String {
    let bin = common::build_example(example);
    let out = Command::new(&bin).output().expect("run the example");
    assert!(out.status.success(), "{example} failed: {out:?}");
    String::from_utf8(out.stdout).expect("utf-8 output")
}

#[test]
#[cfg_attr(miri, ignore = "runs cargo and a child process")]
fn future_cancel_prints_what_cpython_prints() {
    // future = Future(); future.cancel(); print(future.done()); print(future.cancelled())
    assert_eq!(output_of("future_cancel"), "True\nTrue\n");
}
