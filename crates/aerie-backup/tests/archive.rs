//! End-to-end tests on real files: write a backup, then read, verify, extract and tamper.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use aerie_backup::{
    BackupError, DEFAULT_CHUNK_SIZE, Manifest, ManifestMeta, Options, Writer, extract, manifest,
    read_header, verify_passphrase,
};

const PASS: &str = "correct horse battery staple";
const HEADER_LEN: u64 = 70;
const TAG_LEN: u64 = 16;

/// Low iterations keep the tests fast; the default chunk size keeps them realistic.
const FAST: Options = Options {
    iterations: 1_000,
    chunk_size: DEFAULT_CHUNK_SIZE,
};

fn meta() -> ManifestMeta {
    ManifestMeta {
        version: "1.2.3".into(),
        role: "mcm".into(),
        created: chrono::DateTime::parse_from_rfc3339("2025-01-02T03:04:05Z")
            .unwrap()
            .into(),
        schema: 7,
        extra: serde_json::json!({"db": "sqlite"}),
    }
}

/// Deterministic, incompressible bytes.
fn noise(len: usize, mut seed: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        out.extend_from_slice(&seed.to_le_bytes());
    }
    out.truncate(len);
    out
}

struct Fixture {
    dir: tempfile::TempDir,
    archive: PathBuf,
    big: Vec<u8>,
}

impl Fixture {
    fn dest(&self, name: &str) -> PathBuf {
        let dest = self.dir.path().join(name);
        fs::create_dir(&dest).unwrap();
        dest
    }

    /// A copy of the archive with `edit` applied to its bytes.
    fn tampered(&self, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
        let mut bytes = fs::read(&self.archive).unwrap();
        edit(&mut bytes);
        let path = self.dir.path().join("tampered.aeriebk");
        fs::write(&path, bytes).unwrap();
        path
    }
}

/// A backup with a ~5 MiB incompressible member (six chunks), a small one from a file, an
/// empty one and one from bytes.
fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let big = noise(5 * 1024 * 1024 + 12_345, 1);
    let src = dir.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("aerie.db"), &big).unwrap();
    fs::write(src.join("empty"), b"").unwrap();
    fs::write(src.join("cert.pem"), b"-----BEGIN CERTIFICATE-----\n").unwrap();

    let archive = dir.path().join("backup.aeriebk");
    let mut writer =
        Writer::with_options(File::create(&archive).unwrap(), PASS, meta(), FAST).unwrap();
    writer
        .add_file("store/aerie.db", &src.join("aerie.db"))
        .unwrap();
    writer
        .add_file("tls/cert.pem", &src.join("cert.pem"))
        .unwrap();
    writer.add_file("empty", &src.join("empty")).unwrap();
    writer
        .add_bytes("config/aerie.toml", b"listen = \"0.0.0.0:443\"\n")
        .unwrap();
    let (written, file) = writer.finish_into_inner().unwrap();
    file.sync_all().unwrap();
    assert_eq!(written.members.len(), 4);
    Fixture { dir, archive, big }
}

fn assert_empty(dest: &Path) {
    assert!(
        fs::read_dir(dest).unwrap().next().is_none(),
        "{} is not empty",
        dest.display()
    );
}

/// Byte offsets where each chunk's length prefix starts, and where the file ends.
fn chunk_starts(archive: &Path) -> Vec<u64> {
    let bytes = fs::read(archive).unwrap();
    let mut at = HEADER_LEN;
    let mut starts = Vec::new();
    while at < bytes.len() as u64 {
        starts.push(at);
        let len = u32::from_be_bytes(bytes[at as usize..at as usize + 4].try_into().unwrap());
        at += 4 + u64::from(len);
    }
    assert_eq!(at, bytes.len() as u64);
    starts
}

#[test]
fn round_trip_is_byte_identical() {
    let f = fixture();
    let dest = f.dest("restore");
    let restored: Manifest = extract(&f.archive, PASS, &dest).unwrap();

    assert_eq!(fs::read(dest.join("store/aerie.db")).unwrap(), f.big);
    assert_eq!(
        fs::read(dest.join("tls/cert.pem")).unwrap(),
        b"-----BEGIN CERTIFICATE-----\n"
    );
    assert_eq!(fs::read(dest.join("empty")).unwrap(), b"");
    assert_eq!(
        fs::read(dest.join("config/aerie.toml")).unwrap(),
        b"listen = \"0.0.0.0:443\"\n"
    );
    assert!(!dest.join("manifest.json").exists());

    assert_eq!(restored.format, 1);
    assert_eq!(restored.version, "1.2.3");
    assert_eq!(restored.role, "mcm");
    assert_eq!(restored.schema, 7);
    assert_eq!(restored.created, meta().created);
    assert_eq!(restored.extra, serde_json::json!({"db": "sqlite"}));
    let names: Vec<_> = restored.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "store/aerie.db",
            "tls/cert.pem",
            "empty",
            "config/aerie.toml"
        ]
    );
    assert_eq!(restored.members[0].size, f.big.len() as u64);
    assert_eq!(restored.members[2].size, 0);
    assert_eq!(
        restored.members[2].sha256,
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );

    // The incompressible member spans several chunks.
    assert!(chunk_starts(&f.archive).len() >= 6);
    // `manifest` reads the same without writing.
    assert_eq!(manifest(&f.archive, PASS).unwrap(), restored);
}

#[test]
fn header_and_passphrase_checks() {
    let f = fixture();
    let info = read_header(&f.archive).unwrap();
    assert_eq!(info.format, 1);
    assert_eq!(info.kdf, 1);
    assert_eq!(info.iterations, 1_000);
    assert_eq!(info.chunk_size, DEFAULT_CHUNK_SIZE);
    verify_passphrase(&f.archive, PASS).unwrap();
    assert!(matches!(
        verify_passphrase(&f.archive, "correct horse battery stapler"),
        Err(BackupError::WrongPassphrase)
    ));
}

#[test]
fn wrong_passphrase_writes_nothing() {
    let f = fixture();
    let dest = f.dest("restore");
    let err = extract(&f.archive, "not the passphrase", &dest).unwrap_err();
    assert!(matches!(err, BackupError::WrongPassphrase), "{err:?}");
    assert!(err.to_string().contains("wrong passphrase"));
    assert_empty(&dest);
    assert!(matches!(
        manifest(&f.archive, "not the passphrase"),
        Err(BackupError::WrongPassphrase)
    ));
}

#[test]
fn destination_must_exist_and_be_empty() {
    let f = fixture();
    let dest = f.dest("restore");
    fs::write(dest.join("keep"), b"mine").unwrap();
    assert!(matches!(
        extract(&f.archive, PASS, &dest),
        Err(BackupError::DestinationNotEmpty(p)) if p == dest
    ));
    assert_eq!(fs::read(dest.join("keep")).unwrap(), b"mine");
    assert!(matches!(
        extract(&f.archive, PASS, &f.dir.path().join("missing")),
        Err(BackupError::DestinationNotEmpty(_))
    ));
}

#[test]
fn truncation_is_detected() {
    let f = fixture();
    let len = fs::metadata(&f.archive).unwrap().len();
    let starts = chunk_starts(&f.archive);
    let last = *starts.last().unwrap();
    let cuts = [
        len / 2,    // inside a middle chunk
        starts[1],  // at a chunk boundary, many chunks before the end
        last,       // at the boundary just before the final chunk
        last + 2,   // inside the final chunk's length prefix
        len - 1,    // one byte short
        HEADER_LEN, // header only
    ];
    for cut in cuts {
        let path = f.tampered(|b| b.truncate(cut as usize));
        let dest = f.dir.path().join(format!("restore-{cut}"));
        fs::create_dir(&dest).unwrap();
        let err = extract(&path, PASS, &dest).unwrap_err();
        assert!(
            matches!(err, BackupError::Truncated),
            "cut at {cut}: {err:?}"
        );
        assert_empty(&dest);
        assert!(matches!(manifest(&path, PASS), Err(BackupError::Truncated)));
    }
    let path = f.tampered(|b| b.truncate(40));
    assert!(matches!(read_header(&path), Err(BackupError::Truncated)));
}

#[test]
fn flipped_body_byte_is_damage() {
    let f = fixture();
    let starts = chunk_starts(&f.archive);
    // A byte in chunk 2's ciphertext, one in the final chunk, one in a length prefix.
    for (at, chunk) in [
        (starts[2] + 100, 2),
        (*starts.last().unwrap() + 4 + 1, starts.len() as u64 - 1),
        (starts[3] + 3, 3),
    ] {
        let path = f.tampered(|b| b[at as usize] ^= 0x01);
        let dest = f.dir.path().join(format!("restore-{at}"));
        fs::create_dir(&dest).unwrap();
        let err = extract(&path, PASS, &dest).unwrap_err();
        assert!(
            matches!(err, BackupError::Damaged { chunk: c } if c == chunk),
            "flip at {at}: {err:?}"
        );
        assert!(err.to_string().contains(&format!("chunk {chunk}")));
        assert_empty(&dest);
    }
}

#[test]
fn swapped_chunks_are_damage() {
    let f = fixture();
    let starts = chunk_starts(&f.archive);
    let path = f.tampered(|b| {
        let (one, two) = (starts[1] as usize, starts[2] as usize);
        let size = two - one;
        let first: Vec<u8> = b[one..two].to_vec();
        let second: Vec<u8> = b[two..two + size].to_vec();
        b[one..two].copy_from_slice(&second);
        b[two..two + size].copy_from_slice(&first);
    });
    assert!(matches!(
        manifest(&path, PASS),
        Err(BackupError::Damaged { chunk: 1 })
    ));
}

#[test]
fn flipped_header_bytes_are_refused() {
    let f = fixture();
    // Salt: a different key, so a failed key check.
    let path = f.tampered(|b| b[20] ^= 0x01);
    assert!(matches!(
        extract(&path, PASS, &f.dest("salt")),
        Err(BackupError::WrongPassphrase)
    ));
    // Nonce prefix: the key check still passes; chunk 0 fails.
    let path = f.tampered(|b| b[31] ^= 0x01);
    assert!(matches!(
        manifest(&path, PASS),
        Err(BackupError::Damaged { chunk: 0 })
    ));
    // Every header byte matters.
    for at in 0..HEADER_LEN as usize {
        let path = f.tampered(|b| b[at] ^= 0x01);
        let dest = f.dir.path().join(format!("header-{at}"));
        fs::create_dir(&dest).unwrap();
        let err = extract(&path, PASS, &dest).unwrap_err();
        assert!(
            matches!(
                err,
                BackupError::NotABackup
                    | BackupError::UnsupportedFormat(_)
                    | BackupError::UnsupportedKdf(_)
                    | BackupError::BadHeader(_)
                    | BackupError::WrongPassphrase
                    | BackupError::Damaged { .. }
            ),
            "flip at {at}: {err:?}"
        );
        assert_empty(&dest);
    }
}

#[test]
fn not_a_backup() {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in [
        (
            "text",
            &b"hello, this is not a backup at all, but it is long enough"[..],
        ),
        ("empty", b""),
        ("gzip", &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3][..]),
    ] {
        let path = dir.path().join(name);
        fs::write(&path, bytes).unwrap();
        assert!(matches!(read_header(&path), Err(BackupError::NotABackup)));
        assert!(matches!(
            verify_passphrase(&path, PASS),
            Err(BackupError::NotABackup)
        ));
        let dest = dir.path().join(format!("dest-{name}"));
        fs::create_dir(&dest).unwrap();
        let err = extract(&path, PASS, &dest).unwrap_err();
        assert!(matches!(err, BackupError::NotABackup));
        assert!(err.to_string().contains("not an Aerie backup"));
    }
}

#[test]
fn appended_data_is_refused() {
    let f = fixture();
    for extra in [&b"x"[..], &[0u8; 4][..], &[0, 0, 0, 16][..]] {
        let path = f.tampered(|b| b.extend_from_slice(extra));
        let dest = f.dir.path().join(format!("restore-{}", extra.len()));
        fs::create_dir_all(&dest).unwrap();
        let err = extract(&path, PASS, &dest).unwrap_err();
        assert!(matches!(err, BackupError::TrailingData), "{err:?}");
        assert_empty(&dest);
    }
    // A whole second copy of the body's final chunk, too.
    let last = *chunk_starts(&f.archive).last().unwrap() as usize;
    let path = f.tampered(|b| {
        let tail = b[last..].to_vec();
        b.extend_from_slice(&tail);
    });
    assert!(matches!(
        manifest(&path, PASS),
        Err(BackupError::TrailingData)
    ));
}

#[test]
fn writer_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let out = || File::create(dir.path().join("w.aeriebk")).unwrap();
    assert!(matches!(
        Writer::with_options(out(), "short", meta(), FAST),
        Err(BackupError::WeakPassphrase)
    ));
    assert!(matches!(
        Writer::with_options(
            out(),
            PASS,
            meta(),
            Options {
                iterations: 10,
                chunk_size: DEFAULT_CHUNK_SIZE
            }
        ),
        Err(BackupError::InvalidOptions(_))
    ));

    let mut writer = Writer::with_options(out(), PASS, meta(), FAST).unwrap();
    for bad in ["../evil", "/etc/passwd", "a//b", "", "manifest.json"] {
        assert!(
            matches!(
                writer.add_bytes(bad, b"x"),
                Err(BackupError::BadMember { .. })
            ),
            "{bad:?} accepted"
        );
    }
    writer.add_bytes("a", b"x").unwrap();
    assert!(matches!(
        writer.add_bytes("a", b"y"),
        Err(BackupError::BadMember { .. })
    ));
    assert!(matches!(
        writer.add_file("b", &dir.path().join("missing")),
        Err(BackupError::Io { .. })
    ));
    assert!(matches!(
        writer.add_file("c", dir.path()),
        Err(BackupError::BadMember { .. })
    ));
    // Refused names, a missing file and a directory do not spoil the backup.
    let written = writer.finish().unwrap();
    assert_eq!(written.members.len(), 1);
    let restored = manifest(&dir.path().join("w.aeriebk"), PASS).unwrap();
    assert_eq!(restored.members, written.members);
}

#[test]
fn long_names_and_many_members_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.aeriebk");
    let mut writer =
        Writer::with_options(File::create(&path).unwrap(), PASS, meta(), FAST).unwrap();
    let long = format!("artifacts/{}/{}", "d".repeat(120), "f".repeat(200));
    writer.add_bytes(&long, b"long").unwrap();
    let names: Vec<String> = (0..300)
        .map(|i| format!("artifacts/{:02x}/{i:064x}", i % 256))
        .collect();
    for (i, name) in names.iter().enumerate() {
        writer
            .add_bytes(name, &noise(i * 37, i as u64 + 1))
            .unwrap();
    }
    writer.finish().unwrap();
    let dest = dir.path().join("d");
    fs::create_dir(&dest).unwrap();
    let restored = extract(&path, PASS, &dest).unwrap();
    assert_eq!(restored.members.len(), 301);
    assert_eq!(fs::read(dest.join(&long)).unwrap(), b"long");
    for (i, name) in names.iter().enumerate() {
        assert_eq!(
            fs::read(dest.join(name)).unwrap(),
            noise(i * 37, i as u64 + 1)
        );
    }
}

#[test]
fn writer_is_send() {
    fn send<T: Send>() {}
    send::<Writer<File>>();
}

#[test]
fn abandoned_writer_leaves_a_truncated_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.aeriebk");
    let mut writer =
        Writer::with_options(File::create(&path).unwrap(), PASS, meta(), FAST).unwrap();
    writer.add_bytes("big", &noise(3 * 1024 * 1024, 9)).unwrap();
    drop(writer);
    assert!(matches!(manifest(&path, PASS), Err(BackupError::Truncated)));
}

#[test]
fn default_options_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("w.aeriebk");
    let mut writer = Writer::new(File::create(&path).unwrap(), PASS, meta()).unwrap();
    writer.add_bytes("x", b"hello").unwrap();
    writer.finish().unwrap();
    assert_eq!(read_header(&path).unwrap().iterations, 600_000);
    let dest = dir.path().join("d");
    fs::create_dir(&dest).unwrap();
    extract(&path, PASS, &dest).unwrap();
    assert_eq!(fs::read(dest.join("x")).unwrap(), b"hello");
}

/// Throughput on a 300 MB compressible file:
/// `cargo test -p aerie-backup --release --test archive -- --ignored --nocapture`.
#[test]
#[ignore]
fn throughput() {
    use std::time::Instant;
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("db");
    // Database-like: runs of repeated records with some noise; compresses roughly 3:1.
    let mut data = Vec::with_capacity(300 << 20);
    let mut i = 0u64;
    while data.len() < 300 << 20 {
        let n = noise(64, i + 1);
        data.extend_from_slice(format!("row {i:012} status=open owner=admin ").as_bytes());
        data.extend_from_slice(&n[..24]);
        data.extend_from_slice(&[0u8; 40]);
        i += 1;
    }
    fs::write(&src, &data).unwrap();
    let mb = data.len() as f64 / 1e6;
    drop(data);

    let t = Instant::now();
    fs::copy(&src, dir.path().join("copy")).unwrap();
    let copy = t.elapsed().as_secs_f64();

    let archive = dir.path().join("b.aeriebk");
    let t = Instant::now();
    let mut writer = Writer::new(File::create(&archive).unwrap(), PASS, meta()).unwrap();
    writer.add_file("store/aerie.db", &src).unwrap();
    writer.finish().unwrap();
    let write = t.elapsed().as_secs_f64();

    let dest = dir.path().join("restore");
    fs::create_dir(&dest).unwrap();
    let t = Instant::now();
    extract(&archive, PASS, &dest).unwrap();
    let read = t.elapsed().as_secs_f64();

    let t = Instant::now();
    manifest(&archive, PASS).unwrap();
    let verify = t.elapsed().as_secs_f64();

    let size = fs::metadata(&archive).unwrap().len() as f64 / 1e6;
    println!(
        "{mb:.0} MB -> {size:.0} MB archive; copy {:.0} MB/s ({copy:.2} s), \
         write {:.0} MB/s ({write:.2} s), extract {:.0} MB/s ({read:.2} s, fsynced), \
         verify {:.0} MB/s ({verify:.2} s); each includes one PBKDF2 of 600k iterations",
        mb / copy,
        mb / write,
        mb / read,
        mb / verify
    );
}

#[test]
fn chunk_layout_matches_the_documented_format() {
    let f = fixture();
    let bytes = fs::read(&f.archive).unwrap();
    assert_eq!(&bytes[..8], b"AERIEBK1");
    assert_eq!(bytes[8], 1);
    assert_eq!(bytes[9], 1);
    let starts = chunk_starts(&f.archive);
    for &at in &starts[..starts.len() - 1] {
        let len = u32::from_be_bytes(bytes[at as usize..at as usize + 4].try_into().unwrap());
        assert_eq!(u64::from(len), u64::from(DEFAULT_CHUNK_SIZE) + TAG_LEN);
    }
    let at = *starts.last().unwrap() as usize;
    let len = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap());
    assert!(u64::from(len) < u64::from(DEFAULT_CHUNK_SIZE) + TAG_LEN);
}
