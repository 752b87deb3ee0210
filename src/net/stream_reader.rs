//! [`StreamReader`]: asyncio's `StreamReader` for line and framed protocols:
//! a buffer in front of any `futures_io::AsyncRead`.
//!
//! # Ground rules
//!
//! - Bytes between `pos` and `filled` are read from the stream but not yet
//!   handed out; every method consumes from there first, and reads the
//!   stream only when that is empty.
//! - A method that fails (or whose future is dropped) midway keeps what it
//!   already moved into the caller's buffer; nothing is put back. This is
//!   `std::io::BufRead`'s contract too.
#![forbid(unsafe_code)]

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncBufRead, AsyncRead};

const DEFAULT_CAPACITY: usize = 8 * 1024;

/// A buffered reader with `read_line`, `read_until` and `read_exact`.
///
/// ```
/// use evloop::net::{StreamReader, UnixStream};
///
/// evloop::run(async {
///     let (a, b) = UnixStream::pair()?;
///     a.write_all(b"HELO one\r\nQUIT\r\n").await?;
///     drop(a);
///     let mut reader = StreamReader::new(b);
///     let mut line = String::new();
///     reader.read_line(&mut line).await?;
///     assert_eq!(line, "HELO one\r\n");
///     line.clear();
///     reader.read_line(&mut line).await?;
///     assert_eq!(line, "QUIT\r\n");
///     line.clear();
///     assert_eq!(reader.read_line(&mut line).await?, 0); // end of stream
///     Ok::<(), std::io::Error>(())
/// })?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct StreamReader<R> {
    inner: R,
    buf: Box<[u8]>,
    pos: usize,
    filled: usize,
}

impl<R: AsyncRead + Unpin> StreamReader<R> {
    /// Wraps `inner` with an 8 KiB buffer.
    pub fn new(inner: R) -> StreamReader<R> {
        StreamReader::with_capacity(DEFAULT_CAPACITY, inner)
    }

    /// Wraps `inner` with a buffer of `capacity` bytes (at least 1).
    pub fn with_capacity(capacity: usize, inner: R) -> StreamReader<R> {
        StreamReader {
            inner,
            buf: vec![0; capacity.max(1)].into_boxed_slice(),
            pos: 0,
            filled: 0,
        }
    }

    /// Reads up to and including `delim` (or to end of stream), appending to
    /// `out`. Returns the number of bytes appended: 0 means end of stream.
    pub async fn read_until(&mut self, delim: u8, out: &mut Vec<u8>) -> io::Result<usize> {
        let mut total = 0;
        loop {
            if self.fill().await? == 0 {
                return Ok(total);
            }
            let available = &self.buf[self.pos..self.filled];
            let (n, found) = match available.iter().position(|&b| b == delim) {
                Some(i) => (i + 1, true),
                None => (available.len(), false),
            };
            out.extend_from_slice(&available[..n]);
            self.pos += n;
            total += n;
            if found {
                return Ok(total);
            }
        }
    }

    /// Reads a line, including its `\n` (if the stream did not end first),
    /// appending it to `out`. Returns the number of bytes appended: 0 means
    /// end of stream.
    ///
    /// # Errors
    ///
    /// `InvalidData` if the line is not UTF-8 (the line is consumed).
    pub async fn read_line(&mut self, out: &mut String) -> io::Result<usize> {
        let mut bytes = Vec::new();
        let n = self.read_until(b'\n', &mut bytes).await?;
        let line = String::from_utf8(bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        out.push_str(&line);
        Ok(n)
    }

    /// Reads exactly `buf.len()` bytes.
    ///
    /// # Errors
    ///
    /// `UnexpectedEof` if the stream ends first.
    pub async fn read_exact(&mut self, buf: &mut [u8]) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let n = self.read(&mut buf[done..]).await?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "stream ended before the buffer was filled",
                ));
            }
            done += n;
        }
        Ok(())
    }

    /// Reads some bytes: from the buffer if it holds any, else from the
    /// stream. `Ok(0)` at end of stream.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| Pin::new(&mut *self).poll_read(cx, buf)).await
    }

    /// The bytes read from the stream but not yet consumed.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.pos..self.filled]
    }

    /// The wrapped reader.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The wrapped reader, mutably (reading from it directly skips the buffer).
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// Unwraps the reader; buffered bytes are lost.
    pub fn into_inner(self) -> R {
        self.inner
    }

    /// Makes sure the buffer holds bytes unless the stream ended; returns
    /// how many it holds.
    async fn fill(&mut self) -> io::Result<usize> {
        poll_fn(|cx| Pin::new(&mut *self).poll_fill_buf(cx).map_ok(<[u8]>::len)).await
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for StreamReader<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<io::Result<usize>> {
        // Large reads with an empty buffer go straight to the stream.
        if self.pos == self.filled && out.len() >= self.buf.len() {
            return Pin::new(&mut self.inner).poll_read(cx, out);
        }
        let available = ready!(self.as_mut().poll_fill_buf(cx))?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.as_mut().consume(n);
        Poll::Ready(Ok(n))
    }
}

impl<R: AsyncRead + Unpin> AsyncBufRead for StreamReader<R> {
    fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        let this = self.get_mut();
        if this.pos == this.filled {
            let n = ready!(Pin::new(&mut this.inner).poll_read(cx, &mut this.buf))?;
            this.pos = 0;
            this.filled = n;
        }
        Poll::Ready(Ok(&this.buf[this.pos..this.filled]))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.pos = (this.pos + amt).min(this.filled);
    }
}

impl<R: fmt::Debug> fmt::Debug for StreamReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("inner", &self.inner)
            .field("buffered", &(self.filled - self.pos))
            .field("capacity", &self.buf.len())
            .finish()
    }
}
