//! The file header, the key schedule and the sealing of one chunk.

use std::io::Read;
use std::num::NonZeroU32;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::{constant_time, hkdf, pbkdf2};
use zeroize::Zeroizing;

use crate::BackupError;

pub(crate) const MAGIC: &[u8; 8] = b"AERIEBK1";
pub(crate) const FORMAT_VERSION: u8 = 1;
pub(crate) const KDF_PBKDF2_HMAC_SHA256: u8 = 1;
pub(crate) const TAG_LEN: usize = 16;
pub(crate) const SALT_LEN: usize = 16;
pub(crate) const PREFIX_LEN: usize = 4;
pub(crate) const CHECK_LEN: usize = 32;
/// magic, version, kdf, iterations, salt, nonce prefix, chunk size, key check.
pub(crate) const HEADER_LEN: usize = 8 + 1 + 1 + 4 + SALT_LEN + PREFIX_LEN + 4 + CHECK_LEN;

/// The bounds a reader accepts, so that an altered header can neither make PBKDF2 run
/// for hours nor make the reader allocate gigabytes for one chunk.
pub(crate) const MIN_ITERATIONS: u32 = 1_000;
pub(crate) const MAX_ITERATIONS: u32 = 10_000_000;
pub(crate) const MIN_CHUNK_SIZE: u32 = 4 * 1024;
pub(crate) const MAX_CHUNK_SIZE: u32 = 16 * 1024 * 1024;

const INFO_AEAD: &[u8] = b"aerie-backup-v1 aes-256-gcm";
const INFO_CHECK: &[u8] = b"aerie-backup-v1 key-check";

/// The plaintext header, authenticated as part of every chunk's AAD.
#[derive(Clone, Debug)]
pub(crate) struct Header {
    pub iterations: u32,
    pub salt: [u8; SALT_LEN],
    pub nonce_prefix: [u8; PREFIX_LEN],
    pub chunk_size: u32,
    pub check: [u8; CHECK_LEN],
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        put(MAGIC);
        put(&[FORMAT_VERSION, KDF_PBKDF2_HMAC_SHA256]);
        put(&self.iterations.to_be_bytes());
        put(&self.salt);
        put(&self.nonce_prefix);
        put(&self.chunk_size.to_be_bytes());
        put(&self.check);
        debug_assert_eq!(at, HEADER_LEN);
        out
    }

    /// Reads and validates the header at the start of `input`.
    pub fn read(input: &mut impl Read) -> Result<(Header, [u8; HEADER_LEN]), BackupError> {
        let mut bytes = [0u8; HEADER_LEN];
        let got = read_full(input, &mut bytes)
            .map_err(|e| BackupError::io("cannot read the backup header", e))?;
        if got < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
            return Err(BackupError::NotABackup);
        }
        if got > MAGIC.len() && bytes[8] != FORMAT_VERSION {
            return Err(BackupError::UnsupportedFormat(bytes[8]));
        }
        if got < HEADER_LEN {
            return Err(BackupError::Truncated);
        }
        if bytes[9] != KDF_PBKDF2_HMAC_SHA256 {
            return Err(BackupError::UnsupportedKdf(bytes[9]));
        }
        let u32_at = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
        let mut salt = [0u8; SALT_LEN];
        salt.copy_from_slice(&bytes[14..14 + SALT_LEN]);
        let mut nonce_prefix = [0u8; PREFIX_LEN];
        nonce_prefix.copy_from_slice(&bytes[30..30 + PREFIX_LEN]);
        let mut check = [0u8; CHECK_LEN];
        check.copy_from_slice(&bytes[38..38 + CHECK_LEN]);
        let header = Header {
            iterations: u32_at(10),
            salt,
            nonce_prefix,
            chunk_size: u32_at(34),
            check,
        };
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&header.iterations) {
            return Err(BackupError::BadHeader(
                "the iteration count is out of range",
            ));
        }
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&header.chunk_size) {
            return Err(BackupError::BadHeader("the chunk size is out of range"));
        }
        Ok((header, bytes))
    }
}

/// The two subkeys derived from the passphrase.
pub(crate) struct Keys {
    pub aead: LessSafeKey,
    pub check: Zeroizing<[u8; CHECK_LEN]>,
}

/// PBKDF2-HMAC-SHA256(passphrase, salt, iterations) gives a master key; HKDF-SHA256
/// (salt = the archive's salt) expands it into the AES-256-GCM key and the key check, so the
/// check value stored in the clear reveals nothing about the encryption key.
pub(crate) fn derive_keys(passphrase: &str, iterations: u32, salt: &[u8; SALT_LEN]) -> Keys {
    let iterations = NonZeroU32::new(iterations).unwrap_or(NonZeroU32::MIN);
    let mut master = Zeroizing::new([0u8; 32]);
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        salt,
        passphrase.as_bytes(),
        master.as_mut_slice(),
    );
    let prk = hkdf::Salt::new(hkdf::HKDF_SHA256, salt).extract(master.as_slice());

    let mut aead_key = Zeroizing::new([0u8; 32]);
    prk.expand(&[INFO_AEAD], &AES_256_GCM)
        .and_then(|okm| okm.fill(aead_key.as_mut_slice()))
        .expect("HKDF output of 32 bytes");
    let aead = LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, aead_key.as_slice()).expect("a 32-byte AES key"),
    );

    let mut check = Zeroizing::new([0u8; CHECK_LEN]);
    prk.expand(&[INFO_CHECK], hkdf::HKDF_SHA256)
        .and_then(|okm| okm.fill(check.as_mut_slice()))
        .expect("HKDF output of 32 bytes");
    Keys { aead, check }
}

/// Compares the derived key check with the header's, in constant time.
pub(crate) fn check_matches(keys: &Keys, header: &Header) -> bool {
    constant_time::verify_slices_are_equal(keys.check.as_slice(), &header.check).is_ok()
}

fn nonce(prefix: &[u8; PREFIX_LEN], index: u64) -> Nonce {
    let mut bytes = [0u8; NONCE_LEN];
    bytes[..PREFIX_LEN].copy_from_slice(prefix);
    bytes[PREFIX_LEN..].copy_from_slice(&index.to_be_bytes());
    Nonce::assume_unique_for_key(bytes)
}

fn aad(header: &[u8; HEADER_LEN], index: u64, last: bool) -> [u8; HEADER_LEN + 9] {
    let mut out = [0u8; HEADER_LEN + 9];
    out[..HEADER_LEN].copy_from_slice(header);
    out[HEADER_LEN..HEADER_LEN + 8].copy_from_slice(&index.to_be_bytes());
    out[HEADER_LEN + 8] = u8::from(last);
    out
}

/// The per-archive state shared by sealing and opening of chunks.
pub(crate) struct ChunkCipher {
    pub key: LessSafeKey,
    pub header: [u8; HEADER_LEN],
    pub prefix: [u8; PREFIX_LEN],
}

impl ChunkCipher {
    /// Encrypts `buf` in place and appends the tag.
    pub fn seal(&self, index: u64, last: bool, buf: &mut Vec<u8>) {
        let aad = aad(&self.header, index, last);
        self.key
            .seal_in_place_append_tag(nonce(&self.prefix, index), Aad::from(&aad[..]), buf)
            .expect("AES-GCM sealing of at most 16 MiB");
    }

    /// Decrypts `buf` (ciphertext and tag) in place and cuts the tag off.
    pub fn open(&self, index: u64, last: bool, buf: &mut Vec<u8>) -> Result<(), BackupError> {
        let aad = aad(&self.header, index, last);
        let len = self
            .key
            .open_in_place(nonce(&self.prefix, index), Aad::from(&aad[..]), buf)
            .map_err(|_| BackupError::Damaged { chunk: index })?
            .len();
        buf.truncate(len);
        Ok(())
    }
}

/// Reads until `buf` is full or the input ends; returns how much was read.
pub(crate) fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match input.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            iterations: 600_000,
            salt: [7; SALT_LEN],
            nonce_prefix: [1, 2, 3, 4],
            chunk_size: 1 << 20,
            check: [9; CHECK_LEN],
        }
    }

    #[test]
    fn header_round_trips() {
        let bytes = header().encode();
        assert_eq!(&bytes[..8], b"AERIEBK1");
        let (parsed, raw) = Header::read(&mut &bytes[..]).unwrap();
        assert_eq!(raw, bytes);
        assert_eq!(parsed.iterations, 600_000);
        assert_eq!(parsed.chunk_size, 1 << 20);
        assert_eq!(parsed.salt, [7; SALT_LEN]);
        assert_eq!(parsed.nonce_prefix, [1, 2, 3, 4]);
        assert_eq!(parsed.check, [9; CHECK_LEN]);
    }

    #[test]
    fn header_refuses_out_of_range_fields() {
        let mut h = header();
        h.iterations = u32::MAX;
        assert!(matches!(
            Header::read(&mut &h.encode()[..]),
            Err(BackupError::BadHeader(_))
        ));
        let mut h = header();
        h.chunk_size = 1;
        assert!(matches!(
            Header::read(&mut &h.encode()[..]),
            Err(BackupError::BadHeader(_))
        ));
        let mut bytes = header().encode();
        bytes[8] = 2;
        assert!(matches!(
            Header::read(&mut &bytes[..]),
            Err(BackupError::UnsupportedFormat(2))
        ));
        let mut bytes = header().encode();
        bytes[9] = 3;
        assert!(matches!(
            Header::read(&mut &bytes[..]),
            Err(BackupError::UnsupportedKdf(3))
        ));
        assert!(matches!(
            Header::read(&mut &bytes[..20]),
            Err(BackupError::Truncated)
        ));
        assert!(matches!(
            Header::read(&mut &b"AERIE"[..]),
            Err(BackupError::NotABackup)
        ));
    }

    #[test]
    fn subkeys_differ_and_depend_on_passphrase_and_salt() {
        let a = derive_keys("correct horse", 1_000, &[1; SALT_LEN]);
        let b = derive_keys("correct horse", 1_000, &[1; SALT_LEN]);
        let c = derive_keys("correct horsf", 1_000, &[1; SALT_LEN]);
        let d = derive_keys("correct horse", 1_000, &[2; SALT_LEN]);
        assert_eq!(*a.check, *b.check);
        assert_ne!(*a.check, *c.check);
        assert_ne!(*a.check, *d.check);
    }

    #[test]
    fn chunks_are_bound_to_index_and_final_flag() {
        let keys = derive_keys("correct horse", 1_000, &[1; SALT_LEN]);
        let cipher = ChunkCipher {
            key: keys.aead,
            header: header().encode(),
            prefix: [1, 2, 3, 4],
        };
        let mut sealed = b"hello".to_vec();
        cipher.seal(3, false, &mut sealed);
        assert_eq!(sealed.len(), 5 + TAG_LEN);

        let mut ok = sealed.clone();
        cipher.open(3, false, &mut ok).unwrap();
        assert_eq!(ok, b"hello");
        for (index, last) in [(2, false), (3, true), (4, false)] {
            let mut bad = sealed.clone();
            assert!(matches!(
                cipher.open(index, last, &mut bad),
                Err(BackupError::Damaged { chunk }) if chunk == index
            ));
        }
    }
}
