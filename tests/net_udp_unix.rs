//! UDP datagrams and Unix domain sockets over the local machine.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use evloop::net::{StreamReader, UdpSocket, UnixListener, UnixStream};

fn socket_path(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("evloop-test-{}-{name}.sock", std::process::id()));
    let _ = std::fs::remove_file(&path);
    path
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn udp_send_to_recv_from_round_trip() {
    evloop::run(async {
        let server = UdpSocket::bind("127.0.0.1:0").unwrap();
        let server_addr = server.local_addr().unwrap();
        let echo = evloop::create_task(async move {
            let mut buf = [0; 1500];
            for _ in 0..100 {
                let (n, from) = server.recv_from(&mut buf).await.unwrap();
                server.send_to(&buf[..n], from).await.unwrap();
            }
        });
        let client = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut buf = [0; 1500];
        for i in 0..100u32 {
            client.send_to(&i.to_le_bytes(), server_addr).await.unwrap();
            let (n, from) = client.recv_from(&mut buf).await.unwrap();
            assert_eq!(from, server_addr);
            assert_eq!(&buf[..n], &i.to_le_bytes());
        }
        echo.await.unwrap();
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn udp_connected_send_recv() {
    evloop::run(async {
        let a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b = UdpSocket::bind("127.0.0.1:0").unwrap();
        a.connect(b.local_addr().unwrap()).unwrap();
        b.connect(a.local_addr().unwrap()).unwrap();
        assert_eq!(a.peer_addr().unwrap(), b.local_addr().unwrap());
        a.send(b"ping").await.unwrap();
        let mut buf = [0; 16];
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ping");
        b.send(b"pong").await.unwrap();
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"pong");
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn udp_recv_waits_for_a_datagram_from_another_thread() {
    evloop::run(async {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.send_to(b"late", addr).unwrap();
        });
        let mut buf = [0; 8];
        let (n, _) = sock.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"late");
        t.join().unwrap();
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn unix_listener_accept_and_echo_lines() {
    let path = socket_path("echo");
    evloop::run(async {
        let listener = UnixListener::bind(&path).unwrap();
        let server = evloop::create_task(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (rd, wr) = stream.split();
            let mut reader = StreamReader::new(rd);
            let mut line = String::new();
            while reader.read_line(&mut line).await.unwrap() > 0 {
                wr.write_all(line.to_uppercase().as_bytes()).await.unwrap();
                line.clear();
            }
        });
        let client = UnixStream::connect(&path).await.unwrap();
        client.write_all(b"hello\nworld\n").await.unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        let mut reader = StreamReader::new(&client);
        let mut out = String::new();
        reader.read_line(&mut out).await.unwrap();
        reader.read_line(&mut out).await.unwrap();
        assert_eq!(out, "HELLO\nWORLD\n");
        server.await.unwrap();
    });
    std::fs::remove_file(&path).unwrap();
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn unix_pair_round_trip_and_eof() {
    evloop::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        let data = vec![7u8; 1 << 20]; // more than the socket buffer: needs both sides running
        let writer = evloop::create_task(async move {
            a.write_all(&data).await.unwrap();
        });
        let mut got = Vec::new();
        let mut buf = [0; 8192];
        loop {
            let n = b.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got.len(), 1 << 20);
        assert!(got.iter().all(|&x| x == 7));
        writer.await.unwrap();
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn unix_connect_to_missing_path_is_not_found() {
    let path = socket_path("missing");
    let err = evloop::run(UnixStream::connect(&path)).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::NotFound);
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn stream_reader_read_until_and_read_exact() {
    evloop::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"len:5;hello;rest").await.unwrap();
        drop(a);
        let mut r = StreamReader::with_capacity(4, b); // tiny buffer: items span refills
        let mut head = Vec::new();
        r.read_until(b';', &mut head).await.unwrap();
        assert_eq!(head, b"len:5;");
        let mut body = [0; 5];
        r.read_exact(&mut body).await.unwrap();
        assert_eq!(&body, b"hello");
        let mut tail = Vec::new();
        assert_eq!(r.read_until(b'\n', &mut tail).await.unwrap(), 5);
        assert_eq!(tail, b";rest");
        assert_eq!(r.read_until(b'\n', &mut tail).await.unwrap(), 0);
        let mut more = [0; 1];
        assert_eq!(
            r.read_exact(&mut more).await.unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
    });
}

#[test]
#[cfg_attr(miri, ignore = "Miri does not emulate sockets")]
fn stream_reader_rejects_invalid_utf8_lines() {
    evloop::run(async {
        let (a, b) = UnixStream::pair().unwrap();
        a.write_all(b"\xff\xfe\n").await.unwrap();
        let mut r = StreamReader::new(b);
        let mut line = String::new();
        assert_eq!(
            r.read_line(&mut line).await.unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
    });
}
