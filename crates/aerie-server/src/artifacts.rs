//! Artifact checks: an upload is kept only if its content really is what it claims to be
//! — a PNG that decodes, or a packet capture whose every record parses.

use std::io::Cursor;

use aerie_domain::{DomainError, artifact::ArtifactKind, text::Sha256Hex};

/// The largest artifact accepted (detonation screenshots and short traces fit easily).
pub const MAX_ARTIFACT_BYTES: usize = 16 * 1024 * 1024;
/// Artifact downloads served at once; more wait up to [`DOWNLOAD_WAIT`] for a turn.
/// Each holds one stored chunk in memory at a time.
pub const MAX_DOWNLOADS: usize = 16;
/// How long a download waits for a turn before it is refused with 503.
pub const DOWNLOAD_WAIT: std::time::Duration = std::time::Duration::from_secs(10);
/// The largest screenshot in pixels per side.
const MAX_SIDE: u32 = 8192;

/// A kept artifact's content as a stream of its stored chunks, read one at a time; the
/// download permit is held until the stream ends.
pub fn stream(
    store: std::sync::Arc<dyn aerie_store::Store>,
    sha: Sha256Hex,
    permit: tokio::sync::OwnedSemaphorePermit,
) -> impl futures::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + Send {
    futures::stream::try_unfold(0u32, move |n| {
        let (store, sha, _permit) = (store.clone(), sha.clone(), &permit);
        async move {
            match store.artifact_chunk(&sha, n).await {
                Ok(Some(data)) => Ok(Some((axum::body::Bytes::from(data), n + 1))),
                Ok(None) => Ok(None),
                Err(e) => {
                    tracing::error!(%sha, chunk = n, "artifact download failed: {e}");
                    Err(std::io::Error::other(e))
                }
            }
        }
    })
}

/// The SHA-256 an artifact is kept under.
pub fn digest(bytes: &[u8]) -> Sha256Hex {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    Sha256Hex::parse("sha256", &hex).expect("64 hex digits")
}

/// What `bytes` are, checked against the `claimed` kind if the uploader named one.
pub fn check(claimed: Option<ArtifactKind>, bytes: &[u8]) -> Result<ArtifactKind, DomainError> {
    let sniffed = ArtifactKind::sniff(bytes).ok_or_else(|| {
        DomainError::new(
            "body",
            "is neither a PNG image nor a packet capture (pcap or pcapng)",
        )
    })?;
    if let Some(claimed) = claimed.filter(|c| *c != sniffed) {
        return Err(DomainError::new(
            "kind",
            format!(
                "the upload is labelled {claimed} but its content is a {} ({})",
                sniffed,
                sniffed.media_type()
            ),
        ));
    }
    match sniffed {
        ArtifactKind::Screenshot => check_png(bytes),
        ArtifactKind::Trace => check_pcap(bytes),
        ArtifactKind::Sample => Ok(()),
    }
    .map_err(|why| DomainError::new("body", why))?;
    Ok(sniffed)
}

fn check_png(bytes: &[u8]) -> Result<(), String> {
    let bad = |e: png::DecodingError| format!("is not a valid PNG image: {e}");
    let mut reader = png::Decoder::new(Cursor::new(bytes))
        .read_info()
        .map_err(bad)?;
    let info = reader.info();
    if info.width > MAX_SIDE || info.height > MAX_SIDE {
        return Err(format!(
            "is a {}×{} image; screenshots may be at most {MAX_SIDE}×{MAX_SIDE}",
            info.width, info.height
        ));
    }
    let size = reader
        .output_buffer_size()
        .ok_or("is a PNG image too large to decode")?;
    let mut buf = vec![0; size];
    reader.next_frame(&mut buf).map_err(bad)?;
    Ok(())
}

fn check_pcap(bytes: &[u8]) -> Result<(), String> {
    let bad = |e: pcap_file::PcapError| format!("is not a valid packet capture: {e}");
    if bytes.starts_with(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        let (mut rest, mut parser) = pcap_file::pcapng::PcapNgParser::new(bytes).map_err(bad)?;
        while !rest.is_empty() {
            rest = parser.next_block(rest).map_err(bad)?.0;
        }
    } else {
        let (mut rest, parser) = pcap_file::pcap::PcapParser::new(bytes).map_err(bad)?;
        while !rest.is_empty() {
            rest = parser.next_packet(rest).map_err(bad)?.0;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        let mut writer = enc.write_header().unwrap();
        writer
            .write_image_data(&vec![7; (w * h * 3) as usize])
            .unwrap();
        writer.finish().unwrap();
        out
    }

    #[test]
    fn accepts_real_content_and_names_what_is_wrong() {
        let image = png(4, 3);
        assert_eq!(check(None, &image), Ok(ArtifactKind::Screenshot));
        let err = check(Some(ArtifactKind::Trace), &image).unwrap_err();
        assert_eq!(err.field, "kind");
        assert!(err.message.contains("labelled trace"), "{err}");

        let mut truncated = image.clone();
        truncated.truncate(image.len() - 20);
        assert!(
            check(None, &truncated)
                .unwrap_err()
                .message
                .contains("not a valid PNG")
        );
        assert!(check(None, b"MZ\x90\x00").is_err());

        let mut pcap = Vec::new();
        {
            let mut w = pcap_file::pcap::PcapWriter::new(&mut pcap).unwrap();
            let pkt = pcap_file::pcap::PcapPacket::new(std::time::Duration::ZERO, 4, &[1, 2, 3, 4]);
            w.write_packet(&pkt).unwrap();
        }
        assert_eq!(
            check(Some(ArtifactKind::Trace), &pcap),
            Ok(ArtifactKind::Trace)
        );
        pcap.truncate(pcap.len() - 2);
        assert!(
            check(None, &pcap)
                .unwrap_err()
                .message
                .contains("packet capture")
        );
    }
}
