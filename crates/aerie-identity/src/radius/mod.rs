//! A RADIUS client for logins (PAP, RFC 2865), on tokio's UDP.
//!
//! Each server is tried in turn. A request is sent again, unchanged, when no answer
//! comes in time (so a late answer to the first send still counts). Only a datagram
//! from the server, with the request's identifier, whose Response Authenticator and
//! Message-Authenticator verify, is believed; anything else is dropped and the wait
//! goes on. Every request carries a Message-Authenticator; answers must carry one too
//! when [`RadiusConfig::require_message_authenticator`] is on (BlastRADIUS,
//! CVE-2024-3596). RADIUS over UDP rests on MD5: it is not a FIPS-approved method.

pub mod packet;

use std::{net::SocketAddr, time::Duration};

use rand::RngCore;
use tokio::net::UdpSocket;
use zeroize::Zeroizing;

use packet::{ACCESS_ACCEPT, ACCESS_CHALLENGE, AnswerError, CLASS, FILTER_ID, REPLY_MESSAGE};

/// One RADIUS server.
#[derive(Clone)]
pub struct RadiusServer {
    pub addr: SocketAddr,
    pub secret: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for RadiusServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RadiusServer")
            .field("addr", &self.addr)
            .field("secret", &"***")
            .finish()
    }
}

/// How logins are checked against RADIUS.
#[derive(Clone, Debug)]
pub struct RadiusConfig {
    /// Tried in this order.
    pub servers: Vec<RadiusServer>,
    /// How long to wait for an answer to each send.
    pub timeout: Duration,
    /// Sends after the first, per server.
    pub retries: u32,
    pub require_message_authenticator: bool,
    /// Sent as NAS-Identifier (the appliance's host name).
    pub nas_identifier: String,
}

/// A server's verdict on a login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub accepted: bool,
    /// The server that answered.
    pub server: SocketAddr,
    /// Class and Filter-Id values, where role mappings look.
    pub classes: Vec<String>,
    pub filter_ids: Vec<String>,
    /// Reply-Message values (for the log, never for the login page).
    pub messages: Vec<String>,
}

/// Why no server gave a verdict.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RadiusError {
    #[error("no RADIUS server is configured")]
    NoServer,
    #[error("{0}")]
    Request(#[from] packet::RequestError),
    #[error("{server}: nothing answers there (connection refused)")]
    Refused { server: SocketAddr },
    #[error(
        "{server}: no answer after {tries} tries of {timeout:?} each (the server is down, \
         unreachable, or drops requests whose Message-Authenticator does not verify: \
         check the shared secret)"
    )]
    Timeout {
        server: SocketAddr,
        tries: u32,
        timeout: Duration,
    },
    #[error("{server}: an answer was refused: {problem}")]
    Untrusted {
        server: SocketAddr,
        problem: AnswerError,
    },
    #[error("{server}: the server asked for a challenge (a second factor), which is not supported")]
    Challenge { server: SocketAddr },
    #[error("{server}: {detail}")]
    Network { server: SocketAddr, detail: String },
    #[error("every RADIUS server failed: {}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("; "))]
    AllFailed(Vec<RadiusError>),
}

impl RadiusConfig {
    /// Asks the servers in turn whether `user` may log in with `password`. The first
    /// server that answers decides (a reject is not retried elsewhere).
    pub async fn authenticate(&self, user: &str, password: &str) -> Result<Verdict, RadiusError> {
        if self.servers.is_empty() {
            return Err(RadiusError::NoServer);
        }
        let mut failures = Vec::new();
        for server in &self.servers {
            match self.ask(server, user, password).await {
                Ok(verdict) => return Ok(verdict),
                Err(e @ RadiusError::Request(_)) => return Err(e),
                Err(e) => {
                    tracing::warn!("RADIUS: {e}");
                    failures.push(e);
                }
            }
        }
        Err(if failures.len() == 1 {
            failures.remove(0)
        } else {
            RadiusError::AllFailed(failures)
        })
    }

    async fn ask(
        &self,
        server: &RadiusServer,
        user: &str,
        password: &str,
    ) -> Result<Verdict, RadiusError> {
        let addr = server.addr;
        let network = |e: std::io::Error| RadiusError::Network {
            server: addr,
            detail: e.to_string(),
        };
        let local: SocketAddr = if addr.is_ipv4() {
            "0.0.0.0:0".parse().expect("an address")
        } else {
            "[::]:0".parse().expect("an address")
        };
        let socket = UdpSocket::bind(local).await.map_err(network)?;
        // Connected: only this server's datagrams arrive, and a closed port shows.
        socket.connect(addr).await.map_err(network)?;
        // ThreadRng stays on this thread: taken and dropped before any await.
        let (id, authenticator) = {
            let mut rng = rand::rng();
            let mut authenticator = [0u8; 16];
            rng.fill_bytes(&mut authenticator);
            ((rng.next_u32() & 0xff) as u8, authenticator)
        };
        let request = packet::access_request(
            id,
            authenticator,
            &server.secret,
            user,
            password,
            &self.nas_identifier,
        )?;
        let tries = self.retries + 1;
        let mut buf = vec![0u8; packet::MAX_PACKET];
        let mut untrusted = None;
        for _ in 0..tries {
            socket.send(&request.bytes).await.map_err(network)?;
            let deadline = tokio::time::Instant::now() + self.timeout;
            loop {
                let got = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await;
                let n = match got {
                    Err(_) => break, // this send timed out
                    Ok(Ok(n)) => n,
                    Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                        return Err(RadiusError::Refused { server: addr });
                    }
                    Ok(Err(e)) => return Err(network(e)),
                };
                let datagram = &buf[..n];
                if !request.is_for(datagram) {
                    continue;
                }
                match request.verify(datagram, &server.secret, self.require_message_authenticator) {
                    Ok(answer) if answer.code == ACCESS_CHALLENGE => {
                        return Err(RadiusError::Challenge { server: addr });
                    }
                    Ok(answer) => {
                        return Ok(Verdict {
                            accepted: answer.code == ACCESS_ACCEPT,
                            server: addr,
                            classes: answer.texts(CLASS),
                            filter_ids: answer.texts(FILTER_ID),
                            messages: answer.texts(REPLY_MESSAGE),
                        });
                    }
                    // Dropped, as RFC 2865 says; said if nothing better comes.
                    Err(problem) => untrusted = Some(problem),
                }
            }
        }
        Err(match untrusted {
            Some(problem) => RadiusError::Untrusted {
                server: addr,
                problem,
            },
            None => RadiusError::Timeout {
                server: addr,
                tries,
                timeout: self.timeout,
            },
        })
    }
}
