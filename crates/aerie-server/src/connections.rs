//! Limits on connections: a cap on open ones and an idle deadline (no byte either way for
//! that long closes the connection, HTTP/1 and HTTP/2 alike), so that slow or idle
//! clients cannot hold the listener's resources. The deadline for each request's headers
//! is hyper's, set in `lib.rs` (see docs/operations.md for the figures).

use std::{
    future::{Future, Ready},
    io,
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
    time::Duration,
};

use axum_server::accept::Accept;
use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    net::TcpStream,
    sync::{OwnedSemaphorePermit, Semaphore},
    time::{Instant, Sleep},
};

/// Sets `TCP_NODELAY` (without it small responses wait out the peer's delayed ACK,
/// ~40 ms) and refuses a connection beyond `max` open ones; the TLS acceptor wraps it.
#[derive(Clone)]
pub struct Limited {
    open: Arc<Semaphore>,
    max: usize,
    idle: Duration,
}

impl Limited {
    pub fn new(max: usize, idle: Duration) -> Limited {
        Limited {
            open: Arc::new(Semaphore::new(max)),
            max,
            idle,
        }
    }
}

/// A connection holding one of the [`Limited`] slots until it closes; it fails its next
/// read once it has been idle for the deadline.
pub struct Counted {
    stream: TcpStream,
    _slot: OwnedSemaphorePermit,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Counted {
    fn touch(&mut self) {
        let at = Instant::now() + self.idle;
        self.deadline.as_mut().reset(at);
    }
}

impl<S> Accept<TcpStream, S> for Limited {
    type Stream = Counted;
    type Service = S;
    type Future = Ready<io::Result<(Counted, S)>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let Ok(slot) = self.open.clone().try_acquire_owned() else {
            tracing::warn!(
                max = self.max,
                "connection refused: too many open connections"
            );
            return std::future::ready(Err(io::Error::other("too many open connections")));
        };
        let accepted = stream.set_nodelay(true).map(|()| {
            (
                Counted {
                    stream,
                    _slot: slot,
                    idle: self.idle,
                    deadline: Box::pin(tokio::time::sleep(self.idle)),
                },
                service,
            )
        });
        std::future::ready(accepted)
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.stream).poll_read(cx, buf) {
            Poll::Ready(read) => {
                self.touch();
                Poll::Ready(read)
            }
            Poll::Pending if self.deadline.as_mut().poll(cx).is_ready() => Poll::Ready(Err(
                io::Error::new(io::ErrorKind::TimedOut, "connection idle too long"),
            )),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write(cx, buf);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        written
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.stream).poll_write_vectored(cx, bufs);
        if matches!(written, Poll::Ready(Ok(n)) if n > 0) {
            self.touch();
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
