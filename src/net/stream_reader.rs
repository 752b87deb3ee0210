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
//!   `std::io::BufRead`'s contract too. The one exception is the limit
//!   below: a call that overruns it takes back what it appended, so no
//!   caller ever holds a cut-off record that looks whole.
//! - `read_until` and `read_line` are bounded by a limit (64 KiB by
//!   default, asyncio's): one call appends at most `limit` bytes plus the
//!   delimiter, whatever the peer sends. Past it the call fails with a
//!   `LimitOverrun` and the reader skips the rest of that record (through
//!   the delimiter) before its next `read_until` / `read_line`, as
//!   tokio-util's `LinesCodec` does with its `max_length`. Memory is thus bounded by the limit
//!   plus the buffer's capacity.
//!
//! # Fields and who may touch them
//!
//! - `buf[pos..filled]`: unread bytes; `poll_fill` refills when empty,
//!   every consumer advances `pos`.
//! - `limit`: set by the constructors and [`StreamReader::set_limit`], read
//!   only by `read_until`.
//! - `skip`: `Some(delim)` from the moment a `read_until(delim, ..)`
//!   overruns the limit until the rest of that record, through `delim`, has
//!   been discarded (by the next `read_until` / `read_line`) or the caller
//!   takes raw bytes instead (`read`, `read_exact`, `AsyncRead`,
//!   `AsyncBufRead::consume`), which cancels it.
#![forbid(unsafe_code)]

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncBufRead, AsyncRead};

const DEFAULT_CAPACITY: usize = 8 * 1024;

/// The default [`StreamReader::limit`]: 64 KiB, asyncio's `_DEFAULT_LIMIT`.
const DEFAULT_LIMIT: usize = 64 * 1024;

/// The inner error of the `InvalidData` [`io::Error`] that
/// [`StreamReader::read_until`] and [`StreamReader::read_line`] return when
/// a record runs past the reader's limit without its delimiter: asyncio's
/// `LimitOverrunError`.
///
/// When it is returned, the call has appended nothing to the caller's
/// buffer (what it had appended is taken back), [`discarded`] bytes of the
/// record have been consumed and dropped, and the reader will drop the rest
/// of the record, through its delimiter, at the start of the next
/// `read_until` / `read_line`. The stream stays usable: that next call
/// returns the record after the long one. A caller that would rather not
/// wait for the long record to end (the peer may never end it) drops the
/// reader and closes the connection.
///
/// [`discarded`]: LimitOverrun::discarded
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitOverrun {
    limit: usize,
    discarded: usize,
}

impl LimitOverrun {
    /// The limit that was passed: the most bytes a record may hold before
    /// its delimiter.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// How many bytes of the overlong record the failed call consumed and
    /// dropped (the limit plus one: the call stops at the first byte past
    /// it).
    pub fn discarded(&self) -> usize {
        self.discarded
    }
}

impl fmt::Display for LimitOverrun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "separator not found within the limit of {} bytes ({} bytes discarded; \
             the rest of the record is skipped by the next read)",
            self.limit, self.discarded
        )
    }
}

impl std::error::Error for LimitOverrun {}

/// A buffered reader with `read_line`, `read_until` and `read_exact`.
///
/// `read_until` and `read_line` never append more than [`limit`] bytes plus
/// the delimiter (64 KiB by default, like asyncio); see
/// [`read_until`](StreamReader::read_until) for what happens past it.
///
/// [`limit`]: StreamReader::limit
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
    limit: usize,
    skip: Option<u8>,
}

impl<R: AsyncRead + Unpin> StreamReader<R> {
    /// Wraps `inner` with an 8 KiB buffer and the default limit of 64 KiB.
    pub fn new(inner: R) -> StreamReader<R> {
        StreamReader::with_capacity(DEFAULT_CAPACITY, inner)
    }

    /// Wraps `inner` with a buffer of `capacity` bytes (at least 1) and the
    /// default limit of 64 KiB.
    pub fn with_capacity(capacity: usize, inner: R) -> StreamReader<R> {
        StreamReader {
            inner,
            buf: vec![0; capacity.max(1)].into_boxed_slice(),
            pos: 0,
            filled: 0,
            limit: DEFAULT_LIMIT,
            skip: None,
        }
    }

    /// Wraps `inner` with an 8 KiB buffer and a limit of `limit` bytes per
    /// record (asyncio's `StreamReader(limit=...)`); see [`set_limit`].
    ///
    /// [`set_limit`]: StreamReader::set_limit
    pub fn with_limit(limit: usize, inner: R) -> StreamReader<R> {
        let mut reader = StreamReader::new(inner);
        reader.limit = limit;
        reader
    }

    /// The most bytes one `read_until` / `read_line` call appends before the
    /// delimiter: 64 KiB (asyncio's default) unless set otherwise.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Sets the limit for the following calls. `usize::MAX` means no limit
    /// (trusted peers only); `0` accepts only empty records.
    pub fn set_limit(&mut self, limit: usize) {
        self.limit = limit;
    }

    /// Reads up to and including `delim` (or to end of stream), appending to
    /// `out`. Returns the number of bytes appended: 0 means end of stream.
    ///
    /// A record may hold up to [`limit`] bytes before its delimiter (as in
    /// asyncio, the delimiter does not count), so one call appends at most
    /// `limit + 1` bytes. A record that ends with the stream is returned
    /// without a delimiter, as `std`'s `read_until` does.
    ///
    /// # Errors
    ///
    /// - `InvalidData` with a [`LimitOverrun`] inside once `limit + 1`
    ///   bytes have arrived without `delim`. The call fails at once (it does not
    ///   wait for the delimiter, which a hostile peer never sends), takes
    ///   back what it appended to `out`, and leaves the reader set to skip
    ///   the rest of the record: the next `read_until` / `read_line` first
    ///   discards bytes through `delim`, then reads the following record.
    ///   A call that reads raw bytes instead (`read`, `read_exact`) cancels
    ///   the skip and sees the bytes right after the discarded ones.
    /// - The stream's own errors, as they come.
    ///
    /// ```
    /// use std::io;
    /// use evloop::net::{StreamReader, UnixStream};
    ///
    /// evloop::run(async {
    ///     let (a, b) = UnixStream::pair()?;
    ///     a.write_all(b"0123456789\nok\n1234\n").await?;
    ///     let mut reader = StreamReader::with_limit(4, b);
    ///     let mut line = Vec::new();
    ///
    ///     let err = reader.read_until(b'\n', &mut line).await.unwrap_err();
    ///     assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    ///     assert!(err.to_string().starts_with("separator not found within the limit of 4 bytes"));
    ///     assert!(line.is_empty()); // nothing of the long record is handed out
    ///
    ///     // The rest of "0123456789\n" is skipped; the next record is whole.
    ///     reader.read_until(b'\n', &mut line).await?;
    ///     assert_eq!(line, b"ok\n");
    ///     line.clear();
    ///     reader.read_until(b'\n', &mut line).await?; // exactly the limit
    ///     assert_eq!(line, b"1234\n");
    ///     Ok::<(), io::Error>(())
    /// })?;
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// [`limit`]: StreamReader::limit
    pub async fn read_until(&mut self, delim: u8, out: &mut Vec<u8>) -> io::Result<usize> {
        if let Some(skip) = self.skip {
            // The rest of a record that overran the limit: drop it through
            // its own delimiter (the failed call's, which may differ from
            // this call's). Memory stays at the buffer's capacity however
            // long it is.
            loop {
                if self.fill().await? == 0 {
                    self.skip = None;
                    return Ok(0);
                }
                let available = &self.buf[self.pos..self.filled];
                match available.iter().position(|&b| b == skip) {
                    Some(i) => {
                        self.pos += i + 1;
                        self.skip = None;
                        break;
                    }
                    None => self.pos = self.filled,
                }
            }
        }
        let start = out.len();
        // The most bytes this record may still take, delimiter included.
        let mut room = self.limit.saturating_add(1);
        loop {
            if self.fill().await? == 0 {
                return Ok(out.len() - start);
            }
            let available = &self.buf[self.pos..self.filled];
            let window = &available[..available.len().min(room)];
            let (n, found) = match window.iter().position(|&b| b == delim) {
                Some(i) => (i + 1, true),
                None => (window.len(), false),
            };
            out.extend_from_slice(&window[..n]);
            self.pos += n;
            room -= n;
            if found {
                return Ok(out.len() - start);
            }
            if room == 0 {
                // `limit + 1` bytes and no delimiter: the record is too
                // long. Hand none of it out (a cut-off record must not pass
                // for a whole one) and skip its rest on the next call.
                let discarded = out.len() - start;
                out.truncate(start);
                self.skip = Some(delim);
                let overrun = LimitOverrun {
                    limit: self.limit,
                    discarded,
                };
                return Err(io::Error::new(io::ErrorKind::InvalidData, overrun));
            }
        }
    }

    /// Reads a line, including its `\n` (if the stream did not end first),
    /// appending it to `out`. Returns the number of bytes appended: 0 means
    /// end of stream.
    ///
    /// The line may hold up to [`limit`](StreamReader::limit) bytes before
    /// its `\n`, as with [`read_until`](StreamReader::read_until).
    ///
    /// # Errors
    ///
    /// - `InvalidData` if the line is not UTF-8 (the line is consumed).
    /// - `InvalidData` with a [`LimitOverrun`] inside if the line is
    ///   longer than the limit: `out` is left as it was, and the next call
    ///   skips the rest of the long line and returns the one after it.
    ///   (asyncio's `readline` raises `ValueError` too, but drops only what
    ///   it had buffered, so its next call returns the long line's tail as
    ///   if it were a line.)
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
        self.skip = None;
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
        self.skip = None;
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
        poll_fn(|cx| self.poll_fill(cx)).await
    }

    /// Refills the buffer if it is empty; `Ok(0)` at end of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.pos == self.filled {
            let n = ready!(Pin::new(&mut self.inner).poll_read(cx, &mut self.buf))?;
            self.pos = 0;
            self.filled = n;
        }
        Poll::Ready(Ok(self.filled - self.pos))
    }
}

impl<R: AsyncRead + Unpin> AsyncRead for StreamReader<R> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, out: &mut [u8]) -> Poll<io::Result<usize>> {
        // Raw bytes: whoever reads them has taken over from a skipped record.
        self.skip = None;
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
        ready!(this.poll_fill(cx))?;
        Poll::Ready(Ok(&this.buf[this.pos..this.filled]))
    }

    fn consume(self: Pin<&mut Self>, amt: usize) {
        let this = self.get_mut();
        this.skip = None;
        this.pos = (this.pos + amt).min(this.filled);
    }
}

impl<R: fmt::Debug> fmt::Debug for StreamReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("inner", &self.inner)
            .field("buffered", &(self.filled - self.pos))
            .field("capacity", &self.buf.len())
            .field("limit", &self.limit)
            .field("skipping", &self.skip.is_some())
            .finish()
    }
}
