//! A "GUI" thread asks the evloop loop to fetch something, the way a desktop
//! app hands network work to its async loop: asyncio's
//! `run_coroutine_threadsafe`, here [`ThreadsafeHandle::submit_with`].
//!
//! - `main` starts a tiny line server (a plain std thread), then runs the
//!   evloop loop with `run_forever`.
//! - The GUI thread (a plain std thread with its own frame loop) submits a
//!   fetch: a closure that builds the request future *on the loop's thread*
//!   (it uses an evloop `TcpStream`, which is not `Send`). It keeps
//!   "drawing frames" while polling the returned [`RemoteTask`] with
//!   `try_join`, as a GUI that must not block would; then it submits a
//!   second fetch and blocks on it with `join_timeout`; then it cancels a
//!   slow one; and finally stops the loop.
//!
//! Run it with `cargo run --example gui_submit`.
//!
//! [`ThreadsafeHandle::submit_with`]: evloop::ThreadsafeHandle::submit_with
//! [`RemoteTask`]: evloop::RemoteTask

use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use evloop::{EventLoop, ThreadsafeHandle};
use futures::io::AsyncReadExt;

/// A blocking server, so the example needs no second loop: answers each
/// request line `get NAME` with `value of NAME`, then closes.
fn start_server() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().unwrap();
    thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut line = String::new();
            if BufReader::new(&conn).read_line(&mut line).is_ok() {
                let name = line.trim().trim_start_matches("get ");
                let _ = writeln!(conn, "value of {name}");
            }
        }
    });
    addr
}

/// What the loop runs for one fetch: connect, ask, read to the end.
async fn fetch(addr: SocketAddr, name: &str) -> std::io::Result<String> {
    let mut stream = evloop::net::TcpStream::connect(addr).await?;
    stream.write_all(format!("get {name}\n").as_bytes()).await?;
    let mut reply = String::new();
    stream.read_to_string(&mut reply).await?;
    Ok(reply.trim().to_owned())
}

fn gui(remote: ThreadsafeHandle, addr: SocketAddr) {
    // 1. Submit, then keep drawing frames until the answer is in.
    let mut weather = remote
        .submit_with(move || fetch(addr, "weather"))
        .expect("the loop is open");
    let mut frames = 0;
    let answer = loop {
        if let Some(result) = weather.try_join() {
            break result;
        }
        frames += 1; // "draw a frame"
        thread::sleep(Duration::from_millis(1));
    };
    println!("gui: weather = {:?} (after {frames} frames)", answer.unwrap().unwrap());

    // 2. Submit and block (with a timeout) for a modal dialog.
    let mut news = remote.submit_with(move || fetch(addr, "news")).unwrap();
    let news = news
        .join_timeout(Duration::from_secs(5))
        .expect("the loop answers within 5 s");
    println!("gui: news = {:?}", news.unwrap().unwrap());

    // 3. The user closes a dialog: cancel a slow fetch; its future is
    //    dropped on the loop's thread.
    let slow = remote
        .submit_with(|| async {
            evloop::sleep(Duration::from_secs(3600)).await;
            "too late"
        })
        .unwrap();
    slow.cancel();
    println!("gui: slow fetch cancelled: {}", slow.join().unwrap_err().is_cancelled());

    // 4. Quit: stop the loop.
    remote.stop();
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let addr = start_server();
    let mut lp = EventLoop::new()?;
    let remote = lp.handle().threadsafe();
    let gui = thread::spawn(move || gui(remote, addr));
    lp.run_forever()?;
    gui.join().expect("the gui thread panicked");
    println!("loop: stopped");
    Ok(())
}
