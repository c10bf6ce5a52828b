//! The RADIUS client against a real FreeRADIUS (Debian's `freeradius`), started on a
//! loopback port with a trimmed configuration (PEERS.md §2).

use std::{net::SocketAddr, time::Duration};

use aerie_identity::radius::{RadiusConfig, RadiusError, RadiusServer, packet::AnswerError};

use aerie_identity::testing::{FreeRadius, SECRET};

/// FreeRADIUS answers a reject after its `reject_delay` (1 s by default): the timeout
/// allows for it.
fn config(servers: &[(SocketAddr, &str)]) -> RadiusConfig {
    RadiusConfig {
        servers: servers
            .iter()
            .map(|(addr, secret)| RadiusServer {
                addr: *addr,
                secret: secret.as_bytes().to_vec().into(),
            })
            .collect(),
        timeout: Duration::from_millis(2500),
        retries: 1,
        require_message_authenticator: false,
        nas_identifier: "aerie-test".into(),
    }
}

#[tokio::test]
async fn logins_against_freeradius() {
    let Some(radius) = FreeRadius::start() else {
        return;
    };
    let good = config(&[(radius.addr, SECRET)]);

    let alice = match good.authenticate("alice", "alicepass").await {
        Ok(verdict) => verdict,
        Err(e) => panic!("{e}\nFreeRADIUS:\n{}", radius.log()),
    };
    assert!(alice.accepted);
    assert_eq!(alice.classes, ["aerie-admin"]);
    assert_eq!(alice.messages, ["Hello alice"]);
    let bob = good.authenticate("bob", "bobpass").await.unwrap();
    assert!(bob.accepted);
    assert_eq!(bob.filter_ids, ["aerie-viewer"]);

    let wrong = good
        .authenticate("alice", "not her password")
        .await
        .unwrap();
    assert!(!wrong.accepted, "a wrong password is an Access-Reject");
    let nobody = good.authenticate("mallory", "x").await.unwrap();
    assert!(!nobody.accepted);

    // A wrong shared secret: FreeRADIUS drops the request (its Message-Authenticator
    // does not verify), and the error says to check the secret.
    let bad_secret = RadiusConfig {
        timeout: Duration::from_millis(300),
        ..config(&[(radius.addr, "not the secret")])
    };
    let err = bad_secret
        .authenticate("alice", "alicepass")
        .await
        .unwrap_err();
    assert!(
        matches!(err, RadiusError::Timeout { tries: 2, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("check the shared secret"), "{err}");

    // A server that is down: said so, and the next server answers.
    let down = aerie_identity::testing::closed_udp_port();
    let err = config(&[(down, SECRET)])
        .authenticate("alice", "alicepass")
        .await
        .unwrap_err();
    assert_eq!(err, RadiusError::Refused { server: down });
    let failover = config(&[(down, SECRET), (radius.addr, SECRET)]);
    let verdict = failover.authenticate("alice", "alicepass").await.unwrap();
    assert!(verdict.accepted);
    assert_eq!(verdict.server, radius.addr, "the second server answered");

    // Debian's FreeRADIUS 3.2.1 sends no Message-Authenticator: requiring one refuses it.
    let strict = RadiusConfig {
        require_message_authenticator: true,
        ..good.clone()
    };
    let err = strict.authenticate("alice", "alicepass").await.unwrap_err();
    assert_eq!(
        err,
        RadiusError::Untrusted {
            server: radius.addr,
            problem: AnswerError::NoMessageAuthenticator
        }
    );
}
