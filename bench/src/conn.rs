//! Client sockets and the few bytes of HTTP/1.1 the harness speaks by hand.
//!
//! Every client socket is bound to one of several loopback source addresses (127.0.0.2,
//! 127.0.0.3, ...) before it connects, so ten thousand connections (and the TIME_WAIT left by
//! earlier runs) never exhaust one address's ephemeral ports.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};

/// Time allowed for a one-off admin request (`/metrics`).
const ADMIN_TIMEOUT: Duration = Duration::from_secs(5);

/// The source address of client number `index` when spreading over `count` addresses,
/// 127.0.0.2 up to 127.0.0.(count + 1).
pub fn source_addr(index: usize, count: usize) -> Ipv4Addr {
    let offset = (index % count.clamp(1, 250)) as u8;
    Ipv4Addr::new(127, 0, 0, 2 + offset)
}

/// Connects to `server` from `source` (any port), with `TCP_NODELAY`.
pub async fn connect_from(source: Ipv4Addr, server: SocketAddr) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Closes with a reset instead of a FIN handshake: no TIME_WAIT left behind on the client side.
pub fn abort(stream: &TcpStream) {
    let _ = stream.set_zero_linger();
}

/// A complete response head: status and the byte length of the head (body follows).
#[derive(Debug)]
pub struct ResponseHead {
    pub status: u16,
    pub head_len: usize,
    pub content_length: Option<usize>,
    pub chunked: bool,
    pub content_type: Option<String>,
}

/// Parses the response head at the start of `buf`; `None` if it is not complete yet.
pub fn parse_response_head(buf: &[u8]) -> Result<Option<ResponseHead>> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf).context("malformed HTTP response")? {
        httparse::Status::Complete(len) => len,
        httparse::Status::Partial => return Ok(None),
    };
    let mut head = ResponseHead {
        status: response.code.unwrap_or_default(),
        head_len,
        content_length: None,
        chunked: false,
        content_type: None,
    };
    for h in response.headers.iter() {
        let value = String::from_utf8_lossy(h.value);
        if h.name.eq_ignore_ascii_case("content-length") {
            head.content_length = value.trim().parse().ok();
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            head.chunked = value.to_ascii_lowercase().contains("chunked");
        } else if h.name.eq_ignore_ascii_case("content-type") {
            head.content_type = Some(value.into_owned());
        }
    }
    Ok(Some(head))
}

/// Reads one response with a `Content-Length` body from a keep-alive connection; `buf` is
/// scratch space (left empty on return). Returns the status.
pub async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<u16> {
    let (status, _) = read_one(stream, buf).await?;
    buf.clear();
    Ok(status)
}

/// [`read_response`], for a `200` whose body the caller wants.
pub async fn read_response_body(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Vec<u8>> {
    let (status, head_len) = read_one(stream, buf).await?;
    if status != 200 {
        bail!(
            "answered {status}: {}",
            String::from_utf8_lossy(&buf[head_len..])
        );
    }
    let body = buf[head_len..].to_vec();
    buf.clear();
    Ok(body)
}

/// Reads one whole response into `buf`: its status and the length of its head.
async fn read_one(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<(u16, usize)> {
    buf.clear();
    loop {
        if let Some(head) = parse_response_head(buf)? {
            // 204 and 304 have no body (RFC 9110 §15.3.5, §15.4.5).
            let no_body = matches!(head.status, 204 | 304);
            let Some(body_len) = head.content_length.or(no_body.then_some(0)) else {
                bail!("response without Content-Length (status {})", head.status);
            };
            let total = head.head_len + body_len;
            while buf.len() < total {
                if stream.read_buf(buf).await? == 0 {
                    bail!("connection closed inside a response body");
                }
            }
            if buf.len() > total {
                bail!("unexpected bytes after a response (pipelining is not used)");
            }
            return Ok((head.status, head.head_len));
        }
        if buf.len() > 64 * 1024 {
            bail!("response head larger than 64 KiB");
        }
        buf.reserve(1024);
        if stream.read_buf(buf).await? == 0 {
            bail!("connection closed before a response");
        }
    }
}

/// `GET path` on a fresh connection (`Connection: close`); returns the body.
pub async fn http_get(server: SocketAddr, path: &str) -> Result<Vec<u8>> {
    let exchange = async {
        let mut stream = TcpStream::connect(server).await?;
        let request = format!("GET {path} HTTP/1.1\r\nHost: {server}\r\nConnection: close\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut buf = Vec::with_capacity(16 * 1024);
        stream.read_to_end(&mut buf).await?;
        anyhow::Ok(buf)
    };
    let buf = tokio::time::timeout(ADMIN_TIMEOUT, exchange)
        .await
        .with_context(|| format!("GET {path} timed out"))??;
    let head = parse_response_head(&buf)?.context("incomplete response head")?;
    if head.status != 200 {
        bail!("GET {path}: status {}", head.status);
    }
    if head.chunked {
        bail!("GET {path}: chunked bodies are not expected here");
    }
    Ok(buf[head.head_len..].to_vec())
}

/// A `TcpStream` that counts the reads that returned data (one `recv` syscall each), for the
/// "events per read" figure of clients whose reads happen inside a library.
#[derive(Debug)]
pub struct CountingStream {
    inner: TcpStream,
    reads: u64,
}

impl CountingStream {
    pub fn new(inner: TcpStream) -> Self {
        Self { inner, reads: 0 }
    }

    pub fn reads(&self) -> u64 {
        self.reads
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.inner
    }
}

impl AsyncRead for CountingStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.reads += 1;
        }
        polled
    }
}

impl AsyncWrite for CountingStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
