//! RADIUS packets as Aerie sends and reads them: an Access-Request carrying a hidden
//! password (RFC 2865 §5.2) and a Message-Authenticator (RFC 3579 §3.2), and the
//! server's answer, checked before anything in it is believed.

use hmac::{KeyInit, Mac};
use md5::{Digest, Md5};
use subtle::ConstantTimeEq;

/// Packet codes Aerie sends or reads.
pub const ACCESS_REQUEST: u8 = 1;
pub const ACCESS_ACCEPT: u8 = 2;
pub const ACCESS_REJECT: u8 = 3;
pub const ACCESS_CHALLENGE: u8 = 11;

/// Attribute types Aerie writes or reads.
pub const USER_NAME: u8 = 1;
pub const USER_PASSWORD: u8 = 2;
pub const FILTER_ID: u8 = 11;
pub const REPLY_MESSAGE: u8 = 18;
pub const CLASS: u8 = 25;
pub const NAS_IDENTIFIER: u8 = 32;
pub const MESSAGE_AUTHENTICATOR: u8 = 80;

const HEADER: usize = 20;
/// The largest packet RFC 2865 allows.
pub const MAX_PACKET: usize = 4096;
/// The longest password PAP can carry (RFC 2865 §5.2).
pub const MAX_PASSWORD: usize = 128;

type HmacMd5 = hmac::Hmac<Md5>;

/// Why a request cannot be built.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("the user name is empty or longer than 253 bytes")]
    UserName,
    #[error("the password is empty or longer than {MAX_PASSWORD} bytes")]
    Password,
}

/// Why an answer is not believed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AnswerError {
    #[error("it is not a RADIUS answer ({0})")]
    Malformed(&'static str),
    #[error("its Response Authenticator does not verify (the shared secret differs)")]
    Authenticator,
    #[error("its Message-Authenticator does not verify (the shared secret differs)")]
    MessageAuthenticator,
    #[error("it carries no Message-Authenticator, which this server is required to send")]
    NoMessageAuthenticator,
}

/// An Access-Request, encoded, with what its answer is checked against.
pub struct Request {
    pub bytes: Vec<u8>,
    pub id: u8,
    authenticator: [u8; 16],
}

/// One attribute of an answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attribute {
    pub kind: u8,
    pub value: Vec<u8>,
}

/// A verified answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub code: u8,
    pub attributes: Vec<Attribute>,
}

impl Answer {
    /// The values of every attribute of `kind`, as text (lossy).
    pub fn texts(&self, kind: u8) -> Vec<String> {
        self.attributes
            .iter()
            .filter(|a| a.kind == kind)
            .map(|a| String::from_utf8_lossy(&a.value).into_owned())
            .collect()
    }
}

fn attribute(out: &mut Vec<u8>, kind: u8, value: &[u8]) {
    out.push(kind);
    out.push((value.len() + 2) as u8);
    out.extend_from_slice(value);
}

/// The password hidden with the shared secret and the request authenticator.
fn hide(password: &[u8], secret: &[u8], authenticator: &[u8; 16]) -> Vec<u8> {
    let mut padded = password.to_vec();
    padded.resize(password.len().div_ceil(16).max(1) * 16, 0);
    let mut previous: Vec<u8> = authenticator.to_vec();
    let mut out = Vec::with_capacity(padded.len());
    for block in padded.chunks(16) {
        let mut md5 = Md5::new();
        md5.update(secret);
        md5.update(&previous);
        let key = md5.finalize();
        let hidden: Vec<u8> = block.iter().zip(key.iter()).map(|(p, k)| p ^ k).collect();
        out.extend_from_slice(&hidden);
        previous = hidden;
    }
    out
}

fn hmac_md5(secret: &[u8], packet: &[u8]) -> [u8; 16] {
    let mut mac = HmacMd5::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(packet);
    mac.finalize().into_bytes().into()
}

/// Builds an Access-Request for a PAP login. Its Message-Authenticator comes first
/// (RFC 3579; the BlastRADIUS mitigation).
pub fn access_request(
    id: u8,
    authenticator: [u8; 16],
    secret: &[u8],
    user: &str,
    password: &str,
    nas_identifier: &str,
) -> Result<Request, RequestError> {
    if user.is_empty() || user.len() > 253 {
        return Err(RequestError::UserName);
    }
    if password.is_empty() || password.len() > MAX_PASSWORD {
        return Err(RequestError::Password);
    }
    let mut bytes = vec![ACCESS_REQUEST, id, 0, 0];
    bytes.extend_from_slice(&authenticator);
    let mac_at = bytes.len() + 2;
    attribute(&mut bytes, MESSAGE_AUTHENTICATOR, &[0; 16]);
    attribute(&mut bytes, USER_NAME, user.as_bytes());
    attribute(
        &mut bytes,
        USER_PASSWORD,
        &hide(password.as_bytes(), secret, &authenticator),
    );
    if !nas_identifier.is_empty() {
        let nas = &nas_identifier.as_bytes()[..nas_identifier.len().min(253)];
        attribute(&mut bytes, NAS_IDENTIFIER, nas);
    }
    let len = bytes.len() as u16;
    bytes[2..4].copy_from_slice(&len.to_be_bytes());
    let mac = hmac_md5(secret, &bytes);
    bytes[mac_at..mac_at + 16].copy_from_slice(&mac);
    Ok(Request {
        bytes,
        id,
        authenticator,
    })
}

impl Request {
    /// Whether a datagram answers this request at all (its identifier); only such a
    /// datagram is checked.
    pub fn is_for(&self, datagram: &[u8]) -> bool {
        datagram.len() >= HEADER && datagram[1] == self.id
    }

    /// Checks an answer: its length, its code, its Response Authenticator (in constant
    /// time) and its Message-Authenticator (required when `require_mac`).
    pub fn verify(
        &self,
        datagram: &[u8],
        secret: &[u8],
        require_mac: bool,
    ) -> Result<Answer, AnswerError> {
        if datagram.len() < HEADER {
            return Err(AnswerError::Malformed("shorter than a header"));
        }
        let len = u16::from_be_bytes([datagram[2], datagram[3]]) as usize;
        if !(HEADER..=MAX_PACKET).contains(&len) || len > datagram.len() {
            return Err(AnswerError::Malformed("its length field is wrong"));
        }
        let packet = &datagram[..len];
        let code = packet[0];
        if ![ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE].contains(&code) {
            return Err(AnswerError::Malformed("not an Access answer"));
        }
        let mut md5 = Md5::new();
        md5.update(&packet[..4]);
        md5.update(self.authenticator);
        md5.update(&packet[HEADER..]);
        md5.update(secret);
        let expected = md5.finalize();
        if !bool::from(expected.as_slice().ct_eq(&packet[4..HEADER])) {
            return Err(AnswerError::Authenticator);
        }
        let mut attributes = Vec::new();
        let mut mac_at = None;
        let mut at = HEADER;
        while at < len {
            if len - at < 2 {
                return Err(AnswerError::Malformed("a truncated attribute"));
            }
            let (kind, alen) = (packet[at], packet[at + 1] as usize);
            if alen < 2 || at + alen > len {
                return Err(AnswerError::Malformed("an attribute's length is wrong"));
            }
            if kind == MESSAGE_AUTHENTICATOR {
                if alen != 18 {
                    return Err(AnswerError::Malformed(
                        "a Message-Authenticator of a bad size",
                    ));
                }
                mac_at = Some(at + 2);
            }
            attributes.push(Attribute {
                kind,
                value: packet[at + 2..at + alen].to_vec(),
            });
            at += alen;
        }
        match mac_at {
            Some(mac_at) => {
                let mut copy = packet.to_vec();
                copy[4..HEADER].copy_from_slice(&self.authenticator);
                copy[mac_at..mac_at + 16].fill(0);
                let expected = hmac_md5(secret, &copy);
                if !bool::from(expected.ct_eq(&packet[mac_at..mac_at + 16])) {
                    return Err(AnswerError::MessageAuthenticator);
                }
            }
            None if require_mac => return Err(AnswerError::NoMessageAuthenticator),
            None => {}
        }
        Ok(Answer { code, attributes })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"xyzzy5461";

    /// The server's side of the exchange, written from the RFCs, to answer requests.
    fn answer(request: &Request, code: u8, attrs: &[(u8, &[u8])], with_mac: bool) -> Vec<u8> {
        let mut bytes = vec![code, request.id, 0, 0];
        bytes.extend_from_slice(&request.authenticator);
        let mac_at = with_mac.then(|| {
            attribute(&mut bytes, MESSAGE_AUTHENTICATOR, &[0; 16]);
            HEADER + 2
        });
        for (kind, value) in attrs {
            attribute(&mut bytes, *kind, value);
        }
        let len = bytes.len() as u16;
        bytes[2..4].copy_from_slice(&len.to_be_bytes());
        if let Some(at) = mac_at {
            let mac = hmac_md5(SECRET, &bytes);
            bytes[at..at + 16].copy_from_slice(&mac);
        }
        let mut md5 = Md5::new();
        md5.update(&bytes);
        md5.update(SECRET);
        let auth = md5.finalize();
        bytes[4..HEADER].copy_from_slice(&auth);
        bytes
    }

    fn request() -> Request {
        access_request(7, [0x42; 16], SECRET, "nemo", "arctangent", "aerie").unwrap()
    }

    #[test]
    fn the_password_is_hidden_as_rfc_2865_says() {
        // Unhide with the same construction: XOR is its own inverse.
        let auth = [9u8; 16];
        let hidden = hide(b"a password longer than sixteen", SECRET, &auth);
        assert_eq!(hidden.len(), 32);
        let mut md5 = Md5::new();
        md5.update(SECRET);
        md5.update(auth);
        let k1 = md5.finalize();
        let p1: Vec<u8> = hidden[..16]
            .iter()
            .zip(k1.iter())
            .map(|(c, k)| c ^ k)
            .collect();
        assert_eq!(&p1, b"a password longe");
        let mut md5 = Md5::new();
        md5.update(SECRET);
        md5.update(&hidden[..16]);
        let k2 = md5.finalize();
        let p2: Vec<u8> = hidden[16..]
            .iter()
            .zip(k2.iter())
            .map(|(c, k)| c ^ k)
            .collect();
        assert_eq!(&p2[..14], b"r than sixteen");
        assert!(p2[14..].iter().all(|&b| b == 0), "zero padding");
    }

    #[test]
    fn the_request_carries_a_verifiable_message_authenticator_first() {
        let r = request();
        assert_eq!(r.bytes[HEADER], MESSAGE_AUTHENTICATOR);
        let mut zeroed = r.bytes.clone();
        zeroed[HEADER + 2..HEADER + 18].fill(0);
        assert_eq!(
            &r.bytes[HEADER + 2..HEADER + 18],
            &hmac_md5(SECRET, &zeroed)
        );
        let len = u16::from_be_bytes([r.bytes[2], r.bytes[3]]) as usize;
        assert_eq!(len, r.bytes.len());
    }

    #[test]
    fn answers_are_verified() {
        let r = request();
        let accept = answer(&r, ACCESS_ACCEPT, &[(CLASS, b"aerie-admin")], false);
        let got = r.verify(&accept, SECRET, false).unwrap();
        assert_eq!(got.code, ACCESS_ACCEPT);
        assert_eq!(got.texts(CLASS), ["aerie-admin"]);
        assert_eq!(
            r.verify(&accept, b"another secret", false),
            Err(AnswerError::Authenticator)
        );
        assert_eq!(
            r.verify(&accept, SECRET, true),
            Err(AnswerError::NoMessageAuthenticator)
        );
        let with_mac = answer(&r, ACCESS_REJECT, &[(REPLY_MESSAGE, b"no")], true);
        assert_eq!(
            r.verify(&with_mac, SECRET, true).unwrap().code,
            ACCESS_REJECT
        );

        let mut tampered = with_mac.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(
            r.verify(&tampered, SECRET, false),
            Err(AnswerError::Authenticator)
        );
        let mut short = accept.clone();
        short[3] = 200;
        assert!(matches!(
            r.verify(&short, SECRET, false),
            Err(AnswerError::Malformed(_))
        ));
    }

    #[test]
    fn requests_refuse_what_pap_cannot_carry() {
        let long = "x".repeat(MAX_PASSWORD + 1);
        assert!(access_request(1, [0; 16], SECRET, "u", &long, "").is_err());
        assert!(access_request(1, [0; 16], SECRET, "", "p", "").is_err());
    }
}
