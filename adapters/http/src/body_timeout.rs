//! The request-body read timeout: hyper times out a request's headers but not its body, so a
//! POST that stops part-way (a short `Content-Length`, one chunk then silence, or
//! `Expect: 100-continue` then nothing) would hold its connection for ever. Every request body
//! is wrapped in [`TimedBody`], which fails with [`BodyReadTimeout`] when no bytes arrived for
//! the configured gap (nginx's `client_body_timeout` rule: between two reads, not in total, so
//! a large upload on a slow but live link is not cut).

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use switchyard_core::BoxError;

/// No body bytes arrived within `gap`.
#[derive(Debug, thiserror::Error)]
#[error("no request body bytes arrived for {} ms", gap.as_millis())]
pub struct BodyReadTimeout {
    pub gap: Duration,
}

/// A request body that fails after `gap` without a frame.
#[derive(Debug)]
pub struct TimedBody<B> {
    inner: B,
    gap: Duration,
    deadline: Instant,
    /// Armed the first time the body is waited on: most bodies arrive with their headers and
    /// never need a timer.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<B> TimedBody<B> {
    pub fn new(inner: B, gap: Duration) -> Self {
        Self {
            inner,
            gap,
            deadline: Instant::now() + gap,
            timer: None,
        }
    }
}

impl<B> Body for TimedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.deadline = Instant::now() + this.gap;
                if let Some(timer) = &mut this.timer {
                    timer.as_mut().reset(this.deadline);
                }
                Poll::Ready(frame.map(|r| r.map_err(Into::into)))
            }
            Poll::Pending => {
                let deadline = this.deadline;
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                match timer.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        Poll::Ready(Some(Err(Box::new(BodyReadTimeout { gap: this.gap }))))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::stream::{self, BoxStream};
    use http_body_util::{BodyExt, StreamBody};
    use tokio::sync::mpsc;

    type Frames = StreamBody<BoxStream<'static, Result<Frame<Bytes>, BoxError>>>;

    /// A body fed by hand: each `send` is one frame.
    fn channel() -> (mpsc::Sender<&'static str>, Frames) {
        let (tx, rx) = mpsc::channel::<&'static str>(1);
        let frames = stream::unfold(rx, |mut rx: mpsc::Receiver<&'static str>| async move {
            let chunk = rx.recv().await?;
            Some((Ok(Frame::data(Bytes::from_static(chunk.as_bytes()))), rx))
        });
        (
            tx,
            StreamBody::new(Box::pin(frames) as BoxStream<'static, _>),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_that_goes_silent_fails_after_the_gap() {
        let (tx, rx) = channel();
        let mut body = TimedBody::new(rx, Duration::from_secs(60));
        tx.send("part").await.expect("sent");
        let first = body.frame().await.expect("a frame").expect("data");
        assert_eq!(first.into_data().expect("data"), "part");
        let err = body
            .frame()
            .await
            .expect("an error")
            .expect_err("timed out");
        assert!(err.is::<BodyReadTimeout>(), "{err}");
        drop(tx);
    }

    #[tokio::test(start_paused = true)]
    async fn each_frame_restarts_the_gap() {
        let (tx, rx) = channel();
        let body = TimedBody::new(rx, Duration::from_secs(60));
        // The clock is paused: each gap is 50 s of virtual time, advanced by hand.
        let sender = tokio::spawn(async move {
            for _ in 0..3 {
                tokio::time::advance(Duration::from_secs(50)).await;
                tx.send("x").await.expect("sent");
            }
        });
        let all = body.collect().await.expect("50 s gaps are never 60 s idle");
        assert_eq!(all.to_bytes(), "xxx");
        sender.await.expect("sender");
    }
}
