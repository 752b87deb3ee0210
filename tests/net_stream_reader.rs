//! `StreamReader`'s limit (issue 12, point 9): a peer that sends a line that
//! never ends cannot make `read_line` / `read_until` buffer more than the
//! limit (64 KiB by default, asyncio's), the call fails with `InvalidData`
//! once the limit is passed, and the reader stays usable: the next call
//! skips the rest of the long line and returns the one after it, whole.
//!
//! The long lines come from a writer thread through a real Unix socket, in
//! 64 KiB writes, so the reader sees them in the chunks a slow peer would
//! send. Memory is checked two ways: the caller's buffer, and the peak of
//! the heap bytes the loop's thread holds during the call (a counting
//! allocator below; the writer thread's buffers are not counted).

use std::io::{self, Write};
use std::os::unix::net::UnixStream as StdUnixStream;
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use evloop::net::{StreamReader, UnixStream};
use evloop::wait_for;

const KIB: usize = 1024;
const MIB: usize = 1024 * KIB;
const DEFAULT_LIMIT: usize = 64 * KIB;

// ----- peak heap bytes of the current thread ------------------------------

#[path = "common/counting_alloc.rs"]
mod counting_alloc;

#[global_allocator]
static ALLOC: counting_alloc::Counting = counting_alloc::Counting;

/// Runs `f` and returns its result with the most heap bytes this thread
/// held at once during it, above what it held when `f` began.
async fn peak_during<T>(f: impl std::future::Future<Output = T>) -> (T, usize) {
    let base = counting_alloc::live_bytes();
    counting_alloc::reset_peak();
    let out = f.await;
    let peak = counting_alloc::peak_bytes();
    (out, (peak - base).max(0) as usize)
}

// ----- a peer on another thread ---------------------------------------------

/// Writes `pieces` to `peer` from a thread: each piece is `(byte, count)`
/// (`count` copies of `byte`, in 64 KiB writes) or raw bytes. Then keeps
/// the socket open until `hold` (if any) is dropped or sends, and closes
/// it. Write errors (the reader went away) end the thread quietly.
fn spawn_writer(
    mut peer: StdUnixStream,
    pieces: Vec<Piece>,
    hold: Option<mpsc::Receiver<()>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let chunk = vec![0u8; 64 * KIB];
        for piece in pieces {
            let res = match piece {
                Piece::Fill(byte, mut count) => {
                    let chunk: Vec<u8> = chunk.iter().map(|_| byte).collect();
                    let mut res = Ok(());
                    while count > 0 && res.is_ok() {
                        let n = count.min(chunk.len());
                        res = peer.write_all(&chunk[..n]);
                        count -= n;
                    }
                    res
                }
                Piece::Bytes(b) => peer.write_all(b),
            };
            if res.is_err() {
                return;
            }
        }
        if let Some(hold) = hold {
            let _ = hold.recv_timeout(Duration::from_secs(30));
        }
    })
}

enum Piece {
    Fill(u8, usize),
    Bytes(&'static [u8]),
}

/// A connected pair: the loop's end, and a std end for a writer thread.
fn socket_pair() -> (UnixStream, StdUnixStream) {
    let (ours, theirs) = StdUnixStream::pair().unwrap();
    (UnixStream::from_std(ours).unwrap(), theirs)
}

fn assert_limit_error(err: &io::Error, limit: usize) {
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err:?}");
    let inner = err.get_ref().expect("an inner LimitOverrun error").to_string();
    let want = format!(
        "separator not found within the limit of {limit} bytes ({} bytes discarded",
        limit + 1
    );
    assert!(inner.starts_with(&want), "{inner:?} does not start with {want:?}");
}

// ----- the default limit ----------------------------------------------------

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn read_line_fails_past_the_default_limit_and_reads_the_next_line() {
    evloop::run(async {
        let (ours, theirs) = socket_pair();
        let writer = spawn_writer(
            theirs,
            vec![Piece::Fill(b'x', 4 * MIB), Piece::Bytes(b"\nafter\n")],
            None,
        );
        let mut reader = StreamReader::new(ours);
        let mut line = String::from("kept:");

        let (res, peak) = peak_during(reader.read_line(&mut line)).await;
        let err = res.expect_err("a 4 MiB line passed a 64 KiB limit");
        assert_limit_error(&err, DEFAULT_LIMIT);
        assert_eq!(line, "kept:", "the caller's buffer holds nothing of the long line");
        assert!(peak < 4 * DEFAULT_LIMIT, "read_line held {peak} bytes at once");

        // The rest of the 4 MiB line is skipped, bounded all the same; the
        // line after it comes back whole, not a cut-off tail.
        let (res, peak) = peak_during(reader.read_line(&mut line)).await;
        assert_eq!(res.unwrap(), 6);
        assert_eq!(line, "kept:after\n");
        assert!(peak < 4 * DEFAULT_LIMIT, "skipping held {peak} bytes at once");
        drop(reader);
        writer.join().unwrap();
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn read_until_fails_at_once_on_a_64_mib_line_that_never_ends() {
    evloop::run(async {
        let (ours, theirs) = socket_pair();
        // The peer sends 64 MiB without a newline, then keeps the
        // connection open: the line never ends.
        let (hold_tx, hold) = mpsc::channel();
        let writer = spawn_writer(theirs, vec![Piece::Fill(b'y', 64 * MIB)], Some(hold));
        let mut reader = StreamReader::new(ours);
        let mut out = Vec::new();

        let read = wait_for(peak_during(reader.read_until(b'\n', &mut out)), Duration::from_secs(10));
        let (res, peak) = read.await.expect("read_until waited for a line that never ends");
        let err = res.expect_err("a never-ending line passed the limit");
        assert_limit_error(&err, DEFAULT_LIMIT);
        assert!(out.is_empty(), "{} bytes of the long line handed out", out.len());
        assert!(
            out.capacity() <= 2 * (DEFAULT_LIMIT + 1),
            "the caller's buffer grew to {}",
            out.capacity()
        );
        assert!(peak < 4 * DEFAULT_LIMIT, "read_until held {peak} bytes at once");

        // Dropping the reader closes our end; the writer's next write fails
        // and it stops.
        drop(reader);
        drop(hold_tx);
        writer.join().unwrap();
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn read_line_accepts_a_line_exactly_at_the_limit_and_not_one_byte_more() {
    evloop::run(async {
        let (ours, theirs) = socket_pair();
        let writer = spawn_writer(
            theirs,
            vec![
                Piece::Fill(b'a', DEFAULT_LIMIT),
                Piece::Bytes(b"\n"),
                Piece::Fill(b'b', DEFAULT_LIMIT + 1),
                Piece::Bytes(b"\nnext\n"),
            ],
            None,
        );
        let mut reader = StreamReader::new(ours);
        assert_eq!(reader.limit(), DEFAULT_LIMIT);
        let mut line = String::new();

        assert_eq!(reader.read_line(&mut line).await.unwrap(), DEFAULT_LIMIT + 1);
        assert_eq!(line.len(), DEFAULT_LIMIT + 1);
        assert!(line.bytes().take(DEFAULT_LIMIT).all(|b| b == b'a') && line.ends_with('\n'));

        line.clear();
        let err = reader.read_line(&mut line).await.unwrap_err();
        assert_limit_error(&err, DEFAULT_LIMIT);
        assert!(line.is_empty());
        // Only the delimiter was left of the long line: it is skipped.
        assert_eq!(reader.read_line(&mut line).await.unwrap(), 5);
        assert_eq!(line, "next\n");
        drop(reader);
        writer.join().unwrap();
    });
}

// ----- a custom limit -------------------------------------------------------

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn with_limit_and_set_limit_bound_each_call() {
    evloop::run(async {
        let (ours, theirs) = socket_pair();
        let writer = spawn_writer(
            theirs,
            vec![
                Piece::Bytes(b"0123456789abcdef\n"),           // 16: exactly the limit
                Piece::Bytes(b"0123456789abcdefg\n"),          // 17: one byte too many
                Piece::Bytes(b"short\n"),                      // read after the skip
                Piece::Bytes(b"a line of twenty-six bytes\n"), // fits the raised limit
                Piece::Bytes(b"done\n"),
            ],
            None,
        );
        // A 4-byte buffer: the records and the skip span many refills.
        let mut reader = StreamReader::with_capacity(4, ours);
        reader.set_limit(16);
        assert_eq!(reader.limit(), 16);
        let mut line = String::new();

        assert_eq!(reader.read_line(&mut line).await.unwrap(), 17);
        assert_eq!(line, "0123456789abcdef\n");
        line.clear();
        let err = reader.read_line(&mut line).await.unwrap_err();
        assert_limit_error(&err, 16);
        assert_eq!(line, "");
        reader.read_line(&mut line).await.unwrap();
        assert_eq!(line, "short\n");

        line.clear();
        reader.set_limit(26);
        reader.read_line(&mut line).await.unwrap();
        assert_eq!(line, "a line of twenty-six bytes\n");
        line.clear();
        reader.read_line(&mut line).await.unwrap();
        assert_eq!(line, "done\n");
        drop(reader);
        writer.join().unwrap();
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn with_limit_sets_the_limit_for_read_until() {
    evloop::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"key=value;this-record-is-too-long;k=v;").await.unwrap();
        drop(a);
        let mut reader = StreamReader::with_limit(9, b);
        assert_eq!(reader.limit(), 9);
        let mut out = Vec::new();
        assert_eq!(reader.read_until(b';', &mut out).await.unwrap(), 10);
        assert_eq!(out, b"key=value;");
        let err = reader.read_until(b';', &mut out).await.unwrap_err();
        assert_limit_error(&err, 9);
        assert_eq!(out, b"key=value;", "what was there before the call is kept");
        out.clear();
        assert_eq!(reader.read_until(b';', &mut out).await.unwrap(), 4);
        assert_eq!(out, b"k=v;");
        assert_eq!(reader.read_until(b';', &mut out).await.unwrap(), 0);
    });
}

// ----- after an overrun -----------------------------------------------------

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn a_raw_read_after_an_overrun_sees_the_bytes_after_the_discarded_ones() {
    evloop::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"abcdefgh\nnext\n").await.unwrap();
        drop(a);
        let mut reader = StreamReader::with_limit(4, b);
        let mut line = String::new();
        let err = reader.read_line(&mut line).await.unwrap_err();
        // "abcde" is discarded.
        assert_limit_error(&err, 4);
        // The caller takes over with raw reads: no skip happens.
        let mut raw = [0; 4];
        reader.read_exact(&mut raw).await.unwrap();
        assert_eq!(&raw, b"fgh\n");
        reader.read_line(&mut line).await.unwrap();
        assert_eq!(line, "next\n");
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn a_stream_that_ends_inside_a_skipped_line_reads_as_ended() {
    evloop::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"far-too-long-and-never-ended").await.unwrap();
        drop(a);
        let mut reader = StreamReader::with_limit(8, b);
        let mut line = String::new();
        let err = reader.read_line(&mut line).await.unwrap_err();
        assert_limit_error(&err, 8);
        // The tail of the long line is not a line: end of stream.
        assert_eq!(reader.read_line(&mut line).await.unwrap(), 0);
        assert_eq!(line, "");
    });
}
