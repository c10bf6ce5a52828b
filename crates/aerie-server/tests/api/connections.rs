//! The listener's limits: a deadline for headers, idle connections closed, a cap on open
//! connections.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::*;

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn connect(addr: std::net::SocketAddr) -> std::io::Result<Tls> {
    let config = aerie_client::testing_client_config(
        aerie_client::Trust::Record(Default::default()),
        rustls::crypto::aws_lc_rs::default_provider(),
    );
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await
}

/// How long until the server closes `tls` (reads until end of stream or an error).
async fn closed_after(tls: &mut Tls, limit: Duration) -> Option<Duration> {
    let start = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout(limit.saturating_sub(start.elapsed()), tls.read(&mut buf)).await
        {
            Err(_) => return None,
            Ok(Ok(0) | Err(_)) => return Some(start.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn slow_and_idle_connections_close_and_open_ones_are_capped() {
    let s = common::start_with(aerie_server::ConfigLayer {
        header_timeout_secs: Some(1),
        idle_timeout_secs: Some(2),
        max_connections: Some(4),
        ..Default::default()
    })
    .await;
    let addr = s.running.addr;

    // Headers that never end are cut off at the deadline.
    let mut slow = connect(addr).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let cut = closed_after(&mut slow, Duration::from_secs(5)).await;
    eprintln!("slow headers cut after {cut:?} (header_timeout_secs 1)");
    assert!(cut.is_some_and(|d| d < Duration::from_secs(3)), "{cut:?}");

    // A keep-alive connection that goes idle after an answer is closed too.
    let mut idle = connect(addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = [0u8; 12];
    idle.read_exact(&mut answer).await.unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    let cut = closed_after(&mut idle, Duration::from_secs(5)).await;
    eprintln!("idle keep-alive closed after {cut:?}");
    assert!(cut.is_some_and(|d| d < Duration::from_secs(3)), "{cut:?}");

    // An HTTP/2 connection (the harness's pooled client) that goes idle is closed too,
    // after the idle deadline: then at most four are open at once.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut open = Vec::new();
    for i in 0..4 {
        open.push(
            connect(addr)
                .await
                .unwrap_or_else(|e| panic!("connection {i}: {e}")),
        );
    }
    assert!(
        connect(addr).await.is_err(),
        "a fifth connection is refused"
    );
    drop(open.pop());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(connect(addr).await.is_ok(), "a freed slot is reused");
}
