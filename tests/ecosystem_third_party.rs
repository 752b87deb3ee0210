//! Third-party, executor-agnostic crates run on evloop unmodified:
//! `async-channel` between evloop tasks and between a std thread and an
//! evloop task (its wakers cross threads through evloop's remote queue),
//! and `futures::io`'s adapters (`read_to_end`, `BufReader` + `lines`,
//! `copy`) over evloop sockets, whose streams and halves implement
//! `futures_io::AsyncRead` / `AsyncWrite`.
//!
//! Every test runs on a real-clock loop under `wait_for`, so a lost wake
//! fails the test after a while instead of hanging it.

use std::future::Future;
use std::thread;
use std::time::Duration;

use evloop::net::{TcpListener, TcpStream};
use futures::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use futures::StreamExt;

/// Long enough for a loaded CI machine, short enough to fail fast.
const PATIENCE: Duration = Duration::from_secs(10);

/// Runs `fut` on a fresh loop, failing if it takes longer than [`PATIENCE`].
fn run_with_timeout<F: Future + 'static>(fut: F) -> F::Output {
    evloop::run(async move {
        evloop::wait_for(fut, PATIENCE)
            .await
            .expect("timed out: a wake was lost")
    })
}

/// A connected pair of evloop TCP streams (client, server).
async fn tcp_pair() -> (TcpStream, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let accept = evloop::create_task(async move { listener.accept().await.unwrap().0 });
    let client = TcpStream::connect(addr).await.unwrap();
    (client, accept.await.unwrap())
}

#[test]
fn async_channel_between_evloop_tasks() {
    let got = run_with_timeout(async {
        // Bounded: the producer really waits for the consumer.
        let (tx, rx) = async_channel::bounded(2);
        let producers: Vec<_> = (0..3)
            .map(|p| {
                let tx = tx.clone();
                evloop::create_task(async move {
                    for i in 0..20 {
                        tx.send(p * 100 + i).await.unwrap();
                    }
                })
            })
            .collect();
        drop(tx); // the channel closes when the last producer is done
        let consumer = evloop::create_task(async move {
            let mut got = Vec::new();
            while let Ok(v) = rx.recv().await {
                got.push(v);
            }
            got
        });
        for p in producers {
            p.await.unwrap();
        }
        consumer.await.unwrap()
    });
    assert_eq!(got.len(), 60);
    for p in 0..3 {
        let mine: Vec<_> = got.iter().filter(|v| *v / 100 == p).collect();
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "per-producer FIFO");
    }
}

#[test]
fn async_channel_from_a_std_thread_to_an_evloop_task_and_back() {
    let (to_loop, from_thread) = async_channel::bounded::<u32>(1);
    let (to_thread, from_loop) = async_channel::unbounded::<u32>();
    // The thread blocks on its ends; the evloop task awaits its ends, and is
    // woken from the thread through its (Send) waker.
    let worker = thread::spawn(move || {
        let mut echoed = Vec::new();
        for i in 0..50 {
            to_loop.send_blocking(i).unwrap();
            echoed.push(from_loop.recv_blocking().unwrap());
        }
        echoed
    });
    let total = run_with_timeout(async move {
        let mut total = 0;
        while let Ok(v) = from_thread.recv().await {
            total += v;
            // The evloop side may use its own timers in between.
            evloop::sleep(Duration::from_micros(100)).await;
            to_thread.send(v * 2).await.unwrap();
        }
        total // the thread dropped its sender: the stream of work ended
    });
    assert_eq!(total, (0..50).sum::<u32>());
    assert_eq!(worker.join().unwrap(), (0..50).map(|i| i * 2).collect::<Vec<_>>());
}

#[test]
fn async_channel_receiver_as_a_stream_in_an_evloop_task() {
    let sum = run_with_timeout(async {
        let (tx, rx) = async_channel::unbounded();
        thread::spawn(move || {
            for i in 1..=10u64 {
                tx.send_blocking(i).unwrap();
                thread::sleep(Duration::from_millis(1));
            }
        });
        rx.fold(0, |acc, v| async move { acc + v }).await
    });
    assert_eq!(sum, 55);
}

#[test]
fn futures_io_read_to_end_over_an_evloop_socket() {
    let got = run_with_timeout(async {
        let (client, server) = tcp_pair().await;
        let writer = evloop::create_task(async move {
            let (_rd, mut wr) = server.into_split();
            let payload = vec![7u8; 256 * 1024]; // more than one socket buffer
            AsyncWriteExt::write_all(&mut wr, &payload).await.unwrap();
            AsyncWriteExt::close(&mut wr).await.unwrap(); // EOF for the reader
        });
        let mut buf = Vec::new();
        let mut client = client;
        AsyncReadExt::read_to_end(&mut client, &mut buf).await.unwrap();
        writer.await.unwrap();
        buf
    });
    assert_eq!(got.len(), 256 * 1024);
    assert!(got.iter().all(|b| *b == 7));
}

#[test]
fn futures_io_bufreader_lines_over_an_evloop_socket_half() {
    let lines = run_with_timeout(async {
        let (client, server) = tcp_pair().await;
        let (rd, _wr) = client.into_split();
        let writer = evloop::create_task(async move {
            let (_, mut wr) = server.into_split();
            for i in 0..100 {
                AsyncWriteExt::write_all(&mut wr, format!("line {i}\n").as_bytes())
                    .await
                    .unwrap();
            }
            AsyncWriteExt::close(&mut wr).await.unwrap();
        });
        let lines: Vec<String> = BufReader::new(rd).lines().map(Result::unwrap).collect().await;
        writer.await.unwrap();
        lines
    });
    assert_eq!(lines.len(), 100);
    assert_eq!(lines[0], "line 0");
    assert_eq!(lines[99], "line 99");
}

#[test]
fn futures_io_copy_echoes_between_borrowed_halves() {
    let echoed = run_with_timeout(async {
        let (client, server) = tcp_pair().await;
        // The echo server: `futures::io::copy` from the read half to the
        // write half of one socket (borrowed halves, from `split`).
        let echo = evloop::create_task(async move {
            let (mut rd, mut wr) = server.split();
            let n = futures::io::copy(&mut rd, &mut wr).await.unwrap();
            AsyncWriteExt::close(&mut wr).await.unwrap();
            n
        });
        let (mut rd, mut wr) = client.into_split();
        let sent: Vec<u8> = (0..100_000u32).map(|i| i as u8).collect();
        let expected = sent.clone();
        let writer = evloop::create_task(async move {
            AsyncWriteExt::write_all(&mut wr, &sent).await.unwrap();
            AsyncWriteExt::close(&mut wr).await.unwrap();
        });
        let mut back = Vec::new();
        AsyncReadExt::read_to_end(&mut rd, &mut back).await.unwrap();
        writer.await.unwrap();
        assert_eq!(echo.await.unwrap(), expected.len() as u64);
        (back, expected)
    });
    assert!(echoed.0 == echoed.1, "the echo came back intact");
}
