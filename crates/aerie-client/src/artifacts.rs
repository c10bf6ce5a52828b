//! Artifacts a detonation sandbox would attach: a screenshot (PNG) of the infected
//! desktop and a packet capture (pcap) of the malware's traffic. Real formats, small
//! sizes, deterministic from their inputs.

use std::{net::Ipv4Addr, time::Duration};

use pcap_file::pcap::{PcapPacket, PcapWriter};

/// A 320×200 RGB "desktop" with a ransom-note-red window, varied by `seed`.
pub fn screenshot(seed: u64) -> Vec<u8> {
    const W: u32 = 320;
    const H: u32 = 200;
    let tint = (seed % 200) as u8;
    let mut pixels = Vec::with_capacity((W * H * 3) as usize);
    for y in 0..H {
        for x in 0..W {
            let in_window = (60..260).contains(&x) && (40..160).contains(&y);
            let title_bar = in_window && y < 52;
            let rgb = if title_bar {
                [40, 40, 40]
            } else if in_window {
                [200, 20 + (y % 8) as u8, 30]
            } else {
                [20, 60 + tint / 4, 110 + (x / 8) as u8 % 40]
            };
            pixels.extend_from_slice(&rgb);
        }
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, W, H);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("PNG header to memory");
    writer
        .write_image_data(&pixels)
        .expect("PNG data to memory");
    writer.finish().expect("PNG end to memory");
    out
}

/// One's-complement sum for the IPv4 header checksum.
fn ipv4_checksum(header: &[u8]) -> u16 {
    let mut sum: u32 = header
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet/IPv4/TCP frame carrying `payload`.
fn frame(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    seq: u32,
    flags: u8,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::with_capacity(54 + payload.len());
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let total = (20 + 20 + payload.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let sum = ipv4_checksum(&ip);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&sport.to_be_bytes());
    f.extend_from_slice(&dport.to_be_bytes());
    f.extend_from_slice(&seq.to_be_bytes());
    f.extend_from_slice(&0u32.to_be_bytes());
    f.extend_from_slice(&[0x50, flags, 0xff, 0xff, 0, 0, 0, 0]);
    f.extend_from_slice(payload);
    f
}

/// A capture of `endpoint` fetching `url_path` from `host` at `server`: handshake, an
/// HTTP GET, and the server's first bytes.
pub fn trace(endpoint: Ipv4Addr, server: Ipv4Addr, host: &str, url_path: &str) -> Vec<u8> {
    const SYN: u8 = 0x02;
    const SYN_ACK: u8 = 0x12;
    const ACK: u8 = 0x10;
    const PSH_ACK: u8 = 0x18;
    let get = format!("GET {url_path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: Mozilla/5.0\r\n\r\n");
    let reply = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\nMZ\x90\x00";
    let packets = [
        frame(endpoint, server, 49733, 80, 1000, SYN, &[]),
        frame(server, endpoint, 80, 49733, 5000, SYN_ACK, &[]),
        frame(endpoint, server, 49733, 80, 1001, ACK, &[]),
        frame(endpoint, server, 49733, 80, 1001, PSH_ACK, get.as_bytes()),
        frame(server, endpoint, 80, 49733, 5001, PSH_ACK, reply),
    ];
    let mut writer = PcapWriter::new(Vec::new()).expect("pcap header to memory");
    for (i, p) in packets.iter().enumerate() {
        let at = Duration::from_millis(1_764_000_000_000 + 15 * i as u64);
        writer
            .write_packet(&PcapPacket::new(at, p.len() as u32, p))
            .expect("pcap packet to memory");
    }
    writer.into_writer()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn screenshot_decodes() {
        let bytes = screenshot(3);
        let reader = png::Decoder::new(std::io::Cursor::new(&bytes))
            .read_info()
            .unwrap();
        assert_eq!((reader.info().width, reader.info().height), (320, 200));
    }

    #[test]
    fn trace_parses_and_carries_the_request() {
        let bytes = trace(
            "10.0.0.5".parse().unwrap(),
            "203.0.113.7".parse().unwrap(),
            "evil.example",
            "/x.exe",
        );
        let mut r = pcap_file::pcap::PcapReader::new(&bytes[..]).unwrap();
        let mut n = 0;
        let mut saw_get = false;
        while let Some(p) = r.next_packet() {
            let p = p.unwrap();
            assert_eq!(&p.data[12..14], &[0x08, 0x00], "IPv4 ethertype");
            assert_eq!(ipv4_checksum(&p.data[14..34]), 0, "valid IPv4 checksum");
            saw_get |= p.data.windows(4).any(|w| w == b"GET ");
            n += 1;
        }
        assert_eq!(n, 5);
        assert!(saw_get);
    }
}
