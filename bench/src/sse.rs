//! A minimal Server-Sent Events client on a raw `TcpStream`: writes the `GET` by hand, checks
//! the response head, undoes chunked transfer coding and splits the stream into blocks (one
//! per blank line). Buffers stay small: a read takes at most [`READ_CHUNK`] bytes and only an
//! incomplete block is kept between reads.

use std::net::{Ipv4Addr, SocketAddr};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::conn;

/// Most bytes taken by one read.
const READ_CHUNK: usize = 4 * 1024;

/// What one SSE block is.
#[derive(Debug, PartialEq, Eq)]
pub enum Block<'a> {
    /// Comments and field-only blocks (`retry:`, `: keep-alive`).
    Meta,
    /// An event with data; the slice is the whole block, `id:` and `data:` lines included.
    Event(&'a [u8]),
    /// `event: error`, the gateway's last word before closing (e.g. a slow consumer).
    Error(&'a [u8]),
}

/// Transfer decoding state.
#[derive(Debug, Clone, Copy)]
enum Transfer {
    /// No transfer coding: the body runs to the end of the connection.
    Identity,
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk, this many bytes to go.
    Data(usize),
    /// After a chunk's data, expecting its CRLF.
    DataEnd,
    /// The last (zero-size) chunk was seen.
    Done,
}

/// One SSE subscription.
#[derive(Debug)]
pub struct SseClient {
    stream: TcpStream,
    /// Bytes read but not yet transfer-decoded.
    raw: Vec<u8>,
    /// Decoded body not yet split into blocks.
    body: Vec<u8>,
    transfer: Transfer,
    /// Reads that returned data.
    pub reads: u64,
}

impl SseClient {
    /// Connects from `source`, subscribes to `path` and waits for the response head.
    pub async fn connect(source: Ipv4Addr, server: SocketAddr, path: &str) -> Result<Self> {
        let mut stream = conn::connect_from(source, server)
            .await
            .with_context(|| format!("connect from {source}"))?;
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: {server}\r\nAccept: text/event-stream\r\n\r\n");
        stream.write_all(request.as_bytes()).await?;
        let mut raw = Vec::with_capacity(READ_CHUNK);
        let head = loop {
            if stream.read_buf(&mut raw).await? == 0 {
                bail!("connection closed before the response head");
            }
            if let Some(head) = conn::parse_response_head(&raw)? {
                break head;
            }
            if raw.len() > 16 * 1024 {
                bail!("response head larger than 16 KiB");
            }
        };
        if head.status != 200 {
            bail!("subscribe: status {}", head.status);
        }
        let is_sse = head
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("text/event-stream"));
        if !is_sse {
            bail!("subscribe: content-type {:?}", head.content_type);
        }
        raw.drain(..head.head_len);
        let mut client = Self {
            stream,
            raw,
            body: Vec::with_capacity(1024),
            transfer: if head.chunked {
                Transfer::Size
            } else {
                Transfer::Identity
            },
            reads: 0,
        };
        client.decode()?;
        Ok(client)
    }

    pub fn tcp(&self) -> &TcpStream {
        &self.stream
    }

    /// Reads once and hands every complete block to `on_block`. Returns `false` at the end of
    /// the stream.
    pub async fn read_blocks(&mut self, mut on_block: impl FnMut(Block<'_>)) -> Result<bool> {
        // Blocks already buffered (e.g. the preamble that came with the head) go first.
        self.split_blocks(&mut on_block);
        if self.raw.capacity() - self.raw.len() < READ_CHUNK / 2 {
            self.raw.reserve(READ_CHUNK);
        }
        let limit = READ_CHUNK.min(self.raw.capacity() - self.raw.len());
        let n = (&mut self.stream)
            .take(limit as u64)
            .read_buf(&mut self.raw)
            .await?;
        if n == 0 {
            return Ok(false);
        }
        self.reads += 1;
        self.decode()?;
        self.split_blocks(&mut on_block);
        Ok(!matches!(self.transfer, Transfer::Done))
    }

    /// Moves transfer-decoded bytes from `raw` to `body`.
    fn decode(&mut self) -> Result<()> {
        let mut pos = 0;
        loop {
            let rest = &self.raw[pos..];
            match self.transfer {
                Transfer::Identity => {
                    self.body.extend_from_slice(rest);
                    pos = self.raw.len();
                    break;
                }
                Transfer::Size => {
                    let Some(eol) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if rest.len() > 64 {
                            bail!("chunk-size line too long");
                        }
                        break;
                    };
                    let line = std::str::from_utf8(&rest[..eol]).context("chunk size")?;
                    let hex = line.split(';').next().unwrap_or_default().trim();
                    let size = usize::from_str_radix(hex, 16)
                        .with_context(|| format!("bad chunk size {line:?}"))?;
                    pos += eol + 2;
                    self.transfer = if size == 0 {
                        Transfer::Done
                    } else {
                        Transfer::Data(size)
                    };
                }
                Transfer::Data(left) => {
                    let take = left.min(rest.len());
                    self.body.extend_from_slice(&rest[..take]);
                    pos += take;
                    if take < left {
                        self.transfer = Transfer::Data(left - take);
                        break;
                    }
                    self.transfer = Transfer::DataEnd;
                }
                Transfer::DataEnd => {
                    if rest.len() < 2 {
                        break;
                    }
                    if &rest[..2] != b"\r\n" {
                        bail!("chunk data not followed by CRLF");
                    }
                    pos += 2;
                    self.transfer = Transfer::Size;
                }
                Transfer::Done => break,
            }
        }
        self.raw.drain(..pos);
        Ok(())
    }

    /// Hands each complete block in `body` to `on_block` and drops it.
    fn split_blocks(&mut self, on_block: &mut impl FnMut(Block<'_>)) {
        let mut start = 0;
        while let Some(len) = blank_line(&self.body[start..]) {
            on_block(classify(&self.body[start..start + len]));
            start += len + 2;
        }
        self.body.drain(..start);
    }
}

/// The offset of the first `\n\n` (the gateway ends lines with `\n` only).
fn blank_line(buf: &[u8]) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = buf[from..].iter().position(|&b| b == b'\n') {
        let at = from + i;
        if buf.get(at + 1) == Some(&b'\n') {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

fn classify(block: &[u8]) -> Block<'_> {
    let mut has_data = false;
    for line in block.split(|&b| b == b'\n') {
        if line.starts_with(b"event: error") || line.starts_with(b"event:error") {
            return Block::Error(block);
        }
        has_data |= line.starts_with(b"data:");
    }
    if has_data {
        Block::Event(block)
    } else {
        Block::Meta
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_blank_lines_and_classifies_blocks() {
        let body = b"retry: 2000\n: subscribed\n\nid: 7\ndata: {}\n\nevent: error\ndata: x\n\n";
        let first = blank_line(body).expect("a block");
        assert_eq!(classify(&body[..first]), Block::Meta);
        let rest = &body[first + 2..];
        let second = blank_line(rest).expect("a block");
        assert!(matches!(classify(&rest[..second]), Block::Event(_)));
        let rest = &rest[second + 2..];
        let third = blank_line(rest).expect("a block");
        assert!(matches!(classify(&rest[..third]), Block::Error(_)));
    }
}
